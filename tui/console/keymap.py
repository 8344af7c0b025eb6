"""Every binding id the console defines: what a config file's ``keys:`` may remap.

Collected from the ``BINDINGS`` of the console's screens and widgets (each ``Binding`` has an
``id=``), so a new binding is remappable, and checked by ``mentiondesk check``, without a list to
keep in step by hand.
"""

from __future__ import annotations

import inspect
from types import ModuleType

from textual.binding import Binding


def _modules() -> list[ModuleType]:
    from widgets import queue_view

    from . import app, screens, stats_screen

    return [app, screens, stats_screen, queue_view]


def binding_ids() -> frozenset[str]:
    """The ids of every ``Binding`` in the console (``desk.reply``, ``queue.down``, ...)."""
    ids: set[str] = set()
    for module in _modules():
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            for binding in getattr(cls, "BINDINGS", None) or ():
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return frozenset(ids)
