"""Bluesky: mentions, replies and quotes by polling ``listNotifications``; chat DMs where the
account allows; replies posted as records with a record key derived from the outbox item id.

``createSession`` is limited (30 per 5 minutes, 300 per day), so the session is created once and
kept in memory; an expired access token is renewed with ``refreshSession``.  ``listNotifications``
has no "since": each poll pages back (cursor) until it reaches what it already saw, tracking the
newest ``indexedAt`` and de-duplicating by post uri.

A reply's record key is a TID computed from the outbox item (its creation time and id), so a post
retried after a crash or a lost answer names the same record: the server refuses a second one and
the source answers with the uri of the first.

Chat messages (``chat.bsky.convo.sendMessage``) take no idempotency key.  So a DM item sent again
(``attempts`` > 1: a crash or a lost answer left it unconfirmed) first reads the conversation's
recent messages, and if one *from us* with the same text was sent at or after the item was
created, that message is the answer and nothing is sent again.  The check compares the chat
server's ``sentAt`` with the desk's clock: the undo hold (``undo_seconds``, 10 s by default) lies
between the two, so only a local clock running ahead of the server's by more than that could
make the check miss (and then a DM goes out twice rather than not at all).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from datetime import datetime
from typing import Any

import httpx

from ..core.model import DIRECT, PUBLIC, Author, Mention, parse_time, utcnow
from ..core.replies import count_graphemes
from ..core.text import MAX_TEXT, clean_name, clean_text
from .base import (
    CONNECTING,
    FAILED,
    LIVE,
    RATE_LIMITED,
    RETRYING,
    ContextUnavailable,
    DeliveryError,
    Emit,
    Source,
)
from .http import (
    AuthError,
    Backoff,
    PayloadError,
    RateLimit,
    RateLimited,
    SeenIds,
    ServerError,
    SourceConfigError,
    describe_error,
    error_message,
    make_client,
    parse_json,
    read_body,
    retry_at,
    sleep_until,
    until_text,
)

log = logging.getLogger("mentiondesk.sources.bluesky")

PASSWORD_ENV = "MENTIONDESK_BLUESKY_PASSWORD"
REASONS = ("mention", "reply", "quote")
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
MAX_GRAPHEMES = 300
DM_CHECK_PAGES = 4  # pages of 50 messages a re-sent DM looks back through for its first send
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid_for(item_id: str, created_at: object = None) -> str:
    """A valid TID record key computed from an outbox item: 53 bits of microseconds since the
    epoch (the item's creation time) and a 10-bit "clock id" from a hash of its id."""
    digest = int.from_bytes(hashlib.sha256(str(item_id).encode()).digest()[:8], "big")
    try:
        micros = int(parse_time(created_at).timestamp() * 1_000_000)
    except (ValueError, TypeError):
        micros = digest >> 11  # no time: still deterministic, still a valid TID
    value = ((micros & ((1 << 53) - 1)) << 10) | (digest & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error = status, error


class BlueskySource(Source):
    """``bluesky:HANDLE``: one account's mentions, replies and quotes, and its chat DMs."""

    def __init__(
        self,
        handle: str,
        *,
        password: str | None = None,
        service: str = "https://bsky.social",
        poll_seconds: float = 30.0,
        timeout: float = 10.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        page_limit: int = 50,
        max_pages: int = 10,
        dms: bool = True,
        seen_limit: int = 10_000,
        name: str | None = None,
    ) -> None:
        super().__init__()
        handle = handle.strip().lstrip("@")
        if not handle or "/" in handle:
            raise SourceConfigError(
                f"bluesky source needs a handle like bluesky:northline.example, not {handle!r}")
        secret = password or os.environ.get(PASSWORD_ENV)
        if not secret:
            raise SourceConfigError(
                f"no Bluesky app password: set {PASSWORD_ENV} (create one under Settings → "
                "Privacy and security → App passwords; allow DMs for direct messages)")
        self.name = name or f"bluesky:{handle}"
        self.handle = handle
        self.service = service.rstrip("/")
        self.poll_seconds = poll_seconds
        self.page_limit = min(100, page_limit)
        self.max_pages = max_pages
        self.dms = dms
        self._password = secret
        self._access: str | None = None
        self._refresh: str | None = None
        self.did: str | None = None
        self._client = make_client(self.service, timeout=timeout)
        self._backoff = Backoff(backoff_base, backoff_cap)
        self._rate = RateLimit()
        self._seen = SeenIds(seen_limit)
        self._newest: str | None = None  # indexedAt of the newest notification seen
        self._dm_newest: dict[str, str] = {}  # convo id -> sentAt of the newest message seen
        self.dm_unavailable: str | None = None
        self.sessions_created = 0

    def __repr__(self) -> str:  # never the password or the tokens
        return f"BlueskySource({self.name!r})"

    # --- session --------------------------------------------------------------------------------

    async def _login(self) -> None:
        body = await self._call("POST", "com.atproto.server.createSession",
                                json={"identifier": self.handle, "password": self._password},
                                auth=None)
        self.sessions_created += 1
        self._take_session(body)

    def _take_session(self, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("accessJwt") or not body.get("refreshJwt"):
            raise PayloadError("session answer without tokens")
        self._access, self._refresh = body["accessJwt"], body["refreshJwt"]
        self.did = str(body.get("did") or self.did or "")

    async def _renew(self) -> None:
        """refreshSession while the refresh token works; createSession only when it does not."""
        if self._refresh:
            try:
                body = await self._call("POST", "com.atproto.server.refreshSession",
                                        auth=self._refresh)
                self._take_session(body)
                return
            except XrpcError as exc:
                if exc.error not in ("ExpiredToken", "InvalidToken") and exc.status != 401:
                    raise
                self._refresh = None
        await self._login()

    async def _xrpc(self, method: str, nsid: str, *, params: Any = None, json: Any = None,
                    proxy: str | None = None) -> Any:
        """A call with the session: renewed once on ExpiredToken."""
        if self._access is None:
            await self._login()
        try:
            return await self._call(method, nsid, params=params, json=json, auth=self._access,
                                    proxy=proxy)
        except XrpcError as exc:
            if exc.error != "ExpiredToken":
                raise
        await self._renew()
        return await self._call(method, nsid, params=params, json=json, auth=self._access,
                                proxy=proxy)

    async def _call(self, method: str, nsid: str, *, params: Any = None, json: Any = None,
                    auth: str | None, proxy: str | None = None) -> Any:
        wait = self._rate.wait_until()
        if wait is not None:
            raise RateLimited(wait)
        headers = {}
        if auth:
            headers["Authorization"] = f"Bearer {auth}"
        if proxy:
            headers["atproto-proxy"] = proxy
        async with self._client.stream(method, f"/xrpc/{nsid}", params=params, json=json,
                                       headers=headers) as response:
            self._rate.update(response.headers)
            if response.status_code == 429:
                raise RateLimited(retry_at(response))
            if response.status_code >= 500:
                await response.aread()
                raise ServerError(error_message(response))
            if response.status_code >= 400:
                await response.aread()
                error = ""
                try:
                    error = str(response.json().get("error") or "")
                except (ValueError, AttributeError):
                    pass
                raise XrpcError(response.status_code, error, error_message(response))
            body = await read_body(response)
        return parse_json(body) if body else {}

    # --- running -------------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        while True:
            try:
                if self.status.state != LIVE:
                    self.status.set(CONNECTING, "signing in" if self._access is None
                                    else "reconnecting")
                await self._poll(emit)
                self._backoff.reset()
                await asyncio.sleep(self.poll_seconds)
                continue
            except asyncio.CancelledError:
                raise
            except AuthError as exc:
                self.status.set(FAILED, str(exc))
                log.error("%s: %s", self.name, exc)
                return
            except RateLimited as exc:
                self.status.set(RATE_LIMITED, f"rate limited until {until_text(exc.until)}")
                await sleep_until(exc.until)
                continue
            except (httpx.HTTPError, ServerError, PayloadError, XrpcError) as exc:
                detail = describe_error(exc)
                self.status.set(RETRYING, f"{detail}; retrying")
                log.warning("%s: %s", self.name, detail)
            await asyncio.sleep(self._backoff.next())

    async def poll(self, emit: Emit) -> None:
        """One poll (the ``once`` mode): faults end up in the status, never raised."""
        try:
            await self._poll(emit)
        except asyncio.CancelledError:
            raise
        except AuthError as exc:
            self.status.set(FAILED, str(exc))
        except RateLimited as exc:
            self.status.set(RATE_LIMITED, f"rate limited until {until_text(exc.until)}")
        except (httpx.HTTPError, ServerError, PayloadError, XrpcError) as exc:
            self.status.set(RETRYING, describe_error(exc))

    async def _poll(self, emit: Emit) -> None:
        try:
            await self._poll_notifications(emit)
        except XrpcError as exc:
            if exc.status == 401 or exc.error in ("AuthenticationRequired", "InvalidToken"):
                raise AuthError(f"Bluesky refused the app password for {self.handle}: "
                                f"{exc}") from None
            raise
        if self.dms and self.dm_unavailable is None:
            await self._poll_chats(emit)
        detail = f"polling every {self.poll_seconds:g} s"
        if self.dm_unavailable:
            detail += f"; DMs unavailable ({self.dm_unavailable})"
        self.status.set(LIVE, detail)

    async def _poll_notifications(self, emit: Emit) -> None:
        cursor: str | None = None
        newest = self._newest
        for _ in range(self.max_pages):
            params: list[tuple[str, str]] = [("limit", str(self.page_limit))]
            params += [("reasons", r) for r in REASONS]
            if cursor:
                params.append(("cursor", cursor))
            body = await self._xrpc("GET", "app.bsky.notification.listNotifications",
                                    params=params)
            if not isinstance(body, dict) or not isinstance(body.get("notifications"), list):
                self._skip("listNotifications answer without 'notifications'")
                raise PayloadError("listNotifications answer without 'notifications'")
            batch: list[Mention] = []
            reached_seen = False
            for note in body["notifications"]:
                if not isinstance(note, dict):
                    self._skip("notification is not an object")
                    continue
                indexed = str(note.get("indexedAt") or "")
                if self._newest and indexed and _when(indexed) <= _when(self._newest):
                    reached_seen = True
                if indexed and (newest is None or _when(indexed) > _when(newest)):
                    newest = indexed
                if note.get("reason") not in REASONS:
                    continue
                mention = self._from_notification(note)
                if mention is not None and mention.id not in self._seen:
                    self._seen.add(mention.id, mention)
                    batch.append(mention)
            self._emit(emit, batch)
            cursor = body.get("cursor")
            # The first poll takes one page (the backlog is history); later polls page back
            # until they reach notifications they already saw.
            if self._newest is None or reached_seen or not cursor or not body["notifications"]:
                break
        self._newest = newest

    def _from_notification(self, note: dict) -> Mention | None:
        try:
            record = note["record"]
            author = note["author"]
            uri, cid = str(note["uri"]), str(note["cid"])
            reply = record.get("reply") or {}
            root = reply.get("root") or {}
            parent = reply.get("parent") or {}
            raw = f"{uri} {cid}"
            if root.get("uri") and root.get("cid"):
                raw += f" {root['uri']} {root['cid']}"
            langs = record.get("langs") or []
            language = clean_name(langs[0], 16) if langs else None
            handle = clean_name(author.get("handle") or author.get("did"))
            rkey = uri.rsplit("/", 1)[-1]
            return Mention(
                id=clean_name(uri, 200),
                source=self.name,
                channel=PUBLIC,
                author=Author(handle=handle, name=clean_name(author.get("displayName") or ""),
                              language=language),
                text=clean_text(record.get("text") or "", MAX_TEXT),
                created_at=parse_time(record.get("createdAt") or note["indexedAt"]),
                received_at=utcnow(),
                in_reply_to=clean_name(parent["uri"], 200) if parent.get("uri") else None,
                thread=clean_name(root.get("uri") or uri, 200),
                url=clean_name(f"https://bsky.app/profile/{handle}/post/{rkey}", 500),
                raw_id=clean_name(raw, 400),
                language=language,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._skip(f"notification: {type(exc).__name__} {exc}")
            return None

    # --- chat (DMs) -----------------------------------------------------------------------------

    def _chat_refused(self, exc: XrpcError) -> bool:
        if exc.status in (401, 403) or exc.error in ("InvalidToken", "AuthMissing",
                                                     "MethodNotImplemented"):
            self.dm_unavailable = clean_name(f"{exc}", 160)
            log.warning("%s: DMs unavailable: %s", self.name, self.dm_unavailable)
            return True
        return False

    async def _poll_chats(self, emit: Emit) -> None:
        try:
            body = await self._xrpc("GET", "chat.bsky.convo.listConvos",
                                    params={"limit": "50"}, proxy=CHAT_PROXY)
        except XrpcError as exc:
            if self._chat_refused(exc):
                return
            raise
        for convo in (body.get("convos") or []) if isinstance(body, dict) else []:
            if not isinstance(convo, dict) or not convo.get("id"):
                continue
            last = convo.get("lastMessage") or {}
            sent = str(last.get("sentAt") or "")
            known = self._dm_newest.get(convo["id"])
            if not sent or (known and _when(sent) <= _when(known)):
                continue
            await self._poll_convo(convo, emit)

    async def _poll_convo(self, convo: dict, emit: Emit) -> None:
        cid = str(convo["id"])
        members = {m.get("did"): m for m in convo.get("members") or [] if isinstance(m, dict)}
        body = await self._xrpc("GET", "chat.bsky.convo.getMessages",
                                params={"convoId": cid, "limit": "50"}, proxy=CHAT_PROXY)
        known = self._dm_newest.get(cid)
        newest = known
        batch = []
        for msg in reversed(body.get("messages") or []) if isinstance(body, dict) else []:
            if not isinstance(msg, dict) or not msg.get("id") or "text" not in msg:
                continue  # deleted messages have no text
            sent = str(msg.get("sentAt") or "")
            if newest is None or (sent and _when(sent) > _when(newest)):
                newest = sent
            sender = (msg.get("sender") or {}).get("did")
            if sender == self.did:
                continue
            mid = f"chat:{cid}/{msg['id']}"
            if mid in self._seen:
                continue
            profile = members.get(sender) or {}
            try:
                mention = Mention(
                    id=clean_name(mid, 200), source=self.name, channel=DIRECT,
                    author=Author(handle=clean_name(profile.get("handle") or sender or "unknown"),
                                  name=clean_name(profile.get("displayName") or "")),
                    text=clean_text(msg["text"], MAX_TEXT),
                    created_at=parse_time(sent), received_at=utcnow(),
                    thread=clean_name(f"chat:{cid}", 200), raw_id=clean_name(f"chat {cid}", 200))
            except (ValueError, TypeError) as exc:
                self._skip(f"chat message: {exc}")
                continue
            self._seen.add(mid, mention)
            batch.append(mention)
        if newest:
            self._dm_newest[cid] = newest
        self._emit(emit, batch)

    # --- helpers --------------------------------------------------------------------------------

    def _emit(self, emit: Emit, batch: list[Mention]) -> None:
        if batch:
            self.status.received += len(batch)
            emit(batch)

    def _skip(self, reason: str) -> None:
        self.status.skipped += 1
        log.warning("%s: skipped %s", self.name, clean_name(reason, 300))

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- context and delivery -------------------------------------------------------------------

    async def context(self, mention: Mention) -> list[Mention]:
        if mention.channel == DIRECT:
            return []
        uri = (mention.raw_id or mention.id).split(" ")[0]
        try:
            body = await self._xrpc("GET", "app.bsky.feed.getPostThread",
                                    params={"uri": uri, "depth": "6", "parentHeight": "20"})
        except (httpx.HTTPError, ServerError, PayloadError, XrpcError, RateLimited) as exc:
            log.warning("%s: thread of %s: %s", self.name, uri, describe_error(exc))
            raise ContextUnavailable(describe_error(exc)) from exc
        out: list[Mention] = []

        def walk(node: Any, up: bool) -> None:
            if not isinstance(node, dict) or not isinstance(node.get("post"), dict):
                return
            post = node["post"]
            m = self._from_notification({**post, "indexedAt": post.get("indexedAt")})
            if m is not None and m.id != mention.id:
                out.append(m)
            if up:
                walk(node.get("parent"), True)
            for child in node.get("replies") or []:
                walk(child, False)

        thread = body.get("thread") if isinstance(body, dict) else None
        if isinstance(thread, dict):
            walk(thread.get("parent"), True)
            for child in thread.get("replies") or []:
                walk(child, False)
        out.sort(key=lambda m: m.created_at)
        return out

    async def deliver(self, item: dict) -> str:
        text = str(item.get("text") or "")
        if count_graphemes(text) > MAX_GRAPHEMES:
            raise DeliveryError(f"Bluesky posts are limited to {MAX_GRAPHEMES} characters; this "
                                f"one has {count_graphemes(text)}", retry=False)
        try:
            if item.get("kind") == "dm" or item.get("channel") == DIRECT:
                return await self._send_dm(item, text)
            return await self._post(item, text)
        except DeliveryError:
            raise
        except RateLimited as exc:
            raise DeliveryError(f"rate limited until {until_text(exc.until)}", retry=True,
                                retry_after=(exc.until - utcnow()).total_seconds()) from None
        except (httpx.HTTPError, ServerError) as exc:
            raise DeliveryError(f"{describe_error(exc)} while posting", retry=True) from None
        except PayloadError as exc:
            raise DeliveryError(str(exc), retry=True) from None
        except XrpcError as exc:
            raise DeliveryError(str(exc), retry=False) from None

    async def _post(self, item: dict, text: str) -> str:
        if self._access is None:
            await self._login()
        rkey = tid_for(item["id"], item.get("created_at"))
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": _iso_now()}
        raw = str(item.get("in_reply_to_raw") or "").split()
        if len(raw) >= 2:
            parent = {"uri": raw[0], "cid": raw[1]}
            root = {"uri": raw[2], "cid": raw[3]} if len(raw) >= 4 else parent
            record["reply"] = {"root": root, "parent": parent}
        try:
            body = await self._xrpc("POST", "com.atproto.repo.createRecord", json={
                "repo": self.did, "collection": "app.bsky.feed.post", "rkey": rkey,
                "record": record})
        except XrpcError as exc:
            if exc.status in (400, 409):
                existing = await self._existing(rkey)
                if existing:
                    return existing  # posted before (a retry after a crash or lost answer)
            raise
        if not isinstance(body, dict) or not body.get("uri"):
            raise PayloadError("createRecord answered without a uri")
        return clean_name(body["uri"], 400)

    async def _existing(self, rkey: str) -> str | None:
        try:
            body = await self._xrpc("GET", "com.atproto.repo.getRecord", params={
                "repo": self.did, "collection": "app.bsky.feed.post", "rkey": rkey})
        except XrpcError:
            return None
        return clean_name(body["uri"], 400) if isinstance(body, dict) and body.get("uri") else None

    async def _send_dm(self, item: dict, text: str) -> str:
        if not self.dms or self.dm_unavailable:
            raise DeliveryError(
                "Bluesky DMs are unavailable for this account"
                + (f" ({self.dm_unavailable})" if self.dm_unavailable else "")
                + ": use an app password that allows direct messages, or reply publicly",
                retry=False)
        if self._access is None:
            await self._login()
        raw = str(item.get("in_reply_to_raw") or "").split()
        try:
            if raw and raw[0] == "chat" and len(raw) > 1:
                convo_id = raw[1]
            else:
                member = await self._member_did(item, raw)
                body = await self._xrpc("GET", "chat.bsky.convo.getConvoForMembers",
                                        params={"members": member}, proxy=CHAT_PROXY)
                convo_id = body["convo"]["id"]
            if int(item.get("attempts") or 0) > 1:
                earlier = await self._sent_already(str(convo_id), text, item.get("created_at"))
                if earlier is not None:
                    return clean_name(f"chat:{convo_id}/{earlier}", 200)
            body = await self._xrpc("POST", "chat.bsky.convo.sendMessage",
                                    json={"convoId": convo_id, "message": {"text": text}},
                                    proxy=CHAT_PROXY)
        except XrpcError as exc:
            if self._chat_refused(exc):
                raise DeliveryError(f"Bluesky DMs are unavailable for this account "
                                    f"({self.dm_unavailable})", retry=False) from None
            raise
        except (KeyError, TypeError):
            raise PayloadError("chat answer without a conversation id") from None
        return clean_name(f"chat:{convo_id}/{body.get('id', '')}", 200)

    async def _sent_already(self, convo_id: str, text: str, created_at: object) -> str | None:
        """The id of a message from us with ``text`` sent at or after ``created_at`` in the
        conversation's recent messages (newest first), or None."""
        try:
            since = parse_time(created_at)
        except (ValueError, TypeError):
            return None  # no creation time: nothing tells an earlier send from an older message
        wanted = text.strip()
        cursor: str | None = None
        for _ in range(DM_CHECK_PAGES):
            params = {"convoId": convo_id, "limit": "50"}
            if cursor:
                params["cursor"] = cursor
            body = await self._xrpc("GET", "chat.bsky.convo.getMessages", params=params,
                                    proxy=CHAT_PROXY)
            messages = body.get("messages") if isinstance(body, dict) else None
            if not isinstance(messages, list):
                raise PayloadError("getMessages answer without 'messages'")
            reached_older = False
            for msg in messages:
                if not isinstance(msg, dict):
                    continue
                if _when(str(msg.get("sentAt") or "")) < since:
                    reached_older = True
                    continue
                sender = msg.get("sender")
                sender = sender if isinstance(sender, dict) else {}
                body_text = msg.get("text")
                if (sender.get("did") == self.did and msg.get("id")
                        and isinstance(body_text, str) and body_text.strip() == wanted):
                    log.info("%s: DM already sent before a restart, not sending it again",
                             self.name)
                    return str(msg["id"])
            cursor = body.get("cursor")
            if reached_older or not cursor or not messages:
                return None
        return None

    async def _member_did(self, item: dict, raw: list[str]) -> str:
        if raw and raw[0].startswith("at://did:"):
            return raw[0][len("at://"):].split("/", 1)[0]
        handle = str(item.get("to") or "").lstrip("@")
        body = await self._xrpc("GET", "com.atproto.identity.resolveHandle",
                                params={"handle": handle})
        return str(body["did"])


def _when(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        return datetime.min.replace(tzinfo=utcnow().tzinfo)


def _iso_now() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["RETRYING", "BlueskySource", "tid_for"]
