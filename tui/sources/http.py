"""What every network source shares: an httpx client with explicit timeouts, backoff with jitter,
rate-limit headers, server error messages, and a size-capped line reader.

Nothing here knows about a particular network.  Tokens never pass through this module's messages:
errors are built from the status code, the URL path and the server's own ``error`` text.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import HOMEPAGE, version
from ..core.interchange import load_json
from ..core.model import parse_time, utcnow
from ..core.text import clean_name

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("mentiondesk.sources")



def user_agent() -> str:
    """``mentiondesk/VERSION (+HOMEPAGE)``: who we are, in every request to a network."""
    return f"mentiondesk/{version()} (+{HOMEPAGE})"
MAX_LINE = 1024 * 1024  # bytes of one NDJSON line / SSE line before it is skipped
MAX_BODY = 8 * 1024 * 1024  # bytes of one REST/JSON body before it is skipped
MAX_RATE_WAIT = 15 * 60.0  # never trust a reset time further away than this (clock skew)


# Every credential this process holds (tokens, app passwords, session JWTs).  Server-supplied
# text passes through ``redact`` before it is shown, logged or stored: a server that echoes the
# Authorization header in an error body must not put the token on screen or on disk.
_SECRETS: set[str] = set()
MIN_SECRET = 6  # shorter strings would redact ordinary words


def register_secret(secret: str | None) -> None:
    """Remember a credential so that ``redact`` removes it from any text."""
    if secret and len(secret) >= MIN_SECRET:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``[redacted]``."""
    if not _SECRETS or not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class SourceConfigError(ValueError):
    """A source cannot be built as configured (missing token, loose token file, bad URL)."""


class PayloadError(Exception):
    """A response body we cannot use (malformed JSON, oversized, wrong content type)."""


class RateLimited(Exception):
    """The server said to wait (429, or no requests left until ``until``)."""

    def __init__(self, until: datetime, message: str = "") -> None:
        super().__init__(message or f"rate limited until {until_text(until)}")
        self.until = until


class ServerError(Exception):
    """A 5xx or other answer that trying again later can fix."""


class AuthError(Exception):
    """The credentials were refused: the operator must act (no point retrying fast)."""


def make_client(
    base_url: str = "",
    *,
    timeout: float = 10.0,
    connect_timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """One client per source, with every timeout explicit (httpx's default is 5 s for all)."""
    import httpx  # here, not at import: the demo and replay sources never need it

    all_headers = {"User-Agent": user_agent(), "Accept": "application/json"}
    all_headers.update(headers or {})
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        headers=all_headers,
        follow_redirects=False,  # a redirect could carry the Authorization header elsewhere
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
    )


class Backoff:
    """Exponential backoff with jitter: base, 2·base, 4·base ... capped, each shortened by up to
    ``jitter`` (so that many clients reconnecting after an outage do not arrive together)."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, factor: float = 2.0,
                 jitter: float = 0.5, rng: random.Random | None = None) -> None:
        self.base, self.cap, self.factor, self.jitter = base, cap, factor, jitter
        self.attempts = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.base * self.factor ** self.attempts)
        self.attempts += 1
        return delay * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempts = 0


def backoff_delay(attempts: int, base: float, cap: float, jitter: float = 0.5) -> float:
    """The delay before retry number ``attempts`` (1 = first retry), with jitter."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * (1.0 - jitter * random.random())


def until_text(when: datetime) -> str:
    """``12:04:10`` in local time: what the status bar shows for a rate-limit wait."""
    return when.astimezone().strftime("%H:%M:%S")


def parse_reset(value: str | None, now: datetime | None = None) -> datetime | None:
    """A reset header as an instant: ISO 8601 (Mastodon), epoch seconds (Bluesky), or seconds
    from now when the number is too small to be an epoch (the IETF RateLimit draft)."""
    if value is None or not str(value).strip():
        return None
    now = now or utcnow()
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        try:
            return parse_time(text)
        except (ValueError, OverflowError):
            return None
    if number < 1e9:  # a delta, not an epoch
        return now + timedelta(seconds=max(0.0, number))
    return datetime.fromtimestamp(number, UTC)


@dataclass
class RateLimit:
    """The server's rate-limit headers: ``X-RateLimit-*`` (Mastodon) or ``RateLimit-*``."""

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None

    def update(self, headers: httpx.Headers, now: datetime | None = None) -> None:
        for prefix in ("x-ratelimit-", "ratelimit-"):
            remaining = headers.get(prefix + "remaining")
            if remaining is None:
                continue
            try:
                self.remaining = int(float(remaining))
            except ValueError:
                self.remaining = None
            try:
                self.limit = int(float(headers.get(prefix + "limit", "")))
            except ValueError:
                pass
            self.reset = parse_reset(headers.get(prefix + "reset"), now)
            return

    def wait_until(self, now: datetime | None = None) -> datetime | None:
        """When the next request may go, if it must wait (no requests left before the reset)."""
        now = now or utcnow()
        if self.remaining is not None and self.remaining <= 0 and self.reset and self.reset > now:
            return min(self.reset, now + timedelta(seconds=MAX_RATE_WAIT))
        return None


