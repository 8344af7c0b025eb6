"""Gap after downtime: what arrives while mentiondesk is closed is read on the next start, from
the position stored in the data directory, with the status saying "catching up" until done.

Real fake servers on 127.0.0.1, a real Store in tmp_path, the real Desk and Runner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from conftest import policy
from fakes.bluesky import PASSWORD, FakeBluesky
from fakes.collect import RecordingStatus
from fakes.mastodon import FakeMastodon

from tui.core.desk import Desk
from tui.core.store import Store
from tui.sources.base import CATCHING_UP, LIVE
from tui.sources.bluesky import BlueskySource
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"
PAGE = 10


def open_desk(path) -> Desk:
    rules, replies = policy()
    return Desk(rules, replies, Store(path))


def close(desk: Desk) -> None:
    desk.store.close(desk.dump)


def run_once(desk: Desk, source) -> None:
    asyncio.run(Runner(desk, [source], deliver=False).run(once=True))


def mentions_by_customer(desk: Desk) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in desk.mentions.values():
        out[m.customer] = out.get(m.customer, 0) + 1
    return out


def caught_up_before_live(status: RecordingStatus) -> None:
    states = [s for s, _ in status.history if s != "stopped"]
    assert CATCHING_UP in states, status.history
    assert LIVE not in states[:states.index(CATCHING_UP)], status.history
    last_catching = len(states) - 1 - states[::-1].index(CATCHING_UP)
    assert LIVE not in states[:last_catching], "never 'live' before the catch-up is done"
    assert states[-1] == LIVE
    details = [d for s, d in status.history if s == CATCHING_UP]
    assert any(d.startswith("catching up (") and d.endswith(" fetched)") for d in details)


def mastodon(fake: FakeMastodon) -> MastodonSource:
    source = MastodonSource(fake.url, token=TOKEN, stream=False, page_limit=PAGE, timeout=5.0)
    source.status = RecordingStatus()
    return source


def test_mastodon_restart_reads_every_page_missed_while_closed(tmp_path):
    with FakeMastodon() as fake:
        now = datetime.now(UTC)
        fake.publish(*(fake.notification(n, account=f"early{n}", at=now - timedelta(hours=3))
                       for n in range(1, 4)))
        desk = open_desk(tmp_path)
        run_once(desk, mastodon(fake))
        assert len(desk.mentions) == 3
        close(desk)

        # 7 pages (and a bit) arrive while the desk is closed, each from another customer.
        missed = range(10, 10 + 7 * PAGE + 5)
        fake.publish(*(fake.notification(n, account=f"cust{n}", at=now - timedelta(minutes=1))
                       for n in missed))
        desk = open_desk(tmp_path)
        assert desk.source_position(f"mastodon:{fake.url}")["notifications"] == "103"
        source = mastodon(fake)
        run_once(desk, source)
        per_customer = mentions_by_customer(desk)
        assert len(per_customer) == 3 + len(missed)
        assert set(per_customer.values()) == {1}  # everyone exactly once
        assert source.status.received == len(missed)  # nothing read twice from the server
        caught_up_before_live(source.status)
        assert source.status.saw(LIVE, f"caught up, {len(missed)} fetched")
        # It paged forward from the stored id, not from the newest page.
        first = next(r for r in fake.requests if r.path == "/api/v1/notifications"
                     and r.arg("min_id"))
        assert first.arg("min_id") == "103"
        close(desk)


def test_mastodon_first_start_reads_back_to_the_horizon_and_says_so(tmp_path):
    with FakeMastodon() as fake:
        now = datetime.now(UTC)
        fake.publish(*(fake.notification(n, account=f"old{n}", at=now - timedelta(days=9))
                       for n in range(1, 4)))
        fake.publish(*(fake.notification(n, account=f"new{n}", at=now - timedelta(days=2))
                       for n in range(4, 4 + 3 * PAGE)))
        desk = open_desk(tmp_path)
        source = mastodon(fake)
        run_once(desk, source)
        assert {m.author.handle for m in desk.mentions.values()} == {
            f"new{n}" for n in range(4, 4 + 3 * PAGE)}
        assert source.status.saw(LIVE, "read back 7 days (the horizon)")
        close(desk)


def bluesky_note(fake: FakeBluesky, n: int, at: datetime) -> dict:
    note = fake.from_jetstream({
        "did": f"did:plc:customer{n:06d}", "time_us": int(at.timestamp() * 1e6),
        "kind": "commit",
        "commit": {"rkey": f"3kgap{n:08d}", "cid": f"bafy{n}", "collection": "app.bsky.feed.post",
                   "operation": "create",
                   "record": {"$type": "app.bsky.feed.post", "text": f"@brand help {n}",
                              "createdAt": at.isoformat().replace("+00:00", "Z")}}})
    note["author"]["handle"] = f"cust{n}.bsky.social"
    return note


def bluesky(fake: FakeBluesky) -> BlueskySource:
    source = BlueskySource("sarcastabot.bsky.social", password=PASSWORD, service=fake.url,
                           page_limit=PAGE, dms=False, timeout=5.0)
    source.status = RecordingStatus()
    return source


def test_bluesky_restart_reads_every_page_missed_while_closed(tmp_path):
    with FakeBluesky() as fake:
        start = datetime.now(UTC) - timedelta(hours=5)
        fake.publish(*(bluesky_note(fake, n, start + timedelta(seconds=n)) for n in range(1, 4)))
        desk = open_desk(tmp_path)
        run_once(desk, bluesky(fake))
        assert len(desk.mentions) == 3  # the recorded (months old) one is beyond the horizon
        close(desk)

        missed = range(100, 100 + 6 * PAGE + 3)
        fake.publish(*(bluesky_note(fake, n, start + timedelta(minutes=n)) for n in missed))
        desk = open_desk(tmp_path)
        source = bluesky(fake)
        run_once(desk, source)
        per_customer = mentions_by_customer(desk)
        assert len(per_customer) == 3 + len(missed)
        assert set(per_customer.values()) == {1}
        assert source.status.received == len(missed)
        caught_up_before_live(source.status)
        pages = fake.count("GET", "/xrpc/app.bsky.notification.listNotifications")
        assert pages >= 7
        close(desk)
