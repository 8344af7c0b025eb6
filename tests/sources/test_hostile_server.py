"""Hostile servers: a pagination link to another host is never followed (the token would go
with it), and a server that echoes the Authorization header in its errors never gets the token
onto the screen, into logs or into the data directory.  Fake Mastodon on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.mastodon import FakeMastodon
from fakes.server import FakeServer, Reply

from tui.core.store import Store
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"


def test_pagination_links_to_another_host_are_not_followed():
    with FakeServer(lambda req: Reply.json([])) as elsewhere, FakeMastodon() as fake:
        fake.publish(*(fake.notification(n, account=f"c{n}") for n in range(1, 6)))
        real_page = fake._page

        def evil_page(req, items, key, path):
            reply = real_page(req, items, key, path)
            reply.headers["Link"] = (f'<{elsewhere.url}/api/v1/notifications?max_id=1>; '
                                     'rel="next"')
            return reply

        fake._page = evil_page
        source = MastodonSource(fake.url, token=TOKEN, stream=False, page_limit=2)
        got: list = []
        asyncio.run(source.poll(got.extend))
        asyncio.run(source.aclose())
        assert elsewhere.requests == []  # the token never left for the other host
        assert len(got) == 2  # the first page; the rest waits for a link we can trust
        assert source.status.skipped >= 1


def test_a_server_echoing_the_token_never_gets_it_shown_logged_or_stored(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, account="amy", text="my train is late, refund?"))
        store = Store(tmp_path)
        desk = new_desk(store, clock=Clock(datetime.now(UTC)), undo_seconds=0)
        asyncio.run(Runner(desk, [MastodonSource(fake.url, token=TOKEN, stream=False)],
                           deliver=False).run(once=True))
        (conv,) = desk.conversations.values()
        desk.reply(conv.id, "Sorry about that. We're looking into it now.")

        def echo(req_status: int):
            return Reply.json({"error": f"bad request, you sent Authorization: Bearer {TOKEN}"},
                              req_status)

        fake.fault("/api/v1/statuses", echo(422))
        fake.fault("/api/v1/notifications", echo(503))
        source = MastodonSource(fake.url, token=TOKEN, stream=False)
        runner = Runner(desk, [source], deliver=True)
        asyncio.run(runner.run(once=True))
        (item,) = desk.outbox.items.values()
        assert item["status"] == "failed" and "[redacted]" in item["error"]
        state, detail = runner.final[source.name]
        assert state == "retrying" and "[redacted]" in detail  # the status bar's line
        desk.store.close(desk.dump)

        everything = [item["error"], detail, caplog.text,
                      json.dumps(desk.dump())]
        everything += [p.read_bytes().decode("utf-8", "replace")
                       for p in tmp_path.rglob("*") if p.is_file()]
        assert not any(TOKEN in text for text in everything)
