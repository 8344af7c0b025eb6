"""Generic feeds (``feed:URL``): mentions from any system that can serve them over HTTP.

Three shapes, chosen by the ``format`` option or else by the answer's Content-Type:

* ``ndjson`` — a long-lived response, one interchange-format mention per line; blank lines are
  keep-alives (``application/x-ndjson``, ``application/jsonl``, ``application/json-seq``);
* ``sse`` — Server-Sent Events, each ``data:`` one mention (``text/event-stream``);
* ``json`` — a document polled every ``poll_seconds``: a list of mentions, or an object with
  ``items`` or ``mentions`` (``application/json``).

A ``map`` option (``{id: ticket_id, text: body, author: user.name}``, dotted paths) renames the
fields of systems that speak another shape.  A line over 1 MB or a body over ``max_body`` is
skipped with a logged reason.  Feeds are read-only: replies go out on the originating system.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from ..core.model import Mention
from ..core.text import clean_name
from .base import CONNECTING, LIVE, RATE_LIMITED, RETRYING, DeliveryError, Emit, Source
from .http import (
    MAX_BODY,
    MAX_LINE,
    Backoff,
    Partial,
    PayloadError,
    RateLimited,
    SeenIds,
    ServerError,
    SourceConfigError,
    capped_lines,
    describe_error,
    error_message,
    make_client,
    parse_json,
    read_body,
    retry_at,
    sleep_until,
    until_text,
)

log = logging.getLogger("mentiondesk.sources.feed")

FORMATS = ("ndjson", "sse", "json")
CONTENT_TYPES = {
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/jsonlines": "ndjson",
    "application/json-seq": "ndjson",
    "text/event-stream": "sse",
    "application/json": "json",
}
READ_ONLY = "feed sources cannot post; reply on the originating system"


def get_path(data: Any, path: str) -> Any:
    """``user.name`` → ``data["user"]["name"]``; list items by number (``authors.0``)."""
    value = data
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def apply_mapping(data: Any, mapping: dict[str, str] | None) -> Any:
    """The record with mapped fields filled in from their paths (unmapped fields kept)."""
    if not mapping or not isinstance(data, dict):
        return data
    out = dict(data)
    for field, path in mapping.items():
        out[field] = get_path(data, str(path))
    return out


class FeedSource(Source):
    """``feed:URL``: NDJSON, SSE or polled JSON of interchange-format mentions."""

    def __init__(
        self,
        url: str,
        *,
        format: str | None = None,
        mapping: dict[str, str] | None = None,
        poll_seconds: float = 30.0,
        stream_timeout: float = 60.0,
        timeout: float = 10.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        max_line: int = MAX_LINE,
        max_body: int = MAX_BODY,
        headers: dict[str, str] | None = None,
        seen_limit: int = 50_000,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if not url.startswith(("http://", "https://")):
            raise SourceConfigError(f"feed source needs an http(s) URL, like "
                                    f"feed:https://tickets.northline.example/mentions, not {url!r}")
        if format is not None and format not in FORMATS:
            raise SourceConfigError(f"feed format must be one of {', '.join(FORMATS)}, "
                                    f"not {format!r}")
        self.name = name or f"feed:{url}"
        self.url = url
        self.format = format
        self.mapping = dict(mapping or {})
        self.poll_seconds = poll_seconds
        self.stream_timeout = stream_timeout
        self.max_line = max_line
        self.max_body = max_body
        self._client = make_client(timeout=timeout, headers={
            "Accept": "application/x-ndjson, text/event-stream, application/json;q=0.9",
            **(headers or {})})
        self._backoff = Backoff(backoff_base, backoff_cap)
        self._seen = SeenIds(seen_limit)
        self._streaming = False

    def __repr__(self) -> str:
        return f"FeedSource({self.name!r})"

    async def run(self, emit: Emit) -> None:
        while True:
            try:
                self.status.set(CONNECTING, "connecting")
                kind = await self._read(emit, once=False)
                if kind == "json":
                    self._backoff.reset()
                    await asyncio.sleep(self.poll_seconds)
                    continue
                self.status.set(RETRYING, "stream ended; reconnecting")
            except asyncio.CancelledError:
                raise
            except RateLimited as exc:
                self.status.set(RATE_LIMITED, f"rate limited until {until_text(exc.until)}")
                await sleep_until(exc.until)
                continue
            except (httpx.HTTPError, ServerError, PayloadError) as exc:
                detail = describe_error(exc)
                if isinstance(exc, httpx.ReadTimeout) and self._streaming:
                    detail = f"stream silent for {self.stream_timeout:g} s"
                self.status.set(RETRYING, f"{detail}; retrying")
                log.warning("%s: %s", self.name, detail)
            await asyncio.sleep(self._backoff.next())

    async def poll(self, emit: Emit) -> None:
        """Read once: one JSON document, or a stream until it ends or goes silent."""
        try:
            await self._read(emit, once=True)
        except asyncio.CancelledError:
            raise
        except httpx.ReadTimeout:
            pass  # a live stream with nothing more to say: the pass is over
        except RateLimited as exc:
            self.status.set(RATE_LIMITED, f"rate limited until {until_text(exc.until)}")
        except (httpx.HTTPError, ServerError, PayloadError) as exc:
            self.status.set(RETRYING, describe_error(exc))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver(self, item: dict) -> str:
        raise DeliveryError(READ_ONLY, retry=False)

    # --- reading --------------------------------------------------------------------------------

    async def _read(self, emit: Emit, *, once: bool) -> str:
        self._streaming = False
        timeout = httpx.Timeout(self._client.timeout.connect or 5.0,
                                read=self.stream_timeout if self.format != "json"
                                else self._client.timeout.read)
        async with self._client.stream("GET", self.url, timeout=timeout) as response:
            if response.status_code == 429:
                raise RateLimited(retry_at(response))
            if response.status_code >= 400:
                await response.aread()
                raise ServerError(error_message(response))
            ctype = response.headers.get("content-type", "").partition(";")[0].strip().lower()
            kind = self.format or CONTENT_TYPES.get(ctype)
            if kind is None or (self.format and ctype == "text/html"):
                raise PayloadError(
                    f"unexpected content type {clean_name(ctype or 'none', 60)!r}: expected "
                    "NDJSON, SSE or JSON (set 'format' for this source if the server "
                    "mislabels it)")
            if kind == "json":
                try:
                    body = await read_body(response, self.max_body)
                except PayloadError as exc:
                    self._skip(str(exc))
                    raise
                self._take_document(body, emit)
                self.status.set(LIVE, f"polling every {self.poll_seconds:g} s")
                return kind
            self.status.set(LIVE, "streaming")
            self._streaming = True
            self._backoff.reset()
            if kind == "ndjson":
                await self._read_ndjson(response, emit)
            else:
                await self._read_sse(response, emit)
            return kind

    async def _read_ndjson(self, response: httpx.Response, emit: Emit) -> None:
        number = 0  # the line within this connection's response, for the skip report
        async for line in capped_lines(response, self.max_line):
            number += 1
            if line is None:
                self._skip(f"line {number}: over the {self.max_line}-byte limit")
                continue
            if not line.strip():
                continue  # keep-alive
            if isinstance(line, Partial):
                # The connection closed after this; a complete record is still taken, a cut-off
                # one is not an error of the feed (it comes again after the reconnect).
                try:
                    parse_json(line)
                except PayloadError:
                    log.info("%s: connection closed in the middle of a line", self.name)
                    continue
            self._take_json(line, emit, f"line {number}")

    async def _read_sse(self, response: httpx.Response, emit: Emit) -> None:
        data: list[bytes] = []
        size = 0
        oversized = False
        async for line in capped_lines(response, self.max_line):
            if line is None:
                oversized = True
                continue
            if isinstance(line, Partial):
                break  # an event cut off by the end of the stream is never dispatched
            if not line:  # the blank line ends an event
                if oversized:
                    self._skip(f"event over the {self.max_line}-byte limit")
                elif data:
                    self._take_json(b"\n".join(data), emit)
                data, size, oversized = [], 0, False
                continue
            if line.startswith(b":"):
                continue  # comment / heartbeat
            field, _, value = line.partition(b":")
            if field == b"data":
                value = value[1:] if value.startswith(b" ") else value
                size += len(value)
                if size > self.max_line:
                    oversized = True
                else:
                    data.append(value)

    def _take_json(self, raw: bytes, emit: Emit, where: str = "event") -> None:
        try:
            data = parse_json(raw)
        except PayloadError as exc:
            self._skip(f"{where}: {exc}")
            return
        mention = self._mention(data, where)
        if mention is not None:
            self._emit(emit, [mention])

    def _take_document(self, body: bytes, emit: Emit) -> None:
        try:
            data = parse_json(body)
        except PayloadError as exc:
            self._skip(str(exc))
            raise
        if isinstance(data, dict):
            data = data.get("items", data.get("mentions"))
        if not isinstance(data, list):
            self._skip("JSON document is neither a list nor an object with 'items'/'mentions'")
            raise PayloadError("JSON document has no list of mentions")
        batch = [m for m in (self._mention(d) for d in data) if m is not None]
        self._emit(emit, batch)

    def _mention(self, data: Any, where: str = "record") -> Mention | None:
        try:
            mention = Mention.from_dict(apply_mapping(data, self.mapping), source=self.name)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            rid = data.get("id") if isinstance(data, dict) else None
            ident = f" (id {clean_name(str(rid), 60)})" if isinstance(rid, (str, int)) else ""
            self._skip(f"{where}{ident}: not a mention: {exc}")
            return None
        # Feeds that replay history on reconnect must not duplicate; edits and deletes pass.
        mention.source = self.name
        if mention.id in self._seen and not (mention.edited or mention.deleted):
            return None
        self._seen.add(mention.id)
        return mention

    def _emit(self, emit: Emit, batch: list[Mention]) -> None:
        if batch:
            self.status.received += len(batch)
            emit(batch)

    def _skip(self, reason: str) -> None:
        self.status.skipped += 1
        log.warning("%s: skipped %s", self.name, clean_name(reason, 300))
