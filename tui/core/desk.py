"""The desk: ingest, agent actions, undo, and the read models over its conversations.

Its parts, by job: :mod:`.conversation` (conversations, events and the fold of a timeline into
state — so undo is simply "mark the event undone and fold again", and a restart rebuilds exactly
what was there), :mod:`.indexes` (deadline indexes for counts and the tick), :mod:`.persist`
(store documents and the archive plan), :mod:`.queue` (the ordered queue) and :mod:`.outbox`.

Everything the desk reports as done has been flushed to the store's journal first.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import time
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from . import persist
from .api import (
    CHANGED_BY,
    ActionRefused,
    AlreadyAnswered,
    AlreadyAnswering,
    NotSaving,
    Outgrown,
)
from .conversation import (  # noqa: F401  (re-exported: the desk's vocabulary)
    ANSWERS,
    EVENT,
    IGNORED,
    MENTION,
    MONITOR,
    NEVER,
    OPEN,
    RESOLVED,
    SNOOZED,
    STATUSES,
    SYSTEM,
    Conversation,
    Event,
    Fold,
    counts_as_done,
    sort_key,
)
from .indexes import DeadlineIndex
from .model import DIRECT, PUBLIC, Mention, Triage, dm_closed_reason, iso, parse_time, utcnow
from .outbox import CANCELLED, FAILED, OPEN_STATES, PENDING, SENDING, SENT, Outbox
from .persist import drafts_of, own_doc, owned_key
from .queue import Queue
from .replies import DEFAULT_LIMITS, Limit, Replies, ReplyRefused, check_reply, network_of
from .rules import Rules
from .store import AUTO_FLUSH_OPS, Store, paused_gc, release_piecewise
from .when import format_time_left, local_time, parse_until

log = logging.getLogger("mentiondesk.desk")

MAX_SNOOZE = timedelta(days=366)  # longer is a typo (9999999d), never an OverflowError
UNDO_WINDOW = timedelta(hours=1)  # older actions are not undone: act again instead
JUST_SENT = timedelta(minutes=15)  # an answer this recent counts as "just sent" (asks first)
SEEN_KEPT = timedelta(days=30)  # archived mention keys remembered against re-delivery
SLICE_SECONDS = 0.01  # the longest a background checkpoint's desk part holds the loop
ARCHIVE_STEP = 16  # conversations dropped from the hot tables per loop step (~10 ms)
BULK_FLUSH_OPS = 65_536  # buffered changes before an fsync while archiving
CHECKPOINT_EVERY = timedelta(hours=1)  # archive handled conversations, keep the journal short
# Internal note drafts (Desk.save_note_draft): the note dialog and a hand-off's note.
NOTE_DRAFT_KINDS = ("note", "handoff")
PRIOR_KEPT = 50  # earlier contact times kept per customer for repeat-contact rules
# Alerts of one kind named one by one in one tick or one batch of mentions; the others are
# counted, one alert per team (a start after hours closed, a source catching up after downtime:
# 100,000 alerts would flood every console and run the on_alert hook 100,000 times).
ALERT_BURST = 10


@dataclass(slots=True)
class Ingested:
    mention: Mention
    triage: Triage
    conv_id: str
    new: bool  # False for a duplicate (already seen) mention
    alert: str | None = None  # "critical" when a new critical item needs an answer
    # False while the store cannot write: the mention is in memory only (see Desk.ingest).
    saved: bool = True


@dataclass(slots=True)
class HistoryItem:
    at: datetime
    conv_id: str
    mention: Mention | None = None
    triage: Triage | None = None
    event: Event | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)


# The canned reply suggested in public when a direct message cannot reach the customer.
DM_CLOSED_REPLY = "dm_closed"


@dataclass(slots=True)
class Suggestion:
    triage: Triage
    action: str
    team: str | None
    offline: bool
    reply_key: str | None
    text: str | None  # the reply, rendered for this customer and channel
    bridge: str | None  # public "we've sent you a DM" when going offline
    dm: str | None  # the direct message when going offline
    refused: list[str]  # why a rendering was refused (shown, never silently dropped)
    channel: str
    # Why a DM cannot reach the customer (their DM settings, or our last DM was refused), said
    # whether or not the rules wanted to take it offline (then it is not offered); None when
    # it can as far as we know, or when the conversation is already in DMs.
    dm_closed: str | None = None
    # Why there is nothing to do on it now (answered, waiting for the customer; resolved ...),
    # or None when the suggested action is to be done: ``accept`` refuses for this reason, so a
    # pane shows it instead of offering an action that would be refused.
    idle: str | None = None


@dataclass(slots=True)
class Alert:
    """One alert for the on-duty group: ``conv_id`` (for a count of many: the most urgent of
    them), ``kind`` "critical" | "at_risk", the ``team`` the conversations are routed to
    (``Desk.owning_team``; None: the desk's), ``count`` the conversations it stands for."""

    conv_id: str
    kind: str  # "critical" | "at_risk"
    message: str
    team: str | None = None
    count: int = 1


@dataclass(slots=True)
class RulesReloaded:
    """What :meth:`Desk.reload_rules` changed."""

    path: str
    old_categories: list[str]
    new_categories: list[str]
    retriaged: int  # open conversations triaged again (0 unless asked)

    @property
    def summary(self) -> str:
        added = [c for c in self.new_categories if c not in self.old_categories]
        removed = [c for c in self.old_categories if c not in self.new_categories]
        parts = [f"rules reloaded from {self.path}: {len(self.new_categories)} categories"]
        if added:
            parts.append("added " + ", ".join(added))
        if removed:
            parts.append("removed " + ", ".join(removed))
        parts.append(f"{self.retriaged} open conversations re-triaged" if self.retriaged
                     else "open conversations keep their triage")
        return "; ".join(parts)


_T = TypeVar("_T")


class _Later(Generic[_T]):
    """A desk attribute a state image may still be reading (``Desk.load_later``): reading it
    first finishes that, so no caller ever sees it half-built."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    @overload
    def __get__(self, desk: None, owner: type | None = None) -> _Later[_T]: ...

    @overload
    def __get__(self, desk: Desk, owner: type | None = None) -> _T: ...

    def __get__(self, desk: Desk | None, owner: type | None = None) -> Any:
        if desk is None:
            return self
        if desk._later is not None and self.slot[1:] in desk._pending:
            desk.finish_loading(self.slot[1:])
        return desk.__dict__[self.slot]

    def __set__(self, desk: Desk, value: _T) -> None:
        desk.__dict__[self.slot] = value


class Desk:
    # What a state image may leave to read after the desk process starts serving (issue 9:
    # cold start): nothing a first screen needs (the queue's rows: conversations, their
    # mentions and events; the counts, from ``_counts_basis`` meanwhile) but what a console's
    # replica (customers), filing the next mention, the tick and the actions need.  Read in
    # this order; reading one before ``load_later`` got to it reads up to it at once.
    customers: _Later[dict[str, dict[str, Any]]] = _Later()
    current: _Later[dict[str, str]] = _Later()  # customer -> their latest conversation id
    mention_conv: _Later[dict[str, str]] = _Later()
    mention_seq: _Later[dict[str, int]] = _Later()
    index: _Later[DeadlineIndex] = _Later()
    IMAGE_LATER = ("customers", "index", "current", "mention_conv", "mention_seq")

    def __init__(
        self,
        rules: Rules,
        replies: Replies,
        store: Store | None = None,
        *,
        agent: str = "agent",
        clock: Callable[[], datetime] = utcnow,
        undo_seconds: float = 10.0,
        archive_after: timedelta = timedelta(hours=24),
        image: dict[str, Any] | None = None,
    ) -> None:
        # The state image's parts still to read (``load_later``), or None.
        self._later: Generator[tuple[str, Any] | None, None, None] | None = None
        self._pending: set[str] = set()  # the names of IMAGE_LATER not read yet
        # While the deadline index is still to read: the counts' inputs, as the image
        # recorded them (``image_state``; exact until something changes, and every change
        # that moves a count reads the index first).
        self._counts_basis: tuple[Any, ...] | None = None
        self._wake_pending = False  # the snoozes wake after the later part (finish_start)
        self.rules = rules
        self.replies = replies
        self.store = store
        self.agent = agent
        self.clock = clock
        self.undo_seconds = undo_seconds
        self.archive_after = archive_after
        self.config: Any = None  # the loaded config file, when the desk was opened with one
        self.os_user: str | None = None  # OS login recorded on events (the desk process sets it)
        self.mentions: dict[str, Mention] = {}
        self.triages: dict[str, Triage] = {}
        self.mention_conv = {}
        self.mention_seq = {}
        self.events: dict[str, Event] = {}
        self.conversations: dict[str, Conversation] = {}
        self.current = {}
        self.customers = {}
        self.drafts: dict[str, dict[str, Any]] = {}
        # Internal note drafts ("<conv>/<kind>" -> doc), never reply drafts: a note's words
        # can never fill a reply (see :meth:`save_note_draft`).
        self.note_drafts: dict[str, dict[str, Any]] = {}
        # Replies waiting for a lead (config ``approval:``): id -> {id, conv_id, op, args, agent,
        # os_user, at, status: waiting|approved|rejected, lead, note, decided_at}.
        self.approvals: dict[str, dict[str, Any]] = {}
        self.queue = Queue(predicate=lambda c: c.status == OPEN)
        self.views: list[Queue] = []
        # Who each conversation may be assigned to: agent -> conversation ids, a superset
        # (``assigned_to`` checks each), kept by ``_after_change``; None: built by the first
        # use (a load or a state image folds thousands at once without telling it).
        self._assignees: dict[str, set[str]] | None = None
        self.outbox = Outbox(store, clock)
        self.listeners: list[Callable[[set[str]], None]] = []
        self.meta: dict[str, int] = {"seq": 0, "conv": 0, "case": 0}
        self.archived_keys: dict[str, dict[str, str]] = {}  # mention key -> {conv, at}
        self.positions: dict[str, dict[str, Any]] = {}  # source name -> where it stopped
        self.post_limits: dict[str, Limit] = {}  # source name -> the server's own length rule
        self.last_action: dict[str, str] = {}  # agent -> their last action's event id
        self.rejected = 0  # mentions the rules could not triage (logged, skipped)
        # Ingested results held in memory while the store could not write (disk full); they
        # are returned again, saved, by the ingest whose flush succeeds.
        self.unsaved: list[Ingested] = []
        self._action_mark: tuple[int, int] | None = None
        # A background checkpoint's desk part (see begin_checkpoint), and whether it wants
        # the loop again at once.
        self._work: Generator[bool, None, int | None] | None = None
        self._work_busy = False
        self.last_checkpoint = clock()
        self.outbox.listeners.append(self._on_outbox)
        self.index = DeadlineIndex()
        self.fold = Fold(rules.levels)
        # True when the state came from a state image (``tui.core.image``), not the snapshot.
        self.from_image = False
        if store is not None:
            with paused_gc():  # a bulk build of acyclic objects: the collector only slows it
                if getattr(store, "from_image", False):
                    # The store trusted an image (its files match it): its body, or, when the
                    # body could not be read, the snapshot after all.
                    if image is None or not self._restored(image):
                        self._load(store.recover_now())
                else:
                    self._load(store.load())
            # Snoozes that ran out while the desk was closed (after a state image's later
            # parts: the desk process's first tick does it once they are read).
            if not store.read_only and self._later is None:
                self._wake_snoozes(clock())

    # ==== reading ==============================================================================

    def get(self, conv_id: str) -> Conversation:
        conv = self.conversations.get(str(conv_id))
        if conv is None:
            raise KeyError(f"no open conversation {conv_id!r} (it may be archived or mistyped)")
        return conv

    def next(self, agent: str | None = None, *, others: bool = False) -> Conversation | None:
        """The conversation ``agent`` (default: the desk's agent) should take next: the most
        urgent open one assigned to them, else the most urgent unassigned one; never one
        assigned to someone else unless ``others`` (issue 9, "Assignment")."""
        me = agent or self.agent
        mine = self.assigned_to(me)
        if mine:
            return self.conversations[mine[0]]
        for cid in self.queue:
            conv = self.conversations[cid]
            if conv.assigned is None or others:
                return conv
        return None

    def assigned_to(self, agent: str | None = None) -> list[str]:
        """Open conversations assigned to ``agent`` (default: the desk's), most urgent first.
        From an index of assignees (not a pass over the queue: ~50 ms at 100,000 in the desk
        process, at each ``n`` and each console's attach)."""
        me = agent or self.agent
        if self._assignees is None:
            built: dict[str, set[str]] = {}
            for conv in self.conversations.values():
                if conv.assigned is not None:
                    built.setdefault(conv.assigned, set()).add(conv.id)
            self._assignees = built
        ids = self._assignees.get(me)
        if not ids:
            return []
        convs = self.conversations
        ids.intersection_update([c for c in ids if c in convs and convs[c].assigned == me])
        return self.queue.ordered(ids)

    def latest_mention(self, conv: Conversation, channel: str | None = None) -> Mention | None:
        """The customer's newest message by time (``created_at``, then arrival), not the last to
        arrive: a backfill delivers pages newest first.  Reply target, channel, name, queue text
        all follow it."""
        best: Mention | None = None
        best_order: tuple[datetime, int] | None = None
        for seq, kind, key in conv.timeline:
            if kind == MENTION:
                m = self.mentions[key]
                if m.deleted or (channel is not None and m.channel != channel):
                    continue
                order = (m.created_at, seq)
                if best_order is None or order > best_order:
                    best, best_order = m, order
        return best

    def history(self, conv_id: str) -> list[HistoryItem]:
        """The customer's whole history on this desk — every conversation, public and private,
        our replies, hand-offs and notes — oldest first."""
        conv = self.get(conv_id)
        items: list[HistoryItem] = []
        for cid in self.customers.get(conv.customer, {}).get("conversations", [conv.id]):
            other = self.conversations.get(cid)
            if other is None:
                continue
            for _, kind, key in other.timeline:
                if kind == MENTION:
                    m = self.mentions[key]
                    items.append(HistoryItem(m.created_at, cid, mention=m,
                                             triage=self.triages.get(key)))
                else:
                    ev = self.events[key]
                    items.append(HistoryItem(ev.at, cid, event=ev,
                                             outbox=self.outbox.for_event(ev.id)))
        items.sort(key=lambda h: (h.at, h.mention is None))
        return items

    def profile(self, conv_id: str) -> dict[str, Any]:
        conv = self.get(conv_id)
        cust = self.customers.get(conv.customer, {})
        tags: list[str] = []
        notes: list[str] = []
        for cid in cust.get("conversations", []):
            other = self.conversations.get(cid)
            if other:
                tags += [t for t in other.tags if t not in tags]
                notes += other.notes
        return {
            "handle": conv.handle,
            "name": cust.get("name", ""),
            "followers": cust.get("followers", 0),
            "verified": cust.get("verified", False),
            "source": conv.source,
            "contacts": len(cust.get("contacts", [])),
            "conversations": len(cust.get("conversations", [])),
            "first_seen": cust.get("first_seen"),
            "tags": tags,
            "notes": notes,
        }

    def time_left(self, conv: Conversation, now: datetime | None = None) -> timedelta | None:
        if conv.deadline is None:
            return None
        level = conv.urgency if conv.urgency in self.rules.levels else None
        return self.rules.time_left(conv.deadline, now or self.clock(), level)

    def counts(self, now: datetime | None = None) -> dict[str, int]:
        """Open / needing reply / at risk / breached, for the status bar: O(log n)."""
        ts = (now or self.clock()).timestamp()
        if self._counts_basis is not None:  # a state image's index not read yet
            return {"open": len(self.queue), **DeadlineIndex.counts_from(self._counts_basis, ts)}
        return {"open": len(self.queue), **self.index.counts(ts)}

    def view(self, predicate: Callable[[Conversation], bool]) -> Queue:
        """A filtered queue kept up to date with every change (the console's `/` filter)."""
        q = Queue(predicate=predicate)
        for conv in self.conversations.values():
            q.update(conv.id, self.sort_key(conv), conv)
        self.views.append(q)
        return q

    def drop_view(self, view: Queue) -> None:
        if view in self.views:
            self.views.remove(view)

    def subscribe(self, callback: Callable[[set[str]], None]) -> None:
        self.listeners.append(callback)

    # ==== suggestions ==========================================================================

    def render_values(self, conv: Conversation, case_id: str | None = None,
                      team: str | None = None) -> dict[str, str]:
        cust = self.customers.get(conv.customer, {})
        team_id = team or self.owning_team(conv)
        team_obj = self.rules.teams.get(team_id) if team_id else None
        return {
            "name": cust.get("name") or conv.handle,
            "handle": "@" + conv.handle,
            "case_id": case_id or conv.case_id or self.peek_case_id(),
            "team": (team_obj.description if team_obj is not None else None)
            or (team_id or "our team"),
            "status_url": self.rules.status_url or "",
            "agent": self.agent,
        }

    def suggestion(self, conv_id: str) -> Suggestion:
        conv = self.get(conv_id)
        latest = self.latest_mention(conv)
        t = conv.triage or (self.triages[latest.key] if latest is not None else None)
        if t is None:
            raise KeyError(f"#{conv.id} has no customer message to suggest an answer to")
        channel = self.reply_channel(conv)
        network = network_of(conv.source)
        # A case already handed to a team stays with it: a follow-up triaged for another team
        # (a DM, say) must not re-route it.  Only an agent's explicit hand-off moves a case.
        team = conv.team or t.team
        values = self.render_values(conv, team=team)
        refused: list[str] = []
        text = bridge = dm = None

        def render(key: str | None, ch: str) -> str | None:
            if not key:
                return None
            try:
                return self.replies.render(key, ch, network, values)
            except (ReplyRefused, KeyError) as exc:
                refused.append(f"{key} ({ch}): {exc}")
                return None

        offline = t.offline or t.action == "take_offline"
        action = t.action
        reply_key = t.reply_key
        no_dm = self.dm_closed(conv.id) if channel == PUBLIC and not conv.offline else None
        if no_dm is not None and offline:
            # Said up front, never offered as if it would work: the customer cannot get a DM
            # from us (their settings, or our last DM was refused).  The public answer asks them
            # to write to us (or follow us), with the contact route replies.yaml gives.
            offline = False
            action = "reply" if action == "take_offline" else action
            if self.replies.template(DM_CLOSED_REPLY, PUBLIC) is not None:
                reply_key = DM_CLOSED_REPLY
            else:
                refused.append(f"replies.yaml has no '{DM_CLOSED_REPLY}' reply (the public "
                               "answer when a DM cannot reach the customer): write one, or "
                               "reply in your own words")
                reply_key = None
        if offline and channel == PUBLIC:
            bridge = render(self.bridge_key(conv.id), PUBLIC)
            dm = render(reply_key, DIRECT)
        else:
            text = render(reply_key, channel)
        idle = None
        if not conv.needs_reply and action not in ("ignore", "monitor"):
            # Source: accept's rule (nothing waiting for an answer, nothing to accept).
            idle = ("answered — waiting for the customer; resolve it once they are satisfied"
                    if conv.status == OPEN
                    else f"{conv.status} — nothing waiting for an answer")
        return Suggestion(t, action, team, offline, reply_key, text, bridge, dm, refused,
                          channel, no_dm, idle)

    def reply_channel(self, conv: Conversation) -> str:
        """Where a reply goes: ``direct`` once the conversation went offline or when the
        customer's latest message is a DM (never a wider audience than the post it answers),
        else ``public``."""
        latest = self.latest_mention(conv)
        return DIRECT if conv.offline or (latest is not None and latest.channel == DIRECT) \
            else PUBLIC

    def owning_team(self, conv: Conversation) -> str | None:
        """The team that owns the conversation: the one it was handed to, else the one its
        governing triage names (rules.yaml ``team:``), else None."""
        return conv.team or (conv.triage.team if conv.triage else None)

    def render_reply(self, conv_id: str, key: str, channel: str | None = None) -> str:
        """The canned reply ``key`` (replies.yaml) filled in with this customer's values for
        ``channel`` (default: :meth:`reply_channel`).  Raises ``ReplyRefused`` (a placeholder
        left, too long, ...) or KeyError (no such reply)."""
        conv = self.get(conv_id)
        return self.replies.render(key, channel or self.reply_channel(conv),
                                   network_of(conv.source), self.render_values(conv))

    def bridge_key(self, conv_id: str) -> str:
        """Which canned public bridge ("we've sent you a DM") fits: ``offline_bridge_exposed``
        (it also asks the customer to consider deleting their post) when one of the customer's
        public posts in the conversation shows personal data (the rules' personal-data finder),
        else ``offline_bridge``.  Advice to delete a post that holds nothing private is noise
        and reads as hiding criticism (policy: never delete criticism)."""
        conv = self.get(conv_id)
        exposed = "offline_bridge_exposed"
        if exposed not in self.replies.replies:
            return "offline_bridge"
        for _seq, kind, key in conv.timeline:
            m = self.mentions.get(key) if kind == MENTION else None
            if m is not None and m.channel == PUBLIC and self.rules.finder.find(m.text):
                return exposed
        return "offline_bridge"

    def offline_dm(self, conv_id: str) -> str | None:
        """The direct message to offer when the agent takes ``conv_id`` offline: the
        suggestion's DM, else the category's canned reply in its *direct* form, else the
        bridge's direct form — never the public text (which says "DM us" inside the DM).
        None when no canned reply renders for a DM."""
        s = self.suggestion(conv_id)
        if s.dm:
            return s.dm
        for key in (s.triage.reply_key, s.reply_key, self.bridge_key(conv_id),
                    "offline_bridge"):
            reply = self.replies.replies.get(key) if key else None
            if key is None or reply is None or getattr(reply, "direct", None) is None:
                continue  # a public-only reply would fall back to its public text
            try:
                return self.render_reply(conv_id, key, DIRECT)
            except (ReplyRefused, KeyError):
                continue
        return None

    def render_bridge(self, conv_id: str) -> str:
        """The public bridge for taking ``conv_id`` offline (see :meth:`bridge_key`), rendered
        like :meth:`render_reply` (same errors)."""
        return self.render_reply(conv_id, self.bridge_key(conv_id), PUBLIC)

    def peek_case_id(self) -> str:
        return f"CASE-{self.meta['case'] + 1:05d}"

    # ==== approvals ============================================================================

    def request_approval(self, conv_id: str, op: str, args: dict[str, Any], *, agent: str,
                         os_user: str | None = None) -> dict[str, Any]:
        """File a reply for a lead's approval (nothing is sent yet; the customer's clock keeps
        running).  ``op``/``args`` say what to do on approval.  One waiting reply per
        conversation: a second is refused naming the first's author."""
        conv = self.get(conv_id)
        waiting = self.waiting_approval(conv.id)
        if waiting is not None:
            raise ActionRefused(f"a reply by {self.approvals[waiting]['agent']} on #{conv.id} "
                                f"already waits for approval ({waiting})")
        aid = f"ap{self._next('seq')}"
        item = {"id": aid, "conv_id": conv.id, "op": op, "args": args, "agent": agent,
                "os_user": os_user, "at": iso(self.clock()), "status": "waiting", "lead": None,
                "note": "", "decided_at": None}
        self._put_approval(item)
        return item

    def approval(self, aid: str) -> dict[str, Any]:
        """The approval ``aid``; ``KeyError`` when unknown, ``ActionRefused`` when decided."""
        item = self.approvals.get(aid)
        if item is None:
            raise KeyError(f"no approval {aid!r} (see the approval queue)")
        if item["status"] != "waiting":
            raise ActionRefused(f"{aid} was already {item['status']} by {item['lead']}")
        return item

    def decide_approval(self, aid: str, *, approved: bool, lead: str,
                        note: str = "") -> dict[str, Any]:
        """Record a lead's decision.  A rejection needs a note: it goes back to the author."""
        item = dict(self.approval(aid))
        if not approved and not note.strip():
            raise ActionRefused("say why in a note: it goes back to the author")
        item.update(status="approved" if approved else "rejected", lead=lead, note=note,
                    decided_at=iso(self.clock()))
        self._put_approval(item)
        return item

    def waiting_approval(self, conv_id: str) -> str | None:
        for aid, item in self.approvals.items():
            if item["conv_id"] == conv_id and item["status"] == "waiting":
                return aid
        return None

    def approvals_waiting(self) -> list[dict[str, Any]]:
        return [dict(i) for i in self.approvals.values() if i["status"] == "waiting"]

    @staticmethod
    def approval_text(item: dict[str, Any]) -> str:
        """The words an approval ``item`` would send: its reply, or its DM when taken
        offline (a CLI command's options, or a console's operation's arguments)."""
        what = item.get("args", {}).get("argv", item.get("args", {}))
        return str(what.get("text") or what.get("dm") or what.get("dm_text") or "")

    def _put_approval(self, item: dict[str, Any]) -> None:
        self.approvals[item["id"]] = item
        if self.store is not None:
            self.store.put("approvals", item["id"], item)
            self.store.flush()
        self._notify({item["conv_id"]})

    # ==== rules ================================================================================

    def reload_rules(self, path: str | Path | None = None, *, retriage: bool = False,
                     text: str | None = None) -> RulesReloaded:
        """Apply a changed rules file to the running desk, once it passes the same checks as
        ``mentiondesk check`` (its ``reply:`` keys against the desk's replies).

        ``path``: the file (default: the one the desk was started with).  New mentions are
        triaged with the new rules from now on; open conversations keep their triage unless
        ``retriage`` is True (then every mention of an open conversation is triaged again and
        the queue re-sorted).  Office hours given by the config still override the file's.
        ``text``: the file's contents when they come from elsewhere (the desk process sends
        an attached console the text it loaded); ``path`` then only names the file.

        Raises :class:`~tui.core.rules.RulesError` (``problems`` give file:line and the fix)
        when the file has problems; the desk then keeps its current rules, untouched.
        """
        from .rules import load_rules

        target = Path(path) if path is not None else Path(self.rules.path)
        rules = load_rules(target, reply_keys=set(self.replies.keys), text=text)
        override = getattr(self.config, "office_hours", None)
        if override is not None:
            rules.set_office_hours(override)
        old = self.rules
        self.rules = rules
        self.fold = Fold(rules.levels)  # the fold knows the levels (the thank-you rule)
        changed: set[str] = set()
        if retriage:
            now = self.clock()
            for conv in list(self.conversations.values()):
                if conv.status not in (OPEN, SNOOZED, MONITOR):  # not the closed ones
                    continue
                for key in conv.mention_keys():
                    m = self.mentions[key]
                    cust = self.customers.get(m.customer, {"contacts": []})
                    prior = [c for c in cust["contacts"] if c < m.created_at]
                    self.triages[key] = self.rules.triage(m, prior=prior, now=now)
                    self._put_mention(key)
                self._refold(conv, notify=False)
                changed.add(conv.id)
            if self.store is not None and changed:
                self.store.flush()
            self._notify(changed)
        log.info("rules reloaded from %s (%d categories)%s", target, len(rules.categories),
                 f"; {len(changed)} open conversations re-triaged" if retriage else "")
        return RulesReloaded(str(target), list(old.categories), list(rules.categories),
                             len(changed))

    # ==== ingest ===============================================================================

    def ingest(self, mentions: Iterable[Mention]) -> list[Ingested]:
        """Triage and file new mentions (and edits/deletes of known ones), persist, flush.

        Returns what was filed *and saved*: when the journal cannot be written (disk full, see
        ``not_saving``) the results come back with ``saved=False``, are kept in ``unsaved`` and
        come back again with ``saved=True`` from the first later ``ingest`` (``ingest([])``
        retries) whose flush succeeds.  Never raises for a failed write.
        """
        results: list[Ingested] = []
        changed: set[str] = set()
        now = self.clock()
        # The collector is paused while the batch is filed: it builds acyclic objects (freed
        # by reference counting), and a cycle-collector pass started mid-batch walks the whole
        # desk — at 10,000 stored that was ~15 % of ingest time (bench/bench_ingest.py, issue
        # 8).  Collections resume after the batch; nothing unreachable is kept.
        with paused_gc():
            self._file_batch(mentions, now, results, changed)
        if self.store is not None and (results or changed or self.unsaved
                                       or getattr(self.store, "fault", None)):
            from .store import StoreNotSaving

            try:
                self.store.flush()
            except StoreNotSaving:
                # Said once by whoever shows ``not_saving`` (status bar, ingest), not per batch.
                held = [replace(r, saved=False) for r in results]
                self.unsaved.extend(held)
                self._notify(changed)
                return held
            if self.unsaved:
                results = [replace(r, saved=True) for r in self.unsaved] + results
                self.unsaved = []
        self._notify(changed)
        return results

    def _file_batch(self, mentions: Iterable[Mention], now: datetime,
                    results: list[Ingested], changed: set[str]) -> None:
        """Triage and file each mention of an ingest (see ``ingest``), appending to
        ``results`` and ``changed``; persists, does not flush."""
        for m in mentions:
            key = m.key
            same_id = self.mentions.get(key)
            if same_id is not None and same_id.customer != m.customer:
                # The same id from a different author (a broken or hostile source): never an
                # edit of the first customer's words.  Filed as its own mention, keyed by id
                # and author; replies still go to the id the source gave (raw_id).
                log.warning("mention id %s reused by another author (%s, was %s): filed apart",
                            key, m.customer, same_id.customer)
                m = _replace(m, id=f"{m.id}~{m.author.handle}", raw_id=m.raw_id or m.id)
                key = m.key
            if key in self.mentions:
                res = self._update_known(m, now)
                if res is not None:
                    results.append(res)
                    changed.add(res.conv_id)
                continue
            if m.deleted or key in self.archived_keys:
                continue  # a delete for something we never saw, or a handled, archived one
            self._adopt_legacy_customer(m)
            known = self.customers.get(m.customer)
            try:
                t = self.rules.triage(m, prior=known["contacts"] if known else (), now=now)
            except Exception:
                log.exception("could not triage %s; skipped", key)
                self.rejected += 1
                continue
            cust = self._customer(m)
            conv = self._conversation_for(m, t)
            seq = self._next("seq")
            self.mentions[key] = m
            self.triages[key] = t
            self.mention_conv[key] = conv.id
            self.mention_seq[key] = seq
            conv.timeline.append((seq, MENTION, key))
            self.fold.mention(conv, key, seq, m.created_at, m.deleted, t)
            self._after_change(conv)
            cust["contacts"] = (cust["contacts"] + [m.created_at])[-PRIOR_KEPT:]
            self._put_mention(key)
            self._put_customer(conv.customer)
            alert = "critical" if t.needs_reply and t.rank == 0 and conv.status == OPEN else None
            results.append(Ingested(m, t, conv.id, True, alert))
            changed.add(conv.id)

    @property
    def not_saving(self) -> str | None:
        """None while every change is written; else the line to show everywhere: "NOT SAVING
        — disk full (free 0 MB)" (plus how many changes wait in memory)."""
        fault = getattr(self.store, "fault", None)
        if fault is None:
            return None
        pending = getattr(self.store, "pending", 0)
        return f"{fault}; {pending} changes held in memory" if pending else fault

    def retry_save(self) -> bool:
        """Try to write what is held in memory; True when nothing is left unsaved."""
        if self.store is None or getattr(self.store, "read_only", False):
            return True
        from .store import StoreNotSaving

        try:
            self.store.flush()
        except StoreNotSaving:
            return False
        return True

    def _check_saving(self) -> None:
        """Refuse an agent action while the store cannot write (after one retry)."""
        store = self.store
        if store is None or store.fault is None:
            return
        if not self.retry_save():
            raise NotSaving(store.fault or "the desk cannot save",
                            "actions are refused until the desk can save again (free some "
                            "space; it retries by itself)")

    def _update_known(self, m: Mention, now: datetime) -> Ingested | None:
        key = m.key
        old = self.mentions[key]
        if self._observe_dm(self.customers.get(old.customer), m):
            # A re-read (backfill, edit refresh) says what their DM settings are now.
            self._put_customer(old.customer)
            cid = self.mention_conv.get(key)
            conv = self.conversations.get(cid) if cid else None
            if conv is not None:
                self._notify({conv.id})
        if m.deleted == old.deleted and m.text == old.text:
            return None  # a duplicate (stream + backfill overlap): nothing to do
        cid = self.mention_conv[key]
        conv = self.conversations.get(cid)
        if m.deleted:
            updated = _replace(old, deleted=True)
            t = self.triages[key]
        else:
            updated = _replace(old, text=m.text, edited=True)
            cust = self.customers.get(old.customer, {"contacts": []})
            prior = [c for c in cust["contacts"] if c < old.created_at]
            t = self.rules.triage(updated, prior=prior, now=now)
            self.triages[key] = t
        self.mentions[key] = updated
        self._put_mention(key)
        if conv is not None:
            self._refold(conv)
        return Ingested(updated, t, cid, False)

    def _customer(self, m: Mention) -> dict[str, Any]:
        cust = self.customers.get(m.customer)
        if cust is None:
            cust = self.customers[m.customer] = {
                "customer": m.customer, "handle": m.author.handle, "source": m.source,
                "id": m.author.id,
                "first_seen": iso(m.created_at), "contacts": [], "conversations": [],
            }
        # The profile follows the newest message by time (names and follower counts change);
        # an older message arriving late (a backfill page) never brings back an old name.
        newest = cust.get("profile_at")  # compared as times: ".5Z" is later than "Z"
        if newest is None or m.created_at >= parse_time(newest):
            cust["profile_at"] = iso(m.created_at)
            cust["name"] = m.author.name or cust.get("name", "")
            cust["followers"] = m.author.followers
            cust["verified"] = m.author.verified
            if cust.get("handle") != m.author.handle:
                # A new handle (same account id): every conversation shows the current one,
                # and replies address it.
                cust["handle"] = m.author.handle
                for cid in cust.get("conversations", []):
                    conv = self.conversations.get(cid)
                    if conv is not None and conv.handle != m.author.handle:
                        conv.handle = m.author.handle
                        if self.store is not None:
                            self.store.put("conversations", cid, conv.header())
        self._observe_dm(cust, m)
        return cust

    def _observe_dm(self, cust: dict[str, Any] | None, m: Mention) -> bool:
        """Keep what the network last said about reaching the customer by DM (who they accept
        DMs from, whether they follow us: ``Author.dms_from`` / ``follows_us``), from the
        message read most recently (``received_at``: an older post read later still shows the
        settings as they are now).  Once the settings change so that a DM can reach them, a
        DM refused earlier is no longer held against them.  True when something changed."""
        if cust is None or (m.author.dms_from is None and m.author.follows_us is None):
            return False
        seen = cust.get("dm_seen_at")
        if seen is not None and m.received_at < parse_time(seen):
            return False
        before = (cust.get("dms_from"), cust.get("follows_us"))
        after = (m.author.dms_from, m.author.follows_us)
        cust["dm_seen_at"] = iso(m.received_at)
        if after == before:
            return False
        cust["dms_from"], cust["follows_us"] = after
        if (before != (None, None) and "dm_refused" in cust
                and dm_closed_reason(m.author.handle, *after) is None):
            del cust["dm_refused"]
        return True

    def dm_closed(self, conv_id: str) -> str | None:
        """Why a direct message from us cannot reach this conversation's customer, or None
        when it can as far as we know: their DM settings as the network last showed them
        (:func:`tui.core.model.dm_closed_reason`), else the reason the last DM to them was
        refused.  Raises KeyError for an unknown conversation."""
        conv = self.get(conv_id)
        cust = self.customers.get(conv.customer, {})
        reason = dm_closed_reason(conv.handle, cust.get("dms_from"), cust.get("follows_us"))
        if reason is None and cust.get("dm_refused"):
            reason = f"the last direct message to @{conv.handle} was refused: {cust['dm_refused']}"
        return reason

    def _adopt_legacy_customer(self, m: Mention) -> None:
        """A customer stored before accounts were keyed by id (``source|handle``) becomes
        ``source|account id`` the first time a message with that id arrives: their history
        stays theirs.  Only a legacy record without an id is adopted, once."""
        new, old = m.customer, m.legacy_customer
        if new == old or new in self.customers:
            return
        cust = self.customers.get(old)
        if cust is None or cust.get("id"):
            return
        del self.customers[old]
        cust["customer"], cust["id"] = new, m.author.id
        self.customers[new] = cust
        if old in self.current:
            self.current[new] = self.current.pop(old)
        for cid in cust.get("conversations", []):
            conv = self.conversations.get(cid)
            if conv is not None and conv.customer == old:
                conv.customer = new
                if self.store is not None:
                    self.store.put("conversations", cid, conv.header())
        if self.store is not None:
            self.store.delete("customers", old)
            self.store.put("customers", new, self._customer_doc(new))

    def _conversation_for(self, m: Mention, t: Triage) -> Conversation:
        """The customer's current conversation; a resolved one is reopened when they write
        again within the reopen window, otherwise a new conversation starts."""
        cid = self.current.get(m.customer)
        conv = self.conversations.get(cid) if cid else None
        if conv is not None and conv.status in (RESOLVED, IGNORED):
            quiet = (m.created_at - conv.last_activity) if conv.last_activity else timedelta(0)
            if quiet > self.archive_after:
                conv = None
        if conv is None:
            cid = str(self._next("conv"))
            conv = Conversation(cid, m.customer, m.source, m.author.handle, m.created_at)
            self.conversations[cid] = conv
            self.current[m.customer] = cid
            self.customers[m.customer]["conversations"].append(cid)
            if self.store is not None:
                self.store.put("conversations", cid, conv.header())
        return conv

    # ==== actions ==============================================================================

    def reply(self, conv_id: str, text: str, *, agent: str | None = None,
              reply_key: str | None = None, seen_seq: int | None = None,
              group: str | None = None, again: bool = False) -> Event:
        """Reply in the customer's channel (in DMs once the conversation went offline).

        Raises ``AlreadyAnswering`` when an answer is pending or just sent and the customer has
        not written since, or when these exact words were already sent in this conversation
        (a canned reply sent twice reads as a bot), unless ``again``."""
        conv = self.get(conv_id)
        self._check_outgrown(conv, seen_seq, agent)
        if not again:
            self._check_answering(conv)
            self._check_repeat(conv, text)
        target = self.latest_mention(conv)
        if target is None:
            raise ActionRefused("there is no customer message left to reply to")
        channel = self.reply_channel(conv)
        self._check_text(text, channel, conv)
        details = {"text": text, "channel": channel, "reply_key": reply_key}
        details.update(self._case_told(conv, text))
        ev = self._event(conv, "reply", agent, details, group)
        self._post(conv, ev, "reply" if channel == PUBLIC else "dm", channel, text, target)
        self._drop_draft(conv.id, agent)  # sent: the next reply starts from the suggestion
        return self._commit(conv, ev)

    def take_offline(self, conv_id: str, public_text: str | None, dm_text: str, *,
                     agent: str | None = None, seen_seq: int | None = None,
                     group: str | None = None, again: bool = False) -> Event:
        """A public bridge reply ("we've sent you a DM") plus the direct message itself.
        Raises ``AlreadyAnswering`` like ``reply``."""
        conv = self.get(conv_id)
        self._check_outgrown(conv, seen_seq, agent)
        if not again:
            self._check_answering(conv)
            self._check_repeat(conv, dm_text)
        public_target = self.latest_mention(conv, PUBLIC)
        target = self.latest_mention(conv)
        if target is None:
            raise ActionRefused("there is no customer message left to answer")
        reasons: list[str] = []
        if public_text and public_target is not None:
            problems = self._text_problems(public_text, PUBLIC, conv)
            reasons += [f"public reply: {r}" for r in problems]
        reasons += [f"direct message: {r}" for r in self._text_problems(dm_text, DIRECT, conv)]
        if reasons:
            raise ActionRefused(reasons)
        details = {"bridge": public_text if public_target else None, "dm": dm_text}
        details.update(self._case_told(conv, f"{public_text or ''} {dm_text}"))
        ev = self._event(conv, "offline", agent, details, group)
        # DM first: the public "we've sent you a DM" goes only once the DM was delivered, so
        # a customer who cannot receive DMs is never told they have one.
        dm = self._post(conv, ev, "dm", DIRECT, dm_text, target)
        if public_text and public_target is not None:
            self._post(conv, ev, "bridge", PUBLIC, public_text, public_target, after=dm["id"])
        self._drop_draft(conv.id, agent)  # the draft was the DM (or a reply): it was sent
        return self._commit(conv, ev)

    def handoff(self, conv_id: str, team: str, note: str = "", *, agent: str | None = None,
                case_id: str | None = None, group: str | None = None) -> Event:
        """Hand the conversation to a team with a note; opens a case id."""
        conv = self.get(conv_id)
        if team not in self.rules.teams:
            known = ", ".join(sorted(self.rules.teams))
            raise ActionRefused(f"unknown team {team!r}; teams: {known}")
        if case_id is None:
            case_id = conv.case_id or self.peek_case_id()  # one case per conversation
        if case_id == self.peek_case_id():
            self._next("case")
        ev = self._event(conv, "handoff", agent, {"team": team, "note": note,
                                                  "case_id": case_id}, group)
        self._drop_note_draft(conv.id, "handoff", agent)  # handed off: the note went with it
        return self._commit(conv, ev)

    def resolve(self, conv_id: str, close_loop: str | None = None, *,
                agent: str | None = None, group: str | None = None) -> Event:
        """Close the conversation; optionally close the loop publicly."""
        conv = self.get(conv_id)
        target = self.latest_mention(conv, PUBLIC) or self.latest_mention(conv)
        channel = target.channel if target else PUBLIC
        if close_loop:
            if target is None:
                raise ActionRefused("no customer message to close the loop on")
            self._check_text(close_loop, channel, conv)
        ev = self._event(conv, "resolve", agent, {"close_loop": close_loop or None,
                                                  "channel": channel if close_loop else None},
                         group)
        if close_loop and target is not None:
            self._post(conv, ev, "close_loop", channel, close_loop, target)
        return self._commit(conv, ev)

    def snooze_until(self, text: str) -> datetime:
        """The UTC end of a snooze from what an agent typed (``30m``, ``2h``, ``17:30`` office
        time, ``tomorrow`` = the next office opening, an ISO time); ValueError says what to
        write otherwise (``when.parse_until``)."""
        oh = self.rules.office_hours
        return parse_until(text, self.clock(), oh.tz if oh is not None else None,
                           oh.next_open if oh is not None else None)

    def snooze(self, conv_id: str, until: datetime, *, agent: str | None = None,
               group: str | None = None) -> Event:
        conv = self.get(conv_id)
        if until <= self.clock():
            raise ActionRefused("snooze until a time in the future")
        if until - self.clock() > MAX_SNOOZE:
            raise ActionRefused(f"a snooze can last at most {MAX_SNOOZE.days} days; resolve "
                                "the conversation instead (a new message reopens it)")
        if conv.status not in (OPEN, SNOOZED):
            raise ActionRefused(f"only open conversations can be snoozed (#{conv.id} is "
                                f"{conv.status})")
        ev = self._event(conv, "snooze", agent, {"until": iso(until)}, group)
        return self._commit(conv, ev)

    def ignore(self, conv_id: str, reason: str = "spam", *, agent: str | None = None,
               group: str | None = None) -> Event:
        """Mark spam / ignore.  Nothing is deleted: the history keeps every message."""
        conv = self.get(conv_id)
        ev = self._event(conv, "ignore", agent, {"reason": reason}, group)
        return self._commit(conv, ev)

    def reopen(self, conv_id: str, *, agent: str | None = None) -> Event:
        """Bring a snoozed (un-snooze), resolved, ignored or monitor-only conversation back to
        the queue; refused for one already open.  Undone like any action."""
        conv = self.get(conv_id)
        if conv.status == OPEN:
            raise ActionRefused(f"#{conv.id} is already open")
        ev = self._event(conv, "reopen", agent, {"was": conv.status}, None)
        return self._commit(conv, ev)

    def assign(self, conv_id: str, to: str | None = None, *, agent: str | None = None) -> Event:
        conv = self.get(conv_id)
        ev = self._event(conv, "assign", agent, {"to": to or agent or self.agent}, None)
        return self._commit(conv, ev)

    def tag(self, conv_id: str, tag: str, *, agent: str | None = None) -> Event:
        conv = self.get(conv_id)
        tag = tag.strip()
        if not tag:
            raise ActionRefused("a tag cannot be empty")
        remove = tag.startswith("-")
        name = tag.lstrip("-+").strip()
        if not name:
            raise ActionRefused("a tag cannot be empty")
        # Nothing changes, so nothing is recorded (an event would be a false entry in the audit
        # trail, and undo would "undo" nothing).
        if remove and name not in conv.tags:
            raise ActionRefused(f"#{conv.id} has no tag '{name}': nothing to remove")
        if not remove and name in conv.tags:
            raise ActionRefused(f"#{conv.id} is already tagged '{name}'")
        ev = self._event(conv, "tag", agent, {"tag": name, "remove": remove}, None)
        return self._commit(conv, ev)

    def note(self, conv_id: str, text: str, *, agent: str | None = None) -> Event:
        conv = self.get(conv_id)
        if not text.strip():
            raise ActionRefused("a note cannot be empty")
        ev = self._event(conv, "note", agent, {"text": text}, None)
        self._drop_note_draft(conv.id, "note", agent)  # saved: the draft is done (journalled)
        return self._commit(conv, ev)

    def accept(self, conv_id: str, *, agent: str | None = None,
               seen_seq: int | None = None) -> list[Event]:
        """Do the whole suggested action in one step (undone as one step too)."""
        conv = self.get(conv_id)
        self._check_outgrown(conv, seen_seq, agent)
        s = self.suggestion(conv_id)
        group = uuid.uuid4().hex[:12]
        done: list[Event] = []
        if s.idle is not None:
            raise ActionRefused(f"#{conv.id} has nothing waiting for an answer: {s.idle}")
        if s.action == "ignore":
            return [self.ignore(conv_id, reason=s.triage.category, agent=agent, group=group)]
        if s.action == "monitor":
            return [self.resolve(conv_id, agent=agent, group=group)]
        if s.refused:
            raise ActionRefused(s.refused)
        case_id = (conv.case_id or self.peek_case_id()) if s.action == "handoff" else None
        if s.offline and s.dm is not None:
            done.append(self.take_offline(conv_id, s.bridge, s.dm, agent=agent, group=group))
        elif s.text is not None:
            done.append(self.reply(conv_id, s.text, agent=agent, reply_key=s.reply_key,
                                   group=group))
        if s.action == "handoff" and s.team and s.team != conv.team:
            done.append(self.handoff(conv_id, s.team, f"accepted suggestion: {s.triage.why}",
                                     agent=agent, case_id=case_id, group=group))
        if not done:
            raise ActionRefused(f"the suggestion for {s.triage.category} has nothing to send")
        return done

    def undoable(self, *, agent: str | None = None, conv_id: str | None = None) -> Event | None:
        """The event :meth:`undo` would take back for ``agent`` (on ``conv_id`` when given), or
        None: their latest action of the last hour that is not undone.  Reads only — the
        console names it before undoing anything off screen."""
        agent = agent or self.agent
        oldest = self.clock() - UNDO_WINDOW
        for ev in reversed(self.events.values()):  # dict order is seq order (see _load)
            if ev.at < oldest:
                break
            if ev.kind in ("undo", "wake") or ev.undone or ev.agent != agent:
                continue
            if conv_id is not None and ev.conv != str(conv_id):
                continue
            return ev
        return None

    def undo(self, *, agent: str | None = None, conv_id: str | None = None) -> Event:
        """Undo the agent's last action (every event of it, when it was one step of several).

        A reply still held in the outbox is cancelled and its text becomes the conversation's
        draft again (unless a newer draft exists); one already posted cannot be unsent, and the
        undo is refused with the reason.
        """
        agent = agent or self.agent
        self._check_saving()
        last = self.last_action.get(agent)
        if conv_id is None and last is not None and last not in self.events:
            raise ActionRefused("your last action was on a conversation that has since been "
                                "archived; act on it again instead")
        target = self.undoable(agent=agent, conv_id=conv_id)
        if target is None:
            raise ActionRefused("nothing to undo (only actions of the last hour can be undone)")
        group = [target] if target.group is None else [
            e for e in self.events.values() if e.group == target.group and not e.undone]
        items = [i for e in group for i in self.outbox.for_event(e.id)]
        # A post that was tried once may have reached the server even if we never heard back.
        posted = [i for i in items if i["status"] in (SENDING, SENT)
                  or (i["status"] == PENDING and i["attempts"] > 0)]
        if posted:
            sent_at = posted[0].get("sent_at")
            oh = self.rules.office_hours
            when = (local_time(parse_time(sent_at), oh.tz if oh is not None else None,
                               self.clock()) + " office time") if sent_at else "just now"
            raise ActionRefused(
                f"the {posted[0]['kind'].replace('_', ' ')} was already posted ({when}) and "
                "cannot be unsent; add a note or a follow-up instead")
        for item in items:
            if item["status"] not in (CANCELLED, FAILED):
                self.outbox.cancel(item["id"])
        convs: dict[str, Conversation] = {}
        for e in group:
            e.undone = True
            self._put_event(e)
            convs[e.conv] = self.conversations[e.conv]
            text = e.details.get("text") if e.kind == "reply" else (
                e.details.get("dm") if e.kind == "offline" else None)
            audience = e.details.get("channel", PUBLIC) if e.kind == "reply" else DIRECT
            if text and self.own_draft(e.conv, agent) is None:
                # The unsent words come back as the undoing agent's draft, as "undo send" does
                # in a mail client, for the audience they were written for (a DM never becomes
                # a public draft); another agent's draft on the conversation is not touched.
                self._put_own(self.drafts, "drafts", e.conv, agent, {
                    "conv": e.conv, "agent": agent, "text": text,
                    "reply_key": e.details.get("reply_key"), "audience": audience,
                    "at": iso(self.clock())})
        conv = self.conversations[target.conv]
        undo_ev = self._event(conv, "undo", agent, {
            "undid": [e.id for e in group], "kinds": [e.kind for e in group]}, None)
        self.events[undo_ev.id] = undo_ev
        conv.timeline.append((undo_ev.seq, EVENT, undo_ev.id))
        self._put_event(undo_ev)
        for c in convs.values():
            self._refold(c)
        from .store import StoreNotSaving

        try:
            self._flush()
        except StoreNotSaving as exc:
            # Cancelling is the safe direction (nothing is sent), so the undo stays in memory,
            # but the agent is told it is not saved.
            self._notify(set(convs) | {conv.id})
            raise NotSaving(exc.state, "the undo is applied here but NOT SAVED yet; it is "
                            "written as soon as the desk can save again") from exc
        self._notify(set(convs) | {conv.id})
        return undo_ev

    def mark_read(self, conv_id: str) -> int:
        """The agent looks at a conversation: it is read, but still needs a reply (the status
        ``open`` is something else: the conversation is not closed).

        Returns the sequence number seen (:attr:`Conversation.last_seq`: the customer's
        messages *and* every agent's actions shown with them), to pass back as ``seen_seq``
        when replying — what others did before the agent opened it is not "since"."""
        conv = self.get(conv_id)
        if conv.read_seq < conv.last_mention_seq:
            conv.read_seq = conv.last_mention_seq
            if self.store is not None:
                self.store.put("conversations", conv.id, conv.header())
                self._flush_quietly()
            self._notify({conv.id})
        return conv.last_seq

    def save_draft(self, conv_id: str, text: str, reply_key: str | None = None,
                   audience: str = PUBLIC, *, agent: str | None = None) -> None:
        """Keep ``agent``'s (default: the desk's agent) half-written reply (flushed: it is work
        worth keeping); empty text drops it.  A draft belongs to the agent who wrote it
        (``persist.owned_key``): saving never touches another agent's draft on the
        conversation; a draft saved before drafts had owners is taken over by the agent
        saving.  Sending a reply or a DM drops the sender's draft by itself.  ``audience``:
        PUBLIC or DIRECT, who the words were written for (see :meth:`draft_for`)."""
        me = agent or self.agent
        if text.strip():
            self._put_own(self.drafts, "drafts", conv_id, me, {
                "conv": conv_id, "agent": me, "text": text, "reply_key": reply_key,
                "audience": audience, "at": iso(self.clock())})
            if self.store is not None:
                self._flush_quietly()
        elif self._drop_draft(conv_id, me) and self.store is not None:
            self._flush_quietly()

    def own_draft(self, conv_id: str, agent: str | None = None) -> dict[str, Any] | None:
        """``agent``'s (default: the desk's agent) reply draft on ``conv_id`` whatever its
        audience ({"conv", "agent", "text", "reply_key", "audience", "at"}), or None.  A draft
        saved before drafts had owners (no "agent") is offered to any agent until one saves."""
        return own_doc(self.drafts, conv_id, agent or self.agent)

    def draft_for(self, conv_id: str, audience: str, *,
                  agent: str | None = None) -> dict[str, Any] | None:
        """``agent``'s (default: the desk's agent) draft on the conversation if it may fill a
        composer for ``audience`` (PUBLIC/DIRECT); another agent's draft never does.

        Words never reach a wider audience than the one they were written for (policy: take a
        conversation offline when personal data must be exchanged): a draft written as a DM
        (an undone take-offline, the offline dialog) never fills a public reply; a public draft
        may fill a DM.  A draft saved before drafts recorded their audience counts as a DM.
        """
        draft = self.own_draft(conv_id, agent)
        if draft is None:
            return None
        if audience == DIRECT or draft.get("audience") == PUBLIC:
            return draft
        return None

    def save_note_draft(self, conv_id: str, kind: str, text: str, *,
                        team: str | None = None, agent: str | None = None) -> None:
        """Keep ``agent``'s (default: the desk's agent) half-written internal note (flushed,
        like a reply draft, and like it owned by its agent); empty text drops it.  ``kind``:
        NOTE_DRAFT_KINDS — "note" (the note dialog) or "handoff" (a hand-off's note for the
        team, with the ``team`` picked).  Kept apart from reply drafts (:attr:`note_drafts`,
        table ``note_drafts``): internal words never become a public reply.  Raises KeyError
        for an unknown conversation, ValueError for an unknown kind."""
        if kind not in NOTE_DRAFT_KINDS:
            raise ValueError(f"unknown note draft kind {kind!r} (one of {NOTE_DRAFT_KINDS})")
        self.get(conv_id)
        me = agent or self.agent
        if text.strip():
            self._put_own(self.note_drafts, "note_drafts", f"{conv_id}/{kind}", me, {
                "conv": conv_id, "kind": kind, "agent": me, "text": text, "team": team,
                "at": iso(self.clock())})
            if self.store is not None:
                self._flush_quietly()
        elif self._drop_note_draft(conv_id, kind, me) and self.store is not None:
            self._flush_quietly()

    def note_draft_for(self, conv_id: str, kind: str, *,
                       agent: str | None = None) -> dict[str, Any] | None:
        """``agent``'s (default: the desk's agent) unsaved internal note of ``kind`` on the
        conversation ({"text", "team", "at", ...}) or None; never another agent's."""
        return own_doc(self.note_drafts, f"{conv_id}/{kind}", agent or self.agent)

    def _put_own(self, table: dict[str, dict[str, Any]], name: str, base: str, agent: str,
                 doc: dict[str, Any]) -> None:
        """Keep ``doc`` as ``agent``'s draft under ``base`` (journalled, not flushed); a draft
        from before drafts had owners (key ``base``) is taken over: it goes."""
        key = owned_key(base, agent)
        table[key] = doc
        if self.store is not None:
            self.store.put(name, key, doc)
        if table.pop(base, None) is not None and self.store is not None:
            self.store.delete(name, base)

    def _drop_own(self, table: dict[str, dict[str, Any]], name: str, base: str,
                  agent: str) -> bool:
        """Forget ``agent``'s draft under ``base`` and an ownerless one from before drafts
        had owners (the one this agent was offered); journalled, not flushed.  True if there
        was one."""
        dropped = False
        for key in (owned_key(base, agent), base):
            if table.pop(key, None) is not None:
                dropped = True
                if self.store is not None:
                    self.store.delete(name, key)
        return dropped

    def _drop_note_draft(self, conv_id: str, kind: str, agent: str | None = None) -> bool:
        """Forget ``agent``'s note draft (journalled, not flushed).  True if there was one."""
        return self._drop_own(self.note_drafts, "note_drafts", f"{conv_id}/{kind}",
                              agent or self.agent)

    def _drop_draft(self, conv_id: str, agent: str | None = None) -> bool:
        """Forget ``agent``'s draft on the conversation (journalled, not flushed); other
        agents' drafts stay.  True if there was one."""
        return self._drop_own(self.drafts, "drafts", conv_id, agent or self.agent)

    def tick(self, now: datetime | None = None) -> list[Alert]:
        """Advance the clocks: wake snoozed conversations, raise 75%-of-target warnings —
        the ``ALERT_BURST`` most urgent by name, the others counted per team (``Alert.count``).
        Seconds and instants in UTC; ``now`` defaults to the desk's clock."""
        now = now or self.clock()
        ts = now.timestamp()
        changed = self._wake_snoozes(now)
        reached: list[tuple[float, str, str | None]] = []  # (deadline ts, conv id, team)
        index, convs, team_of = self.index, self.conversations, self.owning_team
        for cid, deadline_ts in index.risks_reached(ts):
            conv = convs.get(cid)
            # A snoozed conversation keeps its warning: snoozing hides it from the queue, not
            # from its deadline (issue 12 item 7).
            if (conv is None or not conv.needs_reply or conv.status not in (OPEN, SNOOZED)
                    or conv.deadline is None or conv.deadline.timestamp() != deadline_ts):
                continue
            index.warned(cid, deadline_ts)
            reached.append((deadline_ts, cid, team_of(conv)))
        named = heapq.nsmallest(ALERT_BURST, reached)  # the most urgent, by name
        alerts = [self._risk_alert(self.conversations[cid], now) for _, cid, _ in named]
        if len(reached) > len(named):
            skip = {cid for _, cid, _ in named}
            alerts += self._counted("at_risk", [r for r in reached if r[1] not in skip], ts)
        self._notify(changed)
        return alerts

    def _risk_alert(self, conv: Conversation, now: datetime) -> Alert:
        left = self.time_left(conv, now) or timedelta(0)
        seconds = left.total_seconds()
        # Already late (a restart, a snooze): say so, never "0 min left".
        when = (f"LATE by {format_time_left(-left) if seconds <= -60 else '<1m'}"
                if seconds <= 0 else f"{int(seconds // 60)} min left")
        snoozed = " (snoozed)" if conv.status == SNOOZED else ""
        return Alert(conv.id, "at_risk", f"#{conv.id} @{conv.handle} ({conv.category}, "
                                         f"{conv.urgency}){snoozed}: {when}",
                     team=self.owning_team(conv))

    def _counted(self, kind: str, items: list[tuple[float, str, str | None]],
                 ts: float) -> list[Alert]:
        """One alert per owning team for ``items`` — (deadline ts, conversation id, team) of
        those beyond ``ALERT_BURST`` — saying how many, and for at-risk ones how many are late
        (deadline at or before ``ts``, UTC seconds); its conversation: the most urgent."""
        teams: dict[str | None, list[Any]] = {}  # team -> [count, late, most urgent item]
        for item in items:
            tally = teams.get(item[2])
            if tally is None:
                teams[item[2]] = [1, item[0] <= ts, item]
                continue
            tally[0] += 1
            tally[1] += item[0] <= ts
            if item < tally[2]:
                tally[2] = item
        alerts = []
        for team, (count, late, first) in teams.items():
            whose = f" for {team}" if team else ""
            if kind == "at_risk":
                text = (f"{count:,} more conversations{whose} near or past their response "
                        f"target ({late:,} late): the queue has them, most urgent first")
            else:
                text = (f"{count:,} more new critical conversations{whose}: the queue has "
                        f"them, most urgent first")
            alerts.append(Alert(first[1], kind, text, team=team, count=count))
        return alerts

    def critical_alerts(self, results: Iterable[Ingested]) -> list[Alert]:
        """The alerts for a batch ``ingest`` filed: each new critical mention that needs an
        answer by name up to ``ALERT_BURST``, the others counted per team."""
        critical = [r for r in results if r.alert == "critical"]
        alerts = []
        for r in critical[:ALERT_BURST]:
            conv = self.conversations.get(r.conv_id)
            alerts.append(Alert(r.conv_id, "critical",
                                f"#{r.conv_id} @{r.mention.author.handle} "
                                f"({r.triage.category}): {r.mention.text[:120]}",
                                team=self.owning_team(conv) if conv is not None else None))
        rest = []
        for r in critical[ALERT_BURST:]:
            conv = self.conversations.get(r.conv_id)
            if conv is not None:
                due = conv.deadline.timestamp() if conv.deadline is not None else math.inf
                rest.append((due, conv.id, self.owning_team(conv)))
        return alerts + self._counted("critical", rest, self.clock().timestamp())

    def _wake_snoozes(self, now: datetime) -> set[str]:
        """Snoozes that ran out wake with a recorded event (so a restart folds the same)."""
        ts = now.timestamp()
        changed: set[str] = set()
        for cid in self.index.snoozes_ending(ts):
            conv = self.conversations.get(cid)
            if conv and conv.status == SNOOZED and conv.snoozed_until and conv.snoozed_until <= now:
                self._commit(conv, self._event(conv, "wake", SYSTEM, {
                    "snoozed_until": iso(conv.snoozed_until)}, None), notify=False)
                changed.add(conv.id)
        return changed

    # ==== persistence ==========================================================================

    def flush(self) -> None:
        """Write what is buffered; raises ``StoreNotSaving`` when the disk refuses."""
        self._flush()

    def _flush_quietly(self) -> None:
        """Flush; a failed write keeps the changes in memory and shows in ``not_saving``."""
        if self.store is not None:
            from .store import StoreNotSaving

            with contextlib.suppress(StoreNotSaving):
                self.store.flush()

    def dump(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every hot table, for a store checkpoint."""
        tables: dict[str, dict[str, dict[str, Any]]] = {
            "mentions": {k: self._mention_doc(k) for k in self.mentions},
            "events": {k: e.to_dict() for k, e in self.events.items()},
            "conversations": {k: c.header() for k, c in self.conversations.items()},
            "customers": {k: self._customer_doc(k) for k in self.customers},
            "outbox": dict(self.outbox.items),
            "drafts": dict(self.drafts),
            "note_drafts": dict(self.note_drafts),
            "approvals": dict(self.approvals),
            "meta": {"counters": dict(self.meta), "last_action": dict(self.last_action),
                     "checkpoint": {"at": iso(self.last_checkpoint)}},
            "seen": dict(self.archived_keys),
            "positions": {k: dict(v) for k, v in self.positions.items()},
        }
        return tables

    def _expire_seen(self, now: datetime) -> None:
        forget_before = iso(now - SEEN_KEPT)
        for key in [k for k, v in self.archived_keys.items() if v["at"] < forget_before]:
            del self.archived_keys[key]
            self.store.delete("seen", key)  # type: ignore[union-attr]

    def _archivable(self, now: datetime) -> list[Conversation]:
        return [c for c in self.conversations.values() if self._can_archive(c, now)]

    def _can_archive(self, conv: Conversation, now: datetime) -> bool:
        """A handled conversation quiet for ``archive_after`` with nothing left to send."""
        return (conv.status in (RESOLVED, IGNORED) and conv.last_activity is not None
                and now - conv.last_activity > self.archive_after
                and not any(i["status"] in OPEN_STATES
                            for i in self.outbox.for_conversation(conv.id)))

    def checkpoint(self) -> int:
        """Archive handled conversations out of the hot file, then snapshot, here and now (a
        one-shot command's close, the console's quit; the running desk uses
        :meth:`begin_checkpoint`).  Returns the number of conversations archived."""
        if self.store is None:
            return 0
        if self._work is not None:  # a background one: cancelled (the store), redone here
            self._work.close()
            self._work = None
        now = self.clock()
        self._expire_seen(now)
        old = self._archivable(now)
        if old:
            by_month = persist.archive_plan(old, self._mention_doc, self.events,
                                            self.outbox.for_conversation)
            for tables in by_month.values():
                for key, doc in tables["mentions"].items():
                    entry = {"conv": doc["conv"], "at": doc["created_at"]}
                    self.archived_keys[key] = entry
                    self.store.put("seen", key, entry)
            # The id counters go to the journal before archive() removes the documents they
            # were derived from: a crash in between must never let an id be given twice.
            self.store.put("meta", "counters", dict(self.meta))
            for month, tables in sorted(by_month.items()):
                self.store.archive(tables, month=month)
            for conv in old:
                self._forget(conv)
        before, self.last_checkpoint = self.last_checkpoint, now  # dump() records it
        try:
            self.store.checkpoint(self.dump)
        except BaseException:
            self.last_checkpoint = before
            raise
        return len(old)

    def begin_checkpoint(self) -> bool:
        """Start a checkpoint that never blocks the caller's loop for long: the desk's part
        (choosing what to archive, then dropping it from the hot tables) runs in slices of at
        most ``SLICE_SECONDS`` from :meth:`poll_checkpoint`; the snapshot and the archive files
        are written by the store's thread from its files (``Store.begin_checkpoint``).  False
        when one runs already (or there is no store to write).  Raises StoreNotSaving when the
        journal cannot be written (nothing changed)."""
        store = self.store
        if store is None or store.read_only or self._work is not None or \
                store.checkpoint_running:
            return False
        self._work = self._checkpoint_work()
        self.poll_checkpoint()
        return True

    @property
    def checkpoint_running(self) -> bool:
        """A checkpoint started by :meth:`begin_checkpoint` is not finished."""
        return self._work is not None

    @property
    def checkpoint_busy(self) -> bool:
        """The running checkpoint has loop work to do now (poll again at once), rather than
        waiting for the store's thread (poll in a while)."""
        return self._work is not None and self._work_busy

    def poll_checkpoint(self) -> int | None:
        """Run the next slice (at most ``SLICE_SECONDS``) of a checkpoint started by
        :meth:`begin_checkpoint`.  Returns the number of conversations archived once it is
        done, else None (None too when none runs).  Raises StoreNotSaving when it failed:
        nothing is lost (the journal holds everything), the store's ``checkpoint_error`` says
        why, and the next :meth:`maintain` tries again."""
        work = self._work
        if work is None:
            return None
        deadline = time.perf_counter() + SLICE_SECONDS
        try:
            # The collector paused for the slice, as for an ingest batch: choosing what to
            # archive copies every archived conversation's documents (millions of acyclic
            # objects at 100,000), and each full collection started meanwhile walked them all
            # (835 ms, measured by bench_desk_process.py --only archive at 100,000).
            with paused_gc():
                while True:
                    self._work_busy = next(work)
                    if not self._work_busy or time.perf_counter() > deadline:
                        return None
        except StopIteration as done:
            self._work = None
            return done.value
        except BaseException:
            self._work = None
            raise

    def _checkpoint_work(self) -> Generator[bool, None, int | None]:
        """The desk's part of a background checkpoint; yields True when it wants the loop
        again at once, False while the store's thread writes."""
        store = self.store
        assert store is not None
        now = self.clock()
        forget_before = iso(now - SEEN_KEPT)
        for i, (key, entry) in enumerate(list(self.archived_keys.items())):
            if entry["at"] < forget_before and self.archived_keys.get(key) is entry:
                del self.archived_keys[key]
                store.delete("seen", key)
            if i % 1024 == 1023:
                yield True
        candidates = []
        for i, conv in enumerate(list(self.conversations.values())):
            if conv.status in (RESOLVED, IGNORED):  # the cheap test first; all of it below
                candidates.append(conv)
            if i % 2048 == 2047:
                yield True
        old: list[Conversation] = []
        job: dict[str, dict[str, dict[str, Any]]] = {}
        marks: dict[str, tuple[Any, ...]] = {}
        for i, conv in enumerate(candidates):
            if self.conversations.get(conv.id) is conv and self._can_archive(conv, now):
                for month, tables in persist.archive_job([conv], self.outbox.for_conversation
                                                         ).items():
                    into = job.setdefault(month, {})
                    for table, docs in tables.items():
                        into.setdefault(table, {}).update(docs)
                marks[conv.id] = self._archive_mark(conv)
                old.append(conv)
            if i % ARCHIVE_STEP == ARCHIVE_STEP - 1:
                yield True
        before, self.last_checkpoint = self.last_checkpoint, now
        # What dump() adds to the files' state, so the snapshot holds it too.
        store.put("meta", "counters", dict(self.meta))
        store.put("meta", "last_action", dict(self.last_action))
        store.put("meta", "checkpoint", {"at": iso(now)})
        try:
            store.begin_checkpoint(job)
            while True:
                result = store.poll_checkpoint()
                if result is not None:
                    break
                if not store.checkpoint_running:
                    return None  # cancelled by a checkpoint here
                yield False
        except BaseException:
            self.last_checkpoint = before
            raise
        store.auto_flush_ops = BULK_FLUSH_OPS
        try:
            archived = yield from self._drop_archived(old, marks, result.missing)
        finally:
            store.auto_flush_ops = AUTO_FLUSH_OPS
        # What this held (the archive's copies, the archived conversations) is freed a piece
        # per step: all at once it held the loop for 500 ms at 100,000 (release_piecewise).
        del candidates
        for part, levels in ((marks, 1), (job, 3), (old, 1)):
            for _ in release_piecewise(part, levels):
                yield True
        return archived

    def _drop_archived(self, old: list[Conversation], marks: dict[str, tuple[Any, ...]],
                       missing: set[tuple[str, str]]) -> Generator[bool, None, int]:
        """Drop the conversations the checkpoint archived from the hot tables, 16 per step;
        one left unchanged since the archive was planned (``marks``) and wholly in the files
        (none of its keys ``missing``).  Returns how many were dropped.

        The deletes are written every half second, not per step: each flush is an fsync on
        the loop (one per 32 conversations made 1,562 of them at 100,000, each up to 250 ms on
        a busy disk).  Lost in a crash, they only leave archived conversations hot again (the
        snapshot and the archive both hold them; the next checkpoint archives them again)."""
        store = self.store
        assert store is not None
        archived = 0
        flushed = time.monotonic()
        for start in range(0, len(old), ARCHIVE_STEP):
            batch = []
            for conv in old[start:start + ARCHIVE_STEP]:
                keys = {("conversations", conv.id)} | {
                    ("mentions" if tag == MENTION else "events", key)
                    for _, tag, key in conv.timeline}
                # Changed since the snapshot (a note, a reopen): it stays hot; the archive's
                # copy is replaced when it is archived again.
                if (self.conversations.get(conv.id) is conv
                        and self._archive_mark(conv) == marks[conv.id]
                        and not keys & missing):
                    batch.append(conv)
            for conv in batch:
                for _, tag, key in conv.timeline:
                    if tag == MENTION:
                        entry = {"conv": conv.id, "at": iso(self.mentions[key].created_at)}
                        self.archived_keys[key] = entry
                        store.put("seen", key, entry)
            if batch:
                # The id counters before the documents they were derived from go.
                store.put("meta", "counters", dict(self.meta))
            for conv in batch:
                store.delete("conversations", conv.id)
                for _, tag, key in conv.timeline:
                    store.delete("mentions" if tag == MENTION else "events", key)
                for item in self.outbox.for_conversation(conv.id):
                    store.delete("outbox", item["id"])
            gone = {conv.id for conv in batch}
            for key in drafts_of(self.drafts, gone):
                store.delete("drafts", key)
            for key in drafts_of(self.note_drafts, gone):
                store.delete("note_drafts", key)
            if time.monotonic() - flushed >= 0.5 or start + ARCHIVE_STEP >= len(old):
                self._flush_quietly()
                flushed = time.monotonic()
            for conv in batch:
                self._forget(conv)
            archived += len(batch)
            yield True
        return archived

    def _archive_mark(self, conv: Conversation) -> tuple[Any, ...]:
        """What must not change between a background checkpoint's start and its end for a
        conversation it archived to leave the hot tables."""
        return (conv.status, len(conv.timeline), conv.last_activity, conv.header(),
                [(i["id"], i["status"]) for i in self.outbox.for_conversation(conv.id)])

    def maintain(self, now: datetime | None = None, *, background: bool = False
                 ) -> int | None:
        """Checkpoint when an hour has passed or the journal grew large, so a desk that runs
        for days keeps a short journal and archives what was handled.  Returns the number of
        conversations archived, or None when it was not time yet.  ``background`` (the
        running desk: the runner calls it every few seconds while one runs): start a
        background checkpoint when due, and finish one that is done — its count is returned
        then."""
        if self.store is None or self.store.read_only:
            return None
        if self._work is not None:
            if background:
                return self.poll_checkpoint()
            self._work.close()  # a closing one-shot command: done here instead, when due
            self._work = None
        if getattr(self.store, "fault", None) is not None and not self.retry_save():
            return None  # nothing can be written now; the next call tries again
        now = now or self.clock()
        if now - self.last_checkpoint < CHECKPOINT_EVERY and not self.store.needs_checkpoint:
            return None
        if background:
            self.begin_checkpoint()
            return None
        return self.checkpoint()

    def maintain_in_background(self, now: datetime | None = None) -> int | None:
        """:meth:`maintain` for a running desk (the runner): checkpoints without blocking."""
        return self.maintain(now, background=True)

    # ==== source positions =====================================================================

    def source_position(self, source: str) -> dict[str, Any]:
        """Where ``source`` stopped reading (its own keys: a notification id, a cursor time);
        ``{}`` when it never ran on this data directory."""
        return dict(self.positions.get(source, {}))

    def save_source_position(self, source: str, position: dict[str, Any]) -> None:
        """Store (and flush) a source's position; the runner calls it only after the mentions
        read before that position were ingested."""
        doc = {k: v for k, v in position.items() if k != "_k"}
        if self.positions.get(source) == doc:
            return
        self.positions[source] = doc
        if self.store is not None and not getattr(self.store, "read_only", False):
            self.store.put("positions", source, doc)
            self.store.flush()

    def knows(self, mention_key: str) -> bool:
        """Whether the desk holds (or archived) the mention ``source|id``."""
        return mention_key in self.mentions or mention_key in self.archived_keys

    def _forget(self, conv: Conversation) -> None:
        for _, kind, key in conv.timeline:
            if kind == MENTION:
                self.mentions.pop(key, None)
                self.triages.pop(key, None)
                self.mention_conv.pop(key, None)
                self.mention_seq.pop(key, None)
            else:
                self.events.pop(key, None)
        for item in self.outbox.for_conversation(conv.id):
            self.outbox.forget(item["id"])
        for key in drafts_of(self.drafts, {conv.id}):
            del self.drafts[key]
        for key in drafts_of(self.note_drafts, {conv.id}):
            del self.note_drafts[key]
        del self.conversations[conv.id]
        if self.current.get(conv.customer) == conv.id:
            del self.current[conv.customer]
            left = [c for c in self.customers.get(conv.customer, {}).get("conversations", [])
                    if c in self.conversations]
            if left:
                self.current[conv.customer] = max(left, key=int)
        conv.needs_reply, conv.status = False, RESOLVED
        self.index.update(conv)
        self.queue.remove(conv.id)
        for v in self.views:
            v.remove(conv.id)

    def _mention_doc(self, key: str) -> dict[str, Any]:
        return persist.mention_doc(self.mentions[key], self.mention_conv[key],
                                   self.mention_seq[key], self.triages[key])

    def _put_mention(self, key: str) -> None:
        if self.store is not None:
            self.store.put("mentions", key, self._mention_doc(key))

    def _customer_doc(self, customer: str) -> dict[str, Any]:
        return persist.customer_doc(self.customers[customer])

    def _put_customer(self, customer: str) -> None:
        if self.store is not None:
            self.store.put("customers", customer, self._customer_doc(customer))

    def _put_event(self, ev: Event) -> None:
        if self.store is not None:
            self.store.put("events", ev.id, ev.to_dict())

    def _flush(self) -> None:
        if self.store is not None:
            self.store.flush()

    def _load(self, tables: dict[str, dict[str, dict[str, Any]]]) -> None:
        loaded = persist.load(tables, self.meta, triage=lambda m: self.rules.triage(
            m, prior=(), now=m.created_at))
        self.meta = loaded.counters
        self.last_action = loaded.last_action
        self.archived_keys = loaded.archived_keys
        self.positions = {k: {f: v for f, v in doc.items() if f != "_k"}
                          for k, doc in tables.get("positions", {}).items()
                          if isinstance(doc, dict)}
        self.customers = loaded.customers
        self.conversations = loaded.conversations
        self.current = loaded.current
        self.mentions = loaded.mentions
        self.triages = loaded.triages
        self.mention_conv = loaded.mention_conv
        self.mention_seq = loaded.mention_seq
        self.events = loaded.events
        self.outbox.restore(loaded.outbox)
        self.drafts = loaded.drafts
        self.note_drafts = loaded.note_drafts
        self.approvals = loaded.approvals
        self._fold_all()
        # When the last checkpoint was, so every writer (a cron-driven ``ingest --once`` too)
        # checkpoints and archives when due: the desk's own record, else the snapshot's time,
        # else (never checkpointed, but a journal) due now.
        snapshot_at = getattr(self.store, "snapshot_at", None)
        if loaded.checkpoint_at is not None:
            self.last_checkpoint = loaded.checkpoint_at
        elif isinstance(snapshot_at, datetime):
            self.last_checkpoint = snapshot_at
        elif getattr(self.store, "journal_ops", 0):
            self.last_checkpoint = self.clock() - CHECKPOINT_EVERY
        self._report_repairs(loaded)

    # Desk attributes a state image holds (``image_state``), as ``_load`` builds them.
    _IMAGE_FIELDS = ("mentions", "triages", "mention_conv", "mention_seq", "events",
                     "conversations", "current", "customers", "drafts", "note_drafts",
                     "approvals", "meta", "last_action", "archived_keys", "positions",
                     "last_checkpoint")

    def image_state(self) -> dict[str, Any]:
        """The loaded desk for a state image (``tui.core.image``): what ``_load`` builds from
        the store's tables, conversations already folded; the queue and the deadline index are
        derived again on restore.  Shares this desk's objects (pickle it, do not change it)."""
        state = {name: getattr(self, name) for name in self._IMAGE_FIELDS}
        state["outbox"] = self.outbox.items
        # The queue and the deadline index as a load builds them (not the running ones: the
        # tick has popped alerts from those), so the next start need not sort 100,000 again.
        convs = list(self.conversations.values())
        index = DeadlineIndex()
        index.load(convs)
        queue = Queue(predicate=self.queue.predicate)
        queue.load((conv.id, sort_key(conv), conv) for conv in convs)
        state["index"] = index
        state["counts_basis"] = index.counts_basis()
        assignees: dict[str, set[str]] = {}
        for conv in convs:
            if conv.assigned is not None:
                assignees.setdefault(conv.assigned, set()).add(conv.id)
        state["assignees"] = assignees
        state["queue"] = (queue._items, queue._keys)
        return state

    def _restored(self, state: dict[str, Any]) -> bool:
        """``_restore``; False (logged, the desk emptied again) when the image's state does
        not fit this desk after all: the caller loads from the store instead."""
        try:
            self._restore(state)
        except Exception as exc:  # an image is only a cache: never a reason not to start
            log.warning("state image not used: %s: %s", type(exc).__name__, exc)
            self._unrestore()
            return False
        return True

    def _unrestore(self) -> None:
        later, self._later = self._later, None
        if later is not None:
            later.close()
        self._pending = set()
        self._counts_basis = None
        self._assignees = None
        self.index = DeadlineIndex()
        self.queue.clear()
        self.outbox.restore({})
        self.from_image = False

    def _restore(self, state: dict[str, Any]) -> None:
        """The desk from ``image_state`` of a desk closed cleanly: the same state ``_load``
        builds from the store (tests/durability/test_state_image.py compares them).  The
        names of ``IMAGE_LATER`` the image left for later (``state["later"]``, a generator:
        ``tui.core.image.Image.body``) are read by :meth:`load_later`, or at once by the first
        use of any of them."""
        later = state.get("later")
        for name in (*self._IMAGE_FIELDS, "index"):
            if name in state:
                setattr(self, name, state[name])
            elif later is None or name not in self.IMAGE_LATER:
                raise ValueError(f"the image holds no {name}")
        self.outbox.restore(state["outbox"])
        self.queue._items, self.queue._keys = state["queue"]
        self.queue.version += 1
        self._assignees = state.get("assignees")  # (an image before it: built at first use)
        if self.views:
            items = [(conv.id, sort_key(conv), conv) for conv in self.conversations.values()]
            for view in self.views:
                view.load(items)
        self.from_image = True
        self._later = later
        self._pending = {n for n in self.IMAGE_LATER if n not in state} if later else set()
        self._counts_basis = state.get("counts_basis") if "index" in self._pending else None
        self._wake_pending = later is not None
        if self.store is not None:
            self.store.adopt_keys({
                "mentions": set(self.mentions), "events": set(self.events),
                "conversations": set(self.conversations),
                "outbox": set(self.outbox.items), "drafts": set(self.drafts),
                "note_drafts": set(self.note_drafts), "approvals": set(self.approvals),
                "meta": {"counters", "last_action", "checkpoint"},
                "seen": set(self.archived_keys), "positions": set(self.positions)})
            if "customers" not in self._pending:
                self.store.adopt_keys({"customers": set(self.customers)})

    @property
    def reading_image(self) -> bool:
        """True while parts of a state image are still to read (:meth:`load_later`)."""
        return self._later is not None

    def load_later(self) -> bool:
        """Read one more frame of what the state image left for later (at most
        ``tui.core.image.CHUNK`` items: ~4 ms at 100,000 conversations, the longest ~25 ms);
        True while more remains.  The desk process calls it between serving its clients right
        after it started (issue 9: cold start).  A part that cannot be read (it passed the image's
        CRC-32, so only a bug) is logged and the desk is read from the store instead."""
        later = self._later
        if later is None:
            return False
        try:
            item = next(later)
        except StopIteration:
            self._later = None
            if self._pending:  # an image written with fewer later parts: never half-built
                self._fail_later(ValueError(f"the image holds no {sorted(self._pending)}"))
            return False
        except Exception as exc:
            self._fail_later(exc)
            return False
        if item is not None:
            name, value = item
            setattr(self, name, value)
            self._pending.discard(name)
            if name == "customers" and self.store is not None:
                self.store.adopt_keys({"customers": set(value)})
            if name == "index":
                self._counts_basis = None
            if not self._pending:  # all read: the image's file is let go at once
                self._later = None
                later.close()
                return False
        return True

    def _fail_later(self, exc: Exception) -> None:
        log.error("state image: its later part could not be read (%s: %s); reading the desk "
                  "from its store (the image is not read again)", type(exc).__name__, exc)
        self._unrestore()
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.flush()
            with paused_gc():
                self._load(self.store.recover_now())

    def finish_start(self) -> None:
        """Finish what a start from a state image left for later: read the rest
        (:meth:`finish_loading`), then wake the snoozes that ran out while the desk was closed
        (what the constructor does at once without a later part), telling the listeners."""
        if not self._wake_pending:
            return
        self.finish_loading()
        self._wake_pending = False
        if self.store is not None and not self.store.read_only:
            self._notify(self._wake_snoozes(self.clock()))

    def finish_loading(self, name: str | None = None) -> None:
        """Read what the state image left for later now: all of it, or up to ``name`` (see
        :meth:`load_later`)."""
        if self._later is None:
            return
        started = time.monotonic()
        while self._later is not None and (name is None or name in self._pending):
            self.load_later()
        took = time.monotonic() - started
        if name is not None:  # asked for before its turn: worth a line when it held things up
            (log.info if took >= 0.05 else log.debug)(
                "state image: read up to %s at once (asked for before its turn) in %.2f s",
                name, took)

    # ==== a replica (a console attached to a desk process) =====================================

    def conversation_docs(self, conv_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Every document of the conversations ``conv_ids`` in the store's table shapes
        (``conversations``, ``mentions``, ``events``, ``customers``, ``outbox``, ``drafts``,
        ``note_drafts``, ``approvals``): what a replica needs to hold them as this desk does.
        A conversation that left the desk (archived) has no header in it."""
        out: dict[str, dict[str, Any]] = {t: {} for t in (
            "conversations", "mentions", "events", "customers", "outbox", "drafts",
            "note_drafts", "approvals")}
        for cid in conv_ids:
            conv = self.conversations.get(cid)
            if conv is None:
                continue
            out["conversations"][cid] = conv.header()
            for seq, kind, key in conv.timeline:
                if kind == MENTION:
                    # Its conversation and seq from the timeline, not from ``mention_conv`` /
                    # ``mention_seq`` (the same values): a replica attaching right after a
                    # cold start need not wait for a state image's maps (``IMAGE_LATER``).
                    out["mentions"][key] = persist.mention_doc(self.mentions[key], cid, seq,
                                                               self.triages[key])
                else:
                    out["events"][key] = self.events[key].to_dict()
            if conv.customer in self.customers:
                out["customers"][conv.customer] = self._customer_doc(conv.customer)
            for item in self.outbox.for_conversation(cid):
                out["outbox"][item["id"]] = item
        # One pass over each drafts table for all of them (not one per conversation: a load
        # of 100,000 conversations in chunks would read every draft 100,000 times).
        held = set(out["conversations"])
        for key in drafts_of(self.drafts, held):
            out["drafts"][key] = self.drafts[key]
        for key in drafts_of(self.note_drafts, held):
            out["note_drafts"][key] = self.note_drafts[key]
        for aid, item in self.approvals.items():
            if item.get("conv_id") in out["conversations"]:
                out["approvals"][aid] = item
        return out

    def replace_conversations(self, conv_ids: Iterable[str],
                              tables: dict[str, dict[str, Any]]) -> None:
        """A replica's update (never on a desk with a store): forget what this desk holds of
        ``conv_ids`` and hold them as ``tables`` (from :meth:`conversation_docs` of the desk
        process) has them; one without a header there has left the desk.  Listeners hear of
        every conversation in ``conv_ids``."""
        assert self.store is None, "only a replica takes another desk's documents"
        ids = set(conv_ids)
        for cid in ids:
            conv = self.conversations.get(cid)
            if conv is not None:
                self._forget(conv)
        for aid in [a for a, i in self.approvals.items() if i.get("conv_id") in ids]:
            del self.approvals[aid]
        loaded = persist.load(tables, self.meta)
        self.meta = loaded.counters
        self.customers.update(loaded.customers)
        self.conversations.update(loaded.conversations)
        self.mentions.update(loaded.mentions)
        self.triages.update(loaded.triages)
        self.mention_conv.update(loaded.mention_conv)
        self.mention_seq.update(loaded.mention_seq)
        self.events.update(loaded.events)
        for item in loaded.outbox.values():
            self.outbox._index(item)
        self.drafts.update(loaded.drafts)
        self.note_drafts.update(loaded.note_drafts)
        self.approvals.update(loaded.approvals)
        for customer in {c.customer for c in loaded.conversations.values()}:
            held = [c for c in self.customers[customer].get("conversations", [])
                    if c in self.conversations]
            if held:
                self.current[customer] = max(held, key=lambda c: int(c) if c.isdigit() else 0)
        for conv in loaded.conversations.values():
            self._refold(conv, notify=False)
        self._notify(ids)

    def replace_all(self, tables: dict[str, dict[str, Any]]) -> None:
        """A replica's whole state, from the desk process's ``dump()`` (attach, reconnect):
        listeners hear of every conversation held before or after."""
        assert self.store is None, "only a replica takes another desk's documents"
        before = set(self.conversations)
        self.queue.clear()
        for view in self.views:
            view.clear()
        self.index = DeadlineIndex()
        self.mentions, self.triages, self.events = {}, {}, {}
        self.mention_conv, self.mention_seq, self.current = {}, {}, {}
        with paused_gc():
            self._load(tables)
        self._notify(before | set(self.conversations))

    def _report_repairs(self, loaded: persist.Loaded) -> None:
        """Say what damage made the load repair and where set-aside records went (the
        store's ``recovered`` notes); a writer saves the repairs, so they are made once."""
        store = self.store
        if store is None or not (loaded.repaired or loaded.aside):
            return
        notes = store.recovered
        notes.extend(loaded.repaired)
        where = None
        if loaded.aside:
            where = store.set_aside(loaded.aside)
        for table, key, _doc, why in loaded.aside:
            kept = f"kept in {where.name}" if where is not None else (
                "left in place (a writer keeps it in a side file when it starts)")
            notes.append(f"{table} {key}: {why}; {kept}")
        if getattr(store, "read_only", True):
            return
        for cid in loaded.rebuilt:
            if cid in self.conversations:
                store.put("conversations", cid, self.conversations[cid].header())
        for customer in {self.conversations[c].customer for c in loaded.rebuilt
                         if c in self.conversations}:
            self._put_customer(customer)
        for key in loaded.retriaged:
            self._put_mention(key)
        if where is not None:
            for table, key, _doc, _why in loaded.aside:
                store.delete(table, key)
        self._flush_quietly()

    # ==== folding ==============================================================================

    def _refold(self, conv: Conversation, notify: bool = True) -> None:
        fold = self.fold
        fold.reset(conv)
        for seq, tag, key in conv.timeline:
            if tag == MENTION:
                m = self.mentions[key]
                fold.mention(conv, key, seq, m.created_at, m.deleted, self.triages[key])
            else:
                ev = self.events[key]
                if counts_as_done(ev):
                    fold.event(conv, ev)
        self._after_change(conv)
        if notify:
            self._notify({conv.id})

    def _fold_all(self) -> None:
        """Fold every conversation of a load and index them with one sort each (the same
        state as ``_refold`` of each, without 100,000 sorted inserts)."""
        fold = self.fold
        mentions, triages, events = self.mentions, self.triages, self.events
        convs = list(self.conversations.values())
        fresh = [c for c in convs if c.id not in self.queue and c.id not in self.index._clocks]
        if len(fresh) != len(convs):  # some are indexed already: the careful way
            for conv in convs:
                self._refold(conv, notify=False)
            return
        items = []
        assignees: dict[str, set[str]] = {}
        for conv in convs:
            fold.reset(conv)
            for seq, tag, key in conv.timeline:
                if tag == MENTION:
                    m = mentions[key]
                    fold.mention(conv, key, seq, m.created_at, m.deleted, triages[key])
                else:
                    ev = events[key]
                    if counts_as_done(ev):
                        fold.event(conv, ev)
            items.append((conv.id, sort_key(conv), conv))
            if conv.assigned is not None:
                assignees.setdefault(conv.assigned, set()).add(conv.id)
        self._assignees = assignees
        self.index.load(convs)
        self.queue.load(items)
        for view in self.views:
            view.load(items)

    def sort_key(self, conv: Conversation) -> tuple[Any, ...]:
        return sort_key(conv)

    def _after_change(self, conv: Conversation) -> None:
        if conv.assigned is not None and self._assignees is not None:
            self._assignees.setdefault(conv.assigned, set()).add(conv.id)
        self.index.update(conv)
        key = sort_key(conv)
        self.queue.update(conv.id, key, conv)
        for v in self.views:
            v.update(conv.id, key, conv)
        self.index.schedule(conv)

    # ==== helpers ==============================================================================

    def _next(self, counter: str) -> int:
        # Not journalled: on load each counter is the larger of the snapshot's value and the
        # highest id found in the documents (see _load), so ids are never reused.
        self.meta[counter] += 1
        return self.meta[counter]

    def _event(self, conv: Conversation, kind: str, agent: str | None,
               details: dict[str, Any], group: str | None) -> Event:
        if agent != SYSTEM and kind != "undo":
            self._check_saving()  # before anything changes: a refused action leaves no trace
            if self.store is not None:
                self._action_mark = self.store.mark()
        seq = self._next("seq")
        return Event(f"e{seq}", conv.id, seq, kind, agent or self.agent, self.clock(), details,
                     group, os_user=self.os_user)

    def _commit(self, conv: Conversation, ev: Event, notify: bool = True) -> Event:
        mark, self._action_mark = self._action_mark, None
        before = self.last_action.get(ev.agent)
        self.events[ev.id] = ev
        conv.timeline.append((ev.seq, EVENT, ev.id))
        self._put_event(ev)
        if ev.agent != SYSTEM and ev.kind != "undo":
            self.last_action[ev.agent] = ev.id
            if self.store is not None:
                self.store.put("meta", "last_action", dict(self.last_action))
        self.fold.event(conv, ev)
        self._after_change(conv)
        from .store import StoreNotSaving

        try:
            self._flush()
        except StoreNotSaving as exc:
            if ev.agent == SYSTEM or mark is None or self.store is None:
                log.info("%s; %s kept in memory", exc.state, ev.kind)
            else:
                # The agent is told "not done": take it back, so nothing unsaved shows as done.
                self.store.rollback(mark)
                del self.events[ev.id]
                conv.timeline.remove((ev.seq, EVENT, ev.id))
                for item in self.outbox.for_event(ev.id):
                    self.outbox.forget(item["id"])
                if before is None:
                    self.last_action.pop(ev.agent, None)
                else:
                    self.last_action[ev.agent] = before
                self._refold(conv, notify=notify)
                raise NotSaving(exc.state, f"the {ev.kind} was not done (it could not be "
                                "saved); try again once the desk saves again") from exc
        if notify:
            self._notify({conv.id})
        return ev

    def _post(self, conv: Conversation, ev: Event, kind: str, channel: str, text: str,
              target: Mention, after: str | None = None) -> dict[str, Any]:
        item = self.outbox.new_item(
            conv_id=conv.id, source=conv.source, kind=kind, channel=channel, text=text,
            to=conv.handle, in_reply_to=target.key, in_reply_to_raw=target.raw_id or target.id,
            event_id=ev.id, hold_seconds=self.undo_seconds,
            # Never wider than the post it answers (Mastodon followers-only, unlisted).
            audience=DIRECT if channel == DIRECT else target.visibility, after=after,
            # The customer's content warning stays on our public answer to it.
            content_warning=target.content_warning if channel != DIRECT else None,
            language=target.language)
        self.outbox.add(item)
        return item

    def _on_outbox(self, item: dict[str, Any]) -> None:
        """A direct message that failed for good answered nobody: its action stops counting as
        an answer (the conversation needs a reply again, the reason on its history), the
        public bridge waiting for it is cancelled, and the customer is remembered as not
        reachable by DM (the suggestion says so)."""
        if item.get("kind") != "dm" or item.get("status") not in (FAILED, SENT):
            return
        if item["status"] == SENT:
            conv = self.conversations.get(item.get("conv_id") or "")
            cust = self.customers.get(conv.customer) if conv is not None else None
            if (conv is not None and cust is not None
                    and cust.pop("dm_refused", None) is not None):
                self._put_customer(conv.customer)
            return
        ev = self.events.get(item.get("event_id") or "")
        if ev is None or ev.details.get("undelivered"):
            return
        reason = str(item.get("error") or "the direct message was refused")
        ev.details["undelivered"] = reason
        self._put_event(ev)
        for waiting in self.outbox.waiting_for(item["id"]):
            self.outbox.cancel(waiting["id"], f"not posted: the DM was not delivered ({reason})")
        conv = self.conversations.get(ev.conv)
        if conv is None:
            return
        cust = self.customers.get(conv.customer)
        if cust is not None:
            cust["dm_refused"] = reason
            self._put_customer(conv.customer)
        self._refold(conv)
        self._flush()

    def _case_told(self, conv: Conversation, text: str) -> dict[str, str]:
        """A canned reply may tell the customer a case number before any hand-off: the number is
        then reserved for this conversation, so no other customer is ever given it."""
        if conv.case_id is None and self.peek_case_id() in text:
            return {"case_id": f"CASE-{self._next('case'):05d}"}
        return {}

    def _text_problems(self, text: str, channel: str, conv: Conversation) -> list[str]:
        if not text or not text.strip():
            return ["the message is empty"]
        network = network_of(conv.source)
        limits = self.replies.limits
        own = self.post_limits.get(conv.source)
        if own is not None:  # what the server itself said (Mastodon /api/v2/instance)
            limits = {**(limits or DEFAULT_LIMITS), network: own}
        return check_reply(text, channel=channel, network=network, limits=limits,
                           data=self.render_values(conv).values())

    def set_post_limit(self, source: str, max_characters: int, url_length: int = 23) -> None:
        """The length rule a server announced for its posts (Mastodon ``/api/v2/instance``:
        ``configuration.statuses``), used for that source's replies from now on."""
        self.post_limits[source] = Limit(int(max_characters), "mastodon", int(url_length))

    def _check_text(self, text: str, channel: str, conv: Conversation) -> None:
        problems = self._text_problems(text, channel, conv)
        if problems:
            raise ActionRefused(problems)

    def _check_answering(self, conv: Conversation) -> None:
        """Refuse (typed: ``AlreadyAnswering``) a second answer while one is pending or was
        sent within ``JUST_SENT``, when no customer message arrived after it."""
        now = self.clock()
        for item in reversed(self.outbox.for_conversation(conv.id)):
            if item.get("kind") not in ("reply", "dm", "bridge"):
                continue
            ev = self.events.get(item.get("event_id") or "")
            if ev is None or ev.undone or ev.details.get("undelivered"):
                continue
            if ev.seq < conv.last_mention_seq:
                continue  # the customer wrote after it: a new answer is expected
            recent = (item["status"] == SENT and item.get("sent_at")
                      and now - parse_time(item["sent_at"]) < JUST_SENT)
            if item["status"] in OPEN_STATES or recent:
                raise AlreadyAnswering(item)

    def _check_repeat(self, conv: Conversation, text: str) -> None:
        """Refuse (typed: ``AlreadyAnswering``, so the agent is asked) sending words already
        sent in this conversation: the same canned instructions again after the customer said
        thanks is what a bot does (policy: stay professional, never a wall of repeats)."""
        words = " ".join(text.split()).casefold()
        if not words:
            return
        for item in reversed(self.outbox.for_conversation(conv.id)):
            if item.get("kind") not in ("reply", "dm") or item.get("status") in (CANCELLED,
                                                                                  FAILED):
                continue
            ev = self.events.get(item.get("event_id") or "")
            if ev is None or ev.undone:
                continue
            if " ".join(str(item.get("text") or "").split()).casefold() == words:
                raise AlreadyAnswering(item, repeat=True)

    def _check_outgrown(self, conv: Conversation, seen_seq: int | None,
                        agent: str | None = None) -> None:
        """Refuse an answer prepared on a conversation that changed since ``seen_seq``: new
        customer messages (``Outgrown``), or another agent's answer (two agents sending at the
        same instant: exactly one succeeds)."""
        if seen_seq is None:
            return
        me = agent or self.agent
        changes: list[str] = []  # other agents' non-answer actions, oldest first
        for seq, kind, key in reversed(conv.timeline):
            if seq <= seen_seq:
                break
            ev = self.events.get(key) if kind != MENTION else None
            if ev is None or ev.undone or ev.agent in (me, SYSTEM):
                continue
            if ev.kind in ANSWERS:
                verb = {"reply": "replied", "offline": "took it offline"}[ev.kind]
                raise AlreadyAnswered(ev.agent, verb, ev.kind)
            said = CHANGED_BY.get(ev.kind)
            if said is not None:
                changes.insert(0, f"{ev.agent} {said(ev.details)}")
        newer = sum(1 for seq, kind, key in conv.timeline
                    if kind == MENTION and seq > seen_seq and not self.mentions[key].deleted)
        if newer or changes:
            raise Outgrown(newer, changes)

    def _notify(self, changed: set[str]) -> None:
        if changed:
            for callback in self.listeners:
                callback(changed)


def _replace(m: Mention, **changes: Any) -> Mention:
    d = {name: getattr(m, name) for name in m.__slots__}
    d.update(changes)
    return Mention(**d)
