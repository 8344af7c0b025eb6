"""The command line on a stored desk: queue, show, every action, undo, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, Clock, new_desk
from deskkit import mention

from tui.cli import main
from tui.core.store import Store

SAFETY = "The doors closed on my child at Leeds, this is unsafe!"
REFUND = "I want a refund for my cancelled ticket please"
SPAM = "crypto giveaway dm me now"


@pytest.fixture
def desk_dir(make_desk, tmp_path: Path) -> Path:
    """A stored desk with three conversations: 1 safety (critical), 2 refund, 3 spam."""
    store = Store(tmp_path / "d")
    d = make_desk(store)
    d.ingest([mention(SAFETY, "sam"), mention(REFUND, "rita"), mention(SPAM, "bot")])
    store.close()
    return tmp_path / "d"


def run(capsys: pytest.CaptureFixture[str], desk_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data-dir", str(desk_dir), "--agent", "night-op",
                 "--rules", str(ROOT / "rules.yaml"), "--replies", str(ROOT / "replies.yaml")])
    out, err = capsys.readouterr()
    return code, out, err


def reopen(desk_dir: Path):
    store = Store(desk_dir)
    return new_desk(store, Clock(datetime.now(UTC))), store  # the CLI acted on the real clock


def test_queue_lists_most_urgent_first(capsys, desk_dir: Path) -> None:
    code, out, _ = run(capsys, desk_dir, "queue", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and rows[0]["category"] == "safety" and rows[0]["urgency"] == "critical"
    assert {r["id"] for r in rows} == {"1", "2"}  # spam is not waiting for an answer
    code, out, _ = run(capsys, desk_dir, "queue")
    assert "@sam" in out and "need a reply" in out
    sam = next(line for line in out.splitlines() if "@sam" in line)
    assert "pub ●↩    @sam" in sam  # the core's marker set (tui.core.api.MARKERS), as the console's
    code, out, _ = run(capsys, desk_dir, "queue", "--all", "--json")
    assert len(out.splitlines()) == 3


def test_queue_columns_line_up_whatever_the_time_left(capsys, tmp_path: Path) -> None:
    """"23h59 (Wed 11:36)" is wider than "59m (12:51)": every row's later columns still start
    in the same place."""
    store = Store(tmp_path / "q")
    now = datetime.now(UTC)
    d = new_desk(store, Clock(now))
    d.ingest([mention(SAFETY, "sam", at=now), mention(REFUND, "rita", at=now),
              mention("thank you, the new trains are lovely", "ana", at=now)])
    store.close()
    code, out, _ = run(capsys, tmp_path / "q", "queue")
    rows = [line for line in out.splitlines() if not line.startswith("--")]
    assert code == 0 and len(rows) == 3
    assert len({line.index(" pub ") for line in rows}) == 1, rows


def test_show_gives_history_profile_and_suggestion(capsys, desk_dir: Path) -> None:
    code, out, _ = run(capsys, desk_dir, "show", "1", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["suggestion"]["action"] == "handoff" and data["suggestion"]["offline"]
    assert data["suggestion"]["why"].startswith("safety:")
    assert data["history"][0]["mention"]["text"] == SAFETY
    code, out, _ = run(capsys, desk_dir, "show", "1")
    assert "suggested: handoff" in out and "bridge:" in out


def test_every_action_then_undo(capsys, desk_dir: Path) -> None:
    assert run(capsys, desk_dir, "reply", "2", "--suggested")[0] == 0
    assert run(capsys, desk_dir, "note", "2", "called helpline too")[0] == 0
    assert run(capsys, desk_dir, "tag", "2", "refund")[0] == 0
    assert run(capsys, desk_dir, "assign", "2")[0] == 0
    assert run(capsys, desk_dir, "snooze", "2", "2h")[0] == 0
    assert run(capsys, desk_dir, "offline", "1")[0] == 0
    code, out, _ = run(capsys, desk_dir, "handoff", "1", "safety", "--note", "CCTV")
    assert code == 0 and "CASE-00001" in out
    assert run(capsys, desk_dir, "resolve", "1", "--close-loop-suggested")[0] == 0
    assert run(capsys, desk_dir, "ignore", "3", "--reason", "spam")[0] == 0
    d, store = reopen(desk_dir)
    c1, c2, c3 = (d.conversations[i] for i in "123")
    assert c1.status == "resolved" and c1.offline and c1.case_id == "CASE-00001"
    assert c2.status == "snoozed" and c2.assigned == "night-op" and c2.tags == ["refund"]
    assert c2.notes == ["called helpline too"] and not c2.needs_reply
    assert c3.status == "ignored"
    kinds = sorted(i["kind"] for i in d.outbox.items.values())
    assert kinds == ["bridge", "close_loop", "dm", "reply"]
    assert all(e.agent == "night-op" for e in d.events.values())
    store.close()
    code, out, _ = run(capsys, desk_dir, "undo")
    assert code == 0 and "ignore" in out
    code, out, _ = run(capsys, desk_dir, "undo", "1")
    assert code == 0 and "resolve" in out
    d, store = reopen(desk_dir)
    assert d.conversations["3"].status != "ignored" and d.conversations["1"].status == "open"
    store.close()
    code, out, _ = run(capsys, desk_dir, "outbox", "--all", "--json")
    statuses = {json.loads(line)["kind"]: json.loads(line)["status"] for line in out.splitlines()}
    assert statuses["close_loop"] == "cancelled" and statuses["reply"] == "pending"


def test_accept(capsys, desk_dir: Path) -> None:
    code, out, _ = run(capsys, desk_dir, "accept", "1")
    assert code == 0 and "took #1 offline" in out and "handed #1 to safety as CASE-00001" in out


def _draft(desk_dir: Path, conv_id: str, text: str, agent: str = "night-op") -> None:
    d, store = reopen(desk_dir)
    d.save_draft(conv_id, text, agent=agent)
    store.close()


def _drafts(desk_dir: Path, agent: str = "night-op") -> dict:
    """conversation id -> ``agent``'s draft on it (night-op: the agent ``run`` acts as)."""
    d, store = reopen(desk_dir)
    drafts = {c: d.own_draft(c, agent) for c in d.conversations
              if d.own_draft(c, agent) is not None}
    store.close()
    return drafts


