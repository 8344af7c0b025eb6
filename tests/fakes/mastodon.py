"""A fake Mastodon server built from the recorded cassettes in ``tests/fixtures/mastodon``.

It serves the recorded responses (bodies and headers as recorded: ``Link``, ``X-RateLimit-*``),
grown into a timeline of many notifications by cloning the recorded one, with Mastodon's paging
semantics (``min_id``/``max_id``/``limit``, ``Link`` rel next/prev), a scripted SSE stream per
connection, ``Idempotency-Key`` de-duplication on ``POST /api/v1/statuses`` (``expire_keys``
forgets them, as Mastodon does after an hour), the account's own statuses
(``GET /api/v1/accounts/:id/statuses``), and faults a test queues: status codes, malformed bodies,
slow answers, and ``create-then-hang`` (the post is stored, the answer never comes: what a client
killed mid-request sees).
"""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from .server import DROP, FIXTURES, FakeServer, Pause, Reply, Request

CASSETTES = FIXTURES / "mastodon"


def cassette(name: str) -> list[dict]:
    return yaml.safe_load((CASSETTES / name).read_text(encoding="utf-8"))["interactions"]


def recorded(name: str, method: str, path_part: str) -> dict:
    for interaction in cassette(name):
        req = interaction["request"]
        if req["method"] == method and path_part in req["uri"]:
            return interaction["response"]
    raise LookupError(f"{name}: no {method} {path_part}")


def recorded_json(name: str, method: str, path_part: str) -> Any:
    return json.loads(recorded(name, method, path_part)["body"]["string"])


def recorded_headers(response: dict) -> dict[str, str]:
    keep = ("content-type", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
            "cache-control", "vary")
    return {k: v[0] for k, v in response["headers"].items() if k.lower() in keep}


def stream_body() -> str:
    """The recorded raw SSE body of ``/api/v1/streaming/direct`` (``:)``, a conversation event)."""
    return recorded("test_stream_direct.yaml", "GET", "/streaming/")["body"]["string"]


def sid(n: int) -> str:
    return str(117020577157693549 + n * 1000)


