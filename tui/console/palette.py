"""The command palette (ctrl+p): every desk action by name, from the same table as the keys."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keys import DESK_KEYS


class DeskCommands(Provider):
    """Desk actions by description; choosing one runs it as its key would
    (``MentionDesk.trigger``, which refuses under an open dialog)."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for _id, _key, action, _label, description, _show in DESK_KEYS:
            score = matcher.match(description)
            if score > 0:
                yield Hit(score, matcher.highlight(description),
                          partial(self.app.trigger, action),
                          help=f"action: {action}")

    async def discover(self) -> Hits:
        for _id, _key, action, _label, description, _show in DESK_KEYS:
            yield DiscoveryHit(description, partial(self.app.trigger, action),
                               help=f"action: {action}")
