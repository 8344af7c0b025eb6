"""A replica's load (``DeskServer.snapshot_parts`` then ``state_chunk``): every conversation
arrives exactly once whatever order customers' conversations are met in, and each message's
``more`` is the exact number still to come (issue 9: the first part no longer filters every id
of a 100,000-conversation desk; later parts skip what was sent)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tui.core.desk import RESOLVED
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


def test_a_conversation_opened_during_the_load_does_not_end_it_early(
        make_desk: Any, clock: Any, tmp_path: Path) -> None:
    """Customers write again while the load runs: their new conversations are sent along with
    their old ones (not in the load's list: an estimate of "more" would run out early), and
    the load still ends only after every conversation it listed."""
    desk = make_desk(demo=0)
    mentions = generate(80, seed=9)
    for i, m in enumerate(mentions):
        m.author.handle, m.author.id = f"cust{i}", f"id:cust{i}"
        m.created_at = m.received_at = clock.now + timedelta(seconds=i)
    desk.ingest(mentions)
    for cid in list(desk.queue)[40:]:  # the last forty: resolved, so listed after the queue
        desk.resolve(cid)
    clock.advance(days=10)
    server = DeskServer(desk, tmp_path)
    client = Client(id=1, writer=None, cred=None)  # type: ignore[arg-type]
    client.replica, client.attached, client.limit = True, True, 10
    _snap, first = lines(server.snapshot_parts(client=client))
    got = list(first["tables"]["conversations"])
    listed = set(desk.conversations)
    part = json.loads(server.state_chunk(client, size=8))  # lists the load
    got += list(part["tables"].get("conversations") or {})
    # five customers whose (resolved, not queued) conversations are not sent yet write again
    fresh = []
    resolved = [c for c, conv in desk.conversations.items()
                if conv.status == RESOLVED and c not in got]
    for n, old in enumerate(resolved[:5]):
        again = generate(1, seed=10 + n)[0]
        again.id = f"again{n}"
        customer = desk.conversations[old].customer
        again.author.handle = desk.conversations[old].handle
        again.author.id = customer.split("|", 1)[1]
        again.created_at = again.received_at = clock.now
        fresh.append(desk.ingest([again])[0].conv_id)
        assert desk.conversations[fresh[-1]].customer == customer
    assert len(fresh) == 5 and not set(fresh) & listed
    while client.state_due:
        part = json.loads(server.state_chunk(client, size=1))  # a boundary at every id
        new = list(part["tables"].get("conversations") or {})
        assert not set(new) & set(got), "sent twice"
        got += new
        assert part["more"] > 0 or not client.state_due
    assert listed <= set(got), "the load ended before every listed conversation was sent"


def test_conversations_archived_during_the_load_do_not_end_it_early(
        make_desk: Any, clock: Any, tmp_path: Path) -> None:
    """Conversations already sent leave the desk (archived) while the load runs: the count of
    those still to come runs short of the truth, and the load must still send every
    conversation that is on the desk."""
    desk = make_desk(data_dir=tmp_path / "desk", demo=0)
    mentions = generate(120, seed=11)
    for i, m in enumerate(mentions):
        m.author.handle, m.author.id = f"cust{i}", f"id:cust{i}"
        m.created_at = m.received_at = clock.now + timedelta(seconds=i)
    desk.ingest(mentions)
    server = DeskServer(desk, tmp_path)
    client = Client(id=1, writer=None, cred=None)  # type: ignore[arg-type]
    client.replica, client.attached, client.limit = True, True, 40
    _snap, first = lines(server.snapshot_parts(client=client))
    got = list(first["tables"]["conversations"])
    for cid in got:  # the first screen's: handled, then archived
        desk.resolve(cid)
    clock.advance(days=30)
    assert desk.checkpoint() >= 30
    assert not set(got) & set(desk.conversations)
    while client.state_due:
        part = json.loads(server.state_chunk(client, size=1))
        new = list(part["tables"].get("conversations") or {})
        assert not set(new) & set(got), "sent twice"
        got += new
        assert part["more"] > 0 or not client.state_due
    assert set(desk.conversations) <= set(got), "the load ended before the desk was sent"
