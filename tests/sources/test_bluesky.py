"""The Bluesky source against a real XRPC server on 127.0.0.1 fed with recorded notifications and
posts captured from the live network, with faults injected."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from fakes.bluesky import PASSWORD, FakeBluesky, jetstream_posts, xrpc_error
from fakes.collect import Collector, RecordingStatus
from fakes.server import Reply

from tui.core.model import DIRECT, PUBLIC
from tui.sources.base import FAILED, LIVE, RATE_LIMITED, RETRYING, DeliveryError
from tui.sources.bluesky import BlueskySource, tid_for
from tui.sources.http import SourceConfigError

TID_CHARS = set("234567abcdefghijklmnopqrstuvwxyz")


@pytest.fixture
def fake():
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def posts():
    return sorted(jetstream_posts(), key=lambda e: e["time_us"])


def make(fake: FakeBluesky, **options) -> BlueskySource:
    # The recorded traffic is months old: a horizon of ten years lets a first start read it.
    options = {"password": PASSWORD, "service": fake.url, "timeout": 2.0, "poll_seconds": 0.05,
               "backoff_base": 0.01, "backoff_cap": 0.05, "page_limit": 20,
               "horizon_days": 3650, **options}
    source = BlueskySource("sarcastabot.bsky.social", **options)
    source.status = RecordingStatus()
    return source


async def run_until(source, collector, condition) -> None:
    task = asyncio.create_task(source.run(collector))
    try:
        await collector.wait(condition)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.aclose()


async def test_recorded_notification_becomes_a_mention(fake):
    fake.publish(fake.like(1))
    source = make(fake)
    got = Collector()
    await source.poll(got)
    assert len(got.mentions) == 1  # the like is not work
    m = got.mentions[0]
    assert m.id == "at://did:plc:hfgp6pj3akhqxntgqwramlbg/app.bsky.feed.post/3l5w6ldfnud2g"
    assert m.source == "bluesky:sarcastabot.bsky.social" and m.channel == PUBLIC
    assert m.text == "@sarcastabot.bsky.social Have a new notification"
    assert (m.author.handle, m.author.name) == ("blowdart.me", "Barry Dorrans")
    assert m.language == "en" and m.thread == m.id
    assert m.raw_id == f"{m.id} bafyreia4hewie6r5erf2s25wqh6f3k2mcy55ne5jcfgtpvnidt3gpsmtsi"
    assert m.url == "https://bsky.app/profile/blowdart.me/post/3l5w6ldfnud2g"
    assert source.status.state == LIVE
    await source.aclose()


async def test_polls_page_back_to_what_was_seen_without_doubles(fake, posts):
    source = make(fake)
    got = Collector()
    await source.poll(got)
    fake.publish(*(fake.from_jetstream(e) for e in posts[:45]))
    await source.poll(got)
    fake.publish(*(fake.from_jetstream(e) for e in posts[45:]), fake.like(2))
    await source.poll(got)
    await source.poll(got)  # nothing new
    assert sorted(got.ids) == sorted(fake.served_uris())
    assert len(got.ids) == len(set(got.ids)) == len(posts) + 1
    replies = [m for m in got.mentions if m.in_reply_to]
    assert replies and all(m.thread != m.id for m in replies)
    assert all(len(m.raw_id.split()) == 4 for m in replies)  # parent and root uri/cid
    assert fake.sessions == 1
    await source.aclose()


async def test_expired_token_is_refreshed_never_a_new_session(fake, posts):
    source = make(fake)
    got = Collector()
    await source.poll(got)
    for i in range(3):
        fake.expire_access()
        fake.publish(fake.from_jetstream(posts[i]))
        await source.poll(got)
    assert fake.sessions == 1
    assert fake.count("POST", "/xrpc/com.atproto.server.refreshSession") == 3
    assert len(got.ids) == 4
    fake.expire_all()  # the refresh token is dead too: only now a new session
    await source.poll(got)
    assert fake.sessions == 2 and source.sessions_created == 2
    await source.aclose()


async def test_faults_rate_limit_500_malformed_slow(fake, posts):
    reset = str(int(time.time()) + 1)
    fake.fault("app.bsky.notification.listNotifications",
               xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded",
                          RateLimit_Limit="3000", RateLimit_Remaining="0", RateLimit_Reset=reset),
               xrpc_error(502, "UpstreamFailure", "Upstream Failure"),
               "malformed",
               Reply(200, b"{}", delay=3.0))
    fake.publish(*(fake.from_jetstream(e) for e in posts[:5]))
    source = make(fake, timeout=0.3)
    got = Collector()
    await run_until(source, got, lambda ms: len(ms) == 6)
    assert sorted(got.ids) == sorted(fake.served_uris())
    assert source.status.saw(RATE_LIMITED, "rate limited until ")
    assert source.status.saw(RETRYING, "HTTP 502 Bad Gateway: UpstreamFailure: Upstream Failure")
    assert source.status.saw(RETRYING, "malformed JSON")
    assert source.status.saw(RETRYING, "no data within the read timeout")
    assert fake.sessions == 1


async def test_reply_posts_once_with_a_deterministic_record_key(fake, posts):
    source = make(fake)
    got = Collector()
    fake.publish(fake.from_jetstream(next(e for e in posts if e["commit"]["record"].get("reply"))))
    await source.poll(got)
    mention = next(m for m in got.mentions if m.in_reply_to)
    item = {"id": "0f3c2a9e8d7b6c5a4f3e2d1c0b9a8f7e", "kind": "reply", "channel": PUBLIC,
            "text": "Sorry to hear that! 🚆", "to": mention.author.handle,
            "in_reply_to_raw": mention.raw_id, "created_at": "2026-11-23T10:00:00Z"}
    fake.fault("com.atproto.repo.createRecord", "create-then-500")
    with pytest.raises(DeliveryError) as failed:
        await source.deliver(item)
    assert failed.value.retry is True
    uri = await source.deliver(item)  # the retry names the same record: no second post
    assert len(fake.records) == 1
    assert fake.count("POST", "/xrpc/com.atproto.repo.createRecord") == 2
    rkey = uri.rsplit("/", 1)[-1]
    assert rkey == tid_for(item["id"], item["created_at"])
    assert len(rkey) == 13 and set(rkey) <= TID_CHARS and rkey[0] in "234567abcdefghij"
    record = fake.records[rkey]["record"]
    uri_, cid, root_uri, root_cid = mention.raw_id.split()
    assert record["reply"] == {"parent": {"uri": uri_, "cid": cid},
                               "root": {"uri": root_uri, "cid": root_cid}}
    assert record["text"] == item["text"] and fake.records[rkey]["repo"] == source.did
    assert tid_for("other", item["created_at"]) != rkey

    with pytest.raises(DeliveryError, match="300") as long:
        await source.deliver({**item, "id": "x2", "text": "é" * 301})
    assert long.value.retry is False
    await source.aclose()


async def test_direct_messages_when_chat_is_allowed(fake):
    fake.convo_messages.append({"id": "m1", "rev": "1", "text": "my card was charged twice",
                                "sender": {"did": "did:plc:customer1"},
                                "sentAt": "2026-11-23T09:00:00.000Z"})
    source = make(fake)
    got = Collector()
    await source.poll(got)
    await source.poll(got)
    dms = [m for m in got.mentions if m.channel == DIRECT]
    assert [(m.author.handle, m.text) for m in dms] == [("rider.bsky.social",
                                                         "my card was charged twice")]
    remote = await source.deliver({"id": "d1", "kind": "dm", "channel": DIRECT,
                                   "text": "We've refunded it.", "to": "rider.bsky.social",
                                   "in_reply_to_raw": dms[0].raw_id})
    assert remote.startswith("chat:convo1/")
    assert fake.sent_messages[0]["text"] == "We've refunded it."
    await source.aclose()


async def test_dms_unavailable_is_shown_and_dm_delivery_fails_clearly():
    with FakeBluesky(chat_allowed=False) as fake:
        source = make(fake)
        got = Collector()
        await source.poll(got)
        assert len(got.mentions) == 1  # public mentions still flow
        assert source.status.state == LIVE and "DMs unavailable" in source.status.detail
        with pytest.raises(DeliveryError, match="DMs are unavailable") as refused:
            await source.deliver({"id": "d1", "kind": "dm", "channel": PUBLIC, "text": "hi",
                                  "to": "blowdart.me", "in_reply_to_raw": got.mentions[0].raw_id})
        assert refused.value.retry is False
        await source.aclose()


async def test_bad_password_fails_and_secrets_never_show(fake, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("MENTIONDESK_BLUESKY_PASSWORD", raising=False)
    bad = make(fake, password="wrong-pass-XYZZY")
    await bad.run(Collector())
    assert bad.status.state == FAILED and "Invalid identifier or password" in bad.status.detail
    good = make(fake)
    await good.poll(Collector())
    everything = " ".join([caplog.text, repr(bad), repr(good), str(bad.status),
                           str(good.status)])
    for secret in ("wrong-pass-XYZZY", PASSWORD, "access-", "refresh-"):
        assert secret not in everything
    with pytest.raises(SourceConfigError, match="MENTIONDESK_BLUESKY_PASSWORD"):
        BlueskySource("northline.example")
    await bad.aclose()
    await good.aclose()
