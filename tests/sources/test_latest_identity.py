"""Latest means latest by time, and a customer is an account, not a handle.

Mastodon pages arrive newest first, so arrival order is the reverse of time: the reply target,
its channel and the customer's name must follow ``created_at``.  Bluesky customers are keyed
by DID (two ``handle.invalid`` accounts stay apart; a new handle keeps the history), and
customers stored the old way (by handle) are adopted on first sight.  Real fake servers on
127.0.0.1, the real Desk (with a real Store where a restart matters) and Runner."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime, timedelta

from conftest import Clock, new_desk, policy
from fakes.bluesky import PASSWORD, FakeBluesky
from fakes.mastodon import FakeMastodon, recorded_json, sid

from tui.core.desk import Desk
from tui.core.model import DIRECT, PUBLIC, Author, Mention
from tui.core.store import Store
from tui.sources.bluesky import BlueskySource
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"
REPLY = "Sorry about that. We're looking into it now and will update you here."


def run_once(desk, source, deliver: bool = False) -> None:
    asyncio.run(Runner(desk, [source], deliver=deliver).run(once=True))


def amy_notification(fake: FakeMastodon, n: int, at: datetime, text: str, name: str) -> dict:
    note = fake.notification(n, account="amy", at=at, text=text)
    note["status"]["account"]["display_name"] = name
    note["account"]["display_name"] = name
    return note


def test_mastodon_reply_goes_under_the_newest_post_of_a_self_thread():
    with FakeMastodon() as fake:
        t0 = datetime.now(UTC) - timedelta(hours=1)
        fake.publish(amy_notification(fake, 1, t0, "1/3 my train", "Amy Old"),
                     amy_notification(fake, 2, t0 + timedelta(minutes=1), "2/3 was", "Amy Old"),
                     amy_notification(fake, 3, t0 + timedelta(minutes=2),
                                      "3/3 cancelled, can I get a refund?", "Amy New"))
        desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
        # One per page: the pages (and so the arrivals) come newest first.
        run_once(desk, MastodonSource(fake.url, token=TOKEN, stream=False, page_limit=1))
        arrived = [desk.mentions[k].text for _, kind, k in
                   next(iter(desk.conversations.values())).timeline if kind == "m"]
        assert arrived[0].endswith("refund?")  # the newest arrived first
        (conv,) = desk.conversations.values()
        latest = desk.latest_mention(conv)
        assert latest.id == sid(3)
        assert desk.render_values(conv)["name"] == "Amy New"  # not the older pages' name
        assert desk.profile(conv.id)["name"] == "Amy New"
        desk.reply(conv.id, REPLY)
        run_once(desk, MastodonSource(fake.url, token=TOKEN, stream=False), deliver=True)
        (posted,) = fake.statuses.values()
        assert posted["form"]["in_reply_to_id"] == sid(3)


def test_mastodon_channel_follows_the_newest_message_not_the_last_to_arrive():
    with FakeMastodon() as fake:
        now = datetime.now(UTC)
        public = fake.notification(1, account="amy", at=now - timedelta(minutes=5),
                                   text="where is my refund?")
        # An older DM from the same account, read after the notifications in the same pass.
        conv = copy.deepcopy(recorded_json("test_conversations.yaml", "GET", "/conversations/")[0])
        status = conv["last_status"]
        status["account"] = copy.deepcopy(public["status"]["account"])
        status["id"] = sid(0)
        status["created_at"] = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        fake.conversations = [conv]
        fake.publish(public)
        desk = new_desk(clock=Clock(now), undo_seconds=0)
        run_once(desk, MastodonSource(fake.url, token=TOKEN, stream=False))
        (c,) = desk.conversations.values()
        assert {m.channel for m in desk.mentions.values()} == {PUBLIC, DIRECT}
        assert desk.latest_mention(c).channel == PUBLIC
        assert desk.suggestion(c.id).channel == PUBLIC
        desk.reply(c.id, REPLY)
        (item,) = desk.outbox.items.values()
        assert item["channel"] == PUBLIC and item["in_reply_to_raw"] == sid(1)


def bluesky(fake: FakeBluesky) -> BlueskySource:
    return BlueskySource("sarcastabot.bsky.social", password=PASSWORD, service=fake.url,
                         dms=False)


def test_bluesky_customers_are_accounts_not_handles(tmp_path):
    with FakeBluesky() as fake:
        now = time.time()
        fake.publish(
            fake.mention(1, did="did:plc:alice", handle="handle.invalid", indexed=now - 60,
                         text="my bike was stolen at the station"),
            fake.mention(2, did="did:plc:bob", handle="handle.invalid", indexed=now - 50,
                         text="refund for my cancelled train please"))
        desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
        run_once(desk, bluesky(fake))
        assert len(desk.conversations) == 2  # two accounts, two customers
        assert {c.customer.split("|", 1)[1] for c in desk.conversations.values()} == {
            "did:plc:alice", "did:plc:bob"}
        alice = next(c for c in desk.conversations.values() if c.customer.endswith("alice"))
        desk.reply(alice.id, REPLY)
        bob = next(c for c in desk.conversations.values() if c.customer.endswith("bob"))
        assert bob.needs_reply  # answering one never marks the other answered

        # Alice picks a handle: same account, same conversation, the new handle shown.
        fake.publish(fake.mention(3, did="did:plc:alice", handle="alice.example", indexed=now,
                                  text="any news on my bike?"))
        run_once(desk, bluesky(fake))
        assert len(desk.conversations) == 2
        assert alice.handle == "alice.example"
        assert desk.profile(alice.id)["handle"] == "alice.example"


def test_customers_stored_by_handle_are_adopted_by_their_account(tmp_path):
    rules, replies = policy()
    now = datetime.now(UTC)
    desk = Desk(rules, replies, Store(tmp_path), clock=Clock(now))
    old = Mention("x1", "bluesky:sarcastabot.bsky.social", PUBLIC,
                  Author("cust7.bsky.social", "Old Name"), "my bike was stolen", now, now)
    desk.ingest([old])  # an older version: no account id, keyed source|handle
    assert list(desk.customers) == ["bluesky:sarcastabot.bsky.social|cust7.bsky.social"]
    desk.store.close(desk.dump)

    with FakeBluesky() as fake:
        fake.publish(fake.mention(7, did="did:plc:seven", handle="cust7.bsky.social",
                                  text="any news on my bike?"))
        desk = Desk(rules, replies, Store(tmp_path), clock=Clock(now))
        run_once(desk, bluesky(fake))
        assert list(desk.customers) == ["bluesky:sarcastabot.bsky.social|did:plc:seven"]
        (conv,) = desk.conversations.values()  # the history stays with the customer
        assert len([h for h in desk.history(conv.id) if h.mention is not None]) == 2
        desk.store.close(desk.dump)
        desk = Desk(rules, replies, Store(tmp_path), clock=Clock(now))
        assert list(desk.customers) == ["bluesky:sarcastabot.bsky.social|did:plc:seven"]
        assert next(iter(desk.conversations.values())).customer.endswith("did:plc:seven")
        desk.store.close()
