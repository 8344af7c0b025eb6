"""A reply is never lost and never posted twice, across a crash.

Each scenario runs a real child process (tests/helpers/outbox_child.py: real Store, Desk, Runner
and source) against a fake server on 127.0.0.1 that this test runs.  The server stores the post
and then holds its answer; the test waits for that request, SIGKILLs the child, restarts it on the
same data dir, and counts what reached the server.  Another scenario kills the child after the
reply was queued but before anything was posted.  The last tests check the Bluesky chat
"sent already?" lookup on its own edges.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.bluesky import ME, PASSWORD, FakeBluesky
from fakes.mastodon import FakeMastodon, Reply, sid

from tui.core.model import DIRECT
from tui.core.store import Store
from tui.sources.bluesky import BlueskySource, tid_for

CHILD = Path(__file__).resolve().parents[1] / "helpers" / "outbox_child.py"
TOKEN = "test-token-s3cret"
SECRETS = ("MENTIONDESK_MASTODON_TOKEN", "MENTIONDESK_BLUESKY_PASSWORD")
WAIT = 20.0  # upper bound for any single wait; the scenarios take well under a second each
STATUSES = "/api/v1/statuses"
CREATE = "/xrpc/com.atproto.repo.createRecord"
SEND = "/xrpc/chat.bsky.convo.sendMessage"


_running: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_orphans():
    """A failed assertion must not leave a paused or hung child behind."""
    yield
    while _running:
        proc = _running.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Child:
    """One run of outbox_child.py; its stdout lines arrive on a queue (no polling)."""

    def __init__(self, data_dir: Path, spec: str, options: dict[str, Any], channel: str,
                 secret: tuple[str, str], pause: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if k not in SECRETS}
        env[secret[0]] = secret[1]  # only the child gets the secret, and only by environment
        if pause:
            env["OUTBOX_CHILD_PAUSE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(data_dir), spec, json.dumps(options), channel],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        _running.append(self.proc)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors.append),
                         daemon=True).start()

    @staticmethod
    def _pump(stream: Any, put: Any) -> None:
        for line in stream:
            put(line.rstrip("\n"))
        put(None)

    def expect(self, word: str) -> str:
        """The rest of the next stdout line starting with ``word`` (earlier lines are skipped)."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                self.kill()
                raise AssertionError(f"child said no {word!r} in {WAIT:g} s: "
                                     f"{''.join(self.errors)[-2000:]}") from None
            if line is None:
                self.proc.wait()
                raise AssertionError(f"child exited ({self.proc.returncode}) before {word!r}: "
                                     + "\n".join(self.errors)[-2000:])
            if line.split(" ", 1)[0] == word:
                return line.partition(" ")[2]

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def finish(self) -> list[dict[str, Any]]:
        items = json.loads(self.expect("done"))
        assert self.proc.wait(timeout=WAIT) == 0, "\n".join(self.errors)
        return items


def stored_item(data_dir: Path, item_id: str) -> dict[str, Any]:
    """The outbox item as the data dir holds it (what a restart will find)."""
    store = Store(data_dir)
    try:
        return store.load()["outbox"][item_id]
    finally:
        store.close()


def posts(fake: Any, path: str) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == path]


def crash_mid_post(data_dir: Path, start: Any, fake: Any) -> tuple[str, dict[str, Any]]:
    """Start a child, wait until the server holds its post, kill it; the item as stored."""
    first = start()
    item_id = first.expect("queued")
    assert fake.posted.wait(WAIT), "the child never posted"
    first.kill()
    assert first.proc.returncode == -signal.SIGKILL
    return item_id, stored_item(data_dir, item_id)


# --- Mastodon -----------------------------------------------------------------------------------

MASTODON_OPTIONS = {"stream": False, "poll_seconds": 60, "timeout": 60}


