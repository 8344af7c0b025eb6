"""The Mastodon source against a real HTTP server on 127.0.0.1 replaying recorded Mastodon traffic,
with faults injected: dropped and silent streams, 429s, 500s, malformed JSON, slow answers."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from fakes.collect import Collector, RecordingStatus
from fakes.mastodon import (
    DROP,
    FakeMastodon,
    Pause,
    Reply,
    recorded_json,
    reset_in,
    sid,
    sse,
    stream_body,
)

from tui.core.model import DIRECT, PUBLIC, Mention
from tui.sources.base import FAILED, LIVE, RATE_LIMITED, RETRYING, DeliveryError
from tui.sources.http import SourceConfigError
from tui.sources.mastodon import MastodonSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "test-token-s3cret"


@pytest.fixture
def fake():
    with FakeMastodon() as server:
        yield server


def make(fake: FakeMastodon, **options) -> MastodonSource:
    options = {"token": TOKEN, "stream_timeout": 0.5, "timeout": 2.0, "backoff_base": 0.01,
               "backoff_cap": 0.05, "page_limit": 20, **options}
    source = MastodonSource(fake.url, **options)
    source.status = RecordingStatus()
    return source


async def run_until(source: MastodonSource, collector: Collector, condition) -> None:
    task = asyncio.create_task(source.run(collector))
    try:
        await collector.wait(condition)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.aclose()


def test_fixtures_are_there():
    assert (FIXTURES / "mastodon" / "test_notifications_mentions_only.yaml").is_file()


async def test_rest_backfill_pages_forward_and_converts(fake):
    fake.publish(*(fake.notification(n) for n in range(1, 26)))
    fake.publish(fake.notification(26, status=False))  # a deleted post: "status": null
    source = make(fake)
    got = Collector()
    await source.poll(got)
    # First pass on a new desk: back to the horizon (7 days), newest first, page by page.
    assert got.ids == [sid(n) for n in range(25, 0, -1)]
    assert source.status.skipped == 1
    assert source.status.state == LIVE

    m = got.mentions[0]
    assert m.source == f"mastodon:{fake.url}"
    assert m.text == "@mastodonpy_test hello number 25!"
    assert m.author.handle == "admin" and m.author.followers == 1
    assert m.channel == PUBLIC and m.raw_id == m.id == sid(25)
    assert m.url == f"http://localhost:3000/@admin/{sid(25)}"
    assert m.language == "en" and m.created_at.year == 2026

    # 50 more arrive: the next pass follows Link rel="prev" pages from the last id, in order.
    fake.publish(*(fake.notification(n) for n in range(27, 77)))
    before = len(got.ids)
    await source.poll(got)
    assert sorted(got.ids[before:]) == sorted(sid(n) for n in range(27, 77))
    assert fake.count("GET", "/api/v1/notifications") >= 1 + 3
    await source.aclose()


async def test_direct_messages_come_from_conversations(fake):
    fake.conversations = recorded_json("test_conversations.yaml", "GET", "/conversations/")
    source = make(fake, horizon_days=3650)  # the recording is months old
    got = Collector()
    await source.poll(got)
    dms = [m for m in got.mentions if m.channel == DIRECT]
    assert dms, "the recorded conversation's last status is a direct message"
    assert dms[0].id == "117020593780198542"
    assert dms[0].thread.startswith("conversation:")
    assert dms[0].text == "@admin ilu bby ;3"
    await source.aclose()


async def test_stream_drop_silence_and_backfill_lose_nothing_and_double_nothing(fake):
    fake.publish(*(fake.notification(n) for n in (1, 2, 3)))
    recorded_conversation = stream_body()  # real bytes: ":)", event: conversation, ":"
    conversations = recorded_json("test_conversations.yaml", "GET", "/conversations/")
    n4, n5, n6 = (fake.notification(n) for n in (4, 5, 6))
    fake.streams.extend([
        # 1: one event, then the connection drops in the middle of the next one
        [":)\n", ("publish", n4), sse("notification", n4), ("publish", n5),
         'event: notification\ndata: {"id": "105", "type": "ment', DROP],
        # 2: connected, then silent (no heartbeat) beyond the stream timeout
        [":)\n", Pause(30)],
        # 3: recorded traffic, a new mention, junk, a delete, an edit, heartbeats
        [recorded_conversation + "\n", ("publish", n6), sse("notification", n6),
         ":thump\n", sse("notification", "{not json"), sse("delete", sid(2)),
         sse("status.update", {**n5["status"], "content": "<p>edited text</p>"}),
         ":thump\n", Pause(30)],
    ])
    fake.conversations = conversations[:0]
    source = make(fake)
    got = Collector()

    def complete(ms):
        return (any(m.deleted for m in ms) and any(m.edited for m in ms)
                and {sid(n) for n in range(1, 7)} <= {m.id for m in ms})

    await run_until(source, got, complete)
    served = fake.served_status_ids() | {"117024234734337801"}
    assert sorted(got.ids) == sorted(served), "every served mention exactly once"
    assert len(got.ids) == len(set(got.ids))
    deleted = [m for m in got.mentions if m.deleted]
    assert [m.id for m in deleted] == [sid(2)] and deleted[0].text.endswith("number 2!")
    edited = [m for m in got.mentions if m.edited]
    assert [(m.id, m.text) for m in edited] == [(sid(5), "edited text")]
    dm = next(m for m in got.mentions if m.id == "117024234734337801")
    assert dm.channel == DIRECT and dm.text == "@mastodonpy_test todo funny text here"
    assert source.status.skipped == 1  # the malformed event
    assert source.status.saw(RETRYING, "stream closed")
    assert source.status.saw(RETRYING, "stream silent for 0.5 s")
    assert source.status.saw(LIVE, "streaming")
    assert fake.count("GET", "/api/v1/streaming/user") == 3


async def test_429_waits_with_the_reset_time_shown(fake):
    fake.publish(fake.notification(1))
    fake.fault("/api/v1/notifications",
               Reply.json({"error": "Too many requests"}, 429, X_RateLimit_Limit="300",
                          X_RateLimit_Remaining="0", X_RateLimit_Reset=reset_in(0.3)))
    source = make(fake, stream=False, poll_seconds=30)
    got = Collector()
    await run_until(source, got, lambda ms: len(ms) == 1)
    assert source.status.saw(RATE_LIMITED, "rate limited until ")
    detail = next(d for s, d in source.status.history if s == RATE_LIMITED)
    assert len(detail.rsplit(" ", 1)[-1]) == len("12:04:10")
    assert got.ids == [sid(1)]


async def test_no_requests_left_waits_for_the_reset_before_asking(fake):
    fake.publish(fake.notification(1))
    fake.fault("/api/v1/accounts/verify_credentials",
               Reply.json(fake.verify, X_RateLimit_Remaining="0",
                          X_RateLimit_Reset=reset_in(1.5)))
    source = make(fake, stream=False)
    got = Collector()
    await run_until(source, got, lambda ms: len(ms) == 1)
    assert source.status.saw(RATE_LIMITED, "rate limited until")


async def test_500_malformed_and_slow_answers_are_retried(fake):
    fake.publish(*(fake.notification(n) for n in (1, 2, 3)))
    fake.fault("/api/v1/notifications",
               Reply.json({"error": "boom"}, 500), "malformed", Reply(200, b"[]", delay=3.0))
    source = make(fake, stream=False, timeout=0.3)
    got = Collector()
    await run_until(source, got, lambda ms: len(ms) == 3)
    assert sorted(got.ids) == sorted(sid(n) for n in (1, 2, 3))
    assert source.status.skipped == 1
    assert source.status.saw(RETRYING, "HTTP 500 Internal Server Error: boom")
    assert source.status.saw(RETRYING, "malformed JSON")
    assert source.status.saw(RETRYING, "no data within the read timeout")


async def test_stream_wrong_content_type_retries(fake):
    fake.publish(fake.notification(1))
    fake.fault("/api/v1/streaming/user", Reply(200, b"<html>maintenance</html>",
                                               {"Content-Type": "text/html"}))
    fake.streams.append([":)\n", ("publish", fake.notification(2)),
                         sse("notification", fake.notification(2)), Pause(30)])
    source = make(fake)
    got = Collector()
    await run_until(source, got, lambda ms: len(ms) == 2)
    assert source.status.saw(RETRYING, "text/event-stream")


async def test_deliver_reply_once_even_when_the_answer_is_lost(fake):
    fake.fault("/api/v1/statuses", "create-then-500")
    source = make(fake, visibility="unlisted")
    item = {"id": "item-1", "kind": "reply", "channel": PUBLIC, "text": "Sorry about that!",
            "to": "admin", "in_reply_to_raw": sid(1)}
    with pytest.raises(DeliveryError) as failed:
        await source.deliver(item)
    assert failed.value.retry is True
    remote = await source.deliver(item)  # the same Idempotency-Key: Mastodon returns the first
    assert fake.count("POST", "/api/v1/statuses") == 2
    assert len(fake.statuses) == 1
    posted = fake.statuses[remote]
    assert posted["key"] == "item-1"
    assert posted["form"] == {"status": "@admin Sorry about that!", "visibility": "unlisted",
                              "in_reply_to_id": sid(1)}
    await source.aclose()


async def test_deliver_dm_is_direct_and_errors_are_classified(fake):
    source = make(fake)
    remote = await source.deliver({"id": "dm-1", "kind": "dm", "channel": PUBLIC,
                                   "text": "@admin please DM us your booking number",
                                   "to": "admin", "in_reply_to_raw": None})
    assert fake.statuses[remote]["form"]["visibility"] == "direct"
    assert "in_reply_to_id" not in fake.statuses[remote]["form"]

    fake.fault("/api/v1/statuses",
               Reply.json({"error": "Validation failed: Text character limit of 500 exceeded"},
                          422),
               Reply.json({"error": "Too many requests"}, 429, X_RateLimit_Reset=reset_in(5)))
    item = {"id": "r-2", "kind": "reply", "channel": PUBLIC, "text": "x", "to": "admin"}
    with pytest.raises(DeliveryError) as refused:
        await source.deliver(item)
    assert refused.value.retry is False
    assert "Text character limit of 500 exceeded" in str(refused.value)
    with pytest.raises(DeliveryError) as limited:
        await source.deliver(item)
    assert limited.value.retry is True and 0 < limited.value.retry_after <= 5
    await source.aclose()

    dead_server = FakeMastodon()
    dead_server.httpd.server_close()  # nothing listens there: connection refused
    dead = make(dead_server)
    with pytest.raises(DeliveryError) as network:
        await dead.deliver(item)
    assert network.value.retry is True
    await dead.aclose()


async def test_context_returns_the_thread_oldest_first(fake):
    source = make(fake)
    got = Collector()
    await source.poll(got)
    from tui.core.model import Author, Mention, utcnow
    m = Mention("110446983926957470", source.name, PUBLIC, Author("x"), "t", utcnow(), utcnow(),
                raw_id="110446983926957470")
    thread = await source.context(m)
    assert thread and [t.created_at for t in thread] == sorted(t.created_at for t in thread)
    assert all(t.text and t.author.handle for t in thread)
    await source.aclose()


async def test_bad_token_fails_clearly_and_is_never_shown(fake, caplog, tmp_path, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("MENTIONDESK_MASTODON_TOKEN", raising=False)
    wrong = "wrong-token-XYZZY"
    source = make(fake, token=wrong)
    await source.run(Collector())  # returns: the operator must fix the token
    assert source.status.state == FAILED
    assert "token refused" in source.status.detail and "invalid" in source.status.detail
    with pytest.raises(DeliveryError) as refused:
        await source.deliver({"id": "a", "kind": "reply", "channel": PUBLIC, "text": "x"})
    good = make(fake)
    await good.poll(Collector())
    texts = [caplog.text, repr(source), repr(good), str(source.status), str(good.status),
             str(refused.value), str(source.__dict__.keys())]
    for text in texts:
        assert wrong not in text and TOKEN not in text
    await source.aclose()
    await good.aclose()


def test_token_file_must_be_private(tmp_path, monkeypatch):
    monkeypatch.delenv("MENTIONDESK_MASTODON_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(SourceConfigError, match="chmod 600"):
        MastodonSource("https://mastodon.example", token_file=path)
    os.chmod(path, 0o600)
    source = MastodonSource("https://mastodon.example", token_file=path)
    assert TOKEN not in repr(source)
    with pytest.raises(SourceConfigError, match="MENTIONDESK_MASTODON_TOKEN"):
        MastodonSource("https://mastodon.example")
    monkeypatch.setenv("MENTIONDESK_MASTODON_TOKEN", TOKEN)
    assert MastodonSource("https://mastodon.example").name == "mastodon:https://mastodon.example"


async def test_a_thread_the_server_cannot_give_says_why():
    from tui.sources.base import ContextUnavailable

    with FakeMastodon() as fake:
        fake.fault("/api/v1/statuses/999/context",
                   Reply.json({"error": "Record not found"}, 404))
        source = MastodonSource(fake.url, token=TOKEN, timeout=2.0)
        m = Mention.from_dict({"id": "999", "text": "x", "author": "a",
                               "created_at": "2026-11-23T08:00:00Z", "raw_id": "999"},
                              source=source.name)
        with pytest.raises(ContextUnavailable, match="Record not found"):
            await source.context(m)
        await source.aclose()


async def test_a_hostile_follower_count_is_zero_and_the_mention_is_kept(fake):
    """A stranger's server may send any follower count: too big, not a number, 5,000 digits.
    The mention is kept (never dropped, never a crash) with 0 followers; a sane one is kept."""
    counts = {1: 1.5e300, 2: "9" * 5000, 3: -7, 4: "12x", 5: float("nan"), 6: 48200, 7: "310"}
    notes = []
    for n, count in counts.items():
        note = fake.notification(n)
        note["status"]["account"]["followers_count"] = count
        notes.append(note)
    fake.publish(*notes)
    source = make(fake)
    got = Collector()
    await source.poll(got)
    await source.aclose()
    followers = {m.id: m.author.followers for m in got.mentions}
    assert followers == {sid(1): 0, sid(2): 0, sid(3): 0, sid(4): 0, sid(5): 0,
                         sid(6): 48200, sid(7): 310}
    assert source.status.skipped == 0
