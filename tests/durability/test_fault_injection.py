"""Writes fail at random points during a burst of ingest and agent actions (200 trials, in
process through the injectable file layer): after recovery — a crash (nothing closed) or a clean
close once space is back — everything acknowledged is there and nothing refused or held is shown
as saved.

Acknowledged: a mention returned by ``Desk.ingest`` with ``saved=True``; an action that returned.
Refused: an action that raised ``NotSaving`` (it must leave no trace at all).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from conftest import Clock, policy

from tests.deskkit import mention
from tests.helpers.faulty_fs import FaultyOps
from tui.core.desk import ActionRefused, Desk, NotSaving
from tui.core.store import Store, StoreNotSaving
from tui.setup.boot import close_desk

TRIALS = 200
STEPS = 25
TEXTS = ("@northline I want a refund for my cancelled train",
         "@northline where is my lost bag",
         "@northline thanks, great service today")
RULES, REPLIES = policy()


def crash(store: Store) -> None:
    """What kill -9 leaves: no flush, no checkpoint; the descriptors just go."""
    store._closed = True
    os.close(store._jfd)
    os.close(store._lock_fd)
    os.close(store._dir_fd)


def trial(seed: int, root: Path) -> None:
    rng = random.Random(seed)
    data = root / f"t{seed}"
    io = FaultyOps(rng=rng, rate=rng.choice((0.05, 0.15, 0.3)), real_fsync=False)
    clock = Clock()
    store = Store(data, io=io)
    desk = Desk(RULES, REPLIES, store, clock=clock)
    acked_mentions: set[str] = set()
    acked_events: set[str] = set()
    refused_texts: set[str] = set()
    n = 0
    for _step in range(STEPS):
        clock.advance(seconds=30)
        roll = rng.random()
        if roll < 0.1:
            io.full = not io.full  # a full disk that stays full for a while, then is freed
        if roll < 0.45 or not desk.conversations:
            batch = []
            for _ in range(rng.randint(1, 3)):
                n += 1
                batch.append(mention(rng.choice(TEXTS), f"c{rng.randint(0, 6)}",
                                     mid=f"s{seed}m{n}", at=clock.now))
            for r in desk.ingest(batch):
                if r.saved:
                    acked_mentions.add(r.mention.key)
            continue
        if roll > 0.93:
            try:
                desk.checkpoint()
            except StoreNotSaving:
                pass
            continue
        conv = rng.choice(sorted(desk.conversations))
        n += 1
        marker = f"[act-{seed}-{n}]"
        kind = rng.choice(("note", "tag", "reply", "resolve"))
        try:
            if kind == "note":
                ev = desk.note(conv, marker)
            elif kind == "tag":
                ev = desk.tag(conv, marker)
            elif kind == "reply":
                ev = desk.reply(conv, f"Sorry about that, we are on it ({marker}).")
            else:
                ev = desk.resolve(conv)
            acked_events.add(ev.id)
        except NotSaving:
            refused_texts.add(marker)
        except ActionRefused:
            pass
    if rng.random() < 0.5:
        crash(store)
    else:
        io.full, io.rate = False, 0.0
        assert close_desk(desk, checkpoint=rng.random() < 0.5) == []
    again = Store(data)
    tables = again.load()
    again.close()
    mentions = tables.get("mentions", {})
    events = tables.get("events", {})
    missing = acked_mentions - set(mentions)
    assert not missing, (seed, "acknowledged mentions lost", missing)
    lost = acked_events - set(events)
    assert not lost, (seed, "acknowledged actions lost", lost)
    for ev in events.values():
        said = str(ev.get("details", {}))
        assert not any(t in said for t in refused_texts), (seed, "a refused action was saved")
    for item in tables.get("outbox", {}).values():
        assert not any(t in item.get("text", "") for t in refused_texts), seed
    # Nothing the desk ended with is damage: a failed write never left a broken record.
    assert not [r for r in again.recovered if "damaged" in r], (seed, again.recovered)
    shutil.rmtree(data)


def test_random_write_failures_lose_nothing_acknowledged(tmp_path: Path) -> None:
    for seed in range(TRIALS):
        trial(seed, tmp_path)
