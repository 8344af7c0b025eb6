"""Conversations, events, and the one fold of a timeline into a conversation's state.

A *conversation* groups one customer's mentions (public and direct) with what agents did about
them (*events*).  Its state (status, needs reply, offline, handed off, deadline, ...) is never
stored: it is folded from its timeline — mentions and non-undone events in the order they
happened.  :class:`Fold` is that fold, step by step; the desk uses it to keep its queue, and
``metrics.episodes`` walks archived and live timelines with the very same steps, so a report can
never disagree with what the desk showed.

Pure: no store, no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from .model import Triage, iso, parse_time

# Conversation statuses.
OPEN, SNOOZED, RESOLVED, IGNORED, MONITOR = "open", "snoozed", "resolved", "ignored", "monitor"
STATUSES = (OPEN, SNOOZED, RESOLVED, IGNORED, MONITOR)
# Event kinds that answer the customer (clear "needs reply" and stop the first-response clock).
# A hand-off is not one: the customer receives nothing from it, so on its own it keeps the
# conversation waiting for an answer (the policy: ask for details by DM, open a case, hand off —
# the customer hears from us).  Source: issue 12 item 11.
ANSWERS = ("reply", "offline")
# Event kinds that close an episode (a later message that needs a reply reopens it).
CLOSES = ("resolve", "ignore")
ACTION_KINDS = ("reply", "offline", "handoff", "resolve", "snooze", "ignore", "assign", "tag",
                "note", "reopen")
NEVER = float("inf")
SYSTEM = "mentiondesk"  # the agent name on events the desk records by itself (snooze wake-ups)

# Timeline entry tags: (seq, MENTION | EVENT, key).
MENTION, EVENT = "m", "e"


class Calendar(Protocol):
    """The hours a level's response time runs in (``tui.core.hours.Clock``)."""

    def add(self, start: datetime, duration: timedelta) -> datetime: ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta: ...


class LevelLike(Protocol):
    """An urgency level as the fold needs it (``tui.core.rules.Level``)."""

    @property
    def rank(self) -> int: ...

    @property
    def target(self) -> timedelta | None: ...

    @property
    def calendar(self) -> Calendar: ...


class EventLike(Protocol):
    """What the fold reads of an event: the desk's :class:`Event` or a report's row."""

    @property
    def kind(self) -> str: ...

    @property
    def at(self) -> datetime: ...

    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class Event:
    """One thing done on a conversation, by an agent or by the desk itself (``SYSTEM``).

    ``at`` is UTC.  ``details`` depend on ``kind``: reply {text, channel, reply_key[, case_id]},
    offline {bridge, dm[, case_id]}, handoff {team, note, case_id}, resolve {close_loop,
    channel}, snooze {until (ISO UTC)}, wake {snoozed_until}, ignore {reason}, assign {to},
    tag {tag, remove}, note {text}, undo {undid: [event ids], kinds}."""

    id: str
    conv: str
    seq: int
    kind: str  # an action, "undo", or "wake" (recorded by the desk itself)
    agent: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    group: str | None = None  # events done as one step (accept) are undone together
    undone: bool = False
    os_user: str | None = None  # the OS login behind ``agent`` (set by the desk process)

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "conv": self.conv, "seq": self.seq, "kind": self.kind,
             "agent": self.agent, "at": iso(self.at), "details": self.details,
             "group": self.group, "undone": self.undone}
        if self.os_user is not None:
            d["os_user"] = self.os_user
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(d["id"], d["conv"], d["seq"], d["kind"], d["agent"], parse_time(d["at"]),
                   d.get("details") or {}, d.get("group"), d.get("undone", False),
                   d.get("os_user"))