class FakeMastodon(FakeServer):
    """``notifications`` holds the server's notifications (oldest first); ``publish`` adds one."""

    def __init__(self) -> None:
        super().__init__(self._route)
        self.me = recorded_json("test_notifications_mentions_only.yaml", "GET",
                                "/notifications?")[0]["status"]["mentions"][0]
        self._template = recorded_json("test_notifications_mentions_only.yaml", "GET",
                                       "/notifications?")[0]
        self._rest_headers = recorded_headers(
            recorded("test_notifications_mentions_only.yaml", "GET", "/notifications?"))
        self.verify = recorded_json("test_status_reply.yaml", "GET", "verify_credentials")
        self.verify["id"] = self.me["id"]
        self.verify["acct"] = self.me["acct"]
        self.conversations: list[dict] = []
        self.max_characters = 500  # /api/v2/instance configuration.statuses
        self.notifications: list[dict] = []
        self.streams: deque[list[Any]] = deque()  # one script per stream connection
        self.faults: dict[str, deque[Reply | str]] = {}  # path -> queued faults
        self.statuses: dict[str, dict] = {}  # created by POST
        self.idempotency: dict[str, dict] = {}
        self.posted = threading.Event()  # set when a POST /api/v1/statuses was handled
        self.lock = threading.Lock()
        self._next_status = 900
        self.status_template = recorded_json("test_status_reply.yaml", "POST", "/statuses")

    # --- building the timeline ------------------------------------------------------------------

    def notification(self, n: int, *, text: str | None = None, status: bool = True,
                     visibility: str = "public", reply_to: str | None = None,
                     at: datetime | None = None, account: str | None = None,
                     kind: str = "mention") -> dict:
        """Notification ``n`` (ids grow with n), notified ``at`` (default: now); ``account``
        gives it its own author (``acct`` and id derived from the name)."""
        note = copy.deepcopy(self._template)
        note["id"] = str(100 + n)
        note["type"] = kind
        note["created_at"] = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if at is not None and note.get("status"):
            note["status"]["created_at"] = note["created_at"]
        if account is not None:
            acc = {**note["account"], "acct": account, "username": account.split("@")[0],
                   "id": str(abs(hash(account)) % 10**15),
                   "uri": f"https://remote.example/users/{account}",
                   "display_name": account.title()}
            note["account"] = acc
            if note.get("status"):
                note["status"]["account"] = copy.deepcopy(acc)
        note["group_key"] = f"ungrouped-{100 + n}"
        if not status:
            note["status"] = None
            return note
        st = note["status"]
        st["id"] = sid(n)
        st["visibility"] = visibility
        st["in_reply_to_id"] = reply_to
        st["url"] = f"http://localhost:3000/@admin/{sid(n)}"
        st["content"] = (f'<p><span class="h-card"><a href="http://localhost:3000/@mastodonpy_test"'
                         f' class="u-url mention">@<span>mastodonpy_test</span></a></span> '
                         f"{text or f'hello number {n}!'}</p>")
        return note

    def publish(self, *notes: dict) -> None:
        with self.lock:
            self.notifications.extend(notes)

    def served_status_ids(self) -> set[str]:
        with self.lock:
            out = {n["status"]["id"] for n in self.notifications if n.get("status")}
            out |= {c["last_status"]["id"] for c in self.conversations}
        return out

    def expire_keys(self) -> None:
        """Forget every Idempotency-Key (Mastodon keeps them for one hour)."""
        with self.lock:
            self.idempotency.clear()

    def fault(self, path: str, *replies: Reply | str) -> None:
        """Queue faults for ``path``: a Reply, or 'malformed' / 'create-then-500' /
        'create-then-hang'."""
        self.faults.setdefault(path, deque()).extend(replies)

    def _fault(self, path: str) -> Reply | str | None:
        queue = self.faults.get(path)
        return queue.popleft() if queue else None

    # --- routes ---------------------------------------------------------------------------------

    def _route(self, req: Request) -> Reply:
        if req.headers.get("authorization") != "Bearer test-token-s3cret":
            return Reply.json({"error": "The access token is invalid"}, 401)
        fault = self._fault(req.path)
        if isinstance(fault, Reply):
            return fault
        if req.path == "/api/v1/accounts/verify_credentials":
            return Reply.json(self.verify, **self._rest_headers)
        if req.path == "/api/v2/instance":
            return Reply.json({"domain": "localhost", "configuration": {"statuses": {
                "max_characters": self.max_characters,
                "characters_reserved_per_url": 23}}})
        if req.path == "/api/v1/notifications":
            if fault == "malformed":
                broken = b'[{"id": "1", "type": "mention", "status": {'
                return Reply(200, broken, self._rest_headers)
            types = req.query.get("types[]")
            with self.lock:
                items = [n for n in self.notifications if not types or n["type"] in types]
            return self._page(req, items, lambda n: n["id"], "/api/v1/notifications")
        if req.path == "/api/v1/conversations":
            with self.lock:
                items = list(self.conversations)
            return self._page(req, items, lambda c: c["last_status"]["id"],
                              "/api/v1/conversations")
        if req.path == "/api/v1/streaming/user":
            script = self.streams.popleft() if self.streams else [Pause(30)]
            return Reply(200, self._play(script), {"Content-Type": "text/event-stream"})
        if (req.path.startswith("/api/v1/statuses/") and req.method == "GET"
                and req.path.count("/") == 4):
            wanted = req.path.rsplit("/", 1)[1]
            with self.lock:
                found = [n["status"] for n in self.notifications
                         if n.get("status") and n["status"]["id"] == wanted]
            if found:
                return Reply.json(found[-1], **self._rest_headers)
            return Reply.json({"error": "Record not found"}, 404)
        if req.path.startswith("/api/v1/statuses/") and req.path.endswith("/context"):
            return Reply.json(recorded_json("test_entity_context.yaml", "GET", "/context"))
        if req.path == "/api/v1/statuses" and req.method == "POST":
            return self._post_status(req, fault)
        if req.path == f"/api/v1/accounts/{self.verify['id']}/statuses":
            return self._own_statuses(req)
        return Reply.json({"error": "Record not found"}, 404)

    def _page(self, req: Request, items: list[dict], key: Any, path: str) -> Reply:
        order = sorted(items, key=lambda i: (len(key(i)), key(i)))  # oldest first
        limit = int(req.arg("limit", "20"))
        min_id, max_id = req.arg("min_id"), req.arg("max_id")

        def newer(a: str, b: str) -> bool:
            return (len(a), a) > (len(b), b)

        if max_id:
            order = [i for i in order if newer(max_id, key(i))]
        if min_id:
            page = [i for i in order if newer(key(i), min_id)][:limit]
        else:
            page = order[-limit:]
        page = list(reversed(page))  # Mastodon answers newest first
        headers = dict(self._rest_headers)
        if page:
            base = f"{self.url}{path}?types%5B%5D=mention&limit={limit}"
            headers["Link"] = (f'<{base}&max_id={key(page[-1])}>; rel="next", '
                               f'<{base}&min_id={key(page[0])}>; rel="prev"')
        return Reply(200, json.dumps(page).encode(), headers)

    def _play(self, script: Iterable[Any]) -> Iterable[Any]:
        """Stream chunks; a ``("publish", note)`` step adds a notification to REST first."""
        for step in script:
            if isinstance(step, tuple) and step[0] == "publish":
                self.publish(step[1])
                continue
            yield step

    def _post_status(self, req: Request, fault: Reply | str | None) -> Reply:
        key = req.headers.get("idempotency-key")
        form = req.form()
        with self.lock:
            if key and key in self.idempotency:
                return Reply.json(self.idempotency[key], **self._rest_headers)
            status = copy.deepcopy(self.status_template)
            self._next_status += 1
            status["id"] = str(117020600000000000 + self._next_status)
            status["content"] = f"<p>{form.get('status', '')}</p>"
            status["visibility"] = form.get("visibility", "public")
            status["in_reply_to_id"] = form.get("in_reply_to_id")
            status["created_at"] = _now_iso()
            status["account"] = {**status["account"], "id": self.verify["id"],
                                 "acct": self.verify["acct"]}
            self.statuses[status["id"]] = {"form": form, "key": key, "status": status}
            if key:
                self.idempotency[key] = status
        self.posted.set()
        if fault == "create-then-500":  # posted, but the answer was lost (a proxy timeout)
            return Reply.json({"error": "Internal server error"}, 500)
        if fault == "create-then-hang":  # posted; the answer waits until the server stops
            held = Reply.json(status, **self._rest_headers)
            held.delay = HANG
            return held
        return Reply.json(status, **self._rest_headers)

    def _own_statuses(self, req: Request) -> Reply:
        """The account's statuses, newest first, paged with ``max_id`` like Mastodon."""
        with self.lock:
            mine = sorted((s["status"] for s in self.statuses.values()),
                          key=lambda s: (len(s["id"]), s["id"]), reverse=True)
        max_id = req.arg("max_id")
        if max_id:
            mine = [s for s in mine if (len(s["id"]), s["id"]) < (len(max_id), max_id)]
        page = mine[:int(req.arg("limit", "20"))]
        headers = dict(self._rest_headers)
        if page:
            path = f"/api/v1/accounts/{self.verify['id']}/statuses"
            headers["Link"] = f'<{self.url}{path}?max_id={page[-1]["id"]}>; rel="next"'
        return Reply(200, json.dumps(page).encode(), headers)


HANG = 3600.0  # seconds an answer is held back (the server's stop ends the wait)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sse(event: str, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n"


def reset_in(seconds: float) -> str:
    """An ``X-RateLimit-Reset`` value as Mastodon writes it (ISO 8601 with microseconds)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["DROP", "FakeMastodon", "Pause", "Reply", "reset_in", "sse", "stream_body"]
