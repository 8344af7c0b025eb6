"""Slow servers: a server trickling one byte at a time never holds a source or a delivery for
longer than the request deadline, the status says "retrying" with the reason, and a stuck
delivery never holds back another conversation's.  Fake Mastodon on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.collect import RecordingStatus
from fakes.mastodon import FakeMastodon
from fakes.server import Pause, Reply

from tui.sources.base import RETRYING
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"


def trickle(n: int = 100) -> Reply:
    """A 200 whose body comes one byte every 0.1 s: each byte resets httpx's read timeout."""
    chunks: list = []
    for ch in "[" + " " * n:
        chunks += [ch, Pause(0.1)]
    return Reply(200, chunks, {"Content-Type": "application/json"})


def test_a_trickling_server_is_a_retry_with_the_reason_not_a_hang():
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, account="amy"))
        fake.fault("/api/v1/notifications", trickle())
        source = MastodonSource(fake.url, token=TOKEN, stream=False, timeout=0.5,
                                deadline=0.6, backoff_base=0.01, backoff_cap=0.02,
                                poll_seconds=3600)
        source.status = RecordingStatus()
        got: list = []

        async def main() -> None:
            task = asyncio.create_task(source.run(got.extend))
            try:
                while not got:
                    await asyncio.sleep(0.02)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await source.aclose()

        asyncio.run(asyncio.wait_for(main(), 20))
        assert source.status.saw(RETRYING, "no complete answer within 0.6 s")
        assert [m.author.handle for m in got] == ["amy"]  # the retry read it


def test_a_stuck_delivery_never_blocks_the_others():
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, account="amy"), fake.notification(2, account="bo"))
        desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)

        def source() -> MastodonSource:
            return MastodonSource(fake.url, token=TOKEN, stream=False, timeout=0.5,
                                  deadline=0.6)

        asyncio.run(Runner(desk, [source()], deliver=False).run(once=True))
        for conv in desk.conversations.values():
            desk.reply(conv.id, "Sorry about that. We're looking into it now.")
        fake.fault("/api/v1/statuses", trickle())  # the first post to arrive is stuck
        asyncio.run(asyncio.wait_for(
            Runner(desk, [source()], retry_base=60).run(once=True), 20))
        states = sorted(i["status"] for i in desk.outbox.items.values())
        assert states == ["pending", "sent"]
        stuck = next(i for i in desk.outbox.items.values() if i["status"] == "pending")
        assert "no complete answer within 0.6 s" in stuck["error"]
