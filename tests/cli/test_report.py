"""`mentiondesk report` / `export` / `review` on a known shift (see test_metrics.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Clock
from deskkit import mention
from shiftkit import NOW, SINCE, T, build_shift, deliver_all

from tui.cli.report import (
    EXPORT_FIELDS,
    build_report,
    build_review,
    export,
    export_rows,
    fmt_seconds,
    render_report_md,
    report,
    review,
)
from tui.core.metrics import collect
from tui.core.store import Store


@pytest.fixture
def shift() -> tuple[Any, Any, dict]:
    return build_shift()


def test_report_lists_what_the_morning_operator_must_act_on(shift: Any) -> None:
    desk, _, ids = shift
    rep = build_report(desk, SINCE, NOW)
    # past deadline: cat (handed off, but a hand-off told the customer nothing: due Mon 10:15)
    # and dan's DM (due Mon 15:00), nothing at risk yet
    assert [(d["id"], d["state"], d["handle"]) for d in rep["deadlines"]] == [
        (ids["cat"], "breached", "cat"), (ids["dan"], "breached", "dan")]
    assert rep["deadlines"][1]["deadline"] == "2025-03-03T15:00:00Z"
    # handed off: cat, CASE-00001 to safety, still open
    assert [(h["id"], h["case_id"], h["team"], h["status"]) for h in rep["handed_off"]] == [
        (ids["cat"], "CASE-00001", "safety", "open")]
    assert [r["id"] for r in rep["resolved"]] == [ids["ann"], ids["hal"], ids["bob"]]
    assert rep["offline"] == []  # hal went offline but is resolved
    assert rep["snoozed"] == []  # dan's snooze ran out at 13:00
    assert [(t["term"], t["count"]) for t in rep["topics"]] == [("new livery", 2)]
    assert rep["topics"][0]["examples"][0].startswith("i think the new livery")  # newest first
    f = rep["figures"]
    assert f["first_response"] == {"count": 4, "median_seconds": 1500.0, "p90_seconds": 3600.0}
    assert [s["hit_rate"] for s in f["sla"]][:2] == [0.0, 1.0]


def test_offline_waiting_on_the_customer_and_snoozed(shift: Any) -> None:
    desk = shift[0]
    kim = desk.ingest([mention("can't log in to my account", "kim",
                                                     at=NOW)])[0].conv_id
    desk.take_offline(kim, "We've sent you a DM", "Hi Kim, what is your email?")
    desk.snooze(kim, T(4, 15))
    rep = build_report(desk, SINCE, NOW)
    assert [(o["id"], o["waiting_on"], o["offline_since"]) for o in rep["offline"]] == [
        (kim, "customer", "2025-03-04T12:00:00Z")]
    assert [(s["id"], s["until"]) for s in rep["snoozed"]] == [(kim, "2025-03-04T15:00:00Z")]


def test_markdown_report_reads_in_a_terminal(shift: Any) -> None:
    desk, _, ids = shift
    out = io.StringIO()
    report(desk, "28h", "md", out)
    text = out.getvalue()
    assert "## Past or near the deadline — answer these first (2)" in text
    assert f"#{ids['dan']} @dan normal/direct_message PAST DEADLINE" in text
    assert f"CASE-00001 → safety: #{ids['cat']} @cat" in text
    assert "| first response | 4 | 25m | 1h00 |" in text
    assert "| normal | 2 | 1 | 1 | 67% |" in text
    assert "- new livery (2)" in text
    assert max(len(line) for line in text.splitlines()) < 200


def test_review_finds_breaches_reopenings_and_missing_public_close(shift: Any) -> None:
    desk, _, ids = shift
    items = {i["id"]: [r["kind"] for r in i["reasons"]] for i in build_review(desk, SINCE, NOW)}
    assert items == {ids["ann"]: ["reopened"], ids["cat"]: ["breached"],
                     ids["dan"]: ["breached"], ids["hal"]: ["no_public_close"]}
    cat = next(i for i in build_review(desk, SINCE, NOW) if i["id"] == ids["cat"])
    assert "no answer" in cat["reasons"][0]["detail"]  # the hand-off answered nobody
    out = io.StringIO()
    review(desk, "28h", "md", out)
    assert "4 conversations to look at: 2 breached targets, 1 reopenings, 1 offline" \
        in out.getvalue()


def test_closing_the_loop_publicly_clears_the_review() -> None:
    desk = build_shift()[0]
    kim = desk.ingest([mention("can't log in to my account", "kim",
                                                     at=NOW)])[0].conv_id
    desk.take_offline(kim, "We've sent you a DM", "Hi Kim, what is your email?")
    desk.resolve(kim, "Glad we could sort this out by DM, Kim!")
    kinds = {i["id"]: [r["kind"] for r in i["reasons"]] for i in build_review(desk, SINCE, NOW)}
    assert kim not in kinds


def test_export_has_who_what_when_and_which_rule(shift: Any) -> None:
    desk, _, ids = shift
    rows = list(export_rows(collect(desk, None), desk.rules.levels))
    assert all(set(r) == set(EXPORT_FIELDS) for r in rows)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    kinds = {(r["type"]) for r in rows}
    assert kinds == {"conversation", "mention", "event", "outbox"}
    assert sum(r["type"] == "conversation" for r in rows) == 9
    assert sum(r["type"] == "mention" for r in rows) == 10
    cat_events = [r for r in rows if r["conv"] == ids["cat"] and r["type"] == "event"]
    assert [(e["what"], e["status"]) for e in cat_events] == [
        ("reply", "undone"), ("undo", "done"), ("handoff", "done")]
    handoff = cat_events[-1]
    assert handoff["who"] == "tester" and handoff["at"] == "2025-03-03T10:30:00Z"
    assert handoff["category"] == "safety" and handoff["rule"].startswith("safety:")
    assert handoff["case_id"] == "CASE-00001" and handoff["team"] == "safety"
    cancelled = [r for r in rows if r["type"] == "outbox" and r["conv"] == ids["cat"]]
    assert [r["status"] for r in cancelled] == ["cancelled"]


def test_export_csv_and_since(shift: Any) -> None:
    desk, _, _ = shift
    out = io.StringIO()
    n = export(desk, "4h", "csv", out)  # Tue 08:00 → 12:00: bob's reply, resolve, eve
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(parsed) == n
    # bob's conversation record comes with its events, though it started before the window;
    # dan's with the desk waking his snooze at 12:00 (the tick)
    assert [(r["type"], r["what"]) for r in parsed] == [
        ("conversation", "open"), ("conversation", "resolved"), ("event", "reply"),
        ("outbox", "reply"), ("event", "resolve"), ("conversation", "open"),
        ("mention", "mention"), ("event", "wake")]
    assert json.loads(parsed[2]["details"])["channel"] == "public"


def test_csv_cells_cannot_become_formulas() -> None:
    from tui.cli.report import _csv_cell
    assert _csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert _csv_cell("fine") == "fine" and _csv_cell(None) == ""


def test_commands_run_on_a_stored_desk_and_never_leak_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data)
    desk, clock, ids = build_shift(store)
    deliver_all(desk)
    clock.now = T(5, 14)
    desk.checkpoint()  # hal and bob go to the archive
    store.close()
    secret = "tok_SECRET_8f3a9c1e"
    token_file = tmp_path / "mastodon.token"
    token_file.write_text(secret + "\n")
    token_file.chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text("agent: sam\nsources:\n  - spec: mastodon:https://mastodon.northline.example"
                      f"\n    token_file: {token_file}\n")
    env = {**os.environ, "MENTIONDESK_MASTODON_TOKEN": secret,
           "MENTIONDESK_BLUESKY_PASSWORD": secret, "MENTIONDESK_CONFIG": str(config),
           "HOME": str(tmp_path)}
    common = ["--data-dir", str(data), "--rules", str(ROOT / "rules.yaml"),
              "--replies", str(ROOT / "replies.yaml")]
    outputs = {}
    since = "2025-03-01T00:00:00Z"  # the commands run on the real clock
    for cmd in (["export", "--format", "jsonl"], ["export", "--format", "csv"],
                ["report", "--since", since, "--format", "json"], ["report", "--since", since],
                ["review", "--since", since, "--format", "json"]):
        res = subprocess.run([sys.executable, "-m", "tui.cli", *cmd, *common], env=env,
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert secret not in res.stdout and secret not in res.stderr
        outputs[cmd[0] + cmd[-1]] = res.stdout
    rows = [json.loads(line) for line in outputs["exportjsonl"].splitlines()]
    convs = {r["id"]: r for r in rows if r["type"] == "conversation"}
    assert set(convs) == set(ids.values())
    assert convs[ids["hal"]]["details"]["archived"] is True
    assert convs[ids["cat"]]["details"]["archived"] is False
    rep = json.loads(outputs["report" + "json"])
    assert {r["id"] for r in rep["resolved"]} == {ids["ann"], ids["hal"], ids["bob"]}
    rev = json.loads(outputs["review" + "json"])
    assert ids["hal"] in {c["id"] for c in rev["conversations"]}  # from the archive


def test_bad_since_is_a_clear_message(tmp_path: Path) -> None:
    Store(tmp_path / "d").close()  # an empty desk: reads refuse a directory that holds none
    res = subprocess.run([sys.executable, "-m", "tui.cli", "report", "--since", "yesterday-ish",
                          "--data-dir", str(tmp_path / "d"), "--rules", str(ROOT / "rules.yaml"),
                          "--replies", str(ROOT / "replies.yaml")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 2
    assert "--since 'yesterday-ish': write e.g. 12h, 7d" in res.stderr


def test_fmt_seconds() -> None:
    assert [fmt_seconds(s) for s in (None, 59, 754, 3900, 90000, -120)] == [
        "-", "59s", "12m", "1h05", "1d01h", "-2m"]


def test_render_md_with_an_empty_desk(make_desk) -> None:
    desk = make_desk(None, Clock(NOW))
    out = io.StringIO()
    render_report_md(build_report(desk, SINCE, NOW), out)
    assert "## Handed off (0)\n\n- none" in out.getvalue()


def test_csv_export_guards_every_stranger_supplied_column() -> None:
    import csv as csv_mod
    import io

    from tui.cli.report import EXPORT_FIELDS, write_export

    row = dict.fromkeys(EXPORT_FIELDS)
    row.update(type="mention", id="feed|=1+1", conv="7", at="2026-11-23T10:00:00Z",
               who="@evil", what="mention", text="=HYPERLINK(\"http://x\")", rule="-2+3",
               case_id="+CASE", undone=False, details={"a": 1})
    out = io.StringIO()
    assert write_export([row], "csv", out) == 1
    header, values = list(csv_mod.reader(io.StringIO(out.getvalue())))
    cells = dict(zip(header, values, strict=True))
    assert cells["id"] == "feed|=1+1"  # does not start with a formula character
    assert cells["who"] == "'@evil" and cells["text"].startswith("'=")
    assert cells["rule"] == "'-2+3" and cells["case_id"] == "'+CASE"
    assert cells["undone"] == "false" and cells["details"] == '{"a": 1}'
    assert cells["channel"] == ""
