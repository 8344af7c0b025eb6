"""The demo after a restart goes on with its script where the last run stopped: new customers,
never the last run's conversations again under new ids, and never dropped as duplicates.  A
real Store in tmp_path, the real Desk and Runner, two runs."""

from __future__ import annotations

import asyncio

from conftest import policy

from tui.core.desk import Desk
from tui.core.store import Store
from tui.sources.demo import DemoSource
from tui.sources.runner import Runner


def one_run(path, until: int) -> tuple[Desk, int]:
    rules, replies = policy()
    desk = Desk(rules, replies, Store(path))
    before = len(desk.mentions)
    source = DemoSource(seed=7, rate=1000)
    runner = Runner(desk, [source], deliver=False, batch_seconds=0.01)
    stop = asyncio.Event()

    def check(_results) -> None:
        if len(desk.mentions) - before >= until:
            stop.set()

    runner.on_ingested = check
    asyncio.run(asyncio.wait_for(runner.run(until=stop), 30))
    return desk, before


def number(mid: str) -> int:
    return int(mid.rpartition("-")[2])


def test_a_restarted_demo_goes_on_where_it_stopped(tmp_path):
    desk, _ = one_run(tmp_path, 20)
    first = {m.id: m.text for m in desk.mentions.values() if "answer" not in m.id}
    desk.store.close(desk.dump)
    desk, before = one_run(tmp_path, 20)
    assert len(desk.mentions) - before >= 20  # the second run's mentions all arrived
    second = {m.id: m.text for m in desk.mentions.values()
              if m.id not in first and "answer" not in m.id}
    assert len(second) >= 20
    # the script went on: later numbers, never the first run's mentions again
    assert min(number(mid) for mid in second) > max(number(mid) for mid in first)
    fresh = DemoSource(seed=7)  # what a restart from the beginning would have sent
    replayed = [fresh.stream.next(fresh.clock()).text for _ in range(len(second))]
    assert sorted(second.values()) != sorted(replayed)
    desk.store.close(desk.dump)


def test_a_position_from_an_older_version_starts_again_under_a_run_prefix(tmp_path):
    source = DemoSource(seed=7)
    source.resume({"run": 1})
    assert source.stream.id_prefix == "demo-r2"
    assert source.stream.next(source.clock()).id == "demo-r2-1"
