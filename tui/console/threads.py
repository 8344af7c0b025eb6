"""The network's thread around a conversation: what a fetch answered, kept in a small LRU.

The app fetches in a worker (``MentionDesk.fetch_thread``) and keeps the answers here by mention
key, so going back to a conversation costs nothing; a failed fetch is tried again after
``THREAD_RETRY`` seconds.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..core.model import Mention

THREAD_TIMEOUT = 8.0  # seconds a thread fetch may take before the pane says it is unavailable
THREAD_CACHE = 300  # threads kept (per mention); going back to one does not fetch it again
THREAD_RETRY = 30.0  # a failed fetch is tried again when its conversation is shown after this


@dataclass(slots=True, frozen=True)
class Fetched:
    """What a source answered for one mention's thread: its posts, or why there are none."""

    posts: tuple[Mention, ...] = ()
    reason: str | None = None  # set when the fetch failed (server text: data)
    at: float = 0.0  # time.monotonic() of the answer

    def stale(self, now: float) -> bool:
        """A failure older than ``THREAD_RETRY`` seconds: worth asking again."""
        return self.reason is not None and now - self.at >= THREAD_RETRY


class ThreadCache:
    """Fetched threads by mention key; the least recently shown is dropped beyond ``size``."""

    def __init__(self, size: int = THREAD_CACHE) -> None:
        self.size = size
        self._items: OrderedDict[str, Fetched] = OrderedDict()

    def get(self, key: str) -> Fetched | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, item: Fetched) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