@pytest.mark.parametrize("args", [("reply", "2", "Refund approved"), ("reply", "2", "--suggested"),
                                  ("accept", "2"), ("offline", "2", "--dm", "Send your ref")])
def test_sending_from_the_cli_leaves_no_stale_draft(capsys, desk_dir: Path, args) -> None:
    _draft(desk_dir, "2", "an old half-written answer")
    _draft(desk_dir, "1", "a draft on another conversation")
    _draft(desk_dir, "2", "a colleague's own words", agent="day-op")
    code, _, err = run(capsys, desk_dir, *args)
    assert code == 0, err
    drafts = _drafts(desk_dir)
    assert "2" not in drafts  # the next `r` starts fresh instead of reopening sent text
    assert drafts["1"]["text"] == "a draft on another conversation"
    # The sender's draft went; another agent's draft on the conversation is theirs to keep.
    assert _drafts(desk_dir, "day-op")["2"]["text"] == "a colleague's own words"


def test_refusals_and_errors_have_clear_messages_and_codes(capsys, desk_dir: Path) -> None:
    code, _, err = run(capsys, desk_dir, "reply", "2", "Your card 4539 1488 0343 6467 is fine")
    assert code == 1 and "refused" in err and "card" in err
    code, _, err = run(capsys, desk_dir, "reply", "99", "hello")
    assert code == 1 and "no open conversation '99'" in err
    code, _, err = run(capsys, desk_dir, "handoff", "1", "nobody")
    assert code == 1 and "unknown team" in err
    code, _, err = run(capsys, desk_dir, "snooze", "1", "soonish")
    assert code == 2 and "write a duration" in err
    code, _, err = run(capsys, desk_dir, "undo")
    assert code == 1 and "nothing to undo" in err