def retry_at(response: httpx.Response, now: datetime | None = None) -> datetime:
    """When to try again after a 429: ``Retry-After``, else the reset header, else in a minute."""
    now = now or utcnow()
    after = response.headers.get("retry-after")
    if after:
        try:
            return now + timedelta(seconds=min(MAX_RATE_WAIT, max(0.0, float(after))))
        except ValueError:
            pass
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        reset = parse_reset(response.headers.get(name), now)
        if reset is not None:
            return max(now, min(reset, now + timedelta(seconds=MAX_RATE_WAIT)))
    return now + timedelta(seconds=60)


def error_message(response: httpx.Response) -> str:
    """The server's own explanation (``error``/``message``), cleaned, or the status line."""
    import httpx

    text = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            parts = [str(body[k]) for k in ("error", "message", "error_description")
                     if isinstance(body.get(k), str) and body[k]]
            text = ": ".join(dict.fromkeys(parts))
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        pass
    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return clean_name(redact(f"{reason}: {text}" if text else reason), 300)


def describe_error(exc: BaseException) -> str:
    """One clean line for the status bar: the kind of failure, never headers or tokens."""
    httpx = sys.modules.get("httpx")  # not imported: not an httpx failure
    if httpx is None:
        return clean_name(redact(str(exc) or type(exc).__name__), 300)
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connect timeout",
            httpx.ReadTimeout: "no data within the read timeout",
            httpx.WriteTimeout: "write timeout",
            httpx.PoolTimeout: "connection pool timeout",
        }.get(type(exc), "timeout")
        return kind
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped"
    if isinstance(exc, httpx.HTTPError):
        return clean_name(f"network error: {type(exc).__name__}", 200)
    return clean_name(redact(str(exc) or type(exc).__name__), 300)


async def read_body(response: httpx.Response, limit: int = MAX_BODY) -> bytes:
    """The body of a streamed response, refusing more than ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadError(f"response body of {int(declared)} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise PayloadError(f"response body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes | str) -> Any:
    """A JSON body; ``PayloadError`` for anything unusable (malformed, nested 100k deep, a
    5,000-digit integer), lone surrogates replaced (``core.interchange.load_json``)."""
    try:
        return load_json(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"malformed JSON ({clean_name(str(exc), 120)})") from None


class Deadline:
    """An overall deadline for one request, from connecting to the last byte: httpx's read
    timeout restarts with every byte, so a server trickling one byte a second would hold a
    source (or a delivery) for ever.  ``async with Deadline(30):`` raises ``ServerError`` ("no
    complete answer within 30 s"), which callers retry like any server fault."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._cm: Any = None

    async def __aenter__(self) -> Deadline:
        if self.seconds:
            self._cm = asyncio.timeout(self.seconds)
            await self._cm.__aenter__()
        return self

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        # Never swallows an exception (returns None): a timeout becomes a ServerError.
        if self._cm is None:
            return
        try:
            await self._cm.__aexit__(kind, exc, tb)
        except TimeoutError:
            raise ServerError(f"no complete answer within {self.seconds:g} s") from None


class Partial(bytes):
    """The last line of a body that ended without a newline (maybe cut off mid-line)."""


async def capped_lines(response: httpx.Response, limit: int = MAX_LINE
                       ) -> AsyncIterator[bytes | None]:
    """Lines of a streamed body (without the newline).  A line longer than ``limit`` bytes is
    dropped whole and yields ``None`` once, so that the caller can count it.  An unterminated
    last line is yielded as :class:`Partial`."""
    buffer = bytearray()
    dropping = False
    async for chunk in response.aiter_bytes():
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not dropping:
                    buffer += chunk[start:]
                    if len(buffer) > limit:
                        buffer.clear()
                        dropping = True
                break
            if dropping:
                dropping = False
                yield None
            else:
                buffer += chunk[start:end]
                if len(buffer) > limit:
                    buffer.clear()
                    yield None
                else:
                    line = bytes(buffer).rstrip(b"\r")
                    buffer.clear()
                    yield line
            start = end + 1
    if dropping:
        yield None
    elif buffer:
        yield Partial(bytes(buffer).rstrip(b"\r"))


class SeenIds:
    """A bounded set of ids already emitted (oldest forgotten first), with a value per id."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._items: OrderedDict[str, Any] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, key: str, value: Any = True) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def values(self) -> list[Any]:
        return list(self._items.values())


async def sleep_until(when: datetime) -> None:
    await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()))


def id_order(value: str) -> tuple[int, str]:
    """Sort key for numeric string ids (Mastodon snowflakes) without int overflow worries."""
    return (len(value), value)