@dataclass(slots=True)
class Conversation:
    id: str
    customer: str  # source|handle
    source: str
    handle: str
    created_at: datetime
    timeline: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, MENTION|EVENT, key)
    read_seq: int = 0
    # --- folded state ---
    status: str = MONITOR
    pending: list[str] = field(default_factory=list)  # mention keys awaiting an answer
    needs_reply: bool = False
    triage: Triage | None = None  # the governing triage: most urgent unanswered, else latest
    triage_at: datetime | None = None  # created_at of the mention that gave ``triage``
    deadline: datetime | None = None
    risk_at: datetime | None = None  # 75% of the response time used
    assigned: str | None = None
    offline: bool = False
    team: str | None = None
    case_id: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    snoozed_until: datetime | None = None
    first_pending_at: datetime | None = None
    last_activity: datetime | None = None
    last_mention_seq: int = 0
    reopened: int = 0

    @property
    def unread(self) -> bool:
        return self.last_mention_seq > self.read_seq

    @property
    def score(self) -> float:
        return self.triage.score if self.triage else 0.0

    @property
    def urgency(self) -> str:
        return self.triage.urgency if self.triage else "none"

    @property
    def category(self) -> str:
        return self.triage.category if self.triage else "general"

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest entry of the timeline (a customer message or an
        agent's event): what an agent who opens the conversation has seen, the ``seen_seq``
        of the stale check.  0 for an empty timeline."""
        return max((seq for seq, _, _ in self.timeline), default=0)

    def mention_keys(self) -> list[str]:
        """The keys of the customer's mentions, in timeline order."""
        return [key for _, tag, key in self.timeline if tag == MENTION]

    def header(self) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "source": self.source,
                "handle": self.handle, "created_at": iso(self.created_at),
                "read_seq": self.read_seq}


def more_urgent(a: Triage, b: Triage) -> bool:
    """``a`` governs over ``b``: a lower level rank, then a higher score."""
    return (a.rank, -a.score) < (b.rank, -b.score)


