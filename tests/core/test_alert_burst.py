"""Many alerts at once — a start after the desk was closed for hours (every open conversation
past its target), a source catching up a backlog of critical mentions — give the most urgent
by name (``ALERT_BURST``) and one counted alert per team for the rest, never one alert (and
one on_alert hook run) per conversation; each conversation is still warned once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import EPOCH
from deskkit import mention

from tui.core import indexes
from tui.core.desk import ALERT_BURST, Desk

TEXTS = ["I want a refund for my cancelled ticket please",  # refunds
         "My train was cancelled again",  # operations
         "The doors closed on my child at Leeds, this is unsafe!",  # safety, critical
         "where do I find the timetable?"]


def busy(make_desk: Any, clock: Any, n: int) -> Desk:
    desk = make_desk()
    desk.ingest([mention(TEXTS[i % len(TEXTS)], f"c{i}", at=EPOCH + timedelta(seconds=i))
                 for i in range(n)])
    return desk


def due_now(desk: Desk) -> list[tuple[float, str]]:
    """(deadline ts, conv id) of every conversation an at-risk warning is due for."""
    return sorted((c.deadline.timestamp(), c.id) for c in desk.conversations.values()
                  if c.needs_reply and c.deadline is not None)


@pytest.mark.parametrize("pop_all", [False, True], ids=["one-pass", "popped"])
def test_a_tick_with_hundreds_due_names_the_most_urgent_and_counts_the_rest_per_team(
        make_desk: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, pop_all: bool) -> None:
    if pop_all:  # the heap popped one by one all the way: the same alerts
        monkeypatch.setattr(indexes, "RISKS_POPPED", 10**9)
    desk = busy(make_desk, clock, 300)
    due = due_now(desk)
    assert len(due) > 200
    clock.advance(days=3)  # closed for three days: every one is late
    alerts = desk.tick()
    named, counted = alerts[:ALERT_BURST], alerts[ALERT_BURST:]
    assert [a.conv_id for a in named] == [cid for _, cid in due[:ALERT_BURST]]
    assert all(a.count == 1 and "LATE by" in a.message and a.message.startswith(f"#{a.conv_id}")
               for a in named)
    # the rest: one per team, counted, each naming how many are late
    want: dict[str | None, list[str]] = {}
    for _, cid in due[ALERT_BURST:]:
        want.setdefault(desk.owning_team(desk.conversations[cid]), []).append(cid)
    assert len(want) >= 3
    assert {a.team: a.count for a in counted} == {t: len(ids) for t, ids in want.items()}
    for a in counted:
        assert a.conv_id == want[a.team][0]  # its most urgent
        assert f"{a.count:,} more conversations" in a.message
        assert f"({a.count:,} late)" in a.message
    assert desk.tick() == []  # each warned once
    # a conversation whose deadline moves (a new message after our answer) is warned again
    cid = due[-1][1]
    desk.reply(cid, "Sorry for the wait, looking now")
    desk.ingest([mention("still waiting", desk.conversations[cid].handle, at=clock.now)])
    clock.advance(days=1)
    again = desk.tick()
    assert [a.conv_id for a in again] == [cid]


def test_a_few_due_are_all_named(make_desk: Any, clock: Any) -> None:
    desk = busy(make_desk, clock, ALERT_BURST - 2)
    clock.advance(days=1)
    alerts = desk.tick()
    assert len(alerts) == len(due_now(desk)) and all(a.count == 1 for a in alerts)


def test_a_backlog_of_critical_mentions_names_the_first_and_counts_the_rest(
        make_desk: Any, clock: Any) -> None:
    desk = make_desk()
    results = desk.ingest([mention(TEXTS[2], f"kid{i}", at=clock.now) for i in range(40)])
    critical = [r for r in results if r.alert == "critical"]
    assert len(critical) == 40
    alerts = desk.critical_alerts(results)
    assert [a.conv_id for a in alerts[:ALERT_BURST]] == [r.conv_id for r in critical[:ALERT_BURST]]
    assert all(a.kind == "critical" for a in alerts)
    assert sum(a.count for a in alerts) == 40
    assert [a.count for a in alerts[ALERT_BURST:]] == [40 - ALERT_BURST]
    assert "30 more new critical conversations" in alerts[-1].message
