"""Alert toasts without the flood: at most one toast (and one bell) per kind of alert every
``ALERT_COOLDOWN`` seconds, naming the first few conversations and counting them all.

Pure bookkeeping — no Textual here: :class:`AlertBatches` says when a toast is due and what it
says; the app owns the timers, the bell and the notification.  An alert is what the desk raises
(``tui.core.desk.Alert``: a critical arrival, a clock past 75 %); an :class:`AlertLine` is how one
alert is named in a toast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

ALERT_COOLDOWN = 5.0  # seconds: at most one toast (and one bell) per kind of alert in this time
ALERT_NAMED = 6  # conversations named in a summary toast; the count covers the rest


@dataclass(slots=True)
class AlertLine:
    """One alert as a toast names it: who (``#12 @casey (safety)``) and what (may be empty)."""

    who: str
    what: str = ""
    conv: str = ""  # the conversation id: a toast names each conversation once
    count: int = 1  # conversations it stands for (a counted alert: ``tui.core.desk.Alert``)


@dataclass(slots=True)
class AlertBatch:
    """Alerts of one kind waiting for their toast."""

    title: str  # "CRITICAL"
    noun: str  # "new critical", for the summary: "3 new critical"
    severity: str  # the notification's severity: "error", "warning"
    pending: list[AlertLine] = field(default_factory=list)
    last_shown: float = float("-inf")  # monotonic seconds of the last toast

    def summary(self, alerts: list[AlertLine]) -> str:
        """One alert in full; several as a count and the first ``ALERT_NAMED`` by name — each
        conversation once (its latest alert), however often it alerted in the batch."""
        latest: dict[str, AlertLine] = {}
        for a in alerts:
            key = a.conv or a.who
            latest.pop(key, None)
            latest[key] = a
        alerts = list(latest.values())
        if len(alerts) == 1:
            a = alerts[0]
            return f"{self.title} {a.who}" + (f": {a.what}" if a.what else "")
        # A counted alert ("430 more ... for safety") counts its conversations, never named.
        singles = [a for a in alerts if a.count == 1]
        total = sum(max(1, a.count) for a in alerts)
        named = ", ".join(a.who for a in singles[:ALERT_NAMED])
        more = total - len(singles[:ALERT_NAMED])
        if not named:
            return f"{self.title}: {total:,} {self.noun} (n: most urgent first)"
        return (f"{self.title}: {total:,} {self.noun} — {named}"
                + (f", and {more:,} more" if more > 0 else "") + " (n: most urgent first)")


@dataclass(frozen=True, slots=True)
class Toast:
    """A toast to show now: its text (stranger text inside: show with markup off)."""

    kind: str
    message: str
    severity: str


class AlertBatches:
    """The console's alert kinds ("critical", "at_risk") and their cooldowns.

    ``clock``: monotonic seconds (default ``time.monotonic``; tests pass their own).
    """

    def __init__(self, cooldown: float = ALERT_COOLDOWN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self.clock = clock
        self.batches: dict[str, AlertBatch] = {
            "critical": AlertBatch("CRITICAL", "new critical", "error"),
            "at_risk": AlertBatch("AT RISK", "at risk", "warning"),
            # From the desk process (a console attached to it): a reply waits for a lead, a
            # lead returned one of mine with a note.
            "approval": AlertBatch("APPROVAL", "replies waiting for approval", "warning"),
            "rejected": AlertBatch("RETURNED", "replies returned", "warning"),
        }

    def add(self, kind: str, alerts: list[AlertLine]) -> float:
        """Queue ``alerts`` of ``kind``; returns the seconds until their toast is due (0 or
        less: show it now with :meth:`take`).  Raises KeyError for an unknown kind."""
        batch = self.batches[kind]
        batch.pending.extend(alerts)
        return batch.last_shown + self.cooldown - self.clock()

    def take(self, kind: str) -> Toast | None:
        """The toast for everything pending of ``kind`` (None when nothing is); starts its
        cooldown."""
        batch = self.batches[kind]
        alerts, batch.pending = batch.pending, []
        if not alerts:
            return None
        batch.last_shown = self.clock()
        return Toast(kind, batch.summary(alerts), batch.severity)


def desktop_notification(title: str, body: str) -> str:
    """A desktop notification as terminal escapes: OSC 9 (iTerm2, kitty, WezTerm, Windows
    Terminal) and OSC 777 ``notify`` (rxvt, foot, VTE terminals).  They pass through SSH like any
    output.  Stranger-supplied text is data: every control character (ESC, BEL, C1...) and the
    ``;`` that separates OSC 777's fields are removed, and each part is cut to 200 characters."""

    def clean(text: str) -> str:
        kept = "".join(ch for ch in text if ch.isprintable() and ch not in ";\x9c")
        return " ".join(kept.split())[:200]

    t, b = clean(title), clean(body)
    return f"\x1b]9;{t}: {b}\x07\x1b]777;notify;{t};{b}\x07"
