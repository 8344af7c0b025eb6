"""Shift metrics: response times, SLA hit rates, volumes, risk and sentiment.

The figures are folded from the same timelines the desk folds (customer mentions and events in
arrival order), read from the live desk *and* the store's archive, so a conversation handled and
archived during the window still counts.  Undone events (and the ``undo`` events themselves) are
skipped everywhere: an undone reply never answered anyone.

Definitions (the tests compute every one of them by hand):

*Episode*
    Starts at the first customer message that needs a reply (its triage action is not
    ``monitor``/``ignore``, and it is not deleted) while the conversation is new or was resolved
    or ignored — exactly when the desk's fold (``tui.core.conversation.Fold``) queues it, so a
    least-urgent message after a close (a thank-you) starts no episode, as on the desk.  Later
    customer messages belong to the same episode until a ``resolve`` or ``ignore`` event closes
    it; a message after that starts a new episode, which is *reopened*.
    Before the first answer the episode is governed like the desk's queue: its *level* is the
    urgency of the most urgent unanswered message (rank, then score) and its *deadline* the
    earliest triage deadline among them — exactly the deadline the desk showed the agent.
*Calendar*
    Durations are measured on the episode level's calendar (rules.yaml ``clock:``): office
    hours for ``clock: office`` levels (``rules.levels[level].calendar.elapsed(start, end)``),
    wall time for 24x7 levels.
*First response time* (FRT)
    From the episode's first message (``created_at``) to the first answering event: ``reply`` or
    ``offline``, or a ``resolve`` that closed the loop with a message.  A ``handoff`` is not an
    answer: the customer received nothing from it (the clock keeps running until they do).
    Follow-ups answered later in the same episode are not measured again.
*Handling time*
    From the first answer to the ``resolve`` event.  Agent activity is not observable (an agent
    reading without acting leaves no trace), so this is the standard "first touch to resolution"
    interval; an episode resolved without an answer has none.
*Time to resolution* (TTR)
    From the episode's first message to its ``resolve`` event.  Ignored episodes are not
    resolutions.
*Snoozes*
    Do not stop any clock: a snoozed customer is still waiting.  They are counted instead
    (snooze events in the window, conversations snoozed now).
*SLA*
    Per urgency level, over episodes with a deadline: a *hit* when the first answer came at or
    before the deadline; a *miss* when it came after, or when there was none and the deadline has
    passed (``deadline <= now``, the desk's "breached"), including episodes closed unanswered
    after their deadline.  Unanswered and not yet due is *pending*; closed unanswered before the
    deadline (e.g. resolved as a duplicate) is neither.  Hit rate = hits / (hits + misses).
*Window*
    Episode figures count episodes whose first message is within ``[since, now]``; volumes and
    sentiment count mentions created within it; "resolved" counts resolve events within it.
*Percentiles*
    The median is the middle value (the mean of the two middle ones for an even count); the 90th
    percentile is the nearest-rank value ``sorted[ceil(0.9 * n) - 1]``.
*Sentiment*
    A coarse lexicon measure, not a model: per mention, positive words/emoji count +1, negative
    ones −1 (flipped after "not", "no", "never", "n't"); score = (pos − neg) / (pos + neg), 0 when
    none is found.  The trend is the mean score of the mentions created in each hour of the
    window (hour buckets start at ``since``), 0 for an empty hour.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .conversation import (
    ANSWERS,
    CLOSES,
    MENTION,
    Conversation,
    Fold,
    LevelLike,
    counts_as_done,
    more_urgent,
)
from .hours import ALWAYS
from .model import Triage, iso, parse_time
from .store import paused_gc

if TYPE_CHECKING:
    from .desk import Desk
    from .rules import Rules
    from .store import Store

HOUR = timedelta(hours=1)


# ==== the records metrics read ==================================================================


@dataclass(slots=True)
class MentionRow:
    key: str
    conv: str
    seq: int
    created_at: datetime
    channel: str
    handle: str
    text: str
    deleted: bool
    edited: bool
    triage: Triage


@dataclass(slots=True)
class EventRow:
    id: str
    conv: str
    seq: int
    kind: str
    agent: str
    at: datetime
    details: dict[str, Any]
    group: str | None
    undone: bool
    os_user: str | None = None  # the OS login that did it (issue 9: who is who)


@dataclass(slots=True)
class ConvRecord:
    """One conversation as the reports see it, live or archived."""

    id: str
    handle: str
    source: str
    created_at: datetime
    status: str
    archived: bool
    timeline: list[tuple[int, str, Any]] = field(default_factory=list)  # (seq, "m"|"e", row)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    live: Any = None  # the desk's Conversation when live

    def mentions(self) -> Iterator[MentionRow]:
        return (row for _, kind, row in self.timeline if kind == "m")

    def events(self) -> Iterator[EventRow]:
        return (row for _, kind, row in self.timeline if kind == "e")

    @property
    def last_at(self) -> datetime:
        last = self.created_at
        for _, kind, row in self.timeline:
            at = row.created_at if kind == "m" else row.at
            if at > last:
                last = at
        return last


def live_records(desk: Desk) -> list[ConvRecord]:
    """The desk's hot conversations.  Call on the thread that owns the desk."""
    out = []
    posts: dict[str, list[dict[str, Any]]] = {}  # one pass: outbox.for_conversation is O(items)
    for item in list(desk.outbox.items.values()):
        posts.setdefault(item["conv_id"], []).append(item)
    for conv in list(desk.conversations.values()):
        rec = ConvRecord(conv.id, conv.handle, conv.source, conv.created_at, conv.status, False,
                         live=conv)
        for seq, kind, key in conv.timeline:
            if kind == "m":
                m = desk.mentions[key]
                rec.timeline.append((seq, "m", MentionRow(
                    key, conv.id, seq, m.created_at, m.channel, m.author.handle, m.text,
                    m.deleted, m.edited, desk.triages[key])))
            else:
                e = desk.events[key]
                rec.timeline.append((seq, "e", EventRow(
                    e.id, e.conv, e.seq, e.kind, e.agent, e.at, e.details, e.group, e.undone,
                    e.os_user)))
        rec.outbox = sorted(posts.get(conv.id, ()), key=lambda i: i["created_at"])
        out.append(rec)
    return out


