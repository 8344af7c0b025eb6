"""The desk's objects as store documents and back, and the archive plan.

Store tables (``tui.core.store``): ``mentions`` (key -> mention doc + conv, seq, triage),
``events`` (id -> ``Event.to_dict``), ``conversations`` (id -> ``Conversation.header``),
``customers`` (customer key -> profile with ISO contact times), ``outbox``, ``drafts`` (reply
drafts: ``owned_key(conv, agent)`` -> {conv, agent, text, reply_key, audience, at}),
``note_drafts`` (``owned_key("<conv>/<kind>", agent)`` -> an unsaved internal note,
``Desk.save_note_draft``; a draft key without "|" is one saved before drafts had owners),
``approvals`` (approval id -> a reply waiting for a lead, see ``Desk.request_approval``),
``meta`` (``counters``: last seq / conversation / case numbers; ``last_action``: agent -> event
id) and ``seen`` (archived mention keys -> {conv, at}).  Pure: no store calls here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .conversation import EVENT, MENTION, Conversation, Event
from .model import Mention, Triage, iso, parse_time

Doc = dict[str, Any]
Tables = dict[str, dict[str, Doc]]


def owned_key(base: str, agent: str) -> str:
    """The store key of ``agent``'s draft under ``base`` (a conversation id for a reply draft,
    "<conv>/<kind>" for a note draft): ``base|agent`` with the agent's name percent-encoded
    (``urllib.parse.quote``, nothing kept), so that no name — config names may hold "/", "|"
    or "%" — makes two drafts share a key or changes the conversation a key names."""
    return f"{base}|{quote(agent, safe='')}"


def draft_conv(key: str) -> str:
    """The conversation id a ``drafts``/``note_drafts`` key belongs to (owned or not)."""
    return key.split("|", 1)[0].split("/", 1)[0]


def drafts_of(table: dict[str, Doc], conv_ids: set[str]) -> list[str]:
    """The keys of ``table`` (drafts or note drafts) on the conversations ``conv_ids``: every
    agent's, and one from before drafts had owners."""
    return [k for k in table if draft_conv(k) in conv_ids]


def own_doc(table: dict[str, Doc], base: str, agent: str) -> Doc | None:
    """``agent``'s draft under ``base``, else the ownerless one saved before drafts had owners
    (offered to whichever agent opens it first), else None."""
    doc = table.get(owned_key(base, agent))
    return doc if doc is not None else table.get(base)


def mention_doc(m: Mention, conv_id: str, seq: int, t: Triage) -> Doc:
    doc = m.to_dict()
    doc["conv"] = conv_id
    doc["seq"] = seq
    doc["triage"] = t.to_dict()
    return doc


def customer_doc(cust: Doc) -> Doc:
    doc = dict(cust)
    doc["contacts"] = [iso(c) for c in doc["contacts"]]
    return doc


@dataclass(slots=True)
class Loaded:
    """The hot tables as objects; conversations have their timelines, sorted, not yet folded.

    What damage made the load do is listed, never done silently: ``repaired`` (notes: a
    conversation header or customer rebuilt from the mentions, a mention triaged again),
    ``rebuilt`` (conversation ids whose header was rebuilt), ``retriaged`` (mention keys) and
    ``aside`` (table, key, document, why: records that cannot be used, for a side file)."""

    counters: dict[str, int] = field(default_factory=dict)
    last_action: dict[str, str] = field(default_factory=dict)
    archived_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    customers: dict[str, Doc] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)  # customer -> latest conversation id
    mentions: dict[str, Mention] = field(default_factory=dict)
    triages: dict[str, Triage] = field(default_factory=dict)
    mention_conv: dict[str, str] = field(default_factory=dict)
    mention_seq: dict[str, int] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)  # in seq order
    outbox: dict[str, Doc] = field(default_factory=dict)
    drafts: dict[str, Doc] = field(default_factory=dict)
    note_drafts: dict[str, Doc] = field(default_factory=dict)  # "<conv>/<kind>" -> doc
    approvals: dict[str, Doc] = field(default_factory=dict)  # replies waiting for a lead
    checkpoint_at: datetime | None = None  # the desk's last checkpoint (meta "checkpoint")
    repaired: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    retriaged: list[str] = field(default_factory=list)
    aside: list[tuple[str, str, Any, str]] = field(default_factory=list)


