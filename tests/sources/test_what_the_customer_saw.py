"""What the customer saw: a content warning is shown as one and carried into our reply,
attachments are shown with their alt text (and triaged), Bluesky link facets are expanded.
Fake Mastodon and Bluesky on 127.0.0.1, the real Desk and Runner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.bluesky import PASSWORD, FakeBluesky
from fakes.mastodon import FakeMastodon

from tui.sources.bluesky import BlueskySource
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner
from widgets.conversation import history_content

TOKEN = "test-token-s3cret"


def test_content_warning_and_alt_text_on_mastodon():
    with FakeMastodon() as fake:
        note = fake.notification(1, account="amy", text="")
        note["status"]["content"] = "<p></p>"
        note["status"]["spoiler_text"] = "staff behaviour"
        note["status"]["media_attachments"] = [
            {"type": "image", "description": "a ticket charged twice on a bank statement"}]
        fake.publish(note)
        desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
        asyncio.run(Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False)],
                           deliver=False).run(once=True))
        (m,) = desk.mentions.values()
        assert m.content_warning == "staff behaviour"
        assert "staff behaviour" not in m.text  # not glued on as an unmarked first line
        assert "[image: a ticket charged twice on a bank statement]" in m.text
        (conv,) = desk.conversations.values()
        shown = history_content(desk, conv, desk.clock(), UTC).plain
        assert "CW staff behaviour" in shown
        desk.reply(conv.id, "Sorry about that. We're looking into it now.")
        asyncio.run(Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False)],
                           deliver=True).run(once=True))
        (posted,) = fake.statuses.values()
        assert posted["form"]["spoiler_text"] == "staff behaviour"


def test_bluesky_links_expanded_and_images_described():
    with FakeBluesky() as fake:
        note = fake.mention(1, did="did:plc:amy", text="see café northline.example/ref... now")
        text = note["record"]["text"]
        short = "northline.example/ref..."
        start = len(text[:text.index(short)].encode())
        note["record"]["facets"] = [{
            "index": {"byteStart": start, "byteEnd": start + len(short.encode())},
            "features": [{"$type": "app.bsky.richtext.facet#link",
                          "uri": "https://northline.example/refunds/claim?id=42"}]}]
        note["record"]["embed"] = {"$type": "app.bsky.embed.images",
                                   "images": [{"alt": "a cancelled train on the board"}]}
        fake.publish(note)
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        source = BlueskySource("sarcastabot.bsky.social", password=PASSWORD, service=fake.url,
                               dms=False)
        asyncio.run(Runner(desk, [source], deliver=False).run(once=True))
        (m,) = desk.mentions.values()
        assert m.text == ("see café https://northline.example/refunds/claim?id=42 now\n"
                          "[image: a cancelled train on the board]")
