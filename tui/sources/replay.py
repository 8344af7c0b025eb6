"""Replaying a mention history (JSON Lines or CSV) as if it were arriving live.

Mentions are emitted in ``created_at`` order.  Files are assumed to be roughly in order: a bounded
window (``window`` records) re-orders local disorder without loading the whole file.  The gaps
between posts are kept, divided by ``speed``; ``speed="max"`` emits as fast as the desk takes
them, in batches.

Every replayed mention gets ``source = "replay:PATH"`` (so replies route back here) and
``received_at`` = when it was played.  ``created_at`` is kept from the file (SLA clocks start when
the customer posted), or with ``shift=True`` moved so the first mention is "now" and the rest
follow on the replay's own clock (with ``speed="max"`` that means "now" for every one of them).
Unreadable records are counted in ``status.skipped`` and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from ..core.interchange import Skipped, read_history
from ..core.model import Mention, utcnow
from .base import FAILED, LIVE, STOPPED, Emit, Source

log = logging.getLogger("mentiondesk.sources.replay")

MAX = "max"


def parse_speed(value: float | str) -> float | None:
    """``"max"`` → None (as fast as possible); ``"10"``, ``"10x"``, ``10`` → 10.0."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == MAX:
            return None
        text = text.removesuffix("x")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"replay speed must be a number or 'max', not {value!r}") from None
    else:
        number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"replay speed must be greater than 0, not {value!r}")
    return number


class ReplaySource(Source):
    """Emit the mentions of a history file at ``speed`` times real time (or ``"max"``)."""

    def __init__(self, path: str | Path, speed: float | str = MAX,
                 mapping: dict[str, str] | None = None, *, shift: bool = False,
                 clock: Callable[[], datetime] | None = None, window: int = 1000,
                 batch: int = 500) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = f"replay:{path}"
        self.speed = parse_speed(speed)
        self.mapping = mapping
        self.shift = shift
        self.clock = clock or utcnow
        self.window = max(1, window)
        self.batch = max(1, batch)
        self._sent = 0

    def _ordered(self, records: Iterator[Mention | Skipped]
                 ) -> Generator[Mention, None, None]:
        """Mentions in created_at order within the window; skipped records counted and logged."""
        heap: list[tuple[datetime, int, Mention]] = []
        seq = itertools.count()
        for record in records:
            if isinstance(record, Skipped):
                self.status.skipped += 1
                log.warning("skipped %s", record)
                continue
            heapq.heappush(heap, (record.created_at, next(seq), record))
            if len(heap) > self.window:
                yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]

    async def run(self, emit: Emit) -> None:
        try:
            records = read_history(self.path, self.mapping, source=self.name)
        except (OSError, ValueError) as e:
            self.status.set(FAILED, str(e))
            log.error("cannot replay %s: %s", self.path, e)
            return
        speed = "max" if self.speed is None else f"{self.speed:g}x"
        self.status.set(LIVE, f"replaying {self.path.name} at {speed}")
        loop = asyncio.get_running_loop()
        first: datetime | None = None
        started = loop.time()
        t0 = self.clock()
        batch: list[Mention] = []
        mentions = self._ordered(records)
        try:
            for m in mentions:
                if first is None:
                    first = m.created_at
                offset = (m.created_at - first).total_seconds()
                if self.speed is not None:
                    due = started + offset / self.speed
                    if due > loop.time() and batch:
                        self._emit(emit, batch)
                        batch = []
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                now = self.clock()
                m.source = self.name
                m.received_at = now
                if self.shift:
                    m.created_at = now if self.speed is None else min(
                        now, t0 + timedelta(seconds=offset / self.speed))
                batch.append(m)
                if len(batch) >= self.batch:
                    self._emit(emit, batch)
                    batch = []
                    await asyncio.sleep(0)  # let the desk and the console breathe
            if batch:
                self._emit(emit, batch)
        except asyncio.CancelledError:
            self.status.set(STOPPED, f"replay stopped: {self.status.received} mentions, "
                                     f"{self.status.skipped} skipped")
            raise
        except (OSError, ValueError) as e:  # the file vanished or became unreadable mid-way
            self.status.set(FAILED, f"replay failed after {self.status.received} mentions: {e}")
            log.error("replay of %s failed: %s", self.path, e)
            return
        finally:
            mentions.close()
            records.close()
        self.status.set(STOPPED, f"replay finished: {self.status.received} mentions, "
                                 f"{self.status.skipped} skipped")
        log.info("%s", self.status.detail)

    def _emit(self, emit: Emit, batch: list[Mention]) -> None:
        self.status.received += len(batch)
        emit(batch)

    async def deliver(self, item: dict) -> str:
        """A replayed network cannot be posted to: replies are delivered locally."""
        self._sent += 1
        return f"replay-out-{self._sent}"
