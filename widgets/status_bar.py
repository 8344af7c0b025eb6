"""The status bar: unread critical alerts, open / at-risk / breached, office hours, agent, mention
rate and sources' health — in that order of priority.

One line of fixed height, redrawn by the app at most twice a second.  :meth:`StatusBar.show`
repaints only when what it would draw changed, and never asks for a layout: the bar's size does
not depend on its text, so a new count costs one repainted line, not a screen reflow.

The line never loses what matters most when space runs out (issue 12 item 1): the filter,
``‼ N critical unread`` and the counts always show; the rest gives way in a fixed order — source
details first, then the sources compress to a short name and a state symbol (``masto ⟳``), the
rate goes, the agent goes, office hours become a symbol, and at last the sources fold into one
symbol per state (``src ✗1 ●2``).  The full names and details are one key away (the app's
``i``, or "Source health" in the palette).  Source details are server messages (stranger text):
they go through :mod:`widgets.safe` like everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from textual.content import Content
from textual.widgets import Static

from tui.core.desk import OPEN

from .safe import assemble, one_line

STATE_STYLE = {"live": "$success", "connecting": "$warning", "catching up": "$warning",
               "retrying": "$warning",
               "rate-limited": "$warning", "stopped": "dim", "failed": "bold $error"}
# One symbol per state: readable without colour (NO_COLOR, 16 colours) and one cell wide.
STATE_SYMBOL = {"live": "●", "connecting": "…", "retrying": "⟳", "rate-limited": "⧗",
                "stopped": "■", "failed": "✗"}
SHORT_KIND = {"mastodon": "masto", "bluesky": "bsky", "replay": "replay", "feed": "feed",
              "demo": "demo"}
# Worse states first when sources fold into one symbol per state.
LEVELS = 8  # ways the line can give way (see StatusBar.line)
STATE_ORDER = ("failed", "retrying", "rate-limited", "connecting", "stopped", "live")


@dataclass(slots=True, frozen=True)
class SourceLine:
    name: str
    state: str
    detail: str = ""


def short_names(sources: Sequence[SourceLine]) -> list[str]:
    """``mastodon:https://…`` → ``masto``; a kind seen twice gets a number (``masto2``)."""
    kinds = [SHORT_KIND.get(s.name.partition(":")[0].lower(),
                            one_line(s.name.partition(":")[0], 8) or "src") for s in sources]
    seen: dict[str, int] = {}
    out = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        out.append(kind if seen[kind] == 1 else f"{kind}{seen[kind]}")
    return out


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
        self._figures: dict[str, Any] | None = None
        self.repaints = 0  # how often the text actually changed (tests, benchmarks)
        self.level = 0  # how far the line had to give way (0: nothing left out)

    def on_resize(self) -> None:
        if self._figures is not None:
            self.show(**self._figures)

    def show(self, *, sources: Sequence[SourceLine], per_minute: float, counts: dict[str, int],
             agent: str, office_open: bool, filter_text: str | None = None,
             critical: int = 0, saving: str | None = None,
             others: Sequence[str] = (), held: int = 0) -> bool:
        """Draw these figures; returns False (and does nothing) when they are already shown.

        ``critical`` is the number of critical alerts the agent has not opened yet: alerts are
        coalesced into few toasts, and this count is where none of them can hide.
        ``saving``: the desk's NOT SAVING line (disk full, lock lost) or None; shown first,
        on an error background, for as long as it lasts.  ``others``: who else is on the desk
        (a console attached to a desk process), shown after this agent's name.
        ``held``: notifications held back while a dialog is open (they show when it closes).
        """
        self._figures = dict(sources=sources, per_minute=per_minute, counts=counts, agent=agent,
                             office_open=office_open, filter_text=filter_text,
                             critical=critical, saving=saving, others=tuple(others), held=held)
        at_risk, breached = counts.get("at_risk", 0), counts.get("breached", 0)
        width = self.content_size.width or max(0, self.size.width - 2) or 78
        key = (tuple(sources), round(per_minute), counts.get(OPEN, 0), at_risk, breached,
               agent, office_open, filter_text or None, critical, saving, tuple(others),
               held, width)
        if key == self._shown:
            return False
        self._shown = key
        content = None
        for level in range(LEVELS):
            content = self.line(level, sources=sources, per_minute=per_minute, counts=counts,
                                agent=agent, office_open=office_open, filter_text=filter_text,
                                critical=critical, saving=saving, others=others,
                                held=held)
            self.level = level
            if cell_len(content.plain) <= width:
                break
        assert content is not None
        self.set_class(bool(at_risk), "-at-risk")
        self.set_class(bool(breached) or bool(saving), "-breached")
        # Fixed height (1 line): no layout needed, only this line is repainted.
        self.update(content, layout=False)
        self.repaints += 1
        return True

    @staticmethod
    def line(level: int, *, sources: Sequence[SourceLine], per_minute: float,
             counts: dict[str, int], agent: str, office_open: bool,
             filter_text: str | None = None, critical: int = 0,
             saving: str | None = None, others: Sequence[str] = (),
             held: int = 0) -> Content:
        """The bar's text at a ``level`` of giving way (0 = everything, ``LEVELS - 1`` = the
        least): source details shorten then go (1, 2), sources compress to a short name and a
        symbol (3), the rate goes (4), the agent goes (5), office hours become a symbol (6),
        separators tighten and the sources fold into one symbol per state (7)."""
        at_risk, breached = counts.get("at_risk", 0), counts.get("breached", 0)
        sep = " │ " if level < 7 else "│"
        parts: list = []
        if saving:  # first of all: nothing else on the line is true if it is not saved
            parts += [(one_line(saving, 90 if level < 6 else 40), "bold $text on $error"), sep]
        if filter_text:  # first: a filtered queue must never be mistaken for the whole queue
            parts += [("filter: ", "bold $warning"), one_line(filter_text, 30 if level < 6 else 14),
                      sep]
        if critical:
            parts += [(f"‼ {critical} critical unread", "bold $error"), sep]
        if held:  # toasts never cover a dialog: they wait for it to close, counted here
            parts += [(f"✉ {held} held" if level >= 4 else
                       f"✉ {held} notice{'s' if held != 1 else ''} after this dialog",
                       "bold $warning"), sep]
        parts += [(f"{counts.get(OPEN, 0)} open", "bold"), " · ",
                  (f"{at_risk} at risk", "bold $warning" if at_risk else ""), " · ",
                  (f"{breached} breached", "bold $error" if breached else ""), sep]
        if level < 6:
            parts.append(("office open", "$success") if office_open else ("office closed", "dim"))
        else:
            parts.append(("office ●", "$success") if office_open else ("office ○", "dim"))
        if level < 5:
            parts += [" · ", one_line(agent, 20)]
        if others and level < 6:
            names = ", ".join(one_line(n, 16) for n in others[:4])
            more = f" +{len(others) - 4}" if len(others) > 4 else ""
            parts += [(" with ", "dim"), (names + more, "bold")]
        if level < 4:
            parts += [sep, f"{per_minute:.0f}/min"]
        parts.append(sep)
        if not sources:
            parts.append(("no source", "dim"))
        elif level < 7:
            names = short_names(sources)
            name_width, detail_width = {0: (64, 60), 1: (40, 30), 2: (24, 0)}.get(level, (0, 0))
            for i, s in enumerate(sources):
                if i:
                    parts.append(" · ")
                style = STATE_STYLE.get(s.state, "")
                if name_width:
                    parts += [(one_line(s.name, name_width), "bold"), " ", (s.state, style)]
                    if detail_width and s.detail and s.state != "live":
                        parts += [" ", (one_line(s.detail, detail_width), "dim")]
                else:
                    parts += [(names[i], "bold"), " ", (STATE_SYMBOL.get(s.state, "?"), style)]
        else:
            by_state: dict[str, int] = {}
            for s in sources:
                by_state[s.state] = by_state.get(s.state, 0) + 1
            for n, state in enumerate(sorted(by_state, key=lambda st: (
                    STATE_ORDER.index(st) if st in STATE_ORDER else 0))):
                parts += [" " if n else "", (f"{STATE_SYMBOL.get(state, '?')}{by_state[state]}",
                                             STATE_STYLE.get(state, ""))]
        if level < 7 and any(s.state != "live" for s in sources):
            parts.append(("  i: sources", "dim"))
        return assemble(*parts)
