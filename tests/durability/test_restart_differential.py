"""Randomized differential: whatever an agent does, a restart rebuilds exactly the same desk.

Hundreds of random actions on a moving clock (ingest, edits and deletes from the source, every
agent action, undo, accept, open, drafts, ticks, checkpoints with archiving, outbox delivery);
every few dozen steps the store is closed — cleanly, or as a kill -9 that loses what was not
flushed — and reopened, and every conversation's folded state, the queue, the outbox, drafts,
counts and counters must be as they were.
"""

from __future__ import annotations

import copy
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock
from deskkit import mention

from tui.core.desk import SNOOZED, ActionRefused, Desk
from tui.core.store import Store

TEXTS = [
    "The doors closed on my child at Leeds, this is unsafe!",
    "I want a refund for my cancelled ticket please",
    "My train was cancelled again",
    "honestly the fares are overpriced imo",
    "crypto giveaway dm me now",
    "thanks!",
    "hello?",
    "my smartcard 1234 5678 9012 3456 isn't working",
    "wheelchair ramp was not there at York",
    "I left my bag on the 08:02",
]


def state(d: Desk, crash: bool) -> dict[str, Any]:
    convs = {}
    for cid, c in d.conversations.items():
        convs[cid] = dict(
            status=c.status, pending=list(c.pending), needs=c.needs_reply,
            triage=c.triage.to_dict() if c.triage else None, deadline=c.deadline,
            risk=c.risk_at, assigned=c.assigned, offline=c.offline, team=c.team,
            case=c.case_id, tags=list(c.tags), notes=list(c.notes),
            snooze=c.snoozed_until if c.status == SNOOZED else None,
            first_pending=c.first_pending_at, last_activity=c.last_activity,
            last_mention_seq=c.last_mention_seq, reopened=c.reopened,
            timeline=list(c.timeline), key=d.sort_key(c))
    return dict(
        convs=convs, queue=list(d.queue), outbox=dict(d.outbox.items), drafts=dict(d.drafts),
        counts=d.counts(), meta=dict(d.meta), current=dict(d.current),
        events={k: (e.kind, e.undone) for k, e in d.events.items()}, mentions=set(d.mentions),
        archived=set(d.archived_keys), last_action=dict(d.last_action),
        read={cid: c.read_seq for cid, c in d.conversations.items()} if not crash else None)


def act(d: Desk, rng: random.Random, clock: Clock, step: int) -> None:
    ids = list(d.conversations)
    cid = rng.choice(ids) if ids else None
    who = rng.choice(["agent", "bob"])
    roll = rng.random()
    if roll < 0.30 or cid is None:
        d.ingest([mention(rng.choice(TEXTS), f"c{rng.randint(0, 12)}", at=clock.now,
                          channel=rng.choice(["public", "public", "direct"]))])
    elif roll < 0.36 and d.mentions:
        m = copy.copy(d.mentions[rng.choice(list(d.mentions))])
        if rng.random() < 0.5:
            m.deleted = True
        else:
            m.text = rng.choice(TEXTS)
        d.ingest([m])
    elif roll < 0.45:
        d.reply(cid, f"On it ({step})", agent=who)
    elif roll < 0.50:
        d.take_offline(cid, "we sent you a DM", "hi there", agent=who)
    elif roll < 0.55:
        d.handoff(cid, rng.choice(["safety", "refunds"]), agent=who)
    elif roll < 0.60:
        d.resolve(cid, rng.choice([None, "glad we sorted it"]), agent=who)
    elif roll < 0.65:
        d.snooze(cid, clock.now + timedelta(minutes=rng.randint(1, 300)), agent=who)
    elif roll < 0.68:
        d.ignore(cid, agent=who)
    elif roll < 0.71:
        d.tag(cid, rng.choice(["late", "-late", "vip"]), agent=who)
    elif roll < 0.73:
        d.note(cid, "n", agent=who)
    elif roll < 0.75:
        d.assign(cid, rng.choice([None, "sam"]), agent=who)
    elif roll < 0.82:
        d.undo(agent=who, conv_id=rng.choice([None, cid]))
    elif roll < 0.86:
        d.accept(cid, agent=who)
    elif roll < 0.88:
        d.mark_read(cid)
    elif roll < 0.90:
        d.save_draft(cid, rng.choice(["", "draft"]))
    elif roll < 0.93:
        d.tick()
    elif roll < 0.96:
        d.checkpoint()
    else:
        for item in d.outbox.due(clock.now)[:2]:
            d.outbox.start(item["id"])
            if rng.random() < 0.8:
                d.outbox.sent(item["id"], "r1")


@pytest.mark.parametrize("crash", [False, True], ids=["clean", "kill-9"])
# Three seeds in the suite (each trial is 300 steps with real fsyncs); MENTIONDESK_TRIALS=N runs N.
@pytest.mark.parametrize("seed", range(int(os.environ.get("MENTIONDESK_TRIALS", "3"))))
def test_restart_rebuilds_the_same_desk(clock, make_desk, tmp_path: Path, seed: int,
                                        crash: bool) -> None:
    rng = random.Random(seed)
    store = Store(tmp_path)
    d = make_desk(store)
    for step in range(300):
        clock.advance(minutes=rng.choice([0, 0, 1, 5, 30, 120, 600]))
        try:
            act(d, rng, clock, step)
        except ActionRefused:
            pass
        if step % 25 == 24:
            d.tick()
            before = state(d, crash)
            if crash:
                store._buffer.clear()  # kill -9: whatever was not flushed is gone
            store.close()
            store = Store(tmp_path)
            d = make_desk(store)
            d.tick()
            assert state(d, crash) == before, f"seed {seed}, step {step}"
    store.close()