class Fold:
    """The fold of a timeline into a conversation's state, one step at a time.

    ``levels`` are the rules' urgency levels (name -> level with ``rank``, ``target`` and
    ``calendar``).  Rules (from the product's triage policy, README "Triage"):

    * a customer message that needs a reply opens the conversation (waking a snooze); after a
      resolve/ignore it *reopens* it — unless it is of the least urgent level with a target (a
      thank-you after we closed the case is history, not a reopened case);
    * the governing triage is the most urgent unanswered message (rank, then score), else the
      latest (a message answered by us never governs what the customer wrote after it); the
      deadline is the earliest deadline among unanswered messages (a follow-up never resets the
      clock) and ``risk_at`` the moment 75 % of its response time is used;
    * ``reply``/``offline``/``handoff`` answer; ``resolve``/``ignore`` close; ``snooze`` never
      compares with the clock (waking is an event of its own, ``wake``), so folding gives the
      same state on every restart.
    """

    __slots__ = ("levels", "lowest_rank")

    def __init__(self, levels: Mapping[str, LevelLike]) -> None:
        self.levels = levels
        ranks = [lv.rank for lv in levels.values() if lv.target is not None]
        self.lowest_rank = max(ranks) if ranks else 0  # least urgent level with a target

    @staticmethod
    def reset(conv: Conversation) -> None:
        """Back to the state of an empty timeline."""
        conv.pending.clear()
        conv.tags.clear()
        conv.notes.clear()
        conv.status, conv.needs_reply, conv.triage, conv.triage_at = MONITOR, False, None, None
        conv.deadline = conv.risk_at = conv.snoozed_until = conv.first_pending_at = None
        conv.assigned = conv.team = conv.case_id = conv.last_activity = None
        conv.offline, conv.last_mention_seq, conv.reopened = False, 0, 0

    def mention(self, conv: Conversation, key: str, seq: int, created_at: datetime,
                deleted: bool, t: Triage) -> bool:
        """Fold one customer mention in.  Returns True when it now awaits an answer."""
        conv.last_mention_seq = max(conv.last_mention_seq, seq)
        conv.last_activity = max(conv.last_activity or created_at, created_at)
        if deleted:
            if conv.triage is None:
                conv.triage, conv.triage_at = t, created_at
            return False
        if not t.needs_reply:
            # Monitor-only and ignorable messages inform the history but ask for nothing; the
            # newest of them by time (not by arrival) governs a conversation needing nothing.
            if conv.triage is None or (not conv.needs_reply and (
                    conv.triage_at is None or created_at >= conv.triage_at)):
                conv.triage, conv.triage_at = t, created_at
            if conv.status == SNOOZED:
                conv.status = OPEN
                conv.snoozed_until = None
            return False
        if conv.status in (RESOLVED, IGNORED):
            if t.rank >= self.lowest_rank:
                if conv.triage is None:
                    conv.triage, conv.triage_at = t, created_at
                return False
            conv.reopened += 1
        conv.status = OPEN  # a customer writing again also wakes a snoozed conversation
        conv.snoozed_until = None
        # What we already answered no longer governs: after our reply, "thanks, that worked"
        # is what the conversation is about now, not the refund question before it.
        answered = not conv.pending
        conv.pending.append(key)
        conv.needs_reply = True
        if conv.first_pending_at is None:
            conv.first_pending_at = created_at
        if (conv.triage is None or answered or not conv.triage.needs_reply
                or more_urgent(t, conv.triage)
                or (not more_urgent(conv.triage, t) and conv.triage_at is not None
                    and created_at > conv.triage_at)):
            # The most urgent unanswered message governs; among equals the newest by time.
            conv.triage, conv.triage_at = t, created_at
        level = self.levels.get(t.urgency)
        target = level.target if level is not None else None
        if level is not None and t.deadline is not None and target is not None:
            risk = level.calendar.add(created_at, target * 0.75)
            if conv.deadline is None or t.deadline < conv.deadline:
                conv.deadline = t.deadline
            if conv.risk_at is None or risk < conv.risk_at:
                conv.risk_at = risk
        return True

    @staticmethod
    def event(conv: Conversation, ev: EventLike) -> None:
        """Fold one (not undone, not ``undo``) event in."""
        d = ev.details
        if ev.kind != "wake":  # the desk waking a snooze is not activity
            conv.last_activity = max(conv.last_activity or ev.at, ev.at)
        if d.get("case_id") and ev.kind in ("reply", "offline"):
            conv.case_id = conv.case_id or d["case_id"]  # a case number told to the customer
        if ev.kind in ANSWERS:
            conv.pending.clear()
            conv.needs_reply = False
            conv.first_pending_at = None
            conv.deadline = conv.risk_at = None
            if conv.status == MONITOR:
                conv.status = OPEN  # we answered: it is now a conversation to see through
        if ev.kind == "offline":
            conv.offline = True
        elif ev.kind == "handoff":
            conv.team, conv.case_id = d.get("team"), d.get("case_id")
        elif ev.kind in CLOSES:
            conv.status = RESOLVED if ev.kind == "resolve" else IGNORED
            conv.snoozed_until = None
            conv.pending.clear()
            conv.needs_reply = False
            conv.deadline = conv.risk_at = conv.first_pending_at = None
        elif ev.kind == "snooze":
            if conv.status in (OPEN, SNOOZED):
                conv.status = SNOOZED
                conv.snoozed_until = parse_time(d["until"])
        elif ev.kind == "reopen":
            # An agent brings a snoozed, resolved, ignored or monitor-only conversation back to
            # the queue (issue 12 item 13); waiting on the customer unless they wrote since.
            conv.status = OPEN
            conv.snoozed_until = None
        elif ev.kind == "wake":
            if conv.status == SNOOZED:
                conv.status = OPEN
                conv.snoozed_until = None
        elif ev.kind == "assign":
            conv.assigned = d.get("to")
        elif ev.kind == "tag":
            tag = d.get("tag", "")
            if d.get("remove"):
                if tag in conv.tags:
                    conv.tags.remove(tag)
            elif tag not in conv.tags:
                conv.tags.append(tag)
        elif ev.kind == "note":
            conv.notes.append(d.get("text", ""))


def counts_as_done(ev: Any) -> bool:
    """An event the fold applies: not undone, not an ``undo`` marker, and not an answer whose
    direct message could not be delivered (it answered nobody: the conversation needs a reply
    again, README "Take offline")."""
    return not ev.undone and ev.kind != "undo" and not ev.details.get("undelivered")


def sort_key(conv: Conversation) -> tuple[int, float, float, float]:
    """The queue order: open and needing a reply first, then open, snoozed, monitor, closed;
    within a group the earliest deadline, the highest score, the longest waiting."""
    group = {OPEN: 0, SNOOZED: 2, MONITOR: 3, RESOLVED: 4, IGNORED: 4}[conv.status]
    if group == 0 and not conv.needs_reply:
        group = 1
    deadline = conv.deadline.timestamp() if conv.deadline else NEVER
    since = conv.first_pending_at or conv.last_activity or conv.created_at
    return (group, deadline, -conv.score, since.timestamp())
