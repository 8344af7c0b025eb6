"""Shift metrics on a known history (the shift in tests/shiftkit.py, with its table): every
figure compared with a hand-computed value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Clock
from deskkit import mention
from shiftkit import MIN, NOW, SINCE, T, build_shift, deliver_all

from tui.core.metrics import (
    archived_records,
    collect,
    compute,
    episodes,
    median,
    p90,
    sentiment,
    shift_metrics,
)
from tui.core.store import Store


@pytest.fixture
def shift() -> tuple[Any, Clock, dict]:
    return build_shift()


def test_triage_of_the_fixture_is_what_the_table_says(shift: Any) -> None:
    desk, _, ids = shift
    cats = {h: desk.conversations[c].category for h, c in ids.items()}
    assert cats == {"ann": "service_disruption", "cat": "safety", "dan": "direct_message",
                    "hal": "card_account", "fay": "opinion", "gus": "opinion",
                    "ivy": "opinion", "bob": "refund", "eve": "lost_property"}


def test_episodes_follow_answers_undo_and_reopening(shift: Any) -> None:
    desk, _, ids = shift
    recs = {r.id: r for r in collect(desk, SINCE)}
    ann, _ = episodes(recs[ids["ann"]], desk.rules.levels)
    assert [(e.start, e.answered_at, e.closed_at, e.reopened) for e in ann] == [
        (T(3, 9), T(3, 9, 20), T(3, 10), False), (T(3, 10, 30), T(3, 10, 50), None, True)]
    cat, _ = episodes(recs[ids["cat"]], desk.rules.levels)
    # the undone reply at 10:05 answered nobody, and neither did the hand-off at 10:30: the
    # customer received nothing, so the episode is still unanswered (issue 12 item 11)
    assert (cat[0].answered_at, cat[0].answer_kind, cat[0].deadline) == (
        None, None, T(3, 10, 15))
    assert cat[0].sla(NOW) == "miss"
    dan, _ = episodes(recs[ids["dan"]], desk.rules.levels)
    assert dan[0].snoozes == 1 and dan[0].sla(NOW) == "miss"
    assert dan[0].sla(T(3, 14)) == "pending"  # snoozed or not, the clock ran
    assert episodes(recs[ids["fay"]], desk.rules.levels)[0] == []


def test_every_figure_matches_the_hand_computed_value(shift: Any) -> None:
    desk, _, _ = shift
    m = shift_metrics(desk, SINCE, NOW)
    assert m.mentions == 10
    assert m.conversations_new == 9
    assert m.episodes == 7 and m.reopened == 1
    assert m.resolved == 3 and m.snoozes == 1
    # First response, on each level's clock (seconds):
    #   ann 20m, ann again 20m, hal 30m,
    #   bob 19:30 Mon → 08:30 Tue = 30m Monday + 30m Tuesday office time = 60m (13h wall);
    #   cat has none: the undone reply and the hand-off told the customer nothing.
    assert sorted(m.first_response.values) == [20 * MIN, 20 * MIN, 30 * MIN, 60 * MIN]
    assert m.first_response.median == 25 * MIN  # the mean of the two middle values
    assert m.first_response.p90 == 60 * MIN  # nearest rank: ceil(0.9*4) = 4th
    # Handling (first answer → resolve): ann 40m, hal 30m, bob 30m.
    assert sorted(m.handling.values) == [30 * MIN, 30 * MIN, 40 * MIN]
    assert (m.handling.median, m.handling.p90) == (30 * MIN, 40 * MIN)
    # Resolution (first message → resolve): ann 60m, hal 60m, bob 90m (office time).
    assert sorted(m.resolution.values) == [60 * MIN, 60 * MIN, 90 * MIN]
    assert (m.resolution.median, m.resolution.p90) == (60 * MIN, 90 * MIN)
    sla = {k: (v.hits, v.misses, v.pending, v.rate) for k, v in m.sla.items()}
    assert sla == {"critical": (0, 1, 0, 0.0), "high": (2, 0, 0, 1.0),
                   "normal": (2, 1, 1, 2 / 3), "low": (0, 0, 0, None)}
    assert m.by_channel == {"public": 9, "direct": 1}
    assert m.by_category == {"opinion": 3, "service_disruption": 2, "card_account": 1,
                             "direct_message": 1, "lost_property": 1, "refund": 1, "safety": 1}
    assert m.by_team == {"none": 3, "operations": 2, "accounts": 1, "lost_property": 1,
                         "refunds": 1, "safety": 1, "social": 1}
    # Right now: dan (unanswered, past 15:00 Mon) and cat (handed off, never answered, due
    # 10:15 Mon) are breached; eve (11:45, due 15:45, risk at 75% = 14:45) is not yet at risk;
    # ann's reopened episode was answered.
    assert m.now_counts["breached"] == 2 and m.now_counts["at_risk"] == 0


def test_window_excludes_earlier_episodes(shift: Any) -> None:
    desk, _, _ = shift
    m = shift_metrics(desk, T(3, 19), NOW)
    # only bob (19:30) and eve (Tue 11:45) started in the window
    assert m.episodes == 2 and m.first_response.values == [60 * MIN]
    assert m.resolved == 1 and m.mentions == 2


def test_office_clock_across_a_weekend_and_24x7_at_night(make_desk) -> None:
    clock = Clock(datetime(2025, 3, 7, 19, 0, tzinfo=UTC))  # a Friday
    desk = make_desk(None, clock)
    refund = desk.ingest([mention("refund please", "kim", at=clock.now)])[0].conv_id
    safety = desk.ingest([mention("I feel unsafe, a man is threatening people", "lee",
                                  at=clock.now)])[0].conv_id
    clock.now = datetime(2025, 3, 10, 8, 15, tzinfo=UTC)  # Monday 08:15
    desk.reply(refund, "Hi Kim, see https://help.northline.example/refunds")
    desk.reply(safety, "Please DM us")
    m = shift_metrics(desk, datetime(2025, 3, 7, tzinfo=UTC), clock.now)
    # refund: Fri 19:00–20:00 (1h) + Mon 08:00–08:15 = 75 min of office time: a hit (4h).
    # safety: 24x7, 61h15m of wall time: a miss (15 min).
    assert sorted(m.first_response.values) == [75 * MIN, (61 * 60 + 15) * MIN]
    assert (m.sla["normal"].hits, m.sla["critical"].misses) == (1, 1)


def test_archived_conversations_still_count(make_desk, tmp_path: Any) -> None:
    store = Store(tmp_path / "data")
    desk, clock, ids = build_shift(store)
    before = shift_metrics(desk, SINCE, NOW).to_dict()
    deliver_all(desk)
    clock.now = T(5, 14)  # Wednesday: hal and bob were resolved more than 24h ago
    assert desk.checkpoint() == 2
    assert ids["hal"] not in desk.conversations and ids["bob"] not in desk.conversations
    archived = {r.id for r in archived_records(store)}
    assert archived == {ids["hal"], ids["bob"]}
    after = shift_metrics(desk, SINCE, NOW).to_dict()
    before.pop("right_now")
    after.pop("right_now")
    assert after == before
    store.close()
    # and after a restart, from the snapshot and the archive
    store = Store(tmp_path / "data")
    desk2 = make_desk(store, clock)
    again = shift_metrics(desk2, SINCE, NOW).to_dict()
    again.pop("right_now")
    assert again == before
    assert {r.id for r in archived_records(store, T(4, 10))} == set()  # nothing after 10:00 Tue
    store.close()


def test_sentiment_per_hour(shift: Any) -> None:
    desk, _, _ = shift
    m = compute(collect(desk, SINCE), desk.rules, SINCE, NOW)
    assert len(m.sentiment) == 28 and len(m.volume) == 28  # Mon 08:00 → Tue 12:00
    # bucket 1 (09:00): "cancelled … waiting" → −1; bucket 6 (14:00) "ugly" is not in the
    # lexicon → 0; bucket 8 (16:00) "worse … 😡" → −1.
    assert m.volume[1] == 1 and m.sentiment[1] == -1.0
    assert m.volume[6] == 1 and m.sentiment[6] == 0.0
    assert m.sentiment[8] == -1.0
    assert sum(m.volume) == m.mentions == 10


@pytest.mark.parametrize(("text", "score"), [
    ("Brilliant service, thank you!", 1.0),
    ("train late again, awful", -1.0),
    ("not good at all", -1.0),
    ("the staff were great but the train was late", 0.0),
    ("thanks 👍 but it was delayed", 1 / 3),
    ("the 09:10 to Leeds", 0.0),
])
def test_sentiment_lexicon(text: str, score: float) -> None:
    assert sentiment(text) == pytest.approx(score)


def test_percentiles() -> None:
    assert median([]) is None and p90([]) is None
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5
    assert p90([float(i) for i in range(1, 11)]) == 9.0  # ceil(9.0) = 9th value
    assert p90([float(i) for i in range(1, 12)]) == 10.0  # ceil(9.9) = 10th value
    assert p90([5.0]) == 5.0


def test_closing_without_an_answer_and_ignoring(make_desk) -> None:
    clock = Clock(T(3, 9))
    desk = make_desk(None, clock)
    early = desk.ingest([mention("where do I change my booking?", "joy", at=clock.now)])[0]
    late = desk.ingest([mention("I need a refund for my ticket", "max", at=clock.now)])[0]
    loop = desk.ingest([mention("can I reserve a seat on the 10:10?", "ned", at=clock.now)])[0]
    clock.now = T(3, 10)
    desk.resolve(early.conv_id)  # a duplicate, closed in time without a word: neither
    desk.resolve(loop.conv_id, "Yes Ned, seats can be reserved until departure.")
    clock.now = T(3, 14)
    desk.ignore(late.conv_id, "duplicate")  # unanswered past the 13:00 deadline: a miss
    m = shift_metrics(desk, SINCE, clock.now)
    s = m.sla["normal"]
    assert (s.hits, s.misses, s.pending, s.closed) == (1, 1, 0, 1)
    # the close-the-loop message answered Ned after 60 min; ignoring is not a resolution
    assert m.first_response.values == [60 * MIN]
    assert sorted(m.resolution.values) == [60 * MIN, 60 * MIN]
    assert m.handling.values == [0.0]