ARCHIVE_TABLES = ("conversations", "mentions", "events")


def archived_parts(store: Store | None, since: datetime | None = None, skip: Iterable[str] = (), *,
                   outbox: bool = True) -> Iterator[list[ConvRecord]]:
    """Archived conversations with any activity at or after ``since``, one archive file at a
    time (oldest month first), so a caller can stream through a year of archive holding one
    month's documents at a time.

    Files that cannot hold anything that happened since ``since`` are not read at all (months
    before its month — the desk archives a conversation whole in the month of its last
    activity — and files whose newest time is older: see ``Store.archive_parts``).
    ``skip``: conversation ids the live desk holds (the live copy wins).  ``outbox=False`` skips
    the archived posts (the figures do not need them).  Safe to call from a worker thread: it
    only reads archive files.
    """
    if store is None:
        return
    skipped = set(skip)
    tables = (*ARCHIVE_TABLES, "outbox") if outbox else ARCHIVE_TABLES
    parts = store.archive_parts(tables, since=since)
    while True:
        with paused_gc():  # not across the yield: the caller's work is its own business
            part = next(parts, None)
            if part is None:
                return
            records = _records(part[1], since, skipped, outbox)
        del part  # the parsed file goes before the next one is read
        yield records


def archived_records(store: Store | None, since: datetime | None = None,
                     skip: Iterable[str] = (), *, outbox: bool = True) -> list[ConvRecord]:
    """Every record of ``archived_parts`` in one list (a conversation archived twice: the later
    month's copy)."""
    recs: dict[str, ConvRecord] = {}
    for part in archived_parts(store, since, skip, outbox=outbox):
        for rec in part:
            recs.pop(rec.id, None)
            recs[rec.id] = rec
    return list(recs.values())


