"""What every source of mentions provides, and how it reports its health.

A source turns a network (or a file, or the demo generator) into cleaned ``Mention`` records and
posts outbox items back to it.  It never raises out of ``run``: faults become a status the console
shows, and the source retries by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core.model import Mention, utcnow

# Source states, as the status bar shows them.
CONNECTING = "connecting"
CATCHING_UP = "catching up"  # reading what arrived while we were closed; never "live" before
LIVE = "live"
RETRYING = "retrying"
RATE_LIMITED = "rate-limited"
STOPPED = "stopped"
FAILED = "failed"  # cannot go on without the operator (bad token, bad URL)

Emit = Callable[[list[Mention]], None]
# How far back a source with no stored position reads on start (README "Gap after downtime").
DEFAULT_HORIZON = timedelta(days=7)


@dataclass
class SourceStatus:
    state: str = CONNECTING
    detail: str = ""  # one line, already cleaned: "429 rate limited, retry at 12:04:10"
    since: datetime = field(default_factory=utcnow)
    received: int = 0  # mentions emitted since start
    skipped: int = 0  # malformed payloads logged and skipped

    def set(self, state: str, detail: str = "") -> None:
        from .http import redact  # the status line is shown and logged: never a secret

        detail = redact(detail)
        if state != self.state or detail != self.detail:
            self.state, self.detail, self.since = state, detail, utcnow()


class DeliveryError(Exception):
    """A post that did not go out.  ``retry`` says whether trying again can help."""

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None,
                 wait_until: datetime | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after
        self.wait_until = wait_until  # set for a rate limit: waiting is not a failed attempt

    @classmethod
    def rate_limited(cls, until: datetime) -> DeliveryError:
        """The server said to wait until ``until`` (UTC): retried then, no attempt used."""
        return cls(f"rate limited until {until.astimezone().strftime('%H:%M:%S')}", retry=True,
                   retry_after=max(0.0, (until - utcnow()).total_seconds()), wait_until=until)


class ContextUnavailable(Exception):
    """The network could not give a thread's history; the message says why (shown as data)."""


def horizon_note(source: Source, fetched: int, horizon_reached: bool) -> str:
    """The status detail once a start's catch-up is done: ``caught up, 95 fetched`` (and the
    horizon, when a first start stopped there)."""
    text = f"caught up, {fetched} fetched"
    if horizon_reached:
        days = source.horizon.total_seconds() / 86400
        text += f"; read back {days:g} days (the horizon): older mentions were not fetched"
    return text


class Source:
    """Base class: subclasses implement ``run`` and, where the network allows, ``deliver``."""

    name: str = "source"

    def __init__(self) -> None:
        self.status = SourceStatus()
        self.horizon: timedelta = DEFAULT_HORIZON
        # Set by the runner: where this source stopped last time (from the store), a callback
        # that stores a new position once what came before it is on the desk, and whether the
        # desk already holds a mention key (``source|id``): catch-up stops there.
        self.position: dict = {}
        self.on_position: Callable[[dict], None] | None = None
        self.known: Callable[[str], bool] = lambda key: False

    def resume(self, position: dict | None, *, on_position: Callable[[dict], None] | None = None,
               known: Callable[[str], bool] | None = None) -> None:
        """Start from ``position`` (what ``save_position`` stored last run; ``{}``/None: none)."""
        self.position = dict(position or {})
        self.on_position = on_position
        if known is not None:
            self.known = known

    def save_position(self, position: dict) -> None:
        """Hand a new position to the runner, which stores it after the mentions emitted
        before it are on the desk (so a crash in between loses nothing)."""
        if position and position != self.position:
            self.position = dict(position)
            if self.on_position is not None:
                self.on_position(dict(position))

    def catching_up(self, fetched: int) -> None:
        """Status while reading the backlog after a start: "catching up (n fetched)"."""
        self.status.set(CATCHING_UP, f"catching up ({fetched} fetched)")

    async def run(self, emit: Emit) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def deliver(self, item: dict) -> str:
        """Post one outbox item; return the remote id.  Raise ``DeliveryError`` on failure."""
        raise DeliveryError(f"{self.name} cannot post replies", retry=False)

    async def context(self, mention: Mention) -> list[Mention]:
        """Thread history around ``mention`` (ancestors and descendants), oldest first."""
        return []

    async def aclose(self) -> None:
        """Release network resources."""
