"""The response clock starts when the network received a post (Bluesky ``indexedAt``), never
at a time the sender's client chose; the sender's time is kept and a skew is flagged.

The fake Bluesky on 127.0.0.1, the real Desk and Runner."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Clock, new_desk
from fakes.bluesky import PASSWORD, FakeBluesky

from tui.core.model import Mention
from tui.sources.bluesky import BlueskySource
from tui.sources.runner import Runner
from widgets.conversation import history_content

YEAR_2099 = datetime(2099, 1, 1, tzinfo=UTC).timestamp()


def test_sender_dates_never_start_the_clock():
    with FakeBluesky() as fake:
        now = time.time()
        fake.publish(
            fake.mention(1, did="did:plc:future", indexed=now - 120, created=YEAR_2099,
                         text="someone is following me at the station, I feel unsafe"),
            fake.mention(2, did="did:plc:past", indexed=now - 60,
                         created=now - 3 * 86400, text="my train was cancelled, refund please"),
            fake.mention(3, did="did:plc:fine", indexed=now - 30, created=now - 31,
                         text="where is the lost property office?"))
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        source = BlueskySource("sarcastabot.bsky.social", password=PASSWORD, service=fake.url,
                               dms=False)
        asyncio.run(Runner(desk, [source], deliver=False).run(once=True))

        by_did = {m.author.id: m for m in desk.mentions.values()}
        indexed = {"did:plc:future": now - 120, "did:plc:past": now - 60,
                   "did:plc:fine": now - 30}
        for did, at in indexed.items():
            assert abs(by_did[did].created_at.timestamp() - at) < 0.01  # the network's time
        assert by_did["did:plc:future"].sent_at.year == 2099  # kept for display
        assert by_did["did:plc:future"].clock_skew > timedelta(days=20000)
        assert by_did["did:plc:past"].clock_skew < -timedelta(days=2)
        assert by_did["did:plc:fine"].clock_skew is None  # a second is not skew

        # The safety report is due within the hour, not in 2099; nothing is breached on arrival.
        conv = desk.conversations[desk.mention_conv[by_did["did:plc:future"].key]]
        assert conv.deadline is not None
        assert conv.deadline - datetime.now(UTC) < timedelta(days=1)
        assert desk.counts()["breached"] == 0
        assert desk.next() is conv  # the most urgent first, not sorted below everything

        shown = history_content(desk, conv, desk.clock(), UTC).plain
        assert "sender's clock says" in shown and "ahead" in shown


def test_interchange_future_dates_start_when_received():
    received = datetime.now(UTC) - timedelta(minutes=1)
    m = Mention.from_dict({"id": "1", "text": "hi", "author": "ana",
                           "created_at": "2099-12-31T23:59:59Z"}, source="feed",
                          received_at=received)
    assert m.created_at == received and m.sent_at.year == 2099
    assert Mention.restore(m.to_dict()).sent_at.year == 2099
    with pytest.raises(ValueError, match="out of range"):  # no real message is dated there
        Mention.from_dict({"id": "2", "text": "hi", "author": "ana",
                           "created_at": "9999-12-31T23:59:59Z"}, source="feed")
