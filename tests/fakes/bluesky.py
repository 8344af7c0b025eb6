"""A fake Bluesky PDS (XRPC over HTTP on 127.0.0.1) built from the recorded fixtures.

Notifications are the recorded ``listNotifications`` response plus posts captured from the live
network by Jetstream (``jetstream_expected_v1.jsonl``), turned into mention/reply notifications
(and likes, which a client must filter out).  Sessions, token expiry, record keys, chat and faults
behave like the real service where the source depends on it.  ``posted`` is set whenever a
record or a chat message was stored; the faults ``create-then-hang`` (createRecord) and
``send-then-hang`` (sendMessage) store it and then hold the answer until the server stops, which
is what a client killed mid-request leaves behind.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from typing import Any

from .server import FIXTURES, FakeServer, Reply, Request

HANG = 3600.0  # seconds an answer is held back (the server's stop ends the wait)

BSKY = FIXTURES / "bluesky"
PASSWORD = "app-pass-word-s3cr"
ME = "did:plc:ec72yg6n2sydzjvtovvdlxrk"  # the account mentioned in the recorded notification


def recorded_notifications() -> dict:
    return json.loads((BSKY / "listNotificationsResponse.json").read_text(encoding="utf-8"))


def jetstream_posts() -> list[dict]:
    out = []
    for line in (BSKY / "jetstream_expected_v1.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        commit = event.get("commit") or {}
        if (event.get("kind") == "commit" and commit.get("operation") == "create"
                and commit.get("collection") == "app.bsky.feed.post"):
            out.append(event)
    return out


def _iso(time_us: int) -> str:
    t = time.gmtime(time_us / 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{(time_us // 1000) % 1000:03d}Z"


def xrpc_error(status: int, error: str, message: str, **headers: str) -> Reply:
    return Reply.json({"error": error, "message": message}, status, **headers)


class FakeBluesky(FakeServer):
    def __init__(self, *, chat_allowed: bool = True) -> None:
        super().__init__(self._route)
        self.lock = threading.Lock()
        self.chat_allowed = chat_allowed
        self.notifications: list[dict] = []  # newest first, as the service answers
        self.records: dict[str, dict] = {}  # rkey -> record
        self.faults: dict[str, deque] = {}
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.expired: set[str] = set()
        self.sessions = 0
        self._n = 0
        self.convo_messages: list[dict] = []  # the conversation, oldest first (ours included)
        self.sent_messages: list[dict] = []  # what sendMessage stored
        self.posted = threading.Event()
        self.chat_policy: dict[str, str] = {}  # did -> allowIncoming ("all", "following", "none")
        self.followers: set[str] = set()  # dids that follow the brand
        self.handles: dict[str, str] = {}  # handle -> did (resolveHandle)
        self.template = recorded_notifications()["notifications"][0]
        self.publish(copy.deepcopy(self.template))

    # --- the timeline ---------------------------------------------------------------------------

    def publish(self, *notes: dict) -> None:
        with self.lock:
            for note in notes:
                self.notifications.insert(0, note)

    def from_jetstream(self, event: dict, reason: str | None = None) -> dict:
        """A notification for a post captured from the live network."""
        commit = event["commit"]
        record = commit["record"]
        uri = f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}"
        return {
            "uri": uri, "cid": commit["cid"],
            "author": {"did": event["did"], "handle": f"{event['did'][8:20]}.bsky.social",
                       "displayName": ""},
            "reason": reason or ("reply" if record.get("reply") else "mention"),
            "record": record, "isRead": False, "indexedAt": _iso(event["time_us"]), "labels": [],
        }

    def mention(self, n: int, *, did: str | None = None, handle: str | None = None,
                indexed: float | None = None, created: float | None = None,
                text: str | None = None, name: str = "") -> dict:
        """A mention notification: post ``n`` by ``did`` (own DID per n by default), indexed
        by the service at epoch ``indexed`` (default now) and dated ``created`` by the
        customer's client (default: the same)."""
        did = did or f"did:plc:customer{n:06d}"
        indexed = time.time() if indexed is None else indexed
        created = indexed if created is None else created
        note = self.from_jetstream({
            "did": did, "time_us": int(indexed * 1e6), "kind": "commit",
            "commit": {"rkey": f"3kfake{n:08d}", "cid": f"bafyfake{n}",
                       "collection": "app.bsky.feed.post", "operation": "create",
                       "record": {"$type": "app.bsky.feed.post",
                                  "text": text or f"@sarcastabot.bsky.social help {n}",
                                  "createdAt": _iso(int(created * 1e6))}}})
        note["author"]["handle"] = handle or f"cust{n}.bsky.social"
        note["author"]["displayName"] = name
        return note

    def like(self, n: int) -> dict:
        note = copy.deepcopy(self.template)
        note["uri"] = f"at://did:plc:liker{n}/app.bsky.feed.like/3k{n:011d}"
        note["reason"] = "like"
        return note

    def served_uris(self) -> set[str]:
        with self.lock:
            return {n["uri"] for n in self.notifications if n["reason"] in
                    ("mention", "reply", "quote")}

    def expire_access(self) -> None:
        with self.lock:
            self.expired |= self.access

    def expire_all(self) -> None:
        with self.lock:
            self.expired |= self.access | self.refresh

    def fault(self, nsid: str, *replies: Reply | str) -> None:
        self.faults.setdefault(nsid, deque()).extend(replies)

    # --- routes ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": "3000", "RateLimit-Remaining": "2999",
                "RateLimit-Reset": str(int(time.time()) + 300), "RateLimit-Policy": "3000;w=300"}

    def _token(self, req: Request) -> str:
        return req.headers.get("authorization", "").removeprefix("Bearer ")

    def _route(self, req: Request) -> Reply:
        nsid = req.path.removeprefix("/xrpc/")
        queue = self.faults.get(nsid)
        fault = queue.popleft() if queue else None
        if isinstance(fault, Reply):
            return fault
        if nsid == "com.atproto.server.createSession":
            body = req.json()
            if body.get("password") != PASSWORD:
                return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
            return self._session()
        token = self._token(req)
        if nsid == "com.atproto.server.refreshSession":
            if token in self.expired or token not in self.refresh:
                return xrpc_error(400, "ExpiredToken", "Token has expired")
            self.refresh.discard(token)
            return self._session(count=False)
        if token in self.expired:
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        if token not in self.access:
            return xrpc_error(401, "InvalidToken", "Bad token")
        if req.headers.get("atproto-proxy"):
            return self._chat(nsid, req, fault)
        if nsid == "app.bsky.notification.listNotifications":
            if fault == "malformed":
                return Reply(200, b'{"notifications": [{"uri": ', {"Content-Type":
                                                                 "application/json"})
            return self._list(req)
        if nsid == "com.atproto.repo.createRecord":
            return self._create(req, fault)
        if nsid == "com.atproto.identity.resolveHandle":
            handle = req.arg("handle", "")
            if handle in self.handles:
                return Reply.json({"did": self.handles[handle]})
            return xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
        if nsid == "app.bsky.actor.getProfile":
            actor = req.arg("actor", "")
            allow = self.chat_policy.get(actor, "all")
            return Reply.json({"did": actor, "handle": f"{actor[8:]}.bsky.social",
                               "associated": {"chat": {"allowIncoming": allow}},
                               "viewer": {"followedBy": actor in self.followers}})
        if nsid == "com.atproto.repo.getRecord":
            rkey = req.arg("rkey")
            with self.lock:
                if rkey in self.records:
                    return Reply.json({"uri": self.records[rkey]["uri"], "cid": "bafyfake",
                                       "value": self.records[rkey]["record"]})
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {rkey}")
        return xrpc_error(404, "MethodNotImplemented", "Method Not Implemented")

    def _session(self, count: bool = True) -> Reply:
        with self.lock:
            if count:
                self.sessions += 1
            self._n += 1
            access, refresh = f"access-{self._n}", f"refresh-{self._n}"
            self.access.add(access)
            self.refresh.add(refresh)
        return Reply.json({"did": ME, "handle": "sarcastabot.bsky.social", "accessJwt": access,
                           "refreshJwt": refresh, "active": True}, **self._headers())

    def _list(self, req: Request) -> Reply:
        limit = int(req.arg("limit", "50"))
        start = int(req.arg("cursor", "0"))
        reasons = set(req.query.get("reasons", []))
        with self.lock:
            items = [n for n in self.notifications if not reasons or n["reason"] in reasons
                     or n["reason"] == "like"]  # this server ignores the filter for likes
        page = [self._viewed(n) for n in items[start:start + limit]]
        body: dict[str, Any] = {"notifications": page, "priority": False,
                                "seenAt": "2024-01-01T00:00:00.000Z"}
        if start + limit < len(items):
            body["cursor"] = str(start + limit)
        return Reply.json(body, **self._headers())

    def _viewed(self, note: dict) -> dict:
        """The notification as the AppView answers it now: an author whose chat setting or
        follow is set here gets ``associated.chat.allowIncoming`` and ``viewer.followedBy`` as
        they stand at this request (the recorded ProfileViewBasic shape); others as stored."""
        did = (note.get("author") or {}).get("did")
        if did not in self.chat_policy and did not in self.followers:
            return note
        note = copy.deepcopy(note)
        author = note["author"]
        allow = self.chat_policy.get(did)
        if allow is None:
            author.pop("associated", None)  # no chat declaration: the default, "following"
        else:
            author["associated"] = {"chat": {"allowIncoming": allow}}
        viewer = {k: v for k, v in (author.get("viewer") or {"muted": False, "blockedBy": False}
                                    ).items() if k != "followedBy"}
        if did in self.followers:
            viewer["followedBy"] = f"at://{did}/app.bsky.graph.follow/3kfollow"
        author["viewer"] = viewer
        return note

    def _create(self, req: Request, fault: Any) -> Reply:
        body = req.json()
        rkey = body["rkey"]
        with self.lock:
            if rkey in self.records:
                return xrpc_error(400, "InvalidRequest", "Record already exists")
            uri = f"at://{ME}/app.bsky.feed.post/{rkey}"
            self.records[rkey] = {"uri": uri, "record": body["record"], "repo": body["repo"]}
        self.posted.set()
        if fault == "create-then-500":
            return xrpc_error(500, "InternalServerError", "Internal Server Error")
        return _held(Reply.json({"uri": uri, "cid": "bafyreifake"}, **self._headers()),
                     fault == "create-then-hang")

    def _chat(self, nsid: str, req: Request, fault: Any = None) -> Reply:
        if req.headers.get("atproto-proxy") != "did:web:api.bsky.chat#bsky_chat":
            return xrpc_error(400, "InvalidRequest", "bad proxy")
        if not self.chat_allowed:
            return xrpc_error(401, "InvalidToken", "Bad token scope")
        member = {"did": "did:plc:customer1", "handle": "rider.bsky.social",
                  "displayName": "A Rider"}
        if nsid == "chat.bsky.convo.listConvos":
            last = self.convo_messages[-1] if self.convo_messages else None
            convo = {"id": "convo1", "rev": "1", "members": [member, {"did": ME}],
                     "unreadCount": 1}
            if last:
                convo["lastMessage"] = last
            return Reply.json({"convos": [convo] if last else []})
        if nsid == "chat.bsky.convo.getMessages":
            # Newest first, paged by cursor, like the chat service.
            limit, start = int(req.arg("limit", "50")), int(req.arg("cursor", "0"))
            with self.lock:
                newest_first = list(reversed(self.convo_messages))
            body: dict[str, Any] = {"messages": newest_first[start:start + limit]}
            if start + limit < len(newest_first):
                body["cursor"] = str(start + limit)
            return Reply.json(body)
        if nsid == "chat.bsky.convo.getConvoForMembers":
            wanted = req.arg("members", "")
            policy = self.chat_policy.get(wanted, "all")
            if policy == "none" or (policy == "following" and wanted not in self.followers):
                return xrpc_error(400, "InvalidRequest",
                                  "recipient requires incoming messages to come from someone "
                                  "they follow")
            return Reply.json({"convo": {"id": "convo1", "members": [member]}})
        if nsid == "chat.bsky.convo.sendMessage":
            body = req.json()
            with self.lock:
                n = len(self.sent_messages) + 1
                msg = {"$type": "chat.bsky.convo.defs#messageView", "id": f"msg{n}",
                       "rev": f"r{n}", "text": body["message"]["text"],
                       "convoId": body["convoId"], "sender": {"did": ME},
                       "sentAt": _iso(time.time_ns() // 1000)}
                self.sent_messages.append(msg)
                self.convo_messages.append(msg)
            self.posted.set()
            return _held(Reply.json(msg), fault == "send-then-hang")
        return xrpc_error(404, "MethodNotImplemented", "Method Not Implemented")


def _held(reply: Reply, hang: bool) -> Reply:
    if hang:
        reply.delay = HANG
    return reply
