"""What the customer will see: a Mastodon reply is measured the server's way (every URL is 23,
a remote mention counts by its local part, grapheme clusters), with the limit the instance
announces in /api/v2/instance.  Fake Mastodon on 127.0.0.1, the real Desk and Runner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from conftest import Clock, new_desk
from fakes.mastodon import FakeMastodon

from tui.core.desk import ActionRefused
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"
URL = "https://help.northline.example/refunds/claim?booking=" + "x" * 80
REMOTE = "@traveller@mastodon.very-long-instance-name.example"


def desk_with_one_conversation(fake: FakeMastodon):
    fake.publish(fake.notification(1, account="amy", text="refund please?"))
    desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
    asyncio.run(Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False)],
                       deliver=False).run(once=True))
    (conv,) = desk.conversations.values()
    return desk, conv


def test_mastodon_counts_urls_mentions_and_graphemes_its_own_way():
    with FakeMastodon() as fake:
        desk, conv = desk_with_one_conversation(fake)
        # 470 + 1 + a 134-character URL: 605 raw characters, 494 for Mastodon: accepted.
        desk.reply(conv.id, "a" * 470 + " " + URL)
        desk.undo()
        # A remote mention counts as its local part; a skin-toned emoji as one.
        text = "b" * (500 - len(" @traveller") - 1) + " " + REMOTE + "👍🏽"
        assert len(text) > 500
        desk.reply(conv.id, text, again=True)
        desk.undo()
        with pytest.raises(ActionRefused, match="too long for mastodon: 501"):
            desk.reply(conv.id, "c" * 501, again=True)


def test_the_instance_limit_is_read_from_the_server():
    with FakeMastodon() as fake:
        fake.max_characters = 1000
        desk, conv = desk_with_one_conversation(fake)
        desk.reply(conv.id, "d" * 900)  # over Mastodon's default, within this instance's
        with pytest.raises(ActionRefused, match="the limit is 1000"):
            desk.reply(conv.id, "e" * 1001, again=True)
