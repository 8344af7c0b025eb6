"""How the console names and ranks the policy's words, all taken from the loaded rules.

A team may rename urgency levels and categories in rules.yaml; views never hard-code them.
``Labels.from_rules`` gives each level a *style tier* by its rank (the most urgent level looks
most urgent whatever it is called), each category its short ``label:`` (default: the id with
spaces), and each action the words the suggestion pane uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rules import Rules

# Style tiers, most urgent first; a level without a deadline (monitor only) is NO_DEADLINE.
TIERS = ("critical", "high", "normal", "low")
NO_DEADLINE = "none"

# What the suggestion pane calls each action (the actions are the code's fixed vocabulary,
# model.ACTIONS; rules.yaml chooses among them).
ACTION_LABELS: Mapping[str, str] = MappingProxyType({
    "reply": "reply",
    "assist_and_direct": "reply and point to self-service",
    "take_offline": "take offline (public bridge + DM)",
    "handoff": "hand off",
    "update_and_link": "reply with a status update",
    "monitor": "monitor (no reply needed)",
    "ignore": "ignore",
})


def tiers_by_rank(levels: list[tuple[str, bool]]) -> dict[str, str]:
    """Style tiers for ``levels`` (``(name, has_deadline)``, most urgent first): the first level
    with a deadline is "critical", the second "high", the last of four or more "low", the
    others "normal"; levels without a deadline are "none"."""
    timed = [name for name, has_deadline in levels if has_deadline]
    tiers = {name: NO_DEADLINE for name, has_deadline in levels if not has_deadline}
    for i, name in enumerate(timed):
        if i < 2:
            tiers[name] = TIERS[i]
        elif i == len(timed) - 1 and len(timed) >= 4:
            tiers[name] = "low"
        else:
            tiers[name] = "normal"
    return tiers


@dataclass(frozen=True, slots=True)
class Labels:
    """Names and style tiers for one loaded rules file.  Unknown names (a conversation triaged
    under an older rules file) fall back to readable defaults, never an error."""

    levels: tuple[str, ...]  # level names, most urgent first
    tiers: Mapping[str, str]  # level name -> one of TIERS or NO_DEADLINE
    categories: Mapping[str, str]  # category id -> short label

    @classmethod
    def from_rules(cls, rules: Rules) -> Labels:
        ordered = sorted(rules.levels.values(), key=lambda lv: lv.rank)
        return cls(
            levels=tuple(lv.name for lv in ordered),
            tiers=tiers_by_rank([(lv.name, lv.target is not None) for lv in ordered]),
            categories={cid: c.label or cid.replace("_", " ")
                        for cid, c in rules.category_rules.items()},
        )

    def tier(self, level: str) -> str:
        """The style tier of ``level`` ("normal" for a level these rules do not have)."""
        return self.tiers.get(level, "normal")

    def category(self, category_id: str) -> str:
        """The short label of a category (its id, spaced, when these rules do not have it)."""
        return self.categories.get(category_id) or category_id.replace("_", " ")

    def action(self, action: str) -> str:
        """What the suggestion pane calls ``action`` (:data:`ACTION_LABELS`)."""
        return ACTION_LABELS.get(action) or action.replace("_", " ")
