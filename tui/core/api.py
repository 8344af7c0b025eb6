"""The desk's client surface in plain data: what the console, the CLI (and later a remote client)
show about an action and about a conversation, written once.

The desk's methods take and return plain values and dataclasses (``Event``, ``Suggestion``,
``Conversation``); refusals are typed exceptions with reasons (:class:`ActionRefused`, and
:class:`Outgrown` — the stale check — with the count of new customer messages: a client asks
:attr:`Outgrown.question` and, if the agent says yes, calls again with ``seen_seq=None``).  This
module adds the words: one phrase per done action (:func:`describe`) and the queue markers
(:data:`MARKERS`) that every client prints the same way.  No Textual, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from .conversation import Conversation, Event
from .model import parse_time
from .when import local_time


class ActionRefused(Exception):
    """An action the desk will not do; ``reasons`` say why, in words an agent understands."""

    def __init__(self, reasons: str | list[str]) -> None:
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__("; ".join(self.reasons))


class AlreadyAnswered(ActionRefused):
    """Another agent answered the conversation since this agent opened it (two agents sending
    at the same instant: exactly one succeeds).  ``by``: that agent; ``kind``: their event."""

    def __init__(self, by: str, verb: str, kind: str) -> None:
        super().__init__(f"{by} {verb} since you opened this conversation; read it first")
        self.by = by
        self.kind = kind


class WaitsForApproval(ActionRefused):
    """Nothing was sent: the config asks a lead to approve this reply first (``approval:``).
    It waits in the approval queue as ``approval`` (its id); the customer's clock keeps
    running.  Not a failure: the dialog closes with this message."""

    def __init__(self, conv_id: str, approval: str) -> None:
        super().__init__(f"#{conv_id}: your reply waits for a lead's approval ({approval}); "
                         "you will hear when it is decided")
        self.approval = approval


class NotSaving(ActionRefused):
    """The store cannot write (disk full, I/O error, lock lost): agent actions are refused until
    it can, so nothing is shown as done that a crash would lose.  ``state`` is the status line
    ("NOT SAVING — disk full (free 0 MB)")."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(f"{state}: {detail}")
        self.state = state


class AlreadyAnswering(ActionRefused):
    """An answer to this conversation is still in the outbox, or went out moments ago, and the
    customer has not written since: a second one would be a duplicate.  The console and the CLI
    ask, then call again with ``again=True``."""

    def __init__(self, item: dict[str, Any], *, repeat: bool = False) -> None:
        what = {"reply": "a reply", "dm": "a direct message", "bridge": "a public reply",
                "close_loop": "a close-the-loop message"}.get(item.get("kind", ""), "an answer")
        state = ("was sent at " + str(item.get("sent_at") or "")[11:16] + " UTC"
                 if item.get("status") == "sent" else "is waiting in the outbox")
        if repeat:  # the same words again (``Desk._check_repeat``)
            super().__init__(f"the same words already went to this customer ({what} that "
                             f"{state}) — send them again anyway?")
        else:
            super().__init__(f"{what} to this conversation {state}; the customer has not "
                             "written since — send another anyway?")
        self.item = item
        self.repeat = repeat


class Outgrown(ActionRefused):
    """The stale check: the conversation changed since the agent opened it (``seen_seq``) in
    a way that is not another agent's answer — ``count`` new customer messages, and
    ``changes``: what other agents did meanwhile, each as words ("kim resolved it", "lee handed
    it to billing").  Nothing was done; ask :attr:`question`, then send again with
    ``seen_seq=None`` to send anyway (issue 9: "send anyway" only where the change was not
    another agent's answer — that one is :class:`AlreadyAnswered`)."""

    def __init__(self, count: int, changes: Sequence[str] = ()) -> None:
        self.count = count
        self.changes = list(changes)
        parts = list(self.changes)
        if count:
            noun = "message has" if count == 1 else "messages have"
            parts.append(f"{count} new {noun} arrived")
        super().__init__(f"{' and '.join(parts)} since you opened this conversation")

    @property
    def question(self) -> str:
        parts = list(self.changes)
        if self.count:
            noun = "message" if self.count == 1 else "messages"
            parts.append(f"{self.count} new {noun} arrived")
        return f"{'; '.join(parts)} — send anyway?"