def mastodon_child(data_dir: Path, fake: FakeMastodon, *, pause: bool = False) -> Child:
    return Child(data_dir, f"mastodon:{fake.url}", MASTODON_OPTIONS, "public",
                 ("MENTIONDESK_MASTODON_TOKEN", TOKEN), pause=pause)


def test_mastodon_killed_while_the_post_is_in_flight_posts_exactly_once(tmp_path):
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, text="my train was cancelled and nobody told us"))
        fake.fault(STATUSES, "create-then-hang")
        item_id, crashed = crash_mid_post(tmp_path, lambda: mastodon_child(tmp_path, fake), fake)
        assert (crashed["status"], crashed["attempts"]) == ("sending", 1)
        assert len(fake.statuses) == 1  # the server has it; the child never heard back

        second = mastodon_child(tmp_path, fake)
        assert second.expect("resumed") == f"{item_id} sending 1"
        (item,) = second.finish()

    (status_id,) = fake.statuses
    keys = [r.headers.get("idempotency-key") for r in posts(fake, STATUSES)]
    assert keys == [item_id, item_id]  # re-sent once, with the same key
    assert item["id"] == item_id and item["status"] == "sent" and item["attempts"] == 2
    assert item["remote_id"] == status_id
    assert fake.statuses[status_id]["form"]["in_reply_to_id"] == sid(1)
    assert fake.statuses[status_id]["form"]["status"].startswith("@admin Sorry about that.")
    durable = stored_item(tmp_path, item_id)
    assert (durable["status"], durable["remote_id"]) == ("sent", status_id)


def test_mastodon_killed_after_queueing_before_posting_posts_exactly_once(tmp_path):
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, text="the 07:40 is 20 minutes late again"))
        first = mastodon_child(tmp_path, fake, pause=True)
        item_id = first.expect("queued")
        first.kill()
        assert posts(fake, STATUSES) == []
        crashed = stored_item(tmp_path, item_id)
        assert (crashed["status"], crashed["attempts"]) == ("pending", 0)  # queued, durable

        second = mastodon_child(tmp_path, fake)
        assert second.expect("resumed") == f"{item_id} pending 0"
        (item,) = second.finish()

    (status_id,) = fake.statuses
    assert [r.headers.get("idempotency-key") for r in posts(fake, STATUSES)] == [item_id]
    assert (item["status"], item["attempts"], item["remote_id"]) == ("sent", 1, status_id)
    assert stored_item(tmp_path, item_id)["status"] == "sent"


# --- Bluesky ------------------------------------------------------------------------------------

HANDLE = "sarcastabot.bsky.social"


def bluesky_child(data_dir: Path, fake: FakeBluesky, channel: str) -> Child:
    # The recorded traffic is months old: a ten-year horizon lets the first start read it.
    options = {"service": fake.url, "poll_seconds": 60, "timeout": 60, "horizon_days": 3650}
    return Child(data_dir, f"bluesky:{HANDLE}", options, channel,
                 ("MENTIONDESK_BLUESKY_PASSWORD", PASSWORD))


def test_bluesky_killed_while_the_record_is_in_flight_posts_exactly_once(tmp_path):
    with FakeBluesky() as fake:  # serves the recorded mention
        fake.fault("com.atproto.repo.createRecord", "create-then-hang")
        item_id, crashed = crash_mid_post(tmp_path, lambda: bluesky_child(tmp_path, fake,
                                                                          "public"), fake)
        assert (crashed["status"], crashed["attempts"]) == ("sending", 1)

        second = bluesky_child(tmp_path, fake, "public")
        assert second.expect("resumed") == f"{item_id} sending 1"
        (item,) = second.finish()

    rkey = tid_for(item_id, item["created_at"])
    assert list(fake.records) == [rkey]  # one record
    assert [r.json()["rkey"] for r in posts(fake, CREATE)] == [rkey, rkey]
    assert (item["status"], item["attempts"]) == ("sent", 2)
    assert item["remote_id"] == f"at://{ME}/app.bsky.feed.post/{rkey}"
    record = fake.records[rkey]["record"]
    assert record["reply"]["parent"]["uri"].endswith("/app.bsky.feed.post/3l5w6ldfnud2g")


