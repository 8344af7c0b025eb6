"""The status bar: sources' health, mention rate, open / at-risk / breached, unread critical
alerts, agent, office hours.

One line of fixed height, redrawn by the app at most twice a second.  :meth:`StatusBar.show`
repaints only when what it would draw changed, and never asks for a layout: the bar's size does
not depend on its text, so a new count costs one repainted line, not a screen reflow.  Source
details are server messages (stranger text): they go through :mod:`widgets.safe` like everything
else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.content import Content
from textual.widgets import Static

from tui.core.desk import OPEN

from .safe import assemble, one_line

STATE_STYLE = {"live": "$success", "connecting": "$warning", "retrying": "$warning",
               "rate-limited": "$warning", "stopped": "dim", "failed": "bold $error"}


@dataclass(slots=True, frozen=True)
class SourceLine:
    name: str
    state: str
    detail: str = ""


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; background: $panel; color: $text; text-wrap: nowrap;
                text-overflow: ellipsis; padding: 0 1; }
    StatusBar.-at-risk { background: $warning 30%; }
    StatusBar.-breached { background: $error 40%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Content(""), id=id)
        self._shown: tuple[Any, ...] | None = None  # the inputs of what is on screen
        self.repaints = 0  # how often the text actually changed (tests, benchmarks)

    def show(self, *, sources: Sequence[SourceLine], per_minute: float, counts: dict[str, int],
             agent: str, office_open: bool, filter_text: str | None = None,
             critical: int = 0, saving: str | None = None) -> bool:
        """Draw these figures; returns False (and does nothing) when they are already shown.

        ``critical`` is the number of critical alerts the agent has not opened yet: alerts are
        coalesced into few toasts, and this count is where none of them can hide.
        ``saving``: the desk's NOT SAVING line (disk full, lock lost) or None; shown first,
        on an error background, for as long as it lasts.
        """
        at_risk, breached = counts.get("at_risk", 0), counts.get("breached", 0)
        key = (tuple(sources), round(per_minute), counts.get(OPEN, 0), at_risk, breached,
               agent, office_open, filter_text or None, critical, saving)
        if key == self._shown:
            return False
        self._shown = key
        parts: list = []
        if saving:  # first of all: nothing else on the line is true if it is not saved
            parts += [(one_line(saving, 90), "bold $text on $error"), " │ "]
        if filter_text:  # first: a filtered queue must never be mistaken for the whole queue
            parts += [("filter: ", "bold $warning"), one_line(filter_text, 30), " │ "]
        if critical:  # before the rest: the line is cut at the right edge on narrow screens
            parts += [(f"‼ {critical} critical unread", "bold $error"), " │ "]
        if not sources:
            parts += [("no source", "dim"), " · "]
        for s in sources:
            parts += [(one_line(s.name, 24), "bold"), " ",
                      (s.state, STATE_STYLE.get(s.state, ""))]
            if s.detail and s.state != "live":
                parts += [" ", (one_line(s.detail, 40), "dim")]
            parts.append(" · ")
        parts += [f"{per_minute:.0f}/min │ ",
                  (f"{counts.get(OPEN, 0)} open", "bold"), " · ",
                  (f"{at_risk} at risk", "bold $warning" if at_risk else ""), " · ",
                  (f"{breached} breached", "bold $error" if breached else ""), " │ ",
                  one_line(agent, 20), " · ",
                  ("office open", "$success") if office_open else ("office closed", "dim")]
        self.set_class(bool(at_risk), "-at-risk")
        self.set_class(bool(breached) or bool(saving), "-breached")
        # Fixed height (1 line): no layout needed, only this line is repainted.
        self.update(assemble(*parts), layout=False)
        self.repaints += 1
        return True
