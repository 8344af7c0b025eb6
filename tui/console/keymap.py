"""Every binding id the console defines: what a config file's ``keys:`` may remap.

Collected from the ``BINDINGS`` of the console's screens and widgets (each ``Binding`` has an
``id=``), so a new binding is remappable, and checked by ``mentiondesk check``, without a list to
keep in step by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Set
from types import ModuleType

from textual.binding import Binding


def _modules() -> list[ModuleType]:
    from widgets import queue_view

    from . import app, screens, stats_screen

    return [app, screens, stats_screen, queue_view]


class BindingIds(Set[str]):
    """The console's binding ids as a set, collected on first use: collecting them imports
    every dialog and the stats screen, which a console's start (the first screen, issue 9)
    and a config without ``keys:`` do not need."""

    def __init__(self) -> None:
        self._ids: frozenset[str] | None = None

    def _all(self) -> frozenset[str]:
        if self._ids is None:
            ids: set[str] = set()
            for module in _modules():
                for _name, cls in inspect.getmembers(module, inspect.isclass):
                    for binding in getattr(cls, "BINDINGS", None) or ():
                        if isinstance(binding, Binding) and binding.id:
                            ids.add(binding.id)
            self._ids = frozenset(ids)
        return self._ids

    def __contains__(self, item: object) -> bool:
        return item in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"BindingIds({sorted(self._all())!r})"


def binding_ids() -> BindingIds:
    """The ids of every ``Binding`` in the console (``desk.reply``, ``queue.down``, ...): a
    set, collected when first looked at."""
    return BindingIds()
