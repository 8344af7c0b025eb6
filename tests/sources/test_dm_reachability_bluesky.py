"""Bluesky tells us who can DM a customer before we try (issue 10, item 9): the author of every
notification is a ProfileViewBasic with ``associated.chat.allowIncoming`` and
``viewer.followedBy`` (the recorded listNotifications response has both).  A fake Bluesky on
127.0.0.1 serves them in that shape; the real BlueskySource, Runner and Desk read them."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.bluesky import PASSWORD, FakeBluesky

from tui.sources.bluesky import BlueskySource, dm_facts
from tui.sources.runner import Runner

CARD = "@sarcastabot.bsky.social charged twice for my ticket, booking NL-482913"


def read(fake: FakeBluesky, desk) -> None:
    source = BlueskySource("sarcastabot.bsky.social", password=PASSWORD, service=fake.url)
    asyncio.run(Runner(desk, [source], deliver=False).run(once=True))


def recorded(fake: FakeBluesky, did: str, text: str) -> dict:
    """The recorded notification (author Barry Dorrans: allowIncoming "all", follows us), as
    another customer, indexed a minute ago (the recorded one is older than the horizon)."""
    note = copy.deepcopy(fake.template)
    note["uri"] = f"at://{did}/app.bsky.feed.post/3krec{abs(hash(did)) % 10**8:08d}"
    note["author"].update(did=did, handle=did.rsplit(":", 1)[-1] + ".bsky.social")
    note["record"]["text"] = text
    note["indexedAt"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    return note


def conv_of(desk, did: str):
    (conv,) = [c for c in desk.conversations.values() if c.customer.endswith("|" + did)]
    return conv


def test_the_recorded_author_can_be_messaged():
    with FakeBluesky() as fake:
        fake.publish(recorded(fake, "did:plc:open", CARD))
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        read(fake, desk)
        (m,) = desk.mentions.values()
        assert (m.author.dms_from, m.author.follows_us) == ("all", True)
        s = desk.suggestion(conv_of(desk, "did:plc:open").id)
        assert s.dm_closed is None and s.offline and s.dm and s.bridge


def test_following_only_and_not_following_us_is_said_before_offering_a_dm():
    with FakeBluesky() as fake:
        fake.chat_policy["did:plc:closed"] = "following"
        fake.publish(fake.mention(2, did="did:plc:closed", handle="closed.bsky.social",
                                  text=CARD, indexed=time.time() - 60))
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        read(fake, desk)
        conv = conv_of(desk, "did:plc:closed")
        s = desk.suggestion(conv.id)
        assert s.triage.offline and not s.offline and s.dm is None
        assert s.dm_closed == ("@closed.bsky.social accepts DMs only from accounts they follow, "
                               "and does not follow us")
        assert s.reply_key == "dm_closed" and "send us a direct message" in s.text

        # They follow us and write again: the AppView now shows viewer.followedBy.
        fake.followers.add("did:plc:closed")
        fake.publish(fake.mention(3, did="did:plc:closed", handle="closed.bsky.social",
                                  text=CARD + " still waiting", indexed=time.time() - 10))
        read(fake, desk)
        s = desk.suggestion(conv.id)
        assert s.dm_closed is None and s.offline and s.dm and s.bridge
        assert not fake.sent_messages and not fake.records  # nothing was sent by reading


def test_dms_switched_off_is_said_even_when_they_follow_us():
    with FakeBluesky() as fake:
        fake.chat_policy["did:plc:nodm"] = "none"
        fake.followers.add("did:plc:nodm")
        fake.publish(fake.mention(2, did="did:plc:nodm", handle="nodm.bsky.social", text=CARD))
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        read(fake, desk)
        s = desk.suggestion(conv_of(desk, "did:plc:nodm").id)
        assert not s.offline
        assert s.dm_closed == "@nodm.bsky.social does not accept direct messages"


def test_no_chat_declaration_means_following_only():
    # A profile without associated.chat has the chat service's default, "following".
    with FakeBluesky() as fake:
        note = recorded(fake, "did:plc:nodecl", CARD)
        del note["author"]["associated"]
        del note["author"]["viewer"]["followedBy"]
        fake.publish(note)
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        read(fake, desk)
        s = desk.suggestion(conv_of(desk, "did:plc:nodecl").id)
        assert "only from accounts they follow" in s.dm_closed and not s.offline


def test_reading_a_profile_view():
    assert dm_facts({"associated": {"chat": {"allowIncoming": "none"}}, "viewer": {}}) == (
        "none", False)
    assert dm_facts({"viewer": {"followedBy": "at://x/app.bsky.graph.follow/1"}}) == (
        "following", True)
    # No viewer object (an unauthenticated view): whether they follow us is not known, and an
    # unknown allowIncoming word is not guessed at.
    assert dm_facts({"associated": {"chat": {"allowIncoming": "mutuals"}}}) == (None, None)
    assert dm_facts({"associated": "junk", "viewer": "junk"}) == ("following", None)
    assert dm_facts("junk") == (None, None)