def _records(part: dict[str, dict[str, dict[str, Any]]], since: datetime | None,
             skipped: set[str], outbox: bool) -> list[ConvRecord]:
    """Records of one archive part's conversations active since ``since``."""
    headers = {d["id"]: d for d in part["conversations"].values()
               if d.get("id") and d["id"] not in skipped}
    # Raw documents first, grouped by conversation; rows are built only for the conversations
    # active in the window (a 12h report on a month's file builds few).
    mentions: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    events: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    last: dict[str, datetime] = {}
    for name, grouped, field_ in (("mentions", mentions, "created_at"),
                                  ("events", events, "at")):
        for d in part[name].values():
            cid = d.get("conv")
            if isinstance(cid, str) and cid in headers:
                at = _time(d[field_])
                grouped.setdefault(cid, []).append((at, d))
                if cid not in last or at > last[cid]:
                    last[cid] = at
    recs: dict[str, ConvRecord] = {}
    for cid, h in headers.items():
        created = _time(h["created_at"])
        if since is not None and max(last.get(cid, created), created) < since:
            continue
        rec = recs[cid] = ConvRecord(cid, h.get("handle", ""), h.get("source", ""), created,
                                     h.get("status", "resolved"), True)
        for at, d in mentions.get(cid, ()):
            author = d.get("author") or {}
            rec.timeline.append((d["seq"], "m", MentionRow(
                f"{d['source']}|{d['id']}", cid, d["seq"], at,
                d.get("channel", "public"), author.get("handle", rec.handle), d.get("text", ""),
                bool(d.get("deleted")), bool(d.get("edited")), Triage.from_dict(d["triage"]))))
        for at, d in events.get(cid, ()):
            rec.timeline.append((d["seq"], "e", EventRow(
                d["id"], cid, d["seq"], d["kind"], d.get("agent", ""), at,
                d.get("details") or {}, d.get("group"), bool(d.get("undone")),
                d.get("os_user"))))
        rec.timeline.sort(key=lambda item: item[0])
    if outbox and recs:
        for d in part.get("outbox", {}).values():
            owner = recs.get(str(d.get("conv_id")))
            if owner is not None:
                owner.outbox.append(d)
        for rec in recs.values():
            rec.outbox.sort(key=lambda i: i.get("created_at") or "")
    return list(recs.values())


def _time(value: Any) -> datetime:
    """Our own stored timestamps (``iso()``: UTC, ``Z``) fast; anything else via parse_time."""
    if isinstance(value, str) and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return parse_time(value)


def collect(desk: Desk, since: datetime | None = None, *, outbox: bool = True
            ) -> list[ConvRecord]:
    """Live and archived conversations with activity since ``since``, oldest first."""
    live = live_records(desk)
    if since is not None:
        live = [r for r in live if r.last_at >= since]
    archived = archived_records(desk.store, since, skip=desk.conversations, outbox=outbox)
    recs = live + archived
    recs.sort(key=_order)
    return recs


def collect_parts(desk: Desk, since: datetime | None = None, *, outbox: bool = True
                  ) -> Iterator[list[ConvRecord]]:
    """``collect`` in parts for streaming (the audit export): the archive one month's file at
    a time, oldest first, then the live desk; each part oldest first.  The live desk is read
    first (the thread that owns the desk must call this), the archive after: a conversation
    archived meanwhile by a console checkpoint is then in both, and the live copy wins."""
    live = live_records(desk)
    if since is not None:
        live = [r for r in live if r.last_at >= since]
    for part in archived_parts(desk.store, since, skip=desk.conversations, outbox=outbox):
        part.sort(key=_order)
        yield part
    live.sort(key=_order)
    yield live


def _order(rec: ConvRecord) -> tuple[datetime, tuple[int, str]]:
    return (rec.created_at, _num(rec.id))


def _num(cid: str) -> tuple[int, str]:
    return (int(cid), "") if cid.isdigit() else (0, cid)


# ==== episodes ==================================================================================


@dataclass(slots=True)
class Episode:
    conv: str
    handle: str
    start: datetime
    triage: Triage  # the governing triage when first answered (or now, unanswered)
    deadline: datetime | None
    reopened: bool
    answered_at: datetime | None = None
    answer_kind: str | None = None
    closed_at: datetime | None = None
    close_kind: str | None = None  # "resolve" | "ignore"
    snoozes: int = 0

    @property
    def level(self) -> str:
        return self.triage.urgency

    def sla(self, now: datetime) -> str:
        """``hit`` | ``miss`` | ``pending`` | ``closed`` (closed unanswered in time) | ``none``."""
        if self.deadline is None:
            return "none"
        if self.answered_at is not None:
            return "hit" if self.answered_at <= self.deadline else "miss"
        end = self.closed_at if self.closed_at is not None else now
        if self.closed_at is not None:
            return "miss" if end > self.deadline else "closed"
        return "miss" if self.deadline <= now else "pending"


