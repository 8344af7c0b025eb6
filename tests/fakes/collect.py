"""Helpers for source tests: collect what a source emits, and record every status it shows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tui.core.model import Mention
from tui.sources.base import SourceStatus


class RecordingStatus(SourceStatus):
    """A SourceStatus that remembers every (state, detail) it was set to."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[str, str]] = []

    def set(self, state: str, detail: str = "") -> None:
        super().set(state, detail)
        if not self.history or self.history[-1] != (state, detail):
            self.history.append((state, detail))

    def saw(self, state: str, words: str = "") -> bool:
        return any(s == state and words in d for s, d in self.history)


class Collector:
    """The ``emit`` callback: keeps every mention in order; ``wait`` for a condition on them."""

    def __init__(self) -> None:
        self.mentions: list[Mention] = []
        self._changed = asyncio.Event()

    def __call__(self, batch: list[Mention]) -> None:
        self.mentions.extend(batch)
        self._changed.set()

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.mentions if not m.deleted and not m.edited]

    async def wait(self, condition: Callable[[list[Mention]], bool], timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not condition(self.mentions):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)


async def wait_status(status: RecordingStatus, state: str, words: str = "",
                      timeout: float = 5.0) -> None:
    """Wait until a status was shown (statuses have no event: check every few ms, bounded)."""
    async def loop() -> None:
        while not status.saw(state, words):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)
