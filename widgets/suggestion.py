"""The suggested-action pane: what the rules propose for the selected conversation.

Shows ``Desk.suggestion``: category, urgency, why the rules said so, the canned reply rendered for
this customer (or the public bridge and the DM when the conversation should go offline), the team
to route to, and any reason a reply could not be rendered — refusals are shown, never hidden.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.core.labels import Labels

from .conversation import repaint
from .safe import assemble, join, one_line, plain

if TYPE_CHECKING:
    from tui.core.desk import Desk

# Style per urgency tier (tui.core.labels: tiers follow the levels' rank in the loaded rules).
TIER_STYLE = {"critical": "bold $error", "high": "bold $warning", "normal": "$text",
              "low": "dim", "none": "dim"}


def suggestion_content(desk: Desk, conv_id: str, *, compact: bool = False,
                       labels: Labels | None = None) -> Content:
    """The suggestion as Content.  ``compact`` (drawn inside the conversation pane on small
    screens) keeps the reason to one line and drops the hint.  ``labels``: the loaded rules'
    names (default: from ``desk.rules``)."""
    labels = labels or Labels.from_rules(desk.rules)
    try:
        s = desk.suggestion(conv_id)
    except (KeyError, AttributeError) as exc:
        return assemble(("no suggestion: ", "bold"), str(exc))
    t = s.triage
    if s.idle is not None:
        # Nothing waiting (answered, resolved ...): say so; never offer what A would refuse.
        return join([
            assemble(("Nothing to do: ", "bold"), (one_line(s.idle, 200), "$success"),
                     "  ", (t.urgency, "dim"), " · ", t.category),
            assemble(("was triaged: ", "dim"), one_line(t.why, 72 if compact else 400))])
    conv = desk.conversations.get(conv_id)
    handed = conv is not None and conv.team is not None and conv.team == s.team
    if s.action == "handoff" and handed:
        # The case is with the team already; what is left is answering the customer.
        action = (f"answer the customer (case with {s.team})" if conv.needs_reply
                  else f"case with {s.team}")
        team = ""
    else:
        action, team = labels.action(s.action), (f" → {s.team}" if s.team else "")
    head = assemble(
        ("Suggested: ", "bold"), (action, "bold $accent"), (team, "bold"),
        "  ", (t.urgency, TIER_STYLE[labels.tier(t.urgency)]), " · ", t.category,
        None if compact else ("  (A accepts it all)", "dim"),
    )
    lines = [head, assemble(("why: ", "dim"), one_line(t.why, 72 if compact else 400))]
    if s.dm_closed:
        # Said before anything is tried: a DM cannot reach this customer.
        lines.append(assemble(("no DM possible: ", "bold $warning"),
                              one_line(s.dm_closed, 200 if compact else 400),
                              None if compact or not (t.offline or t.action == "take_offline")
                              else (" — not taken offline; answer in public", "dim")))
    if s.offline:
        reasons = ", ".join(t.offline_reasons) if t.offline_reasons else "the rules ask for it"
        lines.append(assemble(("take offline: ", "bold $warning"), one_line(reasons, 200)))
        if s.bridge:
            lines.append(assemble(("public bridge: ", "bold"), plain(s.bridge)))
        if s.dm:
            lines.append(assemble(("DM: ", "bold"), plain(s.dm)))
    elif s.text:
        lines.append(assemble((f"{s.channel} reply ({s.reply_key}): ", "bold"), plain(s.text)))
    for reason in s.refused:
        lines.append(assemble(("refused: ", "bold $error"), one_line(reason, 400)))
    return join(lines)


class SuggestionView(VerticalScroll):
    """Read-only: the app decides what to do with the suggestion (``A`` accepts it).  Repainted
    only when its text changes, and laid out again only when its height does."""

    DEFAULT_CSS = """
    SuggestionView { height: auto; max-height: 12; padding: 0 1; }
    """

    def __init__(self, *, labels: Labels | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.labels = labels  # the loaded rules' names; None: from the desk shown

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Content(""), id="suggestion-text")

    def show(self, desk: Desk, conv_id: str | None, *, compact: bool = False,
             force: bool = False) -> None:
        """Draw the suggestion for ``conv_id``; ``force`` lays out even an unchanged text."""
        body = self.query_one("#suggestion-text", Static)
        if conv_id is None or conv_id not in desk.conversations:
            repaint(body, Content(""), force=force)
            return
        repaint(body, suggestion_content(desk, conv_id, compact=compact, labels=self.labels),
                force=force)