def episodes(rec: ConvRecord, levels: Mapping[str, LevelLike]
             ) -> tuple[list[Episode], dict[str, Triage]]:
    """The conversation's episodes, and for each live event the triage that governed the
    conversation when it was done (the audit trail's "which rule").

    The timeline is folded with the desk's own :class:`~tui.core.conversation.Fold` (``levels``:
    the rules' urgency levels), so an episode starts exactly when the desk put the conversation
    in the queue as needing a reply, and the governing triage is the one the desk showed."""
    fold = Fold(levels)
    state = Conversation(rec.id, "", rec.source, rec.handle, rec.created_at)
    found: list[Episode] = []
    governing: dict[str, Triage] = {}
    ep: Episode | None = None
    closed_before = False
    for seq, kind, row in rec.timeline:
        if kind == MENTION:
            t = row.triage
            if not fold.mention(state, row.key, seq, row.created_at, row.deleted, t):
                continue
            if ep is None:
                ep = Episode(rec.id, rec.handle, row.created_at, t, t.deadline, closed_before)
                found.append(ep)
            elif ep.answered_at is None:
                if more_urgent(t, ep.triage):
                    ep.triage = t
                if t.deadline is not None and (ep.deadline is None or t.deadline < ep.deadline):
                    ep.deadline = t.deadline
            continue
        if not counts_as_done(row):
            continue
        if state.triage is not None:
            governing[row.id] = state.triage
        fold.event(state, row)
        if ep is None:
            continue
        if row.kind in ANSWERS or (row.kind == "resolve" and row.details.get("close_loop")):
            if ep.answered_at is None:
                ep.answered_at, ep.answer_kind = row.at, row.kind
        if row.kind == "snooze":
            ep.snoozes += 1
        elif row.kind in CLOSES:
            ep.closed_at, ep.close_kind = row.at, row.kind
            ep = None
            closed_before = True
    return found, governing


# ==== figures ===================================================================================


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


@dataclass(slots=True)
class Durations:
    """Seconds, measured on each episode level's calendar."""

    values: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float | None:
        return median(self.values)

    @property
    def p90(self) -> float | None:
        return p90(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median_seconds": self.median, "p90_seconds": self.p90}


@dataclass(slots=True)
class LevelSla:
    level: str
    hits: int = 0
    misses: int = 0
    pending: int = 0
    closed: int = 0

    @property
    def rate(self) -> float | None:
        done = self.hits + self.misses
        return self.hits / done if done else None

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "hits": self.hits, "misses": self.misses,
                "pending": self.pending, "closed_unanswered": self.closed, "hit_rate": self.rate}


@dataclass(slots=True)
class ShiftMetrics:
    since: datetime
    now: datetime
    mentions: int = 0
    conversations_new: int = 0
    episodes: int = 0
    reopened: int = 0
    resolved: int = 0  # resolve events in the window
    snoozes: int = 0  # snooze events in the window
    first_response: Durations = field(default_factory=Durations)
    handling: Durations = field(default_factory=Durations)
    resolution: Durations = field(default_factory=Durations)
    sla: dict[str, LevelSla] = field(default_factory=dict)  # in level rank order
    by_category: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    by_team: dict[str, int] = field(default_factory=dict)
    now_counts: dict[str, int] = field(default_factory=dict)  # desk.counts(): at risk, ...
    sentiment: list[float] = field(default_factory=list)  # mean score per hour bucket
    volume: list[int] = field(default_factory=list)  # mentions per hour bucket
    sentiment_mean: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": iso(self.since), "now": iso(self.now), "mentions": self.mentions,
            "conversations_new": self.conversations_new, "episodes": self.episodes,
            "reopened": self.reopened, "resolved": self.resolved, "snoozes": self.snoozes,
            "first_response": self.first_response.to_dict(),
            "handling": self.handling.to_dict(),
            "resolution": self.resolution.to_dict(),
            "sla": [s.to_dict() for s in self.sla.values()],
            "by_category": self.by_category, "by_channel": self.by_channel,
            "by_team": self.by_team, "right_now": self.now_counts,
            "sentiment_per_hour": [round(v, 3) for v in self.sentiment],
            "mentions_per_hour": self.volume,
            "sentiment_mean": None if self.sentiment_mean is None else round(
                self.sentiment_mean, 3),
        }


def _calendar(rules: Rules, level: str) -> Any:
    lv = rules.levels.get(level)
    return lv.calendar if lv is not None else ALWAYS