_dm_ids = iter(range(1, 1_000_000))


def customer_dm(text: str, minutes_ago: float = 5) -> dict[str, Any]:
    sent = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"id": f"c{next(_dm_ids)}", "rev": "1", "text": text,
            "sender": {"did": "did:plc:customer1"},
            "sentAt": sent.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}


def test_bluesky_chat_dm_killed_in_flight_is_not_sent_again(tmp_path):
    with FakeBluesky() as fake:
        fake.convo_messages.append(customer_dm("my card was charged twice for one ticket"))
        fake.fault("chat.bsky.convo.sendMessage", "send-then-hang")
        item_id, crashed = crash_mid_post(tmp_path, lambda: bluesky_child(tmp_path, fake,
                                                                          "direct"), fake)
        assert crashed["kind"] == "dm" and (crashed["status"], crashed["attempts"]) == (
            "sending", 1)

        second = bluesky_child(tmp_path, fake, "direct")
        assert second.expect("resumed") == f"{item_id} sending 1"
        (item,) = second.finish()

    assert len(fake.sent_messages) == 1 and len(posts(fake, SEND)) == 1  # not sent again
    assert (item["status"], item["attempts"]) == ("sent", 2)
    assert item["remote_id"] == f"chat:convo1/{fake.sent_messages[0]['id']}"


# --- the chat lookup's edges (in process, same fake server) -------------------------------------


def dm_item(item_id: str, text: str, attempts: int, created_at: datetime) -> dict[str, Any]:
    return {"id": item_id, "kind": "dm", "channel": DIRECT, "text": text,
            "to": "rider.bsky.social", "in_reply_to_raw": "chat convo1", "attempts": attempts,
            "created_at": created_at.isoformat()}


@pytest.fixture
def chat():
    with FakeBluesky() as fake:
        fake.convo_messages.append(customer_dm("where is my refund?", minutes_ago=30))
        yield fake


async def resend(fake: FakeBluesky, item: dict[str, Any]) -> str:
    source = BlueskySource(HANDLE, password=PASSWORD, service=fake.url, timeout=5)
    try:
        return await source.deliver(item)
    finally:
        await source.aclose()


async def test_a_first_send_never_looks_and_a_resend_finds_its_message(chat):
    created = datetime.now(UTC) - timedelta(minutes=2)
    text = "We've refunded it, it takes 3 to 5 days."
    # First attempt: sent, without reading the conversation.
    assert await resend(chat, dm_item("a", text, 1, created)) == "chat:convo1/msg1"
    assert chat.count("GET", "/xrpc/chat.bsky.convo.getMessages") == 0
    # Its answer was lost; the next attempt finds the message and sends nothing.
    assert await resend(chat, dm_item("a", text, 2, created)) == "chat:convo1/msg1"
    assert len(chat.sent_messages) == 1
    # A later item with the same words (the agent repeating themselves on purpose, after the
    # first went out) is new: the identical message predates it, so it is sent.
    later = await resend(chat, dm_item("b", text, 2, datetime.now(UTC)))
    assert later == "chat:convo1/msg2" and len(chat.sent_messages) == 2


async def test_a_resend_ignores_other_text_and_the_customers_own_words(chat):
    since = datetime.now(UTC) - timedelta(minutes=1)
    chat.convo_messages.append(customer_dm("Thanks!", minutes_ago=0.5))
    assert await resend(chat, dm_item("c", "Thanks!", 2, since)) == "chat:convo1/msg1"
    assert await resend(chat, dm_item("d", "Something else", 2, since)) == "chat:convo1/msg2"
    assert [m["text"] for m in chat.sent_messages] == ["Thanks!", "Something else"]


