"""The queue: open conversations in the order they must be handled.

Order (see ``sort_key`` in desk.py): conversations that need a reply first, by response deadline
(deadlines are computed in office-hours time, so the earliest deadline is the one that breaches
first), then by score (influencer, repeat customer, negative wording, waiting), then by age.

Backed by ``sortedcontainers.SortedList``: insert, update and remove are O(log n) and the i-th item
is O(log n), which is what a virtualized view needs to draw only the rows on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sortedcontainers import SortedList

Key = tuple[Any, ...]


class Queue:
    """A sorted set of conversation ids, each with a sort key; optionally filtered."""

    def __init__(self, predicate: Callable[[Any], bool] | None = None) -> None:
        self._items: SortedList = SortedList()
        self._keys: dict[str, Key] = {}
        self.predicate = predicate
        self.version = 0  # bumped on every change: views redraw when it moves

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, conv_id: object) -> bool:
        return conv_id in self._keys

    def __iter__(self) -> Iterator[str]:
        return (item[-1] for item in self._items)

    def __getitem__(self, index: int) -> str:
        return self._items[index][-1]

    def slice(self, start: int, stop: int) -> list[str]:
        """The ids at positions ``start`` to ``stop`` (excluded): O(log n + k)."""
        return [item[-1] for item in self._items.islice(start, stop)]

    def ordered(self, conv_ids: Iterable[str]) -> list[str]:
        """Those of ``conv_ids`` in the queue, in its order."""
        keys = self._keys
        return [item[-1] for item in sorted((*keys[c], c) for c in conv_ids if c in keys)]

    def update(self, conv_id: str, key: Key | None, conv: Any = None) -> bool:
        """Insert, move or remove ``conv_id``.  ``key=None`` (or a failing predicate) removes it.

        Returns True when the queue changed.
        """
        if key is not None and self.predicate is not None and not self.predicate(conv):
            key = None
        old = self._keys.get(conv_id)
        if old == key:
            return False
        if old is not None:
            self._items.remove((*old, conv_id))
            del self._keys[conv_id]
        if key is not None:
            self._items.add((*key, conv_id))
            self._keys[conv_id] = key
        self.version += 1
        return True

    def load(self, items: Iterable[tuple[str, Key, Any]]) -> None:
        """:meth:`update` for many (conv_id, key, conv) not in the queue yet, with one sort
        (a desk's load)."""
        added = []
        keys = self._keys
        predicate = self.predicate
        for conv_id, key, conv in items:
            if predicate is not None and not predicate(conv):
                continue
            assert conv_id not in keys, "load() takes conversations not queued"
            added.append((*key, conv_id))
            keys[conv_id] = key
        if added:
            self._items.update(added)
            self.version += 1

    def remove(self, conv_id: str) -> bool:
        return self.update(conv_id, None)

    def index(self, conv_id: str) -> int | None:
        """Position of ``conv_id``, or None: O(log n)."""
        key = self._keys.get(conv_id)
        if key is None:
            return None
        return self._items.index((*key, conv_id))

    def count_above(self, conv_ids: Iterable[str], index: int) -> int:
        """How many of ``conv_ids`` sit above position ``index`` (ids not in the queue count
        for nothing).  One O(log n) lookup, then a key comparison per id — not an O(log n)
        ``index`` per id: the console counts its unread criticals and highs above the screen
        every second, and those sets grow with the stream."""
        if index <= 0:
            return 0
        keys = self._keys
        if index >= len(self._items):
            return sum(1 for c in conv_ids if c in keys)
        edge = self._items[index]
        return sum(1 for c in conv_ids if (k := keys.get(c)) is not None and (*k, c) < edge)

    def first(self) -> str | None:
        return self._items[0][-1] if self._items else None

    def clear(self) -> None:
        self._items.clear()
        self._keys.clear()
        self.version += 1