def compute(records: Iterable[ConvRecord], rules: Rules, since: datetime, now: datetime,
            now_counts: dict[str, int] | None = None) -> ShiftMetrics:
    """Every figure of the shift ``[since, now]`` from conversation records."""
    out = ShiftMetrics(since, now, now_counts=dict(now_counts or {}))
    levels = sorted(rules.levels.values(), key=lambda lv: lv.rank)
    out.sla = {lv.name: LevelSla(lv.name) for lv in levels if lv.target is not None}
    buckets = max(1, math.ceil((now - since) / HOUR))
    sums = [0.0] * buckets
    volume = [0] * buckets
    scores: list[float] = []
    for rec in records:
        if since <= rec.created_at <= now:
            out.conversations_new += 1
        for m in rec.mentions():
            if not since <= m.created_at <= now:
                continue
            out.mentions += 1
            t = m.triage
            _bump(out.by_category, t.category)
            _bump(out.by_channel, m.channel)
            _bump(out.by_team, t.team or "none")
            s = sentiment(m.text)
            scores.append(s)
            b = min(buckets - 1, int((m.created_at - since) / HOUR))
            sums[b] += s
            volume[b] += 1
        for ev in rec.events():
            if ev.undone or not since <= ev.at <= now:
                continue
            if ev.kind == "resolve":
                out.resolved += 1
            elif ev.kind == "snooze":
                out.snoozes += 1
        found, _ = episodes(rec, rules.levels)
        for ep in found:
            if not since <= ep.start <= now:
                continue
            out.episodes += 1
            out.reopened += ep.reopened
            calendar = _calendar(rules, ep.level)
            if ep.answered_at is not None:
                out.first_response.values.append(
                    calendar.elapsed(ep.start, ep.answered_at).total_seconds())
                if ep.close_kind == "resolve":
                    out.handling.values.append(
                        calendar.elapsed(ep.answered_at, ep.closed_at).total_seconds())
            if ep.close_kind == "resolve":
                out.resolution.values.append(
                    calendar.elapsed(ep.start, ep.closed_at).total_seconds())
            verdict = ep.sla(now)
            sla = out.sla.get(ep.level)
            if sla is None:
                continue
            if verdict == "hit":
                sla.hits += 1
            elif verdict == "miss":
                sla.misses += 1
            elif verdict == "pending":
                sla.pending += 1
            elif verdict == "closed":
                sla.closed += 1
    out.volume = volume
    out.sentiment = [sums[i] / volume[i] if volume[i] else 0.0 for i in range(buckets)]
    out.sentiment_mean = sum(scores) / len(scores) if scores else None
    for name in ("by_category", "by_channel", "by_team"):
        d = getattr(out, name)
        setattr(out, name, dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))))
    return out


def _bump(d: dict[str, int], key: str) -> None:
    d[key] = d.get(key, 0) + 1


def shift_metrics(desk: Desk, since: datetime, now: datetime | None = None,
                  records: list[ConvRecord] | None = None) -> ShiftMetrics:
    """The figures for the desk's shift since ``since`` (live desk + archive)."""
    now = now or desk.clock()
    if records is None:
        records = collect(desk, since)
    return compute(records, desk.rules, since, now, desk.counts(now))


# ==== sentiment =================================================================================

POSITIVE = frozenset("""
thanks thank thankyou cheers great brilliant excellent amazing fantastic superb lovely love
loved helpful kind friendly polite clean comfortable comfy smooth quick fast punctual reliable
happy glad pleased perfect wonderful awesome best nice good impressed recommend easy efficient
quiet spotless gorgeous merci gracias danke
👍 👏 ❤ 🙏 😍 😊 🙂 😀 😃 🎉 💚 💙
""".split())
NEGATIVE = frozenset("""
late delayed delay delays cancelled canceled cancellation awful terrible worst useless rude
dirty filthy broken disgrace disgraceful shambles joke appalling furious fuming ridiculous
pathetic angry annoyed bad poor horrible hate hated slow crowded packed overcrowded overpriced
expensive unacceptable stuck stranded missed unreliable freezing cold smelly disappointed
disappointing sad worse nightmare chaos mess fail failed failure
😡 🤬 😠 👎 😤 😭 😢 🙄 💩
""".split())
# Words (letters only: "don't" gives "don", "t") and single emoji; no accent folding — the
# lexicon is ASCII and this runs on every mention of a report.
_WORDS = re.compile(r"[^\W\d_]+|[\U0001F000-\U0001FAFF\u2600-\u27BF]")
NEGATORS = frozenset(("not", "no", "never", "t", "hardly", "nothing", "nobody", "without"))


def sentiment(text: str) -> float:
    """A coarse lexicon score in [-1, 1] (see the module docstring)."""
    pos = neg = 0
    prev = ""
    for token in _WORDS.findall(text.casefold()):
        polarity = 1 if token in POSITIVE else -1 if token in NEGATIVE else 0
        if polarity:
            if prev in NEGATORS:
                polarity = -polarity
            if polarity > 0:
                pos += 1
            else:
                neg += 1
        prev = token
    return (pos - neg) / (pos + neg) if pos + neg else 0.0
