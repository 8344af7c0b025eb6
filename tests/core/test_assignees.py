"""``assigned_to`` and ``next`` answer from an index of assignees (not a pass over the queue):
after any run of actions, a reload from the store and a start from a state image, they give
what a pass over every conversation gives."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Clock, new_desk
from deskkit import mention

from tui.core.api import ActionRefused
from tui.core.desk import Desk
from tui.setup.boot import Options, close_desk, open_desk

AGENTS = ("tester", "sam", "kim", "refunds")


def scanned(desk: Desk, agent: str) -> list[str]:
    """What ``assigned_to`` must give: a pass over the queue."""
    return [cid for cid in desk.queue if desk.conversations[cid].assigned == agent]


def scanned_next(desk: Desk, agent: str, others: bool) -> str | None:
    fallback = None
    for cid in desk.queue:
        conv = desk.conversations[cid]
        if conv.assigned == agent:
            return cid
        if fallback is None and (conv.assigned is None or others):
            fallback = cid
    return fallback


def assert_index_right(desk: Desk) -> None:
    for agent in AGENTS:
        assert desk.assigned_to(agent) == scanned(desk, agent), agent
        for others in (False, True):
            got = desk.next(agent, others=others)
            assert (got.id if got is not None else None) == scanned_next(desk, agent, others)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_assigned_to_and_next_follow_every_action(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    clock = Clock()
    desk = new_desk(data_dir=tmp_path, clock=clock, agent="tester")
    texts = ["refund please", "my train was cancelled", "the lift is broken", "thanks!"]
    for step in range(160):
        if step % 5 == 0 or not desk.conversations:
            desk.ingest([mention(rnd.choice(texts), f"c{rnd.randrange(30)}")])
        cid = rnd.choice(list(desk.conversations))
        try:
            match rnd.randrange(7):
                case 0 | 1:
                    desk.assign(cid, rnd.choice(AGENTS))
                case 2:
                    desk.undo(agent="tester")
                case 3:
                    desk.resolve(cid)
                case 4:
                    desk.snooze(cid, clock.now + timedelta(minutes=rnd.choice([1, 30])))
                case 5:
                    desk.reopen(cid)
                case _:
                    desk.handoff(cid, "refunds", "over to you")
        except ActionRefused:
            pass
        clock.advance(minutes=rnd.choice([0, 1, 5]))
        desk.tick()  # wakes the snoozes that ran out
        assert_index_right(desk)
    assert any(desk.assigned_to(a) for a in AGENTS)  # the run did assign some
    desk.flush()
    close_desk(desk, checkpoint=True, image="inline")
    for _ in range(2):  # from the state image, then from the store (the image is used once)
        again = open_desk(Options(data_dir=str(tmp_path), agent="tester"), clock=clock)
        assert_index_right(again)
        close_desk(again, maintain=False)
