"""Replaying a history file: order, pacing, batches, skipped lines, status."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tui.core.interchange import parse_map, write_jsonl
from tui.sources.base import FAILED, STOPPED
from tui.sources.demo import generate
from tui.sources.replay import ReplaySource, parse_speed

DATA = Path(__file__).resolve().parents[1] / "data"
T = datetime(2025, 6, 1, 9, tzinfo=UTC)


class Collector:
    def __init__(self) -> None:
        self.batches: list[list] = []

    def __call__(self, batch) -> None:
        self.batches.append(list(batch))

    @property
    def mentions(self) -> list:
        return [m for b in self.batches for m in b]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(i: int, seconds: float, author: str = "ana") -> dict:
    return {"id": str(i), "author": author, "text": f"m{i}",
            "created_at": (T + timedelta(seconds=seconds)).isoformat()}


async def test_max_speed_replays_sample_in_order_and_reports_skips(caplog):
    src = ReplaySource(DATA / "history.jsonl", clock=lambda: T)
    out = Collector()
    with caplog.at_level(logging.WARNING, logger="mentiondesk.sources.replay"):
        await src.run(out)
    ids = [m.id for m in out.mentions]
    assert ids == ["h1", "h4", "h2", "h3", "h5", "h8"]  # created_at order, not file order
    assert src.status.state == STOPPED
    assert src.status.detail == "replay finished: 6 mentions, 3 skipped"
    assert (src.status.received, src.status.skipped) == (6, 3)
    assert len([r for r in caplog.records if r.name == "mentiondesk.sources.replay"]) == 3
    m = out.mentions[0]
    assert m.source == f"replay:{DATA / 'history.jsonl'}" and m.key.startswith("replay:")
    assert m.received_at == T
    assert m.created_at == datetime(2025, 3, 3, 8, 2, tzinfo=UTC)  # kept from the file


async def test_bounded_window_reorders_local_disorder(tmp_path):
    times = [0, 2, 1, 3, 5, 4, 6, 8, 7, 9]
    path = write(tmp_path / "h.jsonl", [row(i, t) for i, t in enumerate(times)])
    out = Collector()
    await ReplaySource(path, window=2).run(out)
    assert [m.text for m in out.mentions] == [f"m{times.index(t)}" for t in range(10)]


async def test_max_speed_emits_in_batches(tmp_path):
    path = tmp_path / "big.jsonl"
    write_jsonl(generate(1200, seed=5), path)
    out = Collector()
    src = ReplaySource(path, batch=500)
    await src.run(out)
    assert [len(b) for b in out.batches] == [500, 500, 200]
    assert [m.id for m in out.mentions] == [m.id for m in generate(1200, seed=5)]
    assert src.status.detail == "replay finished: 1200 mentions, 0 skipped"


async def test_finite_speed_keeps_the_gaps_and_shift_moves_the_timeline(tmp_path):
    # two mentions at the same second, then gaps of 2 s and 4 s, played 200x faster
    path = write(tmp_path / "h.jsonl", [row(1, 0), row(2, 0), row(3, 2), row(4, 6)])
    calls = iter(range(1000))
    start = datetime(2030, 1, 1, tzinfo=UTC)
    # each clock reading is an hour after the previous: "now" is never the limiting factor
    src = ReplaySource(path, speed="200x", shift=True,
                       clock=lambda: start + timedelta(hours=next(calls)))
    out = Collector()
    await src.run(out)
    assert [[m.id for m in b] for b in out.batches] == [["1", "2"], ["3"], ["4"]]
    created = [m.created_at for m in out.mentions]
    assert created == [start, start, start + timedelta(seconds=2 / 200),
                       start + timedelta(seconds=6 / 200)]
    assert all(m.received_at > m.created_at for m in out.mentions[1:])


async def test_shift_at_max_speed_stamps_now(tmp_path):
    path = write(tmp_path / "h.jsonl", [row(1, 0), row(2, 3600)])
    out = Collector()
    await ReplaySource(path, shift=True, clock=lambda: T).run(out)
    assert [m.created_at for m in out.mentions] == [T, T]


async def test_csv_replay_with_map():
    src = ReplaySource(DATA / "support.csv",
                       mapping=parse_map("id=tweet_id,author=author_id,"
                                         "in_reply_to=in_response_to_tweet_id"))
    out = Collector()
    await src.run(out)
    assert [m.id for m in out.mentions] == ["101", "102", "103", "105", "106"]
    assert src.status.detail == "replay finished: 5 mentions, 1 skipped"


async def test_unreadable_file_is_a_status_not_an_exception(tmp_path):
    src = ReplaySource(tmp_path / "missing.jsonl")
    await src.run(Collector())
    assert src.status.state == FAILED and "missing.jsonl" in src.status.detail
    bad_map = ReplaySource(DATA / "support.csv", mapping={"id": "nope"})
    await bad_map.run(Collector())
    assert bad_map.status.state == FAILED and "'nope'" in bad_map.status.detail


async def test_cancel_while_waiting_stops(tmp_path):
    path = write(tmp_path / "h.jsonl", [row(1, 0), row(2, 3600)])
    src = ReplaySource(path, speed=1)
    first = asyncio.Event()
    task = asyncio.create_task(src.run(lambda b: first.set()))
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert src.status.state == STOPPED
    assert src.status.detail == "replay stopped: 1 mentions, 0 skipped"


async def test_deliver_is_local():
    src = ReplaySource(DATA / "history.jsonl")
    assert await src.deliver({"id": "x"}) == "replay-out-1"
    assert await src.deliver({"id": "y"}) == "replay-out-2"


def test_parse_speed():
    assert parse_speed("max") is None and parse_speed(" MAX ") is None
    assert parse_speed("10x") == 10.0 and parse_speed(2) == 2.0 and parse_speed("0.5") == 0.5
    for bad in ("0", -1, "fast", "inf"):
        with pytest.raises(ValueError, match="speed"):
            parse_speed(bad)
