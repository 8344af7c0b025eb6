"""The command palette (ctrl+p): every desk action by name, from the same table as the keys."""

from __future__ import annotations

import re
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keys import DESK_KEYS, key_label

JUMP = re.compile(r"^\s*#?(\d+)\s*$")


class DeskCommands(Provider):
    """Desk actions by description; choosing one runs it as its key would
    (``MentionDesk.trigger``, which refuses under an open dialog)."""

    def key_help(self, binding_id: str, key: str) -> str:
        """``key: r`` — the key that does it (as remapped by the config), so the palette teaches
        the keys (issue 12 item 13)."""
        keymap = getattr(self.app, "keys", {}) or {}
        return f"key: {key_label(keymap, binding_id, key)}"

    async def search(self, query: str) -> Hits:
        jump = JUMP.match(query)
        if jump and jump.group(1) in self.app.desk.conversations:
            conv_id = jump.group(1)
            yield Hit(100, f"Go to #{conv_id}", partial(self.app.jump_to, conv_id),
                      help="the conversation, in whichever view holds it")
        matcher = self.matcher(query)
        for bid, key, action, _label, description, _show in DESK_KEYS:
            score = matcher.match(description)
            if score > 0:
                yield Hit(score, matcher.highlight(description),
                          partial(self.app.trigger, action), help=self.key_help(bid, key))

    async def discover(self) -> Hits:
        for bid, key, action, _label, description, _show in DESK_KEYS:
            yield DiscoveryHit(description, partial(self.app.trigger, action),
                               help=self.key_help(bid, key))
