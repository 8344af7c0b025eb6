"""Posts going out: written down before they are sent, so none is lost and none is sent twice.

Life of an item: ``pending`` (written and flushed when the agent acts; held for the undo window)
→ ``sending`` (flushed right before the network call) → ``sent`` with the remote id, or back to
``pending`` with a later ``not_before`` after a network error or 5xx, or ``failed`` on any other
4xx (the server's message is kept for the agent).  ``cancelled`` when the agent undoes the action
in time.  After a crash, ``sending`` items are sent again *with the same idempotency key* (the
item id): Mastodon returns the first post for a repeated key, Bluesky refuses a second record
with the same record key, so a retry never makes a second post.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from .model import iso, parse_time, utcnow

PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"
OPEN_STATES = (PENDING, SENDING)


class _Store(Protocol):
    def put(self, table: str, key: str, doc: dict) -> None: ...
    def flush(self) -> None: ...


class Outbox:
    def __init__(self, store: _Store | None, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        self.items: dict[str, dict[str, Any]] = {}
        # Indexes: the desk asks per conversation and per event (history, undo, checkpoint).
        self._by_conv: dict[str, set[str]] = {}
        self._by_event: dict[str, set[str]] = {}
        self._open: set[str] = set()  # pending or sending: what due() looks at
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    # --- creating ------------------------------------------------------------------------------

    def new_item(
        self,
        *,
        conv_id: str,
        source: str,
        kind: str,
        channel: str,
        text: str,
        to: str,
        in_reply_to: str | None,
        in_reply_to_raw: str | None,
        event_id: str,
        hold_seconds: float = 0.0,
        audience: str | None = None,
        after: str | None = None,
        content_warning: str | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """``audience``: who can see the post answered (``model.AUDIENCES``); the source never
        posts wider than that.  ``after``: an item that must be *sent* before this one goes
        (the public "we've sent you a DM" waits for the DM)."""
        """Build (not yet save) an item; the desk saves it together with the action's event."""
        now = self.clock()
        return {
            "id": uuid.uuid4().hex,
            "conv_id": conv_id,
            "event_id": event_id,
            "source": source,
            "kind": kind,
            "channel": channel,
            "text": text,
            "to": to,
            "in_reply_to": in_reply_to,
            "in_reply_to_raw": in_reply_to_raw,
            "audience": audience,
            "after": after,
            "content_warning": content_warning,
            "language": language,
            "status": PENDING,
            "attempts": 0,
            "not_before": iso(now + timedelta(seconds=hold_seconds)),
            "remote_id": None,
            "error": None,
            "created_at": iso(now),
            "sent_at": None,
        }

    def add(self, item: dict[str, Any]) -> None:
        """Record an item (buffered: the caller flushes)."""
        self._save(item)

    def restore(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = {}
        self._by_conv.clear()
        self._by_event.clear()
        self._open.clear()
        for item in items.values():
            self._index(item)

    def forget(self, item_id: str) -> None:
        """Drop an item from memory (its conversation was archived with it)."""
        item = self.items.pop(item_id, None)
        if item is not None:
            self._open.discard(item_id)
            self._by_conv.get(item["conv_id"], set()).discard(item_id)
            self._by_event.get(item.get("event_id") or "", set()).discard(item_id)

    def _index(self, item: dict[str, Any]) -> None:
        self.items[item["id"]] = item
        self._by_conv.setdefault(item["conv_id"], set()).add(item["id"])
        (self._open.add if item["status"] in OPEN_STATES else self._open.discard)(item["id"])
        if item.get("event_id"):
            self._by_event.setdefault(item["event_id"], set()).add(item["id"])

    # --- delivering ----------------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Items to (re)send now: pending past their hold, and ``sending`` left by a crash."""
        now = now or self.clock()
        out = [
            item
            for item in map(self.items.__getitem__, self._open)
            if item["status"] == SENDING
            or (item["status"] == PENDING and parse_time(item["not_before"]) <= now
                and self._ready(item))
        ]
        out.sort(key=lambda i: i["created_at"])
        return out

    def _ready(self, item: dict[str, Any]) -> bool:
        """Whether the item it waits for (``after``) was sent (or it waits for nothing)."""
        first = item.get("after")
        return not first or self.items.get(first, {}).get("status") == SENT

    def waiting_for(self, item_id: str) -> list[dict[str, Any]]:
        """Open items that go only once ``item_id`` was sent."""
        return [self.items[i] for i in self._open if self.items[i].get("after") == item_id]

    def start(self, item_id: str) -> dict[str, Any]:
        """Mark ``sending`` and flush: call right before the network call."""
        item = self.items[item_id]
        if item["status"] not in OPEN_STATES:
            raise ValueError(f"outbox item {item_id} is {item['status']}, not sendable")
        if self.store is not None and getattr(self.store, "fault", None):
            self.store.flush()  # raises while the disk refuses: nothing unsaved is sent
        item = {**item, "status": SENDING, "attempts": item["attempts"] + 1}
        self._save(item, flush=True)
        return item

    def sent(self, item_id: str, remote_id: str) -> None:
        item = {**self.items[item_id], "status": SENT, "remote_id": remote_id,
                "sent_at": iso(self.clock()), "error": None}
        self._save(item, flush=True)

    def retry(self, item_id: str, error: str, delay_seconds: float) -> None:
        later = self.clock() + timedelta(seconds=max(0.0, delay_seconds))
        item = {**self.items[item_id], "status": PENDING, "error": error,
                "not_before": iso(later)}
        self._save(item, flush=True)

    def wait_for_rate_limit(self, item_id: str, until: datetime) -> None:
        """The server asked us to wait: back to ``pending`` until ``until`` (UTC), the attempt
        given back (a 429 is not a try), ``error`` saying "waiting for rate limit until HH:MM"
        (office-local time of this machine)."""
        item = self.items[item_id]
        later = max(until, self.clock())
        item = {**item, "status": PENDING, "not_before": iso(later),
                "attempts": max(0, int(item.get("attempts") or 0) - 1),
                "error": f"waiting for rate limit until {later.astimezone():%H:%M}"}
        self._save(item, flush=True)

    def fail(self, item_id: str, error: str) -> None:
        item = {**self.items[item_id], "status": FAILED, "error": error}
        self._save(item, flush=True)

    def resend(self, item_id: str) -> bool:
        """The agent asks to try a failed post again (the console's outbox view, ``r``): it is
        pending again, due now.  False when the item is not failed."""
        item = self.items[item_id]
        if item["status"] != FAILED:
            return False
        self._save({**item, "status": PENDING, "not_before": iso(self.clock())}, flush=True)
        return True

    def cancel(self, item_id: str, reason: str | None = None) -> bool:
        """Cancel an item that has not started sending; False if it is too late."""
        item = self.items[item_id]
        if item["status"] != PENDING:
            return False
        self._save({**item, "status": CANCELLED, "error": reason or item.get("error")})
        return True

    # --- reading -------------------------------------------------------------------------------

    def for_event(self, event_id: str) -> list[dict[str, Any]]:
        return sorted((self.items[i] for i in self._by_event.get(event_id, ())),
                      key=lambda i: i["created_at"])

    def for_conversation(self, conv_id: str) -> list[dict[str, Any]]:
        return sorted((self.items[i] for i in self._by_conv.get(conv_id, ())),
                      key=lambda i: i["created_at"])

    def _save(self, item: dict[str, Any], flush: bool = False) -> None:
        self._index(item)
        if self.store is not None:
            self.store.put("outbox", item["id"], item)
            if flush:
                self.store.flush()
        for listener in self.listeners:
            listener(item)
