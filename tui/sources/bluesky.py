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
from datetime import datetime, timedelta
from typing import Any

import httpx
import regex

from ..core.model import (
    DIRECT,
    PUBLIC,
    Author,
    Mention,
    dm_closed_reason,
    dms_from_value,
    parse_time,
    utcnow,
)
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
    horizon_note,
)
from .http import (
    AuthError,
    Backoff,
    Deadline,
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
    redact,
    register_secret,
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
_LINK = regex.compile(r"https?://[^\s<>\"']+", regex.IGNORECASE)
_HANDLE = regex.compile(r"(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})")


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
        max_pages: int = 1000,
        horizon_days: float = 7.0,
        deadline: float = 30.0,
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
        self.max_pages = max_pages  # a safety cap per poll; catch-up ends at the horizon
        self.horizon = timedelta(days=horizon_days)
        self.deadline = deadline  # seconds for a whole request, first byte to last
        self.dms = dms
        self._password = secret
        register_secret(secret)
        self._access: str | None = None
        self._refresh: str | None = None
        self.did: str | None = None
        self._client = make_client(self.service, timeout=timeout)
        self._backoff = Backoff(backoff_base, backoff_cap)
        self._rate = RateLimit()
        self._seen = SeenIds(seen_limit)
        self._newest: str | None = None  # indexedAt of the newest notification seen
        self._dm_newest: dict[str, str] = {}  # convo id -> sentAt of the newest message seen
        self._caught_up = False  # the first poll after a start has finished
        self._fetched = 0
        self._horizon_reached = False
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
        register_secret(self._access)
        register_secret(self._refresh)
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
        async with Deadline(self.deadline):
            return await self._call_now(method, nsid, params, json, headers)

    async def _call_now(self, method: str, nsid: str, params: Any, json: Any,
                        headers: dict[str, str]) -> Any:
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

    def resume(self, position: dict | None, **kw: Any) -> None:
        super().resume(position, **kw)
        if self.position.get("indexed_at"):
            self._newest = str(self.position["indexed_at"])
        chats = self.position.get("chats")
        if isinstance(chats, dict):
            self._dm_newest.update({str(k): str(v) for k, v in chats.items() if v})

    async def _poll(self, emit: Emit) -> None:
        if not self._caught_up:
            self.catching_up(self._fetched)
        try:
            await self._poll_notifications(emit)
        except XrpcError as exc:
            if exc.status == 401 or exc.error in ("AuthenticationRequired", "InvalidToken"):
                raise AuthError(f"Bluesky refused the app password for {self.handle}: "
                                f"{exc}") from None
            raise
        if self.dms and self.dm_unavailable is None:
            await self._poll_chats(emit)
        self.save_position({"indexed_at": self._newest, "chats": dict(self._dm_newest)})
        detail = f"polling every {self.poll_seconds:g} s"
        if not self._caught_up:
            self._caught_up = True
            note = horizon_note(self, self._fetched, self._horizon_reached)
            log.info("%s: %s", self.name, note)
            detail = f"{note}; {detail}"
        if self.dm_unavailable:
            detail += f"; DMs unavailable ({self.dm_unavailable})"
        self.status.set(LIVE, detail)

    async def _poll_notifications(self, emit: Emit) -> None:
        """Page back (newest first, by cursor) until the notifications seen last time (the
        stored ``indexedAt``), or on a first start until the horizon or a post the desk
        already has; then the newest ``indexedAt`` becomes the mark."""
        cursor: str | None = None
        mark = self._newest
        newest = mark
        horizon = utcnow() - self.horizon
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
            stop = False
            for note in body["notifications"]:
                if not isinstance(note, dict):
                    self._skip("notification is not an object")
                    continue
                indexed = str(note.get("indexedAt") or "")
                when = _when(indexed) if indexed else None
                if when is not None and (newest is None or when > _when(newest)):
                    newest = indexed
                if mark and when is not None and when <= _when(mark):
                    stop = True  # reached what the last pass (or the last run) read
                    if when < _when(mark):
                        continue
                if mark is None and when is not None and when < horizon:
                    stop = True  # a first start: older than the horizon is history
                    self._horizon_reached = True
                    continue
                if note.get("reason") not in REASONS:
                    continue
                mention = self._from_notification(note)
                if mention is None:
                    continue
                if self.known(mention.key):
                    # the desk has it (an earlier run).  Without a position, that is where the
                    # backlog ends; with one, a crash mid-pass may have left older ones unread.
                    stop = stop or mark is None
                    continue
                if mention.id not in self._seen:
                    self._seen.add(mention.id, mention)
                    batch.append(mention)
            self._emit(emit, batch)
            if not self._caught_up:
                self._fetched += len(batch)
                self.catching_up(self._fetched)
            cursor = body.get("cursor")
            if stop or not cursor or not body["notifications"]:
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
            dms_from, follows_us = dm_facts(author)
            rkey = uri.rsplit("/", 1)[-1]
            received, sent = network_times(note.get("indexedAt"), record.get("createdAt"))
            return Mention(
                id=clean_name(uri, 200),
                source=self.name,
                channel=PUBLIC,
                author=Author(handle=handle, name=clean_name(author.get("displayName") or ""),
                              language=language,
                              # The DID: handles change, and many show "handle.invalid".
                              id=clean_name(author["did"], 300) if author.get("did") else None,
                              dms_from=dms_from, follows_us=follows_us),
                text=clean_text(expand_links(record) + images_text(record), MAX_TEXT),
                # The clock starts when the network indexed the post; ``createdAt`` is whatever
                # the customer's client wrote (kept for display, skew flagged).
                created_at=received,
                sent_at=sent,
                received_at=utcnow(),
                in_reply_to=clean_name(parent["uri"], 200) if parent.get("uri") else None,
                thread=clean_name(root.get("uri") or uri, 200),
                url=clean_name(f"https://bsky.app/profile/{handle}/post/{rkey}", 500),
                raw_id=clean_name(raw, 400),
                language=language,
                audience="public",  # every Bluesky post is public; chat is the only private way
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
            if known is None and sent and _when(sent) < utcnow() - self.horizon:
                continue  # a first start: older than the horizon is history
            if known is not None and sent and _when(sent) < _when(known):
                continue  # read last time
            mid = f"chat:{cid}/{msg['id']}"
            if mid in self._seen:
                continue
            profile = members.get(sender) or {}
            try:
                mention = Mention(
                    id=clean_name(mid, 200), source=self.name, channel=DIRECT,
                    author=Author(handle=clean_name(profile.get("handle") or sender or "unknown"),
                                  name=clean_name(profile.get("displayName") or ""),
                                  id=clean_name(sender, 300) if sender else None),
                    text=clean_text(msg["text"], MAX_TEXT),
                    created_at=parse_time(sent), received_at=utcnow(),
                    thread=clean_name(f"chat:{cid}", 200), raw_id=clean_name(f"chat {cid}", 200),
                    audience="direct")
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
        log.warning("%s: skipped %s", self.name, clean_name(redact(reason), 300))

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
            raise DeliveryError.rate_limited(exc.until) from None
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
                                  "createdAt": _iso_now(),
                                  "langs": [str(item.get("language") or "en")[:16]]}
        facets = await self._facets(text)
        if facets:
            record["facets"] = facets
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

    async def _facets(self, text: str) -> list[dict]:
        """Link and mention facets for our post (UTF-8 byte offsets, as the app expects): links
        become clickable and @handles notify.  A handle that does not resolve stays text."""
        facets = []
        for match in _LINK.finditer(text):
            url = match.group(0).rstrip(".,;:!?)")
            start = len(text[:match.start()].encode("utf-8"))
            facets.append({"index": {"byteStart": start,
                                     "byteEnd": start + len(url.encode("utf-8"))},
                           "features": [{"$type": "app.bsky.richtext.facet#link",
                                         "uri": url}]})
        for match in _HANDLE.finditer(text):
            handle = match.group(1).rstrip(".")
            try:
                body = await self._xrpc("GET", "com.atproto.identity.resolveHandle",
                                        params={"handle": handle})
            except (XrpcError, ServerError, PayloadError):
                continue
            did = body.get("did") if isinstance(body, dict) else None
            if not isinstance(did, str):
                continue
            start = len(text[:match.start()].encode("utf-8"))
            facets.append({"index": {"byteStart": start,
                                     "byteEnd": start + len(("@" + handle).encode("utf-8"))},
                           "features": [{"$type": "app.bsky.richtext.facet#mention",
                                         "did": did}]})
        return facets

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
                await self._check_dm_allowed(member, str(item.get("to") or member))
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

    async def _check_dm_allowed(self, did: str, handle: str) -> None:
        """Refuse (for good) a DM the customer's chat declaration does not accept: incoming
        ``none``, or ``following`` while they do not follow us (``app.bsky.actor.getProfile``:
        ``associated.chat.allowIncoming``, ``viewer.followedBy``).  A profile we cannot read
        leaves the decision to the chat service."""
        try:
            profile = await self._xrpc("GET", "app.bsky.actor.getProfile", params={"actor": did})
        except XrpcError:
            return
        if not isinstance(profile, dict):
            return
        reason = dm_closed_reason(clean_name(handle.lstrip("@"), 100), *dm_facts(profile))
        if reason is not None:
            raise DeliveryError(reason, retry=False)

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


def expand_links(record: dict) -> str:
    """The post's text with each link facet's shortened text replaced by its full URL (the app
    shows ``example.com/very-lo...``; only the facet has the address).  Offsets are UTF-8 bytes;
    a facet that does not fit the text is ignored."""
    text = str(record.get("text") or "")
    data = text.encode("utf-8")
    spans = []
    for facet in record.get("facets") or []:
        if not isinstance(facet, dict):
            continue
        index = facet.get("index") or {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        uri = next((f.get("uri") for f in facet.get("features") or []
                    if isinstance(f, dict) and f.get("$type") == "app.bsky.richtext.facet#link"
                    and isinstance(f.get("uri"), str)), None)
        if (uri and isinstance(start, int) and isinstance(end, int)
                and 0 <= start < end <= len(data)):
            spans.append((start, end, uri))
    spans.sort()
    out, at = bytearray(), 0
    for start, end, uri in spans:
        if start < at:
            continue  # overlapping facets: keep the first
        out += data[at:start] + uri.encode("utf-8")
        at = end
    out += data[at:]
    return out.decode("utf-8", "replace")


def images_text(record: dict) -> str:
    """``[image: alt]`` lines for a post's images (shown, and read by triage)."""
    found = record.get("embed")
    embed: dict = found if isinstance(found, dict) else {}
    media = embed.get("media") if isinstance(embed.get("media"), dict) else embed
    lines = []
    for image in media.get("images") or [] if isinstance(media, dict) else []:
        if isinstance(image, dict):
            alt = clean_name(str(image.get("alt") or ""), 500)
            lines.append(f"[image: {alt}]" if alt else "[image without a description]")
    return ("\n" + "\n".join(lines)) if lines else ""


def network_times(indexed: object, created: object) -> tuple[datetime, datetime | None]:
    """(when the network received a post, the sender's own time or None): ``indexedAt`` when
    the service gave it, else our receive time; ``createdAt`` only when it differs."""
    now = utcnow()
    try:
        received = parse_time(indexed) if indexed else now
    except (ValueError, TypeError, OverflowError):
        received = now
    received = min(received, now)  # a service clock ahead of ours never dates into the future
    try:
        sent = parse_time(created) if created else None
    except (ValueError, TypeError, OverflowError):
        sent = None
    return received, (sent if sent is not None and sent != received else None)


def _when(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        return datetime.min.replace(tzinfo=utcnow().tzinfo)


def _iso_now() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["RETRYING", "BlueskySource", "tid_for"]


def dm_facts(profile: Any) -> tuple[str | None, bool | None]:
    """Who a profile view accepts DMs from and whether they follow us: ``(dms_from,
    follows_us)`` for :class:`Author` (None where the view does not say).

    ``associated.chat.allowIncoming`` (app.bsky.actor.defs#profileAssociatedChat: "all",
    "following", "none") — absent means the chat service's default, "following"; an unknown
    word is left unknown.  ``viewer.followedBy`` (app.bsky.actor.defs#viewerState) is set when
    they follow the account we are logged in as; without a ``viewer`` object (an
    unauthenticated view) whether they follow us is unknown."""
    if not isinstance(profile, dict):
        return None, None
    associated = profile.get("associated")
    chat = associated.get("chat") if isinstance(associated, dict) else None
    allow = chat.get("allowIncoming") if isinstance(chat, dict) else None
    dms_from = "following" if allow is None else dms_from_value(allow)
    viewer = profile.get("viewer")
    follows_us = bool(viewer.get("followedBy")) if isinstance(viewer, dict) else None
    return dms_from, follows_us
