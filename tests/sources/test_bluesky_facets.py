"""Our Bluesky posts carry link and mention facets (UTF-8 byte offsets) and ``langs``: links
are clickable and @handles are mentions.  The fake Bluesky on 127.0.0.1, Desk and Runner."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.bluesky import PASSWORD, FakeBluesky

from tui.sources.bluesky import BlueskySource
from tui.sources.runner import Runner


def test_links_and_mentions_become_facets_at_byte_offsets():
    with FakeBluesky() as fake:
        fake.handles["amy.example"] = "did:plc:amy"
        note = fake.mention(1, did="did:plc:amy", handle="amy.example",
                            indexed=time.time() - 10, text="où est mon remboursement ?")
        note["record"]["langs"] = ["fr"]
        fake.publish(note)
        desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)

        def source() -> BlueskySource:
            return BlueskySource("sarcastabot.bsky.social", password=PASSWORD,
                                 service=fake.url, dms=False)

        asyncio.run(Runner(desk, [source()], deliver=False).run(once=True))
        (conv,) = desk.conversations.values()
        text = "Désolé @amy.example — voir https://northline.example/remboursement."
        desk.reply(conv.id, text)
        asyncio.run(Runner(desk, [source()], deliver=True).run(once=True))
        (record,) = (r["record"] for r in fake.records.values())
        data = record["text"].encode("utf-8")
        spans = {f["features"][0]["$type"].rsplit("#", 1)[1]:
                 data[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode()
                 for f in record["facets"]}
        assert spans == {"mention": "@amy.example",
                         "link": "https://northline.example/remboursement"}
        mention = next(f for f in record["facets"] if "mention" in f["features"][0]["$type"])
        assert mention["features"][0]["did"] == "did:plc:amy"
        link = next(f for f in record["facets"] if "link" in f["features"][0]["$type"])
        assert link["features"][0]["uri"] == "https://northline.example/remboursement"
        assert record["langs"] == ["fr"]  # the language of the post we answer