def load(tables: Tables, counters: dict[str, int],
         triage: Callable[[Mention], Triage] | None = None) -> Loaded:
    """Objects from the store's hot tables.  ``counters`` are the id counters to start from
    (``seq``, ``conv``, ``case``); each ends as the larger of the snapshot's value and the
    highest id found in the documents, so an id is never given twice.  Documents of archived
    conversations (a crash between archive and delete) are skipped: the archive holds them.

    Damage never raises and never drops an intact record silently: a conversation whose
    header is missing or damaged (a truncated or deleted snapshot) is rebuilt from its
    mentions, a mention whose triage is missing is triaged again with ``triage``, and what
    cannot be used goes to ``Loaded.aside`` with the reason (see ``Loaded``)."""
    out = Loaded(counters=dict(counters))
    aside, repaired = out.aside, out.repaired
    meta = out.counters
    meta_t = tables.get("meta", {})
    stored = meta_t.get("counters", {})
    if isinstance(stored, dict):
        meta.update({k: v for k, v in stored.items() if k in meta and type(v) is int})
    last = meta_t.get("last_action")
    out.last_action = dict(last) if isinstance(last, dict) else {}
    out.archived_keys = {k: dict(v) for k, v in tables.get("seen", {}).items()
                         if isinstance(v, dict)}
    checkpoint = meta_t.get("checkpoint")
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("at"), str):
        with contextlib.suppress(ValueError, TypeError):
            out.checkpoint_at = parse_time(checkpoint["at"])
    for cust_key, doc in tables.get("customers", {}).items():
        try:
            doc = dict(doc)
            doc["contacts"] = [parse_time(c) for c in doc.get("contacts", [])]
            doc["conversations"] = [str(c) for c in doc.get("conversations", [])]
        except (TypeError, ValueError) as exc:
            aside.append(("customers", cust_key, doc, f"unreadable ({_why(exc)})"))
            continue
        out.customers[cust_key] = doc
    convs = out.conversations
    for cid, doc in tables.get("conversations", {}).items():
        try:
            convs[cid] = Conversation(cid, doc["customer"], doc["source"], doc["handle"],
                                      parse_time(doc["created_at"]),
                                      read_seq=int(doc.get("read_seq", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            repaired.append(f"conversation #{cid}: its header is damaged ({_why(exc)})")
            continue  # rebuilt below from its mentions, if it has any
        meta["conv"] = max(meta["conv"], _num(cid))
    loaded: list[tuple[str, str, Mention, Doc]] = []
    for key, doc in tables.get("mentions", {}).items():
        try:
            m = Mention.restore(doc)
            cid, seq = str(doc["conv"]), doc["seq"]
            if type(seq) is not int:
                raise TypeError("seq is not a number")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            aside.append(("mentions", key, doc, f"unreadable ({_why(exc)})"))
            continue
        loaded.append((key, cid, m, doc))
    # A mention whose conversation header is missing: the header is rebuilt from the mentions,
    # which hold everything it needs (customer, source, handle, first time).
    archived_convs = {v.get("conv") for v in out.archived_keys.values()}
    headless = [r for r in loaded if r[1] not in convs]  # sorted only when there are any
    for key, cid, m, _doc in sorted(headless, key=lambda r: r[2].created_at):
        if cid in convs or (key in out.archived_keys and cid in archived_convs):
            continue  # known, or archived with its conversation (the archive holds it)
        convs[cid] = Conversation(cid, m.customer, m.source, m.author.handle, m.created_at)
        meta["conv"] = max(meta["conv"], _num(cid))
        out.rebuilt.append(cid)
        repaired.append(f"conversation #{cid} (@{m.author.handle}): its header was missing; "
                        "rebuilt from its mentions")
    for key, cid, m, doc in loaded:
        if cid not in convs:
            continue
        try:
            t = Triage.from_dict(doc["triage"])
        except (KeyError, TypeError, ValueError) as exc:
            try:
                if triage is None:
                    raise ValueError("no rules to triage it with") from None
                t = triage(m)
            except Exception as again:  # a rules bug must not stop the start either
                aside.append(("mentions", key, doc, f"its triage is {_why(exc)} and triaging "
                              f"it again failed ({_why(again)})"))
                continue
            out.retriaged.append(key)
            repaired.append(f"mention {key}: its triage was {_why(exc)}; triaged again "
                            f"({t.category}, {t.urgency})")
        out.mentions[key] = m
        out.triages[key] = t
        out.mention_conv[key] = cid
        out.mention_seq[key] = doc["seq"]
        convs[cid].timeline.append((doc["seq"], MENTION, key))
        meta["seq"] = max(meta["seq"], doc["seq"])
    events = []
    for eid, doc in tables.get("events", {}).items():
        try:
            ev = Event.from_dict(doc)
            if type(ev.seq) is not int:
                raise TypeError("seq is not a number")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            aside.append(("events", eid, doc, f"unreadable ({_why(exc)})"))
            continue
        events.append((eid, ev, doc))
    for eid, ev, doc in sorted(events, key=lambda r: r[1].seq):
        if ev.conv not in convs:
            if ev.conv not in archived_convs:
                aside.append(("events", eid, doc, f"its conversation #{ev.conv} is missing"))
            continue
        out.events[eid] = ev
        convs[ev.conv].timeline.append((ev.seq, EVENT, eid))
        meta["seq"] = max(meta["seq"], ev.seq)
        if ev.details.get("case_id"):  # hand-offs and replies; undone ones too: a case
            num = str(ev.details["case_id"]).rpartition("-")[2]  # id is never reused
            if num.isdigit():
                meta["case"] = max(meta["case"], int(num))
    for k, v in tables.get("outbox", {}).items():
        problem = _outbox_problem(v)
        if problem is None and v["conv_id"] not in convs:
            if v["conv_id"] in archived_convs:
                continue
            problem = f"its conversation #{v['conv_id']} is missing"
        if problem is not None:
            what = (f"a {v.get('kind', 'post')} to @{v.get('to', '?')} not yet sent"
                    if isinstance(v, dict) and v.get("status") in ("pending", "sending")
                    else "an outbox item")
            aside.append(("outbox", k, v, f"{what}: {problem}"))
            continue
        out.outbox[k] = v
    for k, v in tables.get("drafts", {}).items():
        conv_id = draft_conv(k)
        if conv_id in convs and isinstance(v, dict):
            out.drafts[k] = v
        elif conv_id not in archived_convs:
            aside.append(("drafts", k, v, f"its conversation #{conv_id} is missing"))
    for k, v in tables.get("note_drafts", {}).items():
        conv_id = draft_conv(k)
        if conv_id in convs and isinstance(v, dict) and isinstance(v.get("text"), str):
            out.note_drafts[k] = v
        elif conv_id not in archived_convs:
            aside.append(("note_drafts", k, v, f"its conversation #{conv_id} is missing"))
    out.approvals = {k: dict(v) for k, v in tables.get("approvals", {}).items()
                     if isinstance(v, dict) and v.get("conv_id") in convs}
    for conv in convs.values():
        conv.timeline.sort()
        cust = out.customers.get(conv.customer)
        if cust is None:
            cust = out.customers[conv.customer] = _rebuilt_customer(conv, out.mentions)
            repaired.append(f"customer {conv.customer}: profile missing; rebuilt from their "
                            "mentions")
        if conv.id not in cust["conversations"]:
            cust["conversations"].append(conv.id)
        cur = out.current.get(conv.customer)
        if cur is None or _num(conv.id) > _num(cur):
            out.current[conv.customer] = conv.id
    return out


def _rebuilt_customer(conv: Conversation, mentions: dict[str, Mention]) -> Doc:
    ms = [mentions[k] for _s, tag, k in conv.timeline if tag == MENTION]
    first = min((m.created_at for m in ms), default=conv.created_at)
    cust: Doc = {"customer": conv.customer, "handle": conv.handle, "source": conv.source,
                 "first_seen": iso(first), "contacts": sorted(m.created_at for m in ms),
                 "conversations": []}
    if ms:
        latest = max(ms, key=lambda m: m.created_at)
        cust.update(name=latest.author.name, followers=latest.author.followers,
                    verified=latest.author.verified)
    return cust


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing ({exc.args[0]!r})" if exc.args else "missing"
    return str(exc) or type(exc).__name__


def _num(cid: str) -> int:
    return int(cid) if cid.isdigit() else 0


_OUTBOX_FIELDS = ("id", "conv_id", "status", "created_at", "not_before", "kind")


def _outbox_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "not an object"
    missing = [f for f in _OUTBOX_FIELDS if not isinstance(item.get(f), str)]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        parse_time(item["not_before"])
        parse_time(item["created_at"])
    except (TypeError, ValueError) as exc:
        return f"unreadable time ({exc})"
    if type(item.get("attempts", 0)) is not int:
        return "attempts is not a number"
    return None


def archive_month(conv: Conversation) -> str:
    """The archive month ("YYYY-MM", UTC) of a handled conversation: the month of its last
    activity, so it goes whole into one file and a report on a window skips earlier months."""
    return (conv.last_activity or conv.created_at).strftime("%Y-%m")


def archived_header(conv: Conversation) -> Doc:
    """The conversation document the archive keeps: the header + status, category, closed_at."""
    closed = conv.last_activity or conv.created_at
    return {**conv.header(), "status": conv.status, "category": conv.category,
            "closed_at": iso(closed)}


def archive_plan(convs: Iterable[Conversation], mention_doc_of: Callable[[str], Doc],
                 events: dict[str, Event],
                 outbox_of: Callable[[str], list[Doc]]) -> dict[str, Tables]:
    """Archive tables by month (see ``archive_month``): conversations (``archived_header``),
    mentions, events, outbox."""
    by_month: dict[str, Tables] = {}
    for conv in convs:
        tables = by_month.setdefault(archive_month(conv), {
            "conversations": {}, "mentions": {}, "events": {}, "outbox": {}})
        tables["conversations"][conv.id] = archived_header(conv)
        for _, tag, key in conv.timeline:
            if tag == MENTION:
                tables["mentions"][key] = mention_doc_of(key)
            else:
                tables["events"][key] = events[key].to_dict()
        for item in outbox_of(conv.id):
            tables["outbox"][item["id"]] = item
    return by_month


def archive_job(convs: Iterable[Conversation], outbox_of: Callable[[str], list[Doc]]
                ) -> dict[str, dict[str, dict[str, Doc | None]]]:
    """``archive_plan`` for a background checkpoint (``Store.begin_checkpoint``): the same
    months and keys, the conversation documents given, the others None ("as the store's files
    hold them"), so nothing but the headers is built on the caller's thread."""
    by_month: dict[str, dict[str, dict[str, Doc | None]]] = {}
    for conv in convs:
        tables = by_month.setdefault(archive_month(conv), {
            "conversations": {}, "mentions": {}, "events": {}, "outbox": {}})
        tables["conversations"][conv.id] = archived_header(conv)
        for _, tag, key in conv.timeline:
            tables["mentions" if tag == MENTION else "events"][key] = None
        for item in outbox_of(conv.id):
            tables["outbox"][item["id"]] = None
    return by_month
