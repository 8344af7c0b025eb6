"""The demo stream: deterministic, realistic, covers every category, and answers back."""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tui.core.model import DIRECT, PUBLIC
from tui.sources.base import LIVE, STOPPED
from tui.sources.demo import (
    CATEGORIES,
    EPOCH,
    DemoSource,
    generate,
    generate_with_intent,
    luhn_ok,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample():
    return generate_with_intent(2000, seed=7)


def test_same_seed_same_mentions_other_seed_other_mentions():
    a = [m.to_dict() for m in generate(300, seed=3)]
    assert a == [m.to_dict() for m in generate(300, seed=3)]
    assert a != [m.to_dict() for m in generate(300, seed=4)]


def test_timeline_is_ordered_and_needs_no_wall_clock(sample):
    times = [m.created_at for m, _ in sample]
    assert times[0] == EPOCH and times == sorted(times)
    assert all(m.received_at == m.created_at for m, _ in sample)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert generate(5, start=start)[0].created_at == start
    # rate = mentions per second: 2000 mentions at 0.5/s span about an hour
    assert timedelta(minutes=45) < times[-1] - times[0] < timedelta(minutes=90)
    burst = generate(600, burst=True)
    assert burst[-1].created_at - burst[0].created_at < timedelta(minutes=5)


def test_every_category_and_a_realistic_mix(sample):
    counts = Counter(c for _, c in sample)
    assert set(counts) == set(CATEGORIES)
    assert counts["service_disruption"] == max(counts.values())
    mentions = [m for m, _ in sample]
    assert len({m.key for m in mentions}) == len(mentions)
    assert all(m.source == "demo" and m.text for m in mentions)
    # DMs are direct; public mentions address the brand
    for m, c in sample:
        assert (m.channel == DIRECT) == (c == "direct_message")
        if m.channel == PUBLIC:
            assert m.text.startswith("@northline")
    assert {m.language for m in mentions} >= {"en", "fr", "es", "de", "cy"}
    assert 0.03 < sum(m.language != "en" for m in mentions) / len(mentions) < 0.2
    assert any(m.author.followers >= 10_000 for m in mentions)
    assert any(m.author.verified for m in mentions)
    assert any(re.search(r"[À-ž]", m.author.name) for m in mentions)  # accents
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", m.author.name) for m in mentions)  # emoji
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", m.text) for m in mentions)


def test_threads_and_repeat_customers(sample):
    mentions = [m for m, _ in sample]
    by_id = {m.id: m for m in mentions}
    replies = [m for m in mentions if m.in_reply_to]
    assert len(replies) > 50
    for m in replies:
        parent = by_id[m.in_reply_to]  # always an earlier mention of the stream
        assert parent.created_at <= m.created_at
        assert m.thread == (parent.thread or parent.id)
    follow_ups = [m for m in replies if by_id[m.in_reply_to].customer == m.customer]
    assert len(follow_ups) > 20
    assert any("still" in m.text for m in follow_ups)
    per_customer = Counter(m.customer for m in mentions)
    assert sum(1 for n in per_customer.values() if n >= 3) >= 10


def test_personal_data_is_there_and_looks_real(sample):
    texts = [m.text for m, _ in sample]
    cards = [c for t in texts for c in re.findall(r"\b\d{4} \d{4} \d{4} \d{4}\b", t)]
    assert len(cards) >= 5 and all(luhn_ok(c) for c in cards)
    assert any(re.search(r"\bNL-\d{6}\b", t) for t in texts)
    assert any(re.search(r"@mail\.example\b", t) for t in texts)
    assert any(re.search(r"\b07700 900\d{3}\b|\+44 7700 900\d{3}", t) for t in texts)
    assert any(re.search(r"\b[A-Z]{2}\d \d[A-Z]{2}\b", t) for t in texts)  # postcodes
    from tui.core import pii

    flagged = [t for t in texts if pii.find_personal_data(t)]
    assert len(flagged) > 40
    for card in cards:
        assert [f.kind for f in pii.find_personal_data(f"card {card}")] == ["card"]


def test_agreement_with_the_shipped_rules(sample, capsys):
    """The demo is written for the categories; the shipped keyword rules should agree."""
    from tui.core.rules import load_rules

    rules = load_rules(ROOT / "rules.yaml")
    agree = Counter()
    total = Counter()
    misses = Counter()
    for m, intended in sample:
        lang = "en" if m.language == "en" else "other"
        got = rules.triage(m).category
        total[lang] += 1
        agree[lang] += got == intended
        if got != intended:
            misses[(lang, intended, got)] += 1
    overall = sum(agree.values()) / sum(total.values())
    english = agree["en"] / total["en"]
    with capsys.disabled():
        print(f"\ndemo/rules agreement: {overall:.1%} overall, {english:.1%} English, "
              f"{agree['other']}/{total['other']} other languages; "
              f"top misses {misses.most_common(4)}")
    assert english >= 0.90
    assert overall >= 0.85


async def test_run_emits_the_same_sequence_live():
    ticks = iter(range(10**6))
    start = datetime(2025, 6, 1, 12, tzinfo=UTC)
    src = DemoSource(seed=11, rate=5000, clock=lambda: start + timedelta(seconds=next(ticks)))
    got: list = []
    enough = asyncio.Event()

    def emit(batch):
        got.extend(batch)
        if len(got) >= 120:
            enough.set()

    task = asyncio.create_task(src.run(emit))
    await asyncio.wait_for(enough.wait(), 10)
    assert src.status.state == LIVE
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert src.status.state == STOPPED
    assert src.status.received == len(got)
    expected = generate(len(got), seed=11)
    assert [m.text for m in got] == [m.text for m in expected]
    assert [m.id for m in got] == [m.id for m in expected]
    assert got[0].created_at == start  # stamped by the clock given
    assert all(src.intended[m.key] in CATEGORIES for m in got)


def _handles(seed: int, answers: bool, n: int = 1) -> list[str]:
    out = [m.author.handle for m in generate(400, seed=seed)
           if (zlib.crc32(f"{seed}|{m.author.handle.casefold()}".encode()) % 3 != 0) == answers]
    return list(dict.fromkeys(out))[:n]


async def test_deliver_is_local_and_some_customers_answer():
    src = DemoSource(seed=7, rate=0.001, answer_delay=(0.0, 0.0))
    first = generate(400, seed=7)
    talker, silent = _handles(7, True)[0], _handles(7, False)[0]
    m = next(x for x in first if x.author.handle == talker and x.channel == PUBLIC)
    answers: list = []
    got_answer = asyncio.Event()

    def emit(batch):
        for x in batch:
            if x.id.startswith("demo-answer-"):
                answers.append(x)
                got_answer.set()

    task = asyncio.create_task(src.run(emit))
    try:
        rid1 = await src.deliver({"id": "o1", "kind": "reply", "channel": PUBLIC, "to": silent,
                                  "in_reply_to": "demo|demo-1", "text": "hi"})
        rid2 = await src.deliver({"id": "o2", "kind": "reply", "channel": PUBLIC, "to": talker,
                                  "in_reply_to": m.key, "text": "sorry about that"})
        assert (rid1, rid2) == ("demo-out-1", "demo-out-2")
        await asyncio.wait_for(got_answer.wait(), 10)
        (answer,) = answers
        assert answer.author.handle == talker and answer.customer == m.customer
        assert answer.in_reply_to == m.id and answer.channel == PUBLIC
        assert answer.thread == (m.thread or m.id)
        assert src.intended[answer.key] in ("praise", "general")

        # Asked to DM us (a bridge), they do: a direct message from the same customer.
        got_answer.clear()
        await src.deliver({"id": "o3", "kind": "bridge", "channel": PUBLIC, "to": talker,
                           "in_reply_to": m.key, "text": "please DM us"})
        await asyncio.wait_for(got_answer.wait(), 10)
        dm = answers[-1]
        assert dm.channel == DIRECT and dm.customer == m.customer and dm.in_reply_to is None

        # A DM answered by DM: the customer answers privately too.
        got_answer.clear()
        await src.deliver({"id": "o4", "kind": "dm", "channel": DIRECT, "to": talker,
                           "text": "sorted now?"})
        await asyncio.wait_for(got_answer.wait(), 10)
        private = answers[-1]
        assert private.channel == DIRECT and not private.text.startswith("@northline")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await src.aclose()
    assert len(answers) == 3  # the silent customer never answered


async def test_answers_due_before_run_are_emitted_when_it_starts():
    src = DemoSource(seed=7, rate=0.001, answer_delay=(0.0, 0.0))
    talker = _handles(7, True)[0]
    await src.deliver({"id": "o1", "kind": "close_loop", "channel": PUBLIC, "to": talker,
                       "in_reply_to": "demo|demo-5"})
    await asyncio.gather(*list(src._tasks))  # answered before anyone listens: it is kept
    got: list = []
    done = asyncio.Event()
    task = asyncio.create_task(src.run(lambda b: (got.extend(b), done.set())))
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert got[0].id == "demo-answer-1" and "thanks" in got[0].text
