"""``show`` and ``triage`` say up front when a DM cannot reach the customer (issue 10, item 9)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import timedelta
from pathlib import Path

from conftest import EPOCH, ROOT, new_desk

from tui.cli import main
from tui.cli import triage as triage_cmd
from tui.core.model import Author, Mention
from tui.core.store import Store

FILES = ["--rules", str(ROOT / "rules.yaml"), "--replies", str(ROOT / "replies.yaml")]
TEXT = "@brand charged twice for my ticket, booking NL-482913"
REASON = "@rider.bsky.social does not accept direct messages"


def closed() -> Mention:
    at = EPOCH - timedelta(minutes=2)
    return Mention(id="at://did:plc:rider/app.bsky.feed.post/1",
                   source="bluesky:brand.bsky.social", channel="public",
                   author=Author("rider.bsky.social", "Rider", id="did:plc:rider",
                                 dms_from="none"),
                   text=TEXT, created_at=at, received_at=at)


def test_show_says_why_take_offline_is_not_offered(tmp_path: Path, capsys) -> None:
    store = Store(tmp_path / "d")
    (got,) = new_desk(store).ingest([closed()])
    store.close()
    argv = ["show", got.conv_id, "--data-dir", str(tmp_path / "d"), *FILES]
    assert main([*argv, "--json"]) == 0
    sug = json.loads(capsys.readouterr().out)["suggestion"]
    assert sug["dm_closed"] == REASON and sug["offline"] is False and sug["dm"] is None
    assert sug["reply_key"] == "dm_closed" and "send us a direct message" in sug["text"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"  take offline not offered: {REASON}" in out
    assert "reply: Hi Rider, your message settings don't let us DM you" in out


def test_triage_json_carries_the_reason(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    open_one = closed().to_dict()
    open_one.update(id="2", author={"handle": "open.example", "dms_from": "all"})
    history.write_text(json.dumps(closed().to_dict()) + "\n" + json.dumps(open_one) + "\n",
                       encoding="utf-8")
    parser = argparse.ArgumentParser(prog="mentiondesk")
    triage_cmd.add_parser(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    args = parser.parse_args(["triage", str(history), "--json", "--rules",
                              str(ROOT / "rules.yaml")])
    assert triage_cmd.run(args, out, err) == 0, err.getvalue()
    first, second = (json.loads(line) for line in out.getvalue().splitlines()[:2])
    assert first["offline"] and first["dm_closed"] == REASON
    assert second["offline"] and second["dm_closed"] is None
    text = io.StringIO()
    args = parser.parse_args(["triage", str(history), "--rules", str(ROOT / "rules.yaml")])
    assert triage_cmd.run(args, text, err) == 0
    rows = text.getvalue().splitlines()
    assert " no DM " in rows[0] and " offline " in rows[1]
