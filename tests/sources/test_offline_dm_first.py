"""Take offline, DM first: the direct message goes first and the public "we've sent you a DM"
only once it was delivered; a refused DM puts the conversation back into "needs reply" with the
reason, and the suggestion stops offering a DM.  Fake Bluesky and Mastodon on 127.0.0.1, the
real Desk and Runner."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.bluesky import PASSWORD, FakeBluesky
from fakes.mastodon import FakeMastodon
from fakes.server import Reply

from tui.core.outbox import CANCELLED, FAILED, SENT
from tui.sources.bluesky import BlueskySource
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

BRIDGE = "Sorry about that. We've sent you a DM so we can sort it out privately."
DM = "Hi, please send us your booking reference here and we'll look into it."


def bluesky(fake: FakeBluesky) -> BlueskySource:
    return BlueskySource("sarcastabot.bsky.social", password=PASSWORD, service=fake.url)


def run_once(desk, source, deliver: bool) -> None:
    asyncio.run(Runner(desk, [source], deliver=deliver).run(once=True))


def offline_one(fake, did: str, source_factory):
    fake.publish(fake.mention(1, did=did, indexed=time.time() - 30,
                              text="charged twice for my ticket, booking NL-482913"))
    desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
    run_once(desk, source_factory(fake), deliver=False)
    (conv,) = desk.conversations.values()
    desk.take_offline(conv.id, BRIDGE, DM)
    assert not conv.needs_reply
    run_once(desk, source_factory(fake), deliver=True)
    items = {i["kind"]: i for i in desk.outbox.for_conversation(conv.id)}
    return desk, conv, items


def test_a_customer_who_cannot_receive_dms_is_never_told_they_have_one():
    with FakeBluesky() as fake:
        fake.chat_policy["did:plc:closed"] = "following"  # and they do not follow us
        desk, conv, items = offline_one(fake, "did:plc:closed", bluesky)
        assert fake.sent_messages == [] and fake.records == {}  # no DM, and no bridge
        assert items["dm"]["status"] == FAILED
        assert "only from accounts they follow" in items["dm"]["error"]
        assert items["bridge"]["status"] == CANCELLED
        assert "DM was not delivered" in items["bridge"]["error"]
        assert conv.needs_reply and not conv.offline  # back in the queue
        suggestion = desk.suggestion(conv.id)
        assert not suggestion.offline and suggestion.dm is None
        assert "only from accounts they follow" in suggestion.dm_closed
        assert suggestion.reply_key == "dm_closed" and suggestion.refused == []


def test_the_bridge_goes_only_after_the_dm_was_delivered():
    with FakeBluesky() as fake:
        _desk, conv, items = offline_one(fake, "did:plc:open", bluesky)
        assert items["dm"]["status"] == SENT and items["bridge"]["status"] == SENT
        assert items["bridge"]["sent_at"] >= items["dm"]["sent_at"]
        assert len(fake.sent_messages) == 1 and len(fake.records) == 1
        assert conv.offline and not conv.needs_reply


def test_mastodon_direct_post_refused_reopens_the_conversation():
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, account="amy",
                                       text="charged twice, booking NL-482913"))
        desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)

        def source(_fake=None):
            return MastodonSource(fake.url, token="test-token-s3cret", stream=False)

        run_once(desk, source(), deliver=False)
        (conv,) = desk.conversations.values()
        fake.fault("/api/v1/statuses", Reply.json(
            {"error": "Validation failed: this account does not accept direct messages"}, 422))
        desk.take_offline(conv.id, BRIDGE, DM)
        run_once(desk, source(), deliver=True)
        items = {i["kind"]: i for i in desk.outbox.for_conversation(conv.id)}
        assert fake.statuses == {}  # the public bridge never went out
        assert items["dm"]["status"] == FAILED and items["bridge"]["status"] == CANCELLED
        assert conv.needs_reply
        history = [h for h in desk.history(conv.id) if h.event is not None]
        assert "does not accept direct messages" in history[-1].outbox[0]["error"] or any(
            "does not accept" in (i.get("error") or "") for h in history for i in h.outbox)