async def test_a_resend_pages_back_through_a_busy_conversation(chat):
    since = datetime.now(UTC) - timedelta(minutes=1)
    await resend(chat, dm_item("e", "Your case is NL-4411.", 1, since))
    for n in range(120):  # the customer keeps writing after our message
        chat.convo_messages.append(customer_dm(f"message {n}", minutes_ago=0))
    assert await resend(chat, dm_item("e", "Your case is NL-4411.", 2, since)) == (
        "chat:convo1/msg1")
    assert len(chat.sent_messages) == 1
    assert chat.count("GET", "/xrpc/chat.bsky.convo.getMessages") == 3  # 50 + 50 + 21


# --- Mastodon after its Idempotency-Key expired ----------------------------------------------


async def test_mastodon_resend_after_the_key_expired_finds_the_first_post():
    from tui.sources.mastodon import MastodonSource

    with FakeMastodon() as fake:
        source = MastodonSource(fake.url, token=TOKEN, stream=False, timeout=5)
        own = f"/api/v1/accounts/{fake.verify['id']}/statuses"
        item = {"id": "k1", "kind": "reply", "channel": "public", "to": "admin",
                "text": "Sorry about that, a replacement bus is on its way.",
                "in_reply_to_raw": sid(1), "attempts": 1,
                "created_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat()}
        first = await source.deliver(item)  # a first attempt posts without looking
        assert fake.count("GET", own) == 0
        fake.expire_keys()  # the server has forgotten the key (kept one hour)
        assert await source.deliver({**item, "attempts": 2}) == first
        assert len(fake.statuses) == 1 and fake.count("GET", own) == 1
        # Other words, or the same words to another status, are not that post: they go out.
        other = await source.deliver({**item, "id": "k2", "attempts": 2, "text": "Fixed now."})
        elsewhere = await source.deliver({**item, "id": "k3", "attempts": 2,
                                          "in_reply_to_raw": sid(2)})
        assert len({first, other, elsewhere}) == 3 and len(fake.statuses) == 3
        # A re-send younger than 50 minutes relies on the key and does not look.
        looked = fake.count("GET", own)
        recent = {**item, "id": "k4", "attempts": 2, "created_at": datetime.now(UTC).isoformat()}
        await source.deliver(recent)
        assert fake.count("GET", own) == looked
        # An item created after the first post (the same words again, on purpose) is new.
        later = await source.deliver({**item, "id": "k5", "attempts": 2,
                                      "created_at": datetime.now(UTC).isoformat()})
        assert later != first
        await source.aclose()


async def test_mastodon_late_resend_pages_back_and_a_failed_look_is_a_retry():
    from tui.sources.base import DeliveryError
    from tui.sources.mastodon import MastodonSource

    with FakeMastodon() as fake:
        source = MastodonSource(fake.url, token=TOKEN, stream=False, timeout=5)
        own = f"/api/v1/accounts/{fake.verify['id']}/statuses"
        created = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
        item = {"id": "p1", "kind": "dm", "channel": "direct", "to": "admin",
                "text": "Your refund NL-2231 is on its way.", "in_reply_to_raw": sid(1),
                "attempts": 1, "created_at": created}
        first = await source.deliver(item)
        for n in range(90):  # 90 later posts bury it on the third page of 40
            await source.deliver({**item, "id": f"n{n}", "text": f"other answer {n}",
                                  "created_at": created})
        fake.expire_keys()
        assert await source.deliver({**item, "attempts": 2}) == first
        assert fake.count("GET", own) == 3 and len(fake.statuses) == 91
        fake.fault(own, Reply.json({"error": "Internal server error"}, 503))
        with pytest.raises(DeliveryError, match="checking for an earlier post") as failed:
            await source.deliver({**item, "attempts": 3})
        assert failed.value.retry is True and len(fake.statuses) == 91  # never a blind post
        await source.aclose()
