"""Mastodon: mentions and direct messages over REST + the streaming API (Server-Sent Events).

How nothing is missed and nothing is doubled: the SSE stream has no ``id:`` lines and gaps on
every reconnect, so after each (re)connect the source backfills over REST from the last id a REST
pass confirmed (``min_id``, following ``Link rel="prev"`` to newer pages) and emits a status only
once (a bounded set of seen status ids).  The stream is opened *before* the backfill so that
events arriving during it wait in the socket instead of falling into a gap.  A stream that sends
nothing (not even its ``:thump`` heartbeat) for ``stream_timeout`` seconds is treated as dead.

Posts carry the outbox item id as ``Idempotency-Key``: a re-send returns the first status.  But
Mastodon forgets a key after one hour, so a re-send (``attempts`` > 1) of an item created more
than ``KEY_SAFE`` ago first looks through the account's own recent statuses for one with the same
words, in reply to the same status, created since the item was; if there is one, that is the
answer and nothing is posted again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from ..core.model import (
    DIRECT,
    PUBLIC,
    Author,
    Mention,
    audience_of_value,
    follower_count,
    narrowest,
    parse_time,
    utcnow,
)
from ..core.text import MAX_TEXT, clean_name, clean_text, html_to_text, normalize_for_match
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
    id_order,
    make_client,
    parse_json,
    read_body,
    redact,
    register_secret,
    retry_at,
    sleep_until,
    until_text,
)

log = logging.getLogger("mentiondesk.sources.mastodon")

TOKEN_ENV = "MENTIONDESK_MASTODON_TOKEN"
VISIBILITIES = ("public", "unlisted", "private")
# Notification types a care desk reads (README "What each network sends us"): mentions, and
# quotes of our posts (Mastodon 4.5; older servers ignore the type).  Favourites, boosts and
# follows ask nothing of us.
NOTIFICATION_TYPES = ("mention", "quote")
MASTODON_VISIBILITY = {"public": "public", "unlisted": "unlisted", "followers": "private",
                       "direct": "direct"}
# Mastodon keeps an Idempotency-Key for one hour; the key's hour starts at the first POST, which
# is after the item was created, so before this age a re-send is safe on the key alone.
KEY_SAFE = timedelta(minutes=50)
EDIT_CHECKS = 20  # recent customer statuses re-read for edits in polling mode
OWN_STATUS_PAGES = 5  # pages of 40 of our own statuses a late re-send looks back through
_MENTION = re.compile(r"(?<![\w@])@[\w.-]+(?:@[\w.-]+)?")


def read_token_file(path: str | Path) -> str:
    """The token in ``path``, refusing a file that other users can read (it is a password)."""
    p = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
    except OSError as exc:
        raise SourceConfigError(
            f"cannot read the Mastodon token file {p}: {exc.strerror}") from None
    if os.name == "posix" and mode & 0o077:
        raise SourceConfigError(
            f"the Mastodon token file {p} has mode {mode:04o}: other users can read it; "
            f"run 'chmod 600 {p}' and start again")
    token = p.read_text(encoding="utf-8").strip()
    if not token:
        raise SourceConfigError(f"the Mastodon token file {p} is empty")
    return token


class MastodonSource(Source):
    """``mastodon:BASE_URL``: one account's mentions (notifications) and DMs (conversations)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_file: str | Path | None = None,
        visibility: str = "public",
        stream: bool = True,
        streaming_url: str | None = None,
        poll_seconds: float = 30.0,
        stream_timeout: float = 60.0,
        timeout: float = 10.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        page_limit: int = 40,
        max_pages: int = 1000,
        horizon_days: float = 7.0,
        deadline: float = 30.0,
        notification_types: Any = ("mention", "quote"),
        edit_seconds: float = 120.0,
        include_filtered: bool = True,
        seen_limit: int = 10_000,
        name: str | None = None,
    ) -> None:
        super().__init__()
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise SourceConfigError(
                f"mastodon source needs a server URL like mastodon:https://mastodon.example, "
                f"not {base_url!r}")
        if visibility not in VISIBILITIES:
            raise SourceConfigError(
                f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
        secret = token or os.environ.get(TOKEN_ENV) or (
            read_token_file(token_file) if token_file else None)
        if not secret:
            raise SourceConfigError(
                f"no Mastodon access token: set {TOKEN_ENV} or give a 'token_file' (mode 0600) "
                "for this source in the config file")
        self.name = name or f"mastodon:{base_url}"
        self.base_url = base_url
        self.streaming_url = (streaming_url or base_url).rstrip("/")
        self.visibility = visibility
        self.stream = stream
        self.poll_seconds = poll_seconds
        self.stream_timeout = stream_timeout
        self.page_limit = page_limit
        self.max_pages = max_pages  # a safety cap per pass; catch-up ends at the horizon
        self.horizon = timedelta(days=horizon_days)
        self.deadline = deadline  # seconds for a whole REST request (the stream has none)
        unknown = [t for t in notification_types if t not in NOTIFICATION_TYPES]
        if unknown or not notification_types:
            raise SourceConfigError(f"notification_types must be some of "
                                    f"{', '.join(NOTIFICATION_TYPES)}, not {unknown or 'none'}")
        self.notification_types = tuple(notification_types)
        # Mastodon 4.3+ holds back notifications from new or limited accounts unless asked:
        # customers are exactly such accounts (older servers ignore the parameter).
        self.include_filtered = include_filtered
        # Without the stream, edits are found by re-reading recent mentions this often.
        self.edit_seconds = edit_seconds
        self._edits_checked = 0.0  # loop time of the last re-read
        register_secret(secret)
        self._client = make_client(base_url, timeout=timeout,
                                   headers={"Authorization": f"Bearer {secret}"})
        del secret
        self._backoff = Backoff(backoff_base, backoff_cap)
        self._rate = RateLimit()
        self._seen = SeenIds(seen_limit)  # status id -> Mention (for deletes and threads)
        self._notification_mark: str | None = None  # newest notification id a REST pass saw
        self._conversation_mark: str | None = None  # newest DM status id a REST pass saw
        self._caught_up = False  # the first pass after a start has finished
        self._fetched = 0  # mentions read while catching up
        self._horizon_reached = False
        self.account_id: str | None = None
        self.post_limit: tuple[int, int] | None = None  # (max characters, URL length)

    def __repr__(self) -> str:  # never the token
        return f"MastodonSource({self.name!r})"

    # --- running -------------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        while True:
            try:
                self.status.set(CONNECTING, "connecting")
                await self._verify()
                if self.stream:
                    await self._stream(emit)
                    self.status.set(RETRYING, "stream closed by the server; reconnecting")
                else:
                    await self._poll(emit)
                    self.status.set(LIVE, f"polling every {self.poll_seconds:g} s")
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
            except (httpx.HTTPError, SSEError, ServerError, PayloadError) as exc:
                detail = describe_error(exc)
                if isinstance(exc, httpx.ReadTimeout) and self.stream:
                    detail = f"stream silent for {self.stream_timeout:g} s"
                self.status.set(RETRYING, f"{detail}; reconnecting")
                log.warning("%s: %s", self.name, detail)
            await asyncio.sleep(self._backoff.next())

    async def poll(self, emit: Emit) -> None:
        """One REST pass (the ``once`` mode): faults end up in the status, never raised."""
        try:
            await self._poll(emit)
        except asyncio.CancelledError:
            raise
        except AuthError as exc:
            self.status.set(FAILED, str(exc))
        except RateLimited as exc:
            self.status.set(RATE_LIMITED, f"rate limited until {until_text(exc.until)}")
        except (httpx.HTTPError, ServerError, PayloadError) as exc:
            self.status.set(RETRYING, describe_error(exc))

    async def _poll(self, emit: Emit) -> None:
        """New mentions and DMs since the last pass.  The first pass after a start reads from
        the stored position (or back to the horizon) and says "catching up" until done."""
        if self.account_id is None:
            await self._verify()
        if not self._caught_up:
            self.catching_up(self._fetched)
        await self._backfill_notifications(emit)
        await self._backfill_conversations(emit)
        if not self.stream and self._caught_up:
            await self._refresh_edits(emit)
        self.save_position({"notifications": self._notification_mark,
                            "conversations": self._conversation_mark})
        detail = "up to date"
        if not self._caught_up:
            self._caught_up = True
            detail = horizon_note(self, self._fetched, self._horizon_reached)
            log.info("%s: %s", self.name, detail)
        if self.status.state != LIVE:
            self.status.set(LIVE, detail)

    def resume(self, position: dict | None, **kw: Any) -> None:
        super().resume(position, **kw)
        if self.position.get("notifications"):
            self._notification_mark = str(self.position["notifications"])
        if self.position.get("conversations"):
            self._conversation_mark = str(self.position["conversations"])

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- REST ----------------------------------------------------------------------------------

    async def _get(self, url: str, params: Any = None) -> tuple[Any, httpx.Response]:
        wait = self._rate.wait_until()
        if wait is not None:
            self.status.set(RATE_LIMITED, f"rate limited until {until_text(wait)}")
            await sleep_until(wait)
        async with Deadline(self.deadline):
            return await self._get_now(url, params)

    async def _get_now(self, url: str, params: Any) -> tuple[Any, httpx.Response]:
        async with self._client.stream("GET", url, params=params) as response:
            self._rate.update(response.headers)
            if response.status_code == 429:
                raise RateLimited(retry_at(response))
            if response.status_code in (401, 403):
                await response.aread()
                raise AuthError(f"token refused by {self.base_url}: {error_message(response)}")
            if response.status_code >= 400:
                await response.aread()
                raise ServerError(error_message(response))
            body = await read_body(response)
        return parse_json(body), response

    async def _verify(self) -> None:
        me, _ = await self._get("/api/v1/accounts/verify_credentials")
        if not isinstance(me, dict) or not me.get("id"):
            raise PayloadError("verify_credentials answered without an account id")
        self.account_id = str(me["id"])
        if self.post_limit is None:
            await self._read_instance_limits()

    async def _read_instance_limits(self) -> None:
        """``configuration.statuses`` of ``/api/v2/instance``: the server's own length limit and
        what a URL counts as.  A server without it keeps Mastodon's defaults (500, 23)."""
        try:
            info, _ = await self._get("/api/v2/instance")
        except (ServerError, PayloadError):
            self.post_limit = (500, 23)
            return
        conf = ((info.get("configuration") or {}).get("statuses") or {}
                if isinstance(info, dict) else {})
        try:
            self.post_limit = (int(conf.get("max_characters") or 500),
                               int(conf.get("characters_reserved_per_url") or 23))
        except (TypeError, ValueError):
            self.post_limit = (500, 23)

    async def _pages(self, path: str, params: list[tuple[str, str]], mark: str | None):
        """Pages from ``mark`` towards the newest (``min_id`` + ``Link rel=prev``).  Without a
        mark (the first start on this data directory), pages from the newest back (``Link
        rel=next``) until the caller says stop (the horizon or what the desk already has)."""
        url: str = path
        query: Any = [*params, ("min_id", mark)] if mark is not None else list(params)
        rel = "prev" if mark is not None else "next"
        for _ in range(self.max_pages):
            data, response = await self._safe_page(url, query)
            stop = yield data
            if stop or not data:
                return
            following = self._same_origin(response.links.get(rel, {}).get("url"))
            if not following:
                return
            url, query = following, None

    async def _safe_page(self, url: str, params: Any) -> tuple[list, httpx.Response]:
        try:
            data, response = await self._get(url, params)
        except PayloadError as exc:
            # Counted, then the pass fails: the marks do not move, so the next pass (after a
            # backoff) asks for the same page again and nothing in it is lost.
            self._skip(f"REST {url.split('?')[0]}: {exc}")
            raise
        if not isinstance(data, list):
            self._skip(f"REST {url.split('?')[0]}: expected a list")
            raise PayloadError("expected a list of notifications")
        return data, response

    def _same_origin(self, url: str | None) -> str | None:
        """A pagination URL only when it has our server's scheme, host and port: the client
        sends the token with every request, so a ``Link`` elsewhere is never followed."""
        if not url:
            return None
        try:
            target, base = httpx.URL(url), httpx.URL(self.base_url)
        except (httpx.InvalidURL, TypeError, ValueError):
            self._skip("a pagination link that is not a URL")
            return None
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            self._skip(f"a pagination link to another server ({clean_name(target.host, 80)}); "
                       "not followed")
            return None
        return url

    def _too_old(self, when: Any) -> bool:
        try:
            return parse_time(when) < utcnow() - self.horizon
        except (ValueError, TypeError, OverflowError):
            return False

    async def _catch_up(self, path: str, params: list[tuple[str, str]], mark: str | None,
                        convert, emit: Emit) -> str | None:
        """Read everything since ``mark`` (or back to the horizon / the desk's newest), emit it,
        return the new mark.  While the first pass after a start runs, the status says
        "catching up (n fetched)"."""
        newest = mark
        pages = self._pages(path, params, mark)
        stop = False
        try:
            page = await pages.asend(None)
            while True:
                batch: list[Mention] = []
                for item in page:
                    item_id, when, mention = convert(item)
                    if item_id and (newest is None or id_order(item_id) > id_order(newest)):
                        newest = item_id
                    if mark is None and when is not None and self._too_old(when):
                        stop = True  # the horizon: older than this is history, not work
                        self._horizon_reached = True
                        continue
                    if mention is None:
                        continue
                    if self.known(mention.key):
                        # the desk has it (an earlier run).  Without a position, that is where the
                        # backlog ends; with one, a crash mid-pass may have left older ones unread.
                        stop = stop or mark is None
                        continue
                    if self._is_new(mention):
                        batch.append(mention)
                self._emit(emit, batch)
                if not self._caught_up:
                    self._fetched += len(batch)
                    self.catching_up(self._fetched)
                page = await pages.asend(stop)
        except StopAsyncIteration:
            pass
        return newest

    async def _backfill_notifications(self, emit: Emit) -> None:
        params = [*(("types[]", t) for t in self.notification_types),
                  ("limit", str(self.page_limit))]
        if self.include_filtered:
            params.append(("include_filtered", "true"))

        def convert(note: Any) -> tuple[str, Any, Mention | None]:
            nid = str(note.get("id", "")) if isinstance(note, dict) else ""
            when = note.get("created_at") if isinstance(note, dict) else None
            return nid, when, self._from_notification(note)

        self._notification_mark = await self._catch_up(
            "/api/v1/notifications", params, self._notification_mark, convert, emit)

    async def _backfill_conversations(self, emit: Emit) -> None:
        params = [("limit", str(self.page_limit))]

        def convert(conv: Any) -> tuple[str, Any, Mention | None]:
            status = conv.get("last_status") if isinstance(conv, dict) else None
            when = status.get("created_at") if isinstance(status, dict) else None
            mention = self._from_conversation(conv)
            sid = str(status.get("id") or "") if isinstance(status, dict) else ""
            return sid, when, mention

        self._conversation_mark = await self._catch_up(
            "/api/v1/conversations", params, self._conversation_mark, convert, emit)

    async def _refresh_edits(self, emit: Emit) -> None:
        """Polling mode has no ``status.update`` events: every ``edit_seconds`` re-read the
        newest customer statuses of the last day (at most ``EDIT_CHECKS``) and emit the edited
        ones exactly as the stream would (``edited=True``: the desk re-triages them)."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._edits_checked < self.edit_seconds and self._edits_checked:
            return
        self._edits_checked = loop.time()
        since = utcnow() - timedelta(days=1)
        recent = [m for m in self._seen.values()
                  if isinstance(m, Mention) and not m.deleted and m.channel == PUBLIC
                  and m.created_at >= since]
        recent.sort(key=lambda m: m.created_at, reverse=True)
        for known in recent[:EDIT_CHECKS]:
            try:
                status, _ = await self._get(f"/api/v1/statuses/{known.raw_id or known.id}")
            except ServerError:
                continue  # gone (404) or failing: the next round tries again
            if not isinstance(status, dict):
                continue
            fresh = self._from_status(status, edited=True)
            if fresh is not None and fresh.text != known.text:
                fresh = _copy(fresh, created_at=known.created_at, sent_at=known.sent_at)
                self._seen.add(fresh.id, fresh)
                self._emit(emit, [fresh])

    # --- streaming -----------------------------------------------------------------------------

    async def _stream(self, emit: Emit) -> None:
        # Any byte (an event or the ``:thump`` heartbeat) resets the read timeout, so a stream
        # silent for longer than ``stream_timeout`` ends in ReadTimeout: dead, reconnect.
        connect = self._client.timeout.connect or 5.0
        timeout = httpx.Timeout(connect, read=self.stream_timeout)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        url = f"{self.streaming_url}/api/v1/streaming/user"
        async with self._client.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code == 429:
                raise RateLimited(retry_at(response))
            if response.status_code in (401, 403):
                await response.aread()
                raise AuthError(f"stream refused by {self.base_url}: {error_message(response)}")
            if response.status_code >= 400:
                await response.aread()
                raise ServerError(f"stream: {error_message(response)}")
            ctype = response.headers.get("content-type", "").partition(";")[0].strip()
            if ctype != "text/event-stream":
                raise PayloadError(f"stream answered with content type {clean_name(ctype, 60)!r}, "
                                   "not text/event-stream (is the URL a Mastodon server?)")
            # Subscribed: events from now on wait in the socket while REST fills the gap.
            await self._poll(emit)
            self.status.set(LIVE, "streaming")
            self._backoff.reset()
            async for event in EventSource(response).aiter_sse():
                self._on_event(event.event, event.data, emit)

    def _on_event(self, kind: str, data: str, emit: Emit) -> None:
        if kind == "delete":
            known = self._seen.get(data.strip())
            if isinstance(known, Mention) and not known.deleted:
                gone = _copy(known, deleted=True, received_at=utcnow())
                self._seen.add(known.id, gone)
                self._emit(emit, [gone])
            return
        if kind not in ("notification", "update", "status.update", "conversation"):
            return
        try:
            payload = parse_json(data)
        except PayloadError as exc:
            self._skip(f"stream event {kind!r}: {exc}")
            return
        if not isinstance(payload, dict):
            self._skip(f"stream event {kind!r}: expected an object")
            return
        mention: Mention | None = None
        if kind == "notification":
            mention = self._from_notification(payload)
        elif kind == "conversation":
            mention = self._from_conversation(payload)
        elif kind == "update":
            if self._mentions_me(payload):
                mention = self._from_status(payload)
        elif kind == "status.update":
            sid = str(payload.get("id", ""))
            if sid in self._seen:
                mention = self._from_status(payload, edited=True)
                if mention is not None:
                    self._seen.add(mention.id, mention)
                    self._emit(emit, [mention])
            return
        if mention is not None and self._is_new(mention):
            self._emit(emit, [mention])

    # --- conversion ----------------------------------------------------------------------------

    def _mentions_me(self, status: dict) -> bool:
        mentions = status.get("mentions") or []
        return any(isinstance(m, dict) and str(m.get("id")) == self.account_id for m in mentions)

    def _from_notification(self, note: Any) -> Mention | None:
        if not isinstance(note, dict):
            self._skip("notification is not an object")
            return None
        if note.get("type") not in self.notification_types:
            return None
        if not isinstance(note.get("status"), dict):
            # The post was deleted (or hidden) after notifying: nothing to answer.
            self._skip(f"notification {clean_name(note.get('id'), 40)} has no status")
            return None
        return self._from_status(note["status"], notified=note.get("created_at"))

    def _from_conversation(self, conv: Any) -> Mention | None:
        if not isinstance(conv, dict):
            self._skip("conversation is not an object")
            return None
        status = conv.get("last_status")
        if not isinstance(status, dict):
            self._skip(f"conversation {clean_name(conv.get('id'), 40)} has no last status")
            return None
        return self._from_status(status, conversation=str(conv.get("id") or ""))

    def _from_status(self, status: dict, *, edited: bool = False,
                     conversation: str = "", notified: Any = None) -> Mention | None:
        try:
            account = status["account"]
            if self.account_id and str(account.get("id")) == self.account_id:
                return None  # our own post (a DM thread's last status can be our reply)
            sid = clean_name(status["id"], 200)
            parent = status.get("in_reply_to_id")
            parent = clean_name(parent, 200) if parent else None
            direct = status.get("visibility") == "direct"
            if conversation:
                thread = f"conversation:{clean_name(conversation, 100)}"
            else:
                known = self._seen.get(parent) if parent else None
                thread = (known.thread if isinstance(known, Mention) and known.thread
                          else parent or sid)
            text = html_to_text(status.get("content") or "")
            quoted = _quoted_text(status)
            if quoted:
                # The "RE: <link>" fallback line says nothing; the quoted post does.
                text = "\n".join(line for line in text.splitlines()
                                 if not line.strip().startswith("RE: ")).strip()
                text = f"{text}\n[quoting {quoted}]"
            text += _attachments_text(status.get("media_attachments"))
            warning = clean_name(status.get("spoiler_text") or "", 500) or None
            language = status.get("language")
            # The clock starts when our server got it (the notification's time); a remote
            # status's created_at is its sender's claim (shown, skew flagged).
            sent = parse_time(status["created_at"])
            # Without a notification, a status dated in the future starts the clock now.
            received = min(parse_time(notified) if notified else sent, utcnow())
            author = Author(
                handle=clean_name(str(account["acct"]).lstrip("@")),
                name=clean_name(account.get("display_name") or ""),
                followers=follower_count(account.get("followers_count")),
                verified=bool(account.get("verified", False)),
                language=clean_name(language, 16) if language else None,
                # The account, not its handle: the URI (or the server's id) never changes.
                id=clean_name(account.get("uri") or f"account:{account['id']}", 300),
            )
            return Mention(
                id=sid,
                source=self.name,
                channel=DIRECT if direct else PUBLIC,
                author=author,
                text=clean_text(text, MAX_TEXT),
                created_at=received,
                received_at=utcnow(),
                sent_at=sent if sent != received else None,
                in_reply_to=parent,
                thread=thread,
                url=clean_name(status["url"], 500) if status.get("url") else None,
                raw_id=sid,
                language=author.language,
                edited=edited,
                audience=audience_of_value(status.get("visibility")) or "public",
                content_warning=warning,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._skip(f"status {clean_name(status.get('id'), 40)}: {type(exc).__name__} {exc}")
            return None

    def _is_new(self, mention: Mention) -> bool:
        if mention.id in self._seen:
            return False
        self._seen.add(mention.id, mention)
        return True

    def _emit(self, emit: Emit, batch: list[Mention]) -> None:
        if batch:
            self.status.received += len(batch)
            emit(batch)

    def _skip(self, reason: str) -> None:
        self.status.skipped += 1
        log.warning("%s: skipped %s", self.name, clean_name(redact(reason), 300))

    # --- context and delivery -------------------------------------------------------------------

    async def context(self, mention: Mention) -> list[Mention]:
        sid = mention.raw_id or mention.id
        try:
            data, _ = await self._get(f"/api/v1/statuses/{sid}/context")
        except (httpx.HTTPError, ServerError, PayloadError, RateLimited, AuthError) as exc:
            log.warning("%s: context of %s: %s", self.name, sid, describe_error(exc))
            raise ContextUnavailable(describe_error(exc)) from exc
        if not isinstance(data, dict):
            return []
        out = []
        for status in [*(data.get("ancestors") or []), *(data.get("descendants") or [])]:
            if isinstance(status, dict):
                m = self._from_status(status)
                if m is not None:
                    out.append(m)
        out.sort(key=lambda m: m.created_at)
        return out

    async def deliver(self, item: dict) -> str:
        wait = self._rate.wait_until()
        if wait is not None:
            raise DeliveryError.rate_limited(wait)
        text = str(item.get("text") or "")
        handle = str(item.get("to") or "").lstrip("@")
        if handle and f"@{handle.casefold()}" not in text.casefold():
            # Mastodon delivers a post only to the accounts it mentions.
            text = f"@{handle} {text}"
        if item.get("kind") == "dm" or item.get("channel") == DIRECT:
            visibility = "direct"
        else:
            # Never wider than the post it answers: a followers-only mention gets a
            # followers-only reply, an unlisted one an unlisted reply.
            audience = narrowest(audience_of_value(self.visibility),
                                 audience_of_value(item.get("audience")))
            visibility = MASTODON_VISIBILITY[audience]
        form = {"status": text, "visibility": visibility}
        if item.get("content_warning"):
            form["spoiler_text"] = str(item["content_warning"])  # the customer's own warning
        if item.get("in_reply_to_raw"):
            form["in_reply_to_id"] = str(item["in_reply_to_raw"])
        if int(item.get("attempts") or 0) > 1 and _older_than(item.get("created_at"), KEY_SAFE):
            earlier = await self._posted_already(item, form)
            if earlier is not None:
                return earlier
        try:
            async with Deadline(self.deadline):
                response = await self._client.post(
                    "/api/v1/statuses", data=form,
                    headers={"Idempotency-Key": str(item["id"])})
        except (httpx.HTTPError, ServerError) as exc:
            # Retried with the same Idempotency-Key: a post that did arrive is not doubled.
            raise DeliveryError(f"{describe_error(exc)} while posting", retry=True) from None
        self._rate.update(response.headers)
        if response.status_code == 429:
            until = retry_at(response)
            raise DeliveryError.rate_limited(until)
        if response.status_code >= 500:
            raise DeliveryError(error_message(response), retry=True)
        if response.status_code >= 400:
            raise DeliveryError(error_message(response), retry=False)
        try:
            posted = response.json()
            return clean_name(posted["id"], 200)
        except (ValueError, KeyError, TypeError):
            # Posted (2xx) but unreadable: retrying with the same key returns the same post.
            raise DeliveryError("posted, but the answer had no status id", retry=True) from None


    async def _posted_already(self, item: dict, form: dict[str, str]) -> str | None:
        """Our status with the same words in reply to the same status, created since the item
        was (newest first, a few pages back), or None.  A failed look is a retry, never a
        blind post."""
        since = parse_time(item["created_at"])
        wanted = _words(form["status"])
        parent = form.get("in_reply_to_id")
        try:
            if self.account_id is None:
                await self._verify()
            params: dict[str, str] = {"limit": "40", "exclude_reblogs": "true"}
            for _ in range(OWN_STATUS_PAGES):
                page, _ = await self._get(f"/api/v1/accounts/{self.account_id}/statuses",
                                          params)
                if not isinstance(page, list):
                    raise PayloadError("expected a list of statuses")
                for status in page:
                    if not isinstance(status, dict) or not status.get("id"):
                        continue
                    if parse_time(status.get("created_at")) < since:
                        return None  # newest first: the rest is older than the item
                    if (str(status.get("in_reply_to_id") or "") == str(parent or "")
                            and _words(html_to_text(status.get("content") or "")) == wanted):
                        log.info("%s: status already posted before the key expired; "
                                 "not posting it again", self.name)
                        return clean_name(status["id"], 200)
                if not page:
                    return None
                params = {**params, "max_id": str(page[-1].get("id"))}
        except RateLimited as exc:
            raise DeliveryError.rate_limited(exc.until) from None
        except AuthError as exc:
            raise DeliveryError(str(exc), retry=False) from None
        except (httpx.HTTPError, ServerError, PayloadError, ValueError, TypeError) as exc:
            raise DeliveryError(f"{describe_error(exc)} while checking for an earlier post",
                                retry=True) from None
        return None


def _attachments_text(media: Any) -> str:
    """``[image: alt text]`` lines for a status's attachments (shown, and read by triage): a
    photo-only post is not an empty one."""
    lines = []
    for item in media if isinstance(media, list) else []:
        if not isinstance(item, dict):
            continue
        kind = clean_name(str(item.get("type") or "attachment"), 20)
        alt = clean_name(str(item.get("description") or ""), 500)
        lines.append(f"[{kind}: {alt}]" if alt else f"[{kind} without a description]")
    return ("\n" + "\n".join(lines)) if lines else ""


def _quoted_text(status: dict) -> str:
    """``@acct: text`` of the post a quote post quotes (Mastodon 4.5 ``quote.quoted_status``),
    or "" when there is none or it is not shown (pending, revoked, deleted)."""
    quote = status.get("quote")
    if not isinstance(quote, dict):
        return ""
    inner = quote.get("quoted_status")
    if not isinstance(inner, dict) or quote.get("state", "accepted") != "accepted":
        return ""
    found = inner.get("account")
    account: dict = found if isinstance(found, dict) else {}
    words = html_to_text(str(inner.get("content") or "")).strip()
    return f"@{clean_name(str(account.get('acct') or '?'), 60)}: {words}" if words else ""


def _words(text: str) -> str:
    """The words of a post without its @mentions: Mastodon shows ``@user@host`` as ``@user``
    and turns text into HTML, so posted and sent forms compare by words only."""
    return normalize_for_match(_MENTION.sub(" ", text))


def _older_than(created_at: object, age: timedelta) -> bool:
    try:
        return utcnow() - parse_time(created_at) > age
    except (ValueError, TypeError):
        return False  # no age (never written by the outbox): the key is all we have


def _copy(m: Mention, **changes: Any) -> Mention:
    data = {name: getattr(m, name) for name in m.__slots__}
    data.update(changes)
    return Mention(**data)

