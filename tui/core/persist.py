"""The desk's objects as store documents and back, and the archive plan.

Store tables (``tui.core.store``): ``mentions`` (key -> mention doc + conv, seq, triage),
``events`` (id -> ``Event.to_dict``), ``conversations`` (id -> ``Conversation.header``),
``customers`` (customer key -> profile with ISO contact times), ``outbox``, ``drafts``,
``approvals`` (approval id -> a reply waiting for a lead, see ``Desk.request_approval``),
``meta`` (``counters``: last seq / conversation / case numbers; ``last_action``: agent -> event
id) and ``seen`` (archived mention keys -> {conv, at}).  Pure: no store calls here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .conversation import EVENT, MENTION, Conversation, Event
from .model import Mention, Triage, iso, parse_time

Doc = dict[str, Any]
Tables = dict[str, dict[str, Doc]]


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
    """The hot tables as objects; conversations have their timelines, sorted, not yet folded."""

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
    approvals: dict[str, Doc] = field(default_factory=dict)  # replies waiting for a lead


def load(tables: Tables, counters: dict[str, int]) -> Loaded:
    """Objects from the store's hot tables.  ``counters`` are the id counters to start from
    (``seq``, ``conv``, ``case``); each ends as the larger of the snapshot's value and the
    highest id found in the documents, so an id is never given twice.  Documents of archived
    conversations (a crash between archive and delete) are skipped: the archive holds them."""
    out = Loaded(counters=dict(counters))
    meta = out.counters
    stored = tables.get("meta", {}).get("counters", {})
    meta.update({k: int(v) for k, v in stored.items() if k in meta})
    out.last_action = dict(tables.get("meta", {}).get("last_action", {}))
    out.archived_keys = {k: dict(v) for k, v in tables.get("seen", {}).items()}
    for cust_key, doc in tables.get("customers", {}).items():
        doc = dict(doc)
        doc["contacts"] = [parse_time(c) for c in doc.get("contacts", [])]
        doc["conversations"] = list(doc.get("conversations", []))
        out.customers[cust_key] = doc
    convs = out.conversations
    for cid, doc in tables.get("conversations", {}).items():
        convs[cid] = Conversation(cid, doc["customer"], doc["source"], doc["handle"],
                                  parse_time(doc["created_at"]), read_seq=doc.get("read_seq", 0))
        meta["conv"] = max(meta["conv"], int(cid) if cid.isdigit() else 0)
    for key, doc in tables.get("mentions", {}).items():
        owner = doc.get("conv")
        if not isinstance(owner, str) or owner not in convs:
            continue
        out.mentions[key] = Mention.restore(doc)
        out.triages[key] = Triage.from_dict(doc["triage"])
        out.mention_conv[key] = owner
        out.mention_seq[key] = doc["seq"]
        convs[owner].timeline.append((doc["seq"], MENTION, key))
        meta["seq"] = max(meta["seq"], doc["seq"])
    for eid, doc in sorted(tables.get("events", {}).items(), key=lambda kv: kv[1]["seq"]):
        if doc.get("conv") not in convs:
            continue
        ev = Event.from_dict(doc)
        out.events[eid] = ev
        convs[ev.conv].timeline.append((ev.seq, EVENT, eid))
        meta["seq"] = max(meta["seq"], ev.seq)
        if ev.details.get("case_id"):  # hand-offs and replies; undone ones too: a case
            num = str(ev.details["case_id"]).rpartition("-")[2]  # id is never reused
            if num.isdigit():
                meta["case"] = max(meta["case"], int(num))
    out.outbox = {k: v for k, v in tables.get("outbox", {}).items()
                  if v.get("conv_id") in convs}
    out.drafts = {k: v for k, v in tables.get("drafts", {}).items() if k in convs}
    out.approvals = {k: dict(v) for k, v in tables.get("approvals", {}).items()
                     if v.get("conv_id") in convs}
    for conv in convs.values():
        conv.timeline.sort()
        cust = out.customers.get(conv.customer)
        if cust is not None:
            if conv.id not in cust["conversations"]:
                cust["conversations"].append(conv.id)
            cur = out.current.get(conv.customer)
            if cur is None or int(conv.id) > int(cur):
                out.current[conv.customer] = conv.id
    return out


def archive_plan(convs: Iterable[Conversation], mention_doc_of: Callable[[str], Doc],
                 events: dict[str, Event],
                 outbox_of: Callable[[str], list[Doc]]) -> dict[str, Tables]:
    """Archive tables by month ("YYYY-MM" of the conversation's last activity, UTC): each
    conversation goes whole into the month it was closed, so a report on a window can skip every
    earlier month's file.  Tables: conversations (header + status, category, closed_at),
    mentions, events, outbox."""
    by_month: dict[str, Tables] = {}
    for conv in convs:
        closed = conv.last_activity or conv.created_at
        tables = by_month.setdefault(closed.strftime("%Y-%m"), {
            "conversations": {}, "mentions": {}, "events": {}, "outbox": {}})
        tables["conversations"][conv.id] = {
            **conv.header(), "status": conv.status, "category": conv.category,
            "closed_at": iso(closed)}
        for _, tag, key in conv.timeline:
            if tag == MENTION:
                tables["mentions"][key] = mention_doc_of(key)
            else:
                tables["events"][key] = events[key].to_dict()
        for item in outbox_of(conv.id):
            tables["outbox"][item["id"]] = item
    return by_month
