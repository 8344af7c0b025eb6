"""The demo after a restart: its mention ids are unique across runs on one data directory, so
a restarted demo is never silently dropped as duplicates.  A real Store in tmp_path, the real
Desk and Runner, two runs."""

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


def test_a_restarted_demo_is_not_dropped_as_duplicates(tmp_path):
    desk, _ = one_run(tmp_path, 20)
    first_ids = {m.id for m in desk.mentions.values()}
    desk.store.close(desk.dump)
    desk, before = one_run(tmp_path, 20)
    assert len(desk.mentions) - before >= 20  # the second run's mentions all arrived
    second_ids = {m.id for m in desk.mentions.values()} - first_ids
    assert len(second_ids) >= 20
    assert all(mid.startswith("demo-r2-") for mid in second_ids)
    desk.store.close(desk.dump)
