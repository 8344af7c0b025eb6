"""What every source of mentions provides, and how it reports its health.

A source turns a network (or a file, or the demo generator) into cleaned ``Mention`` records and
posts outbox items back to it.  It never raises out of ``run``: faults become a status the console
shows, and the source retries by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.model import Mention, utcnow

# Source states, as the status bar shows them.
CONNECTING = "connecting"
LIVE = "live"
RETRYING = "retrying"
RATE_LIMITED = "rate-limited"
STOPPED = "stopped"
FAILED = "failed"  # cannot go on without the operator (bad token, bad URL)

Emit = Callable[[list[Mention]], None]


@dataclass
class SourceStatus:
    state: str = CONNECTING
    detail: str = ""  # one line, already cleaned: "429 rate limited, retry at 12:04:10"
    since: datetime = field(default_factory=utcnow)
    received: int = 0  # mentions emitted since start
    skipped: int = 0  # malformed payloads logged and skipped

    def set(self, state: str, detail: str = "") -> None:
        if state != self.state or detail != self.detail:
            self.state, self.detail, self.since = state, detail, utcnow()


class DeliveryError(Exception):
    """A post that did not go out.  ``retry`` says whether trying again can help."""

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


class ContextUnavailable(Exception):
    """The network could not give a thread's history; the message says why (shown as data)."""


class Source:
    """Base class: subclasses implement ``run`` and, where the network allows, ``deliver``."""

    name: str = "source"

    def __init__(self) -> None:
        self.status = SourceStatus()

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
