"""One bad record never stops a source: 100k-deep JSON, a 5,000-digit integer, a lone surrogate
and a year-9999 time in replay, a live NDJSON feed (served on 127.0.0.1) and `triage` are each
skipped (or, for the surrogate, cleaned) and reported with their line; the good records around
them all arrive, and the health line counts what was skipped."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
from pathlib import Path

from fakes.server import FakeServer, Reply

from tui.cli import triage as triage_cmd
from tui.sources.feed import FeedSource
from tui.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[2]


def good(n: int) -> str:
    return json.dumps({"id": f"g{n}", "author": f"cust{n}", "text": f"my train {n} is late",
                       "created_at": "2026-11-30T08:00:00Z"})


LINES = [
    good(1),
    "[" * 100_000 + "]" * 100_000,  # line 2: nested too deeply for any parser
    '{"id": ' + "9" * 5000 + ', "author": "x", "text": "t", "created_at": 0}',  # line 3
    good(2),
    '{"id": "s1", "author": "sam", "text": "lone \\ud800 surrogate", '
    '"created_at": "2026-11-30T08:01:00Z"}',  # line 5: kept, the surrogate replaced
    '{"id": "y1", "author": "yan", "text": "far future", "created_at": "9999-12-31T23:59:59Z"}',
    good(3),
]
SKIPPED_LINES = (2, 3, 6)


def write(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_replay_skips_and_reports_bad_records_and_keeps_the_rest(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    source = ReplaySource(write(tmp_path), speed="max")
    got: list = []
    asyncio.run(source.run(got.extend))
    assert sorted(m.id for m in got) == ["g1", "g2", "g3", "s1"]
    assert next(m for m in got if m.id == "s1").text == "lone \ufffd surrogate"
    assert (source.status.received, source.status.skipped) == (4, 3)
    assert "4 mentions, 3 skipped" in source.status.detail
    for line in SKIPPED_LINES:
        assert f"hostile.jsonl:{line}:" in caplog.text


def test_triage_reports_bad_lines_and_finishes(tmp_path):
    parser = argparse.ArgumentParser()
    triage_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["triage", str(write(tmp_path)), "--rules",
                              str(ROOT / "rules.yaml"), "--json"])
    out, err = io.StringIO(), io.StringIO()
    assert triage_cmd.run(args, out, err) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[-1]["summary"]["mentions"] == 4 and rows[-1]["summary"]["skipped"] == 3
    for line in SKIPPED_LINES:
        assert f"hostile.jsonl:{line}:" in err.getvalue()
    out.getvalue().encode("utf-8")  # printable: no lone surrogate reached the output


def test_an_ndjson_feed_skips_bad_lines_and_goes_on(caplog):
    caplog.set_level(logging.WARNING)
    body = ("\n".join(LINES) + "\n").encode()
    with FakeServer(lambda req: Reply(200, body,
                                      {"Content-Type": "application/x-ndjson"})) as server:
        source = FeedSource(f"{server.url}/mentions.ndjson")
        got: list = []
        asyncio.run(source.poll(got.extend))
        asyncio.run(source.aclose())
    assert sorted(m.id for m in got) == ["g1", "g2", "g3", "s1"]
    assert source.status.skipped == 3
    for line in SKIPPED_LINES:
        assert f"line {line}" in caplog.text
