"""The status bar: sources' health, mention rate, open / at-risk / breached, agent, office hours.

One line, redrawn by the app on its 1 s tick.  Source details are server messages (stranger
text): they go through :mod:`widgets.safe` like everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from .safe import assemble, one_line

STATE_STYLE = {"live": "$success", "connecting": "$warning", "retrying": "$warning",
               "rate-limited": "$warning", "stopped": "dim", "failed": "bold $error"}


@dataclass(slots=True)
class SourceLine:
    name: str
    state: str
    detail: str = ""


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; text-wrap: nowrap;
                text-overflow: ellipsis; padding: 0 1; }
    StatusBar.-at-risk { background: $warning 30%; }
    StatusBar.-breached { background: $error 40%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Content(""), id=id)

    def show(self, *, sources: Sequence[SourceLine], per_minute: float, counts: dict[str, int],
             agent: str, office_open: bool, filter_text: str | None = None) -> Content:
        parts: list = []
        if filter_text:  # first: a filtered queue must never be mistaken for the whole queue
            parts += [("filter: ", "bold $warning"), one_line(filter_text, 30), " │ "]
        if not sources:
            parts += [("no source", "dim"), " · "]
        for s in sources:
            parts += [(one_line(s.name, 24), "bold"), " ",
                      (s.state, STATE_STYLE.get(s.state, ""))]
            if s.detail and s.state != "live":
                parts += [" ", (one_line(s.detail, 40), "dim")]
            parts.append(" · ")
        parts += [f"{per_minute:.0f}/min │ ",
                  (f"{counts.get('open', 0)} open", "bold"), " · ",
                  (f"{counts.get('at_risk', 0)} at risk",
                   "bold $warning" if counts.get("at_risk") else ""), " · ",
                  (f"{counts.get('breached', 0)} breached",
                   "bold $error" if counts.get("breached") else ""), " │ ",
                  one_line(agent, 20), " · ",
                  ("office open", "$success") if office_open else ("office closed", "dim")]
        content = assemble(*parts)
        self.set_class(bool(counts.get("at_risk")), "-at-risk")
        self.set_class(bool(counts.get("breached")), "-breached")
        self.update(content)
        return content
