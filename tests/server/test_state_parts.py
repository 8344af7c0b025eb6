"""A replica's load (``DeskServer.snapshot_parts`` then ``state_chunk``): every conversation
arrives exactly once whatever order customers' conversations are met in, and each message's
``more`` is the exact number still to come (issue 9: the first part no longer filters every id
of a 100,000-conversation desk; later parts skip what was sent)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tui.server.server import Client, DeskServer
from tui.sources.demo import generate


def lines(parts: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in parts]


def test_every_conversation_once_and_more_is_exact(make_desk: Any, clock: Any,
                                                   tmp_path: Path) -> None:
    desk = make_desk(demo=0)
    mentions = generate(300, seed=5)
    for round_ in range(3):  # each customer: a conversation resolved, days later a new one...
        batch = mentions[round_ * 100:(round_ + 1) * 100]
        for i, m in enumerate(batch):
            m.author.handle, m.author.id = f"cust{i % 60}", f"id:cust{i % 60}"
            m.created_at = m.received_at = clock.now + timedelta(seconds=i)
        desk.ingest(batch)
        if round_ < 2:
            for cid in list(desk.queue)[::2]:
                desk.resolve(cid)
            clock.advance(days=10)
    assert len(desk.conversations) > len(desk.queue) > 30
    server = DeskServer(desk, tmp_path)
    client = Client(id=1, writer=None, cred=None)  # type: ignore[arg-type]
    client.replica, client.attached, client.limit = True, True, 30
    snap, first = lines(server.snapshot_parts(client=client))
    total = len(desk.conversations)
    assert snap["conversations"] == total
    got: list[str] = list(first["tables"]["conversations"])
    assert len(got) > 30  # the first thirty, and their customers' other conversations
    assert first["more"] == total - len(got) > 0
    assert set(desk.queue[i] for i in range(30)) <= set(got)
    while client.state_due:
        part = json.loads(server.state_chunk(client, size=16))
        new = list(part["tables"].get("conversations") or {})
        assert not set(new) & set(got), "sent twice"
        got += new
        assert part["more"] == total - len(got)
    assert sorted(got) == sorted(desk.conversations) and len(got) == total
