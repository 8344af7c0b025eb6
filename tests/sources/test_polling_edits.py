"""Edits in polling mode: with streaming off, recent mentions are re-read on a schedule and an
edit is applied exactly as a streamed one (new text, marked edited, triaged again: the booking
reference the customer added now takes the conversation offline).  Fake Mastodon on
127.0.0.1, the real Desk."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.mastodon import FakeMastodon

from tui.sources.mastodon import MastodonSource

TOKEN = "test-token-s3cret"


def test_an_edit_is_found_without_the_stream_and_triaged_again():
    with FakeMastodon() as fake:
        note = fake.notification(1, account="amy", text="I was charged twice for my ticket")
        fake.publish(note)
        desk = new_desk(clock=Clock(datetime.now(UTC)))
        source = MastodonSource(fake.url, token=TOKEN, stream=False, edit_seconds=0)

        async def passes() -> None:
            await source.poll(desk.ingest)
            key = next(iter(desk.mentions))
            assert not desk.mentions[key].edited
            before = desk.triages[key]
            with fake.lock:  # the customer edits the post: adds the booking reference
                note["status"]["content"] = (
                    "<p>I was charged twice for my ticket, booking ref NL-482913, "
                    "email amy@example.com</p>")
                note["status"]["edited_at"] = "2026-11-30T09:00:00.000Z"
            await source.poll(desk.ingest)
            m = desk.mentions[key]
            assert m.edited and "NL-482913" in m.text
            after = desk.triages[key]
            # Triaged again: the edit's booking reference is a new reason to take it offline.
            assert after.offline and "booking reference" in after.offline_reasons
            assert "booking reference" not in before.offline_reasons
            assert len(desk.mentions) == 1  # the same mention, not a new one
            await source.aclose()

        asyncio.run(passes())
