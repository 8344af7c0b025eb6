"""``--json`` on every command that acts, with the ids a script needs; ``show`` prints no empty
parts (issue 13, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, new_desk
from deskkit import mention

from tui.cli import main
from tui.core.store import Store

FILES = ["--rules", str(ROOT / "rules.yaml"), "--replies", str(ROOT / "replies.yaml")]
SAFETY = "The doors closed on my child at Leeds, this is unsafe!"
REFUND = "I want a refund for my cancelled ticket please"


@pytest.fixture
def desk_dir(tmp_path: Path) -> Path:
    store = Store(tmp_path / "d")
    new_desk(store).ingest([mention(SAFETY, "sam", name=""), mention(REFUND, "rita"),
                            mention("crypto giveaway dm me now", "bot")])
    store.close()
    return tmp_path / "d"


def act(capsys, desk_dir: Path, *args: str) -> dict:
    code = main([*args, "--json", "--data-dir", str(desk_dir), *FILES, "--agent", "sam"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [line] = out.splitlines()  # one JSON object, nothing else on stdout
    return json.loads(line)


def stored(desk_dir: Path):
    store = Store(desk_dir)
    desk = new_desk(store)
    store.close()
    return desk


def test_every_action_gives_its_ids_as_json(capsys, desk_dir: Path) -> None:
    reply = act(capsys, desk_dir, "reply", "2", "--suggested")
    [item] = reply["outbox"]
    assert reply["conv"] == "2" and reply["channel"] == "public"
    assert item["kind"] == "reply" and item["status"] == "pending"
    offline = act(capsys, desk_dir, "offline", "1")
    assert sorted(i["kind"] for i in offline["outbox"]) == ["bridge", "dm"]
    handoff = act(capsys, desk_dir, "handoff", "1", "safety", "--note", "CCTV")
    assert handoff["case_id"] == "CASE-00001" and handoff["team"] == "safety"
    snooze = act(capsys, desk_dir, "snooze", "2", "2h")
    assert snooze["until"].endswith("Z") or "+00:00" in snooze["until"]
    assert act(capsys, desk_dir, "tag", "2", "vip")["tag"] == "vip"
    assert act(capsys, desk_dir, "tag", "2", "-vip")["removed"] is True
    assert act(capsys, desk_dir, "assign", "2", "ana")["to"] == "ana"
    note = act(capsys, desk_dir, "note", "2", "called back")
    assert act(capsys, desk_dir, "ignore", "3")["reason"] == "spam"
    resolve = act(capsys, desk_dir, "resolve", "1", "--close-loop", "Glad that is sorted")
    assert [i["kind"] for i in resolve["outbox"]] == ["close_loop"]
    undo = act(capsys, desk_dir, "undo", "1")
    assert undo["undid"] == resolve["events"] and undo["cancelled"] == [
        resolve["outbox"][0]["id"]]

    desk = stored(desk_dir)
    assert reply["outbox"][0]["id"] in desk.outbox.items  # the ids are the stored ones
    for result in (reply, offline, handoff, snooze, note, resolve, undo):
        assert all(e in desk.events for e in result["events"])
    assert desk.outbox.items[resolve["outbox"][0]["id"]]["status"] == "cancelled"


def test_accept_as_json(capsys, desk_dir: Path) -> None:
    accepted = act(capsys, desk_dir, "accept", "1")
    assert accepted["kinds"] == ["offline", "handoff"] and accepted["case_id"] == "CASE-00001"
    assert len(accepted["events"]) == 2 and len(accepted["outbox"]) == 2


def test_reply_in_text_names_the_outbox_id(capsys, desk_dir: Path) -> None:
    assert main(["reply", "2", "--suggested", "--data-dir", str(desk_dir), *FILES]) == 0
    out = capsys.readouterr().out
    [item] = stored(desk_dir).outbox.items.values()
    assert f"queued as {item['id']}" in out


def test_show_prints_no_empty_parts(capsys, desk_dir: Path) -> None:
    for args in (["snooze", "2", "1h"], ["assign", "2"], ["tag", "2", "late"]):
        assert main([*args, "--data-dir", str(desk_dir), *FILES, "--agent", "sam"]) == 0
    for conv in ("1", "2"):
        assert main(["show", conv, "--data-dir", str(desk_dir), *FILES]) == 0
    out = capsys.readouterr().out
    assert "()" not in out and "offline False" not in out and "team None" not in out
    assert "@sam —" in out  # no display name: nothing in brackets
    assert "snooze by sam: until " in out and "assign by sam: to sam" in out
    assert "tag by sam: +late" in out
    assert not any(line.rstrip().endswith(":") for line in out.splitlines())