# What another agent's action did to a conversation, as the stale check says it (``Outgrown``);
# kinds not listed (tag, undo, the desk's own wake-ups) do not make an answer stale.
CHANGED_BY: dict[str, Callable[[dict[str, Any]], str]] = {
    "handoff": lambda d: f"handed it to {d.get('team')}",
    "resolve": lambda d: "resolved it",
    "snooze": lambda d: "snoozed it",
    "ignore": lambda d: f"marked it as {d.get('reason')}",
    "reopen": lambda d: "reopened it",
    "assign": lambda d: f"assigned it to {d.get('to')}",
    "note": lambda d: "added a note",
}


def describe(ev: Event, tz: tzinfo | None = None) -> str:
    """One line saying what an action did, e.g. ``handed #27 to operations as CASE-00001``;
    times as a person reads them, in office-local time (``tz``; UTC without one)."""
    d, c = ev.details, ev.conv
    kind = ev.kind
    if kind == "reply":
        return f"replied on #{c} ({d.get('channel')}): queued"
    if kind == "offline":
        sent = "bridge reply and DM" if d.get("bridge") else "DM"
        return f"took #{c} offline: {sent} queued"
    if kind == "handoff":
        return f"handed #{c} to {d.get('team')} as {d.get('case_id')}"
    if kind == "resolve":
        return f"resolved #{c}" + (" and closed the loop publicly" if d.get("close_loop") else "")
    if kind == "snooze":
        try:
            until = local_time(parse_time(d.get("until")), tz, ev.at)
        except (TypeError, ValueError):
            until = str(d.get("until"))
        return f"snoozed #{c} until {until} (office time)"
    if kind == "reopen":
        return f"reopened #{c} (was {d.get('was')}); u undoes it"
    if kind == "wake":
        return f"#{c} woke from its snooze"
    if kind == "ignore":
        return f"marked #{c} as {d.get('reason')} (nothing deleted)"
    if kind == "assign":
        return f"assigned #{c} to {d.get('to')}"
    if kind == "tag":
        return f"{'untagged' if d.get('remove') else 'tagged'} #{c} {d.get('tag')}"
    if kind == "note":
        return f"noted on #{c}"
    if kind == "undo":
        return f"undid {', '.join(d.get('kinds', []))} on #{c}"
    return f"{kind} on #{c}"


def describe_all(events: Sequence[Event]) -> str:
    """The phrases of one step of several events (``accept``), joined with ``; ``."""
    return "; ".join(describe(ev) for ev in events)


@dataclass(frozen=True, slots=True)
class Marker:
    """A one-cell queue marker: shown when ``shows(conv)`` is true, a blank otherwise."""

    name: str
    symbol: str
    meaning: str
    shows: Callable[[Conversation], bool]


# The queue's markers, in column order — one set for every client.  No marker is the letter of
# a key that does something else (``A`` is accept): hand-off is ``H`` like its key ``h``,
# offline ``O`` like ``o``.
MARKERS: tuple[Marker, ...] = (
    Marker("unread", "●", "unread customer message", lambda c: c.unread),
    Marker("needs_reply", "↩", "needs a reply", lambda c: c.needs_reply),
    Marker("assigned", "A", "assigned to an agent", lambda c: c.assigned is not None),
    Marker("offline", "O", "taken offline to direct messages", lambda c: c.offline),
    Marker("handed_off", "C", "handed off to a team (with a case)",
           lambda c: bool(c.case_id or c.team)),
)


def markers(conv: Conversation) -> str:
    """The conversation's markers as one string, a blank for each marker not shown."""
    return "".join(m.symbol if m.shows(conv) else " " for m in MARKERS)
