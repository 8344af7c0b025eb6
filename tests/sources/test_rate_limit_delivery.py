"""Rate limits are not failures: a burst of 429s never uses up a reply's attempts, and the
outbox says how long it waits.  The fake Mastodon on 127.0.0.1, the real Desk and Runner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.mastodon import FakeMastodon
from fakes.server import Reply

from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"
REPLY = "Sorry about that. We're looking into it now."


def queued_reply(fake: FakeMastodon):
    fake.publish(fake.notification(1, account="amy", text="my train is late, refund?"))
    desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
    asyncio.run(Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False)],
                       deliver=False).run(once=True))
    (conv,) = desk.conversations.values()
    desk.reply(conv.id, REPLY)
    return desk


def test_a_burst_of_429s_never_fails_the_reply():
    with FakeMastodon() as fake:
        desk = queued_reply(fake)
        fake.fault("/api/v1/statuses",
                   *(Reply.json({"error": "Too many requests"}, 429, Retry_After="0")
                     for _ in range(15)))
        (item,) = desk.outbox.items.values()
        done = asyncio.Event()
        desk.outbox.listeners.append(
            lambda i: done.set() if i["status"] in ("sent", "failed") else None)

        async def main() -> None:
            runner = Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False,
                                                  poll_seconds=3600)],
                            max_attempts=3, deliver_seconds=0.01)
            await runner.run(until=done)

        asyncio.run(main())
        item = desk.outbox.items[item["id"]]
        assert item["status"] == "sent", item["error"]  # 15 waits, 3 attempts allowed
        assert item["attempts"] == 1
        assert len(fake.statuses) == 1


def test_the_outbox_says_until_when_it_waits():
    with FakeMastodon() as fake:
        desk = queued_reply(fake)
        fake.fault("/api/v1/statuses",
                   Reply.json({"error": "Too many requests"}, 429, Retry_After="600"))
        asyncio.run(Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False)],
                           max_attempts=1).run(once=True))
        (item,) = desk.outbox.items.values()
        assert item["status"] == "pending" and item["attempts"] == 0
        assert item["error"].startswith("waiting for rate limit until ")
        hhmm = item["error"].rsplit(" ", 1)[1]
        assert len(hhmm) == 5 and hhmm[2] == ":"
        assert fake.statuses == {}