def test_second_process_on_the_same_data_dir_is_refused(desk_dir: Path) -> None:
    store = Store(desk_dir)  # this process holds the desk
    try:
        env = {**os.environ, "MENTIONDESK_DATA_DIR": str(desk_dir)}
        out = subprocess.run([sys.executable, "-m", "tui", "queue"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 3
        assert f"pid {os.getpid()}" in out.stderr and str(desk_dir) in out.stderr
    finally:
        store.close()


def test_cli_as_a_real_process(desk_dir: Path) -> None:
    env = {**os.environ, "MENTIONDESK_DATA_DIR": str(desk_dir)}
    out = subprocess.run([sys.executable, "-m", "tui", "reply", "2", "--suggested"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "tui", "queue", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"] and rows[1]["needs_reply"] is False
    help_out = subprocess.run([sys.executable, "-m", "tui", "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    for command in ("check", "triage", "ingest", "queue", "reply", "undo", "report"):
        assert command in help_out.stdout


def test_a_refused_canned_reply_is_a_clear_message_not_a_traceback(capsys, desk_dir: Path) -> None:
    code, _, err = run(capsys, desk_dir, "reply", "2", "--key", "nosuch")
    assert code == 1 and "refused" in err and "Traceback" not in err
    code, _, err = run(capsys, desk_dir, "snooze", "2", "30")
    assert code == 2 and "30m" in err  # a bare number is a forgotten unit, not epoch seconds


def test_offline_twice_sends_no_second_public_bridge(capsys, desk_dir: Path) -> None:
    assert run(capsys, desk_dir, "offline", "2")[0] == 0
    # The first answer still waits in the outbox: a second one asks first (issue 10, item 12).
    assert run(capsys, desk_dir, "offline", "2", "--dm", "one more thing")[0] == 1
    assert run(capsys, desk_dir, "offline", "2", "--dm", "one more thing", "--again")[0] == 0
    d, store = reopen(desk_dir)
    kinds = sorted(i["kind"] for i in d.outbox.items.values())
    assert kinds == ["bridge", "dm", "dm"]
    store.close()


def test_ingest_takes_the_same_source_options_as_the_console(capsys, tmp_path: Path) -> None:
    history = ROOT / "tests" / "data" / "support.csv"
    code = main(["ingest", "--source", f"replay:{history}", "--speed", "max", "--once",
                 "--map", "id=tweet_id,author=author_id,in_reply_to=in_response_to_tweet_id",
                 "--data-dir", str(tmp_path / "d"), "--no-deliver"])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert lines and all(line["category"] for line in lines)


def test_what_the_store_repaired_is_said_on_start(capsys, desk_dir: Path) -> None:
    journal = desk_dir / "journal.jsonl"
    with journal.open("ab") as f:
        f.write(b'deadbeef {"s": 99, "t": "mentions", "k": "torn')  # a crash mid-write
    code, out, err = run(capsys, desk_dir, "queue")
    assert code == 0 and "@sam" in out
    assert "recovered:" in err and "torn" in err
    code, _, err = run(capsys, desk_dir, "queue")
    assert "recovered:" not in err  # repaired once, then a clean start


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_queue_lines_fit_the_terminal(capsys, monkeypatch, make_desk, tmp_path: Path,
                                      columns: int) -> None:
    """An agent on an 80-column SSH session reads one line per conversation: wide handles,
    emoji and long categories are cropped in terminal cells, never wrapped."""
    from tui.core.text import cell_len

    store = Store(tmp_path / "w")
    d = make_desk(store)
    d.ingest([mention("the 9:15 is late again and nobody says why " * 3, "a" * 40),
              mention("我的退款在哪里？我已经等了三个星期了，请尽快回复我的问题",
                      "客户服务测试账号名字很长"),
              mention("🚆🚆🚆 delayed again " + "😡" * 20, "rail😡fan")])
    store.close()
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: os.terminal_size(
        (columns, 24)))
    code, out, _ = run(capsys, tmp_path / "w", "queue")
    rows = [line for line in out.splitlines() if not line.startswith("--")]
    assert code == 0 and len(rows) == 3
    assert all(cell_len(line) <= columns for line in rows), [cell_len(x) for x in rows]
