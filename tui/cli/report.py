"""``mentiondesk report`` / ``export`` / ``review``: the shift hand-over, the audit trail, the
periodic review.

All three read the stored desk (hot tables and archive) and print; none changes anything.  They
open the data dir read-only (no lock), so they run while the console is open: the night
operator's hand-over report at shift end.  The
figures and their exact definitions live in :mod:`tui.core.metrics`, topics in
:mod:`tui.core.topics`.

* ``report [--since 12h] [--format md|json]`` — what a morning operator needs to act on alone:
  what came in, what was resolved, what was taken offline and waits on the customer, what was
  handed off (case ids, teams), what is near or past its deadline, snoozed items, failed posts,
  topics and the shift's figures.
* ``export [--since 7d] [--format jsonl|csv]`` — one record per conversation, customer mention,
  agent event and outbox post: who, what, when and which rule (category + the triage's "why").
  Streamed: the archive one month's file at a time (oldest first, by the month each conversation
  closed), then the conversations still on the desk; records are in time order within each of
  those parts (sort by ``at`` for one timeline).
  It reads only the store, which never holds tokens or passwords.  In CSV, cells that a
  spreadsheet would run as a formula (starting with ``= + - @``, tab or CR) get a leading ``'``.
* ``review [--since 7d] [--format md|json]`` — conversations that breached their target, were
  reopened, or were resolved after going offline without closing the loop publicly.

JSON output (``report``/``review``) puts each top-level key and each list item on a line of its
own (``write_json``); JSON lines are compact.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from ..core.metrics import (
    ConvRecord,
    EventRow,
    MentionRow,
    collect,
    collect_parts,
    episodes,
    shift_metrics,
)
from ..core.model import DIRECT, PUBLIC, iso, parse_time
from ..core.store import paused_gc
from ..core.text import one_line
from ..core.topics import topics
from ..core.when import fmt_rate, fmt_seconds, local_time, need_reply_text, parse_since
from .common import OK, USAGE

if TYPE_CHECKING:
    from ..core.desk import Desk

MD_LIST_LIMIT = 50  # rows per section in the Markdown report; JSON has them all
TOPICS_TOP = 10
EXPORT_FIELDS = ("type", "id", "conv", "at", "who", "what", "channel", "text", "category",
                 "urgency", "team", "rule", "case_id", "status", "undone", "details")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


# ==== small formatting helpers =================================================================


_BARS = "▁▂▃▄▅▆▇█"


def spark(values: list[float], low: float | None = None, high: float | None = None,
          width: int = 72) -> str:
    """A one-line text sparkline (the last ``width`` values)."""
    values = values[-width:]
    if not values:
        return "-"
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    span = (hi - lo) or 1.0
    return "".join(_BARS[min(7, max(0, int((v - lo) / span * 7.999)))] for v in values)


# ==== the hand-over report =====================================================================


def build_report(desk: Desk, since: datetime, now: datetime | None = None,
                 records: list[ConvRecord] | None = None) -> dict[str, Any]:
    """The shift hand-over as plain data (the JSON format; Markdown is rendered from it)."""
    now = now or desk.clock()
    if records is None:
        records = collect(desk, since, outbox=False)
    figures = shift_metrics(desk, since, now, records)
    by_id = {r.id: r for r in records}
    deadlines, offline, snoozed = [], [], []
    for conv in desk.conversations.values():
        rec = by_id.get(conv.id)
        team = desk.owning_team(conv)
        base = {"id": conv.id, "handle": conv.handle, "category": conv.category,
                "urgency": conv.urgency, "team": team, "case_id": conv.case_id,
                "offline": conv.offline, "status": conv.status}
        if conv.needs_reply and conv.status in ("open", "snoozed") and conv.deadline:
            state = ("breached" if conv.deadline <= now else
                     "at_risk" if conv.risk_at is not None and conv.risk_at <= now else None)
            if state:
                left = desk.time_left(conv, now)
                latest = desk.latest_mention(conv)
                deadlines.append({**base, "state": state, "deadline": iso(conv.deadline),
                                  "seconds_left": int(left.total_seconds()),
                                  "channel": latest.channel if latest else None,
                                  "text": latest.text if latest else ""})
        if conv.offline and conv.status in ("open", "snoozed"):
            went = max((e.at for e in (rec.events() if rec else ())
                        if e.kind == "offline" and not e.undone), default=None)
            offline.append({**base, "waiting_on": "us" if conv.needs_reply else "customer",
                            "offline_since": iso(went)})
        if conv.status == "snoozed" and conv.snoozed_until and conv.snoozed_until > now:
            snoozed.append({**base, "until": iso(conv.snoozed_until),
                            "needs_reply": conv.needs_reply})
    deadlines.sort(key=lambda d: d["deadline"])
    resolved, handed = [], []
    monitor_texts: list[tuple[datetime, str]] = []
    for rec in records:
        cats = _final_triage(rec)
        status = rec.live.status if rec.live is not None else rec.status
        for ev in rec.events():
            if ev.undone or not since <= ev.at <= now:
                continue
            if ev.kind == "resolve":
                resolved.append({"id": rec.id, "handle": rec.handle, "category": cats,
                                 "at": iso(ev.at), "agent": ev.agent,
                                 "closed_loop": bool(ev.details.get("close_loop"))})
            elif ev.kind == "handoff":
                handed.append({"id": rec.id, "handle": rec.handle, "team": ev.details.get("team"),
                               "case_id": ev.details.get("case_id"),
                               "note": ev.details.get("note") or "", "at": iso(ev.at),
                               "agent": ev.agent, "status": status})
        for m in rec.mentions():
            if (m.triage.action == "monitor" and not m.deleted
                    and since <= m.created_at <= now):
                monitor_texts.append((m.created_at, m.text))
    monitor_texts.sort(key=lambda p: p[0], reverse=True)
    failed = [{"id": i["id"], "conv": i["conv_id"], "kind": i["kind"], "to": i.get("to"),
               "error": i.get("error") or ""}
              for i in desk.outbox.items.values() if i["status"] == "failed"]
    return {
        "window": {"since": iso(since), "now": iso(now)},
        "figures": figures.to_dict(),
        "deadlines": deadlines,
        "offline": offline,
        "handed_off": sorted(handed, key=lambda d: d["at"]),
        "resolved": sorted(resolved, key=lambda d: d["at"]),
        "snoozed": sorted(snoozed, key=lambda d: d["until"] or ""),
        "outbox_failed": failed,
        "topics": [t.to_dict() for t in topics((t for _, t in monitor_texts), TOPICS_TOP)],
    }


def _final_triage(rec: ConvRecord) -> str:
    if rec.live is not None:
        return rec.live.category
    cat = "general"
    for m in rec.mentions():
        cat = m.triage.category if m.triage.needs_reply or cat == "general" else cat
    return cat


def render_report_md(rep: dict[str, Any], out: TextIO, tz: Any = None) -> None:
    """The report for a person: every time in office-local time (``tz``; UTC without one), to
    the minute (the JSON keeps ISO 8601 UTC for programs)."""
    f = rep["figures"]
    w = out.write
    at_now = parse_time(rep["window"]["now"])

    def t(value: str | None) -> str:
        return local_time(parse_time(value), tz, at_now) if value else "-"

    zone = getattr(tz, "key", None) or (str(tz) if tz else "UTC")
    w(f"# Shift hand-over — {t(rep['window']['since'])} → {t(rep['window']['now'])} "
      f"(office time, {zone})\n\n")
    now = f["right_now"]
    w(f"Right now: {now.get('open', 0)} open, {need_reply_text(now)}, "
      f"{now.get('at_risk', 0)} at risk, {now.get('breached', 0)} past deadline, "
      f"{now.get('snoozed', 0)} snoozed.\n\n")
    _section(w, "Past or near the deadline — answer these first", rep["deadlines"], lambda d: (
        f"#{d['id']} @{d['handle']} {d['urgency']}/{d['category']} "
        f"{'PAST DEADLINE' if d['state'] == 'breached' else 'at risk'} "
        f"({fmt_seconds(d['seconds_left'])} left, due {t(d['deadline'])}), "
        f"team {d['team'] or '-'}{', case ' + d['case_id'] if d['case_id'] else ''}"
        f"{', DM' if d['channel'] == DIRECT else ''}: {one_line(d['text'], 70)}"))
    _section(w, "Taken offline, still open", rep["offline"], lambda d: (
        f"#{d['id']} @{d['handle']} {d['category']} — waiting on {d['waiting_on']} "
        f"since {t(d['offline_since'])}"
        f"{', case ' + d['case_id'] + ' (' + str(d['team']) + ')' if d['case_id'] else ''}"))
    _section(w, "Handed off", rep["handed_off"], lambda d: (
        f"{d['case_id']} → {d['team']}: #{d['id']} @{d['handle']} at {t(d['at'])} by {d['agent']} "
        f"(now {d['status']}){' — ' + one_line(d['note'], 60) if d['note'] else ''}"))
    _section(w, "Snoozed", rep["snoozed"], lambda d: (
        f"#{d['id']} @{d['handle']} {d['category']} until {t(d['until'])}"
        f"{' (needs a reply)' if d['needs_reply'] else ''}"))
    _section(w, "Posts that failed to go out", rep["outbox_failed"], lambda d: (
        f"#{d['conv']} {d['kind']} to @{d['to']}: {one_line(d['error'], 70)}"))
    _section(w, "Resolved", rep["resolved"], lambda d: (
        f"#{d['id']} @{d['handle']} {d['category']} at {t(d['at'])} by {d['agent']}"
        f"{' (loop closed publicly)' if d['closed_loop'] else ''}"))
    w("## Figures\n\n")
    w(f"Came in: {f['mentions']} mentions, {f['conversations_new']} new conversations, "
      f"{f['episodes']} needing a reply ({f['reopened']} reopened); "
      f"{f['resolved']} resolved; {f['snoozes']} snoozes.\n\n")
    w("| measure | count | median | p90 |\n|---|---:|---:|---:|\n")
    for label, key in (("first response", "first_response"), ("handling", "handling"),
                       ("time to resolution", "resolution")):
        d = f[key]
        w(f"| {label} | {d['count']} | {fmt_seconds(d['median_seconds'])} | "
          f"{fmt_seconds(d['p90_seconds'])} |\n")
    w("\n| urgency | hit | miss | pending | SLA hit rate |\n|---|---:|---:|---:|---:|\n")
    for s in f["sla"]:
        w(f"| {s['level']} | {s['hits']} | {s['misses']} | {s['pending']} | "
          f"{fmt_rate(s['hit_rate'])} |\n")
    for title, key in (("category", "by_category"), ("channel", "by_channel"),
                       ("team", "by_team")):
        parts = ", ".join(f"{k} {v}" for k, v in f[key].items()) or "-"
        w(f"\nBy {title}: {parts}\n")
    mean = f["sentiment_mean"]
    w(f"\nMentions per hour: {spark(f['mentions_per_hour'])}\n")
    w(f"Sentiment per hour (coarse lexicon, -1..1, mean {'-' if mean is None else mean}): "
      f"{spark(f['sentiment_per_hour'], -1.0, 1.0)}\n\n")
    w("## Topics (monitor-only mentions)\n\n")
    if not rep["topics"]:
        w("- none\n")
    for t in rep["topics"]:
        w(f"- {t['term']} ({t['count']})")
        if t["examples"]:
            w(f" — e.g. “{one_line(t['examples'][0], 70)}”")
        w("\n")


def _section(w: Callable[[str], Any], title: str, rows: list[dict[str, Any]],
             fmt: Callable[[dict[str, Any]], str]) -> None:
    w(f"## {title} ({len(rows)})\n\n")
    if not rows:
        w("- none\n\n")
        return
    for row in rows[:MD_LIST_LIMIT]:
        w(f"- {fmt(row)}\n")
    if len(rows) > MD_LIST_LIMIT:
        w(f"- … and {len(rows) - MD_LIST_LIMIT} more (use --format json for all)\n")
    w("\n")


# ==== the audit export =========================================================================


def export_rows(records: Iterable[ConvRecord], levels: Mapping[str, Any],
                since: datetime | None = None) -> Iterator[dict]:
    """Audit records (see ``EXPORT_FIELDS``), oldest first: conversations, customer mentions,
    agent events (with the rule that governed the conversation when they were done) and
    outbox posts."""
    rows: list[tuple[str, int, dict[str, Any]]] = []
    order = {"conversation": 0, "mention": 1, "event": 2, "outbox": 3}
    since_iso = iso(since) if since is not None else ""
    for rec in records:
        _, governing = episodes(rec, levels)
        agents: dict[str, str] = {}
        team = case_id = None
        offline = False
        last = None
        for _, kind, row in rec.timeline:
            if kind == "m":
                if row.triage.needs_reply or last is None:
                    last = row.triage
                if since is None or row.created_at >= since:
                    out = _mention_row(row)
                    rows.append((out["at"], 1, out))
                continue
            agents[row.id] = row.agent
            if not row.undone and row.kind == "handoff":
                team, case_id = row.details.get("team"), row.details.get("case_id")
            if not row.undone and row.kind == "offline":
                offline = True
            if since is None or row.at >= since:
                out = _event_row(row, governing.get(row.id))
                rows.append((out["at"], 2, out))
        for item in rec.outbox:
            if (item.get("created_at") or "") >= since_iso:
                rows.append((item.get("created_at") or "", order["outbox"],
                             _outbox_row(item, agents.get(item.get("event_id") or ""))))
        live = rec.live
        gov = live.triage if live is not None and live.triage is not None else last
        status = live.status if live is not None else rec.status
        at = iso(rec.created_at)
        rows.append((at, order["conversation"], {
            "type": "conversation", "id": rec.id, "conv": rec.id, "at": at,
            "who": rec.handle, "what": status, "channel": None, "text": "",
            "category": gov.category if gov else None, "urgency": gov.urgency if gov else None,
            "team": team or (gov.team if gov else None), "rule": gov.why if gov else None,
            "case_id": case_id, "status": status, "undone": False,
            "details": {"source": rec.source, "offline": offline, "archived": rec.archived,
                        "reopened": live.reopened if live is not None else None},
        }))
    rows.sort(key=_row_order)
    return map(_row_of, rows)  # C-level iteration: 400k rows pass through here


_row_order = operator.itemgetter(0, 1)
_row_of = operator.itemgetter(2)


def _mention_row(m: MentionRow) -> dict[str, Any]:
    t = m.triage
    return {"type": "mention", "id": m.key, "conv": m.conv, "at": iso(m.created_at),
            "who": m.handle, "what": "mention", "channel": m.channel, "text": m.text,
            "category": t.category, "urgency": t.urgency, "team": t.team, "rule": t.why,
            "case_id": None, "status": "deleted" if m.deleted else (
                "edited" if m.edited else "received"), "undone": False,
            "details": {"action": t.action, "deadline": iso(t.deadline), "offline": t.offline,
                        "score": t.score, "reply_key": t.reply_key}}


def _event_row(e: EventRow, t: Any) -> dict[str, Any]:
    d = e.details
    text = d.get("text") or d.get("dm") or d.get("close_loop") or d.get("note") or ""
    return {"type": "event", "id": e.id, "conv": e.conv, "at": iso(e.at), "who": e.agent,
            "what": e.kind, "channel": d.get("channel") or (DIRECT if e.kind == "offline"
                                                              else None),
            "text": text, "category": t.category if t else None,
            "urgency": t.urgency if t else None, "team": d.get("team") or (t.team if t else None),
            "rule": t.why if t else None, "case_id": d.get("case_id"),
            "status": "undone" if e.undone else "done", "undone": e.undone,
            "details": {**d, "group": e.group, "seq": e.seq, "os_user": e.os_user}}


def _outbox_row(i: dict[str, Any], agent: str | None) -> dict[str, Any]:
    return {"type": "outbox", "id": i["id"], "conv": i.get("conv_id"), "at": i.get("created_at"),
            "who": agent, "what": i.get("kind"), "channel": i.get("channel"),
            "text": i.get("text") or "", "category": None, "urgency": None, "team": None,
            "rule": None, "case_id": None, "status": i.get("status"), "undone": False,
            "details": {k: i.get(k) for k in ("event_id", "to", "in_reply_to", "attempts",
                                              "not_before", "sent_at", "remote_id", "error")}}


def write_export(rows: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """Write ``rows`` as JSON lines or CSV as they come; returns how many."""
    n = 0
    if fmt == "csv":
        # Rows go through a memory buffer written out in blocks: written straight to stdout,
        # each row is a system call when Python runs unbuffered (PYTHONUNBUFFERED=1).
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_FIELDS)
        writerow = writer.writerow
        cell, formula = _csv_cell, _FORMULA
        fetch = operator.itemgetter(*EXPORT_FIELDS)  # one C call per row, not one per cell
        # Only these columns can hold stranger-supplied text (or a non-string value); the
        # others are the desk's own words (kinds, statuses, categories, ISO times), and the csv
        # module writes None as an empty cell by itself.
        loose = [EXPORT_FIELDS.index(f) for f in ("id", "conv", "who", "text", "rule",
                                                   "case_id", "undone", "details")]
        for row in rows:
            values = list(fetch(row))
            for i in loose:
                v = values[i]
                if v is not None and (type(v) is not str or v.startswith(formula)):
                    values[i] = cell(v)
            writerow(values)
            n += 1
            if not n % 1024:
                out.write(buf.getvalue())
                buf.seek(0)
                buf.truncate()
        out.write(buf.getvalue())
        return n
    # One encoder, compact; lines are gathered and written in blocks.
    encode = _encoder((",", ":"))
    block: list[str] = []
    for row in rows:
        block.append(encode(row))
        n += 1
        if len(block) >= 1024:
            block.append("")
            out.write("\n".join(block))
            block.clear()
    if block:
        block.append("")
        out.write("\n".join(block))
    return n


def _encoder(separators: tuple[str, str]) -> Callable[[Any], str]:
    """``JSONEncoder(ensure_ascii=False, separators=...).encode``, minus the encoder object it
    builds on every call (a fifth of the encoding time of a 400k-record export)."""
    plain = json.JSONEncoder(ensure_ascii=False, separators=separators)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython without its _json accelerator
        return plain.encode
    c = make(None, plain.default, json.encoder.encode_basestring, None, separators[1],
             separators[0], False, False, True)
    return lambda obj: "".join(c(obj, 0))


_details = _encoder((", ", ": "))  # as json.dumps writes it: the CSV's details column


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        return _details(value)
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


# ==== the review ===============================================================================


def build_review(desk: Desk, since: datetime, now: datetime | None = None,
                 records: list[ConvRecord] | None = None) -> list[dict[str, Any]]:
    """Conversations worth a look: breached, reopened, or resolved after going offline without
    a public close-the-loop message (one entry per conversation, with every reason)."""
    now = now or desk.clock()
    if records is None:
        records = collect(desk, since)
    out = []
    for rec in records:
        found, _ = episodes(rec, desk.rules.levels)
        reasons: list[dict[str, Any]] = []
        for ep in found:
            if not since <= ep.start <= now:
                continue
            if ep.sla(now) == "miss":
                if ep.answered_at is not None:
                    levels = desk.rules.levels
                    late = levels[ep.level].calendar.elapsed(ep.deadline, ep.answered_at) \
                        if ep.level in levels else ep.answered_at - ep.deadline
                    detail = (f"{ep.level} target missed: answered {iso(ep.answered_at)}, "
                              f"due {iso(ep.deadline)} ({fmt_seconds(late.total_seconds())} "
                              "late)")
                else:
                    detail = f"{ep.level} target missed: no answer, due {iso(ep.deadline)}"
                reasons.append({"kind": "breached", "at": iso(ep.start), "detail": detail})
            if ep.reopened:
                reasons.append({"kind": "reopened", "at": iso(ep.start),
                                "detail": "the customer wrote again after it was closed"})
        gap = _offline_without_close(rec, since, now)
        if gap:
            reasons.append(gap)
        if reasons:
            out.append({"id": rec.id, "handle": rec.handle, "category": _final_triage(rec),
                        "status": rec.live.status if rec.live is not None else rec.status,
                        "archived": rec.archived, "reasons": reasons})
    return out


def _offline_without_close(rec: ConvRecord, since: datetime, now: datetime
                           ) -> dict[str, Any] | None:
    has_public = any(m.channel == PUBLIC and not m.deleted for m in rec.mentions())
    went_offline = None
    result = None
    items = {i.get("event_id"): i for i in rec.outbox if i.get("kind") == "close_loop"}
    for ev in rec.events():
        if ev.undone:
            continue
        if ev.kind == "offline":
            went_offline = ev.at
        elif ev.kind == "resolve" and went_offline is not None:
            item = items.get(ev.id)
            closed = (ev.details.get("close_loop") and ev.details.get("channel") == PUBLIC
                      and (item is None or item.get("status") not in ("failed", "cancelled")))
            if closed or not has_public or not since <= ev.at <= now:
                result = None
            else:
                result = {"kind": "no_public_close", "at": iso(ev.at),
                          "detail": f"taken offline {iso(went_offline)}, resolved by {ev.agent} "
                                    "without closing the loop publicly"}
            went_offline = None
    return result


def render_review_md(items: list[dict[str, Any]], since: datetime, now: datetime,
                     out: TextIO) -> None:
    out.write(f"# Review — {iso(since)} → {iso(now)}\n\n")
    counts: dict[str, int] = {}
    for it in items:
        for r in it["reasons"]:
            counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    out.write(f"{len(items)} conversations to look at: {counts.get('breached', 0)} breached "
              f"targets, {counts.get('reopened', 0)} reopenings, "
              f"{counts.get('no_public_close', 0)} offline without a public close.\n\n")
    for it in items:
        out.write(f"- #{it['id']} @{it['handle']} {it['category']} ({it['status']})\n")
        for r in it["reasons"]:
            out.write(f"  - {r['kind']}: {r['detail']}\n")


# ==== the command line =========================================================================


def add_parser(sub: Any) -> None:
    from .common import add_common

    p = sub.add_parser("report", help="the shift hand-over report",
                       description="What came in, what was resolved, offline, handed off, "
                                   "near or past its deadline; topics and the shift's figures.")
    p.add_argument("--since", default="12h", help="window: 12h, 7d or an ISO time (default 12h)")
    p.add_argument("--format", choices=("md", "json"), default="md")
    add_common(p)
    p.set_defaults(handler=run_report)
    p = sub.add_parser("export", help="the audit trail (conversations, mentions, actions, posts)",
                       description="Every conversation, customer mention, agent action and "
                                   "outgoing post: who, what, when, which rule. No secrets.")
    p.add_argument("--since", help="only records since: 12h, 7d or an ISO time (default all)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    add_common(p)
    p.set_defaults(handler=run_export)
    p = sub.add_parser("review", help="breached, reopened or not closed publicly",
                       description="Conversations that breached their target, were reopened, "
                                   "or went offline and were resolved without a public close.")
    p.add_argument("--since", default="7d", help="window (default 7d)")
    p.add_argument("--format", choices=("md", "json"), default="md")
    add_common(p)
    p.set_defaults(handler=run_review)


def report(desk: Desk, since_text: str, fmt: str, out: TextIO) -> None:
    now = desk.clock()
    since = parse_since(since_text, now)
    with paused_gc():
        rep = build_report(desk, since, now)
    if fmt == "json":
        write_json(rep, out)
    else:
        render_report_md(rep, out, getattr(desk.rules.office_hours, "tz", None))


def export(desk: Desk, since_text: str | None, fmt: str, out: TextIO) -> int:
    since = parse_since(since_text, desk.clock()) if since_text else None
    # Streamed part by part: one archive month's documents in memory at a time.
    rows = itertools.chain.from_iterable(
        export_rows(part, desk.rules.levels, since) for part in collect_parts(desk, since))
    with paused_gc():
        return write_export(rows, fmt, out)


def review(desk: Desk, since_text: str, fmt: str, out: TextIO) -> None:
    now = desk.clock()
    since = parse_since(since_text, now)
    with paused_gc():
        items = build_review(desk, since, now)
    if fmt == "json":
        write_json({"since": iso(since), "now": iso(now), "conversations": items}, out)
    else:
        render_review_md(items, since, now, out)


_JSON = json.JSONEncoder(ensure_ascii=False)


def write_json(obj: dict[str, Any], out: TextIO) -> None:
    """A report as JSON, one top-level key per line and one list item per line: readable,
    diff- and grep-friendly, and written by the C encoder (``indent=`` makes json use its pure
    Python encoder: seconds for a month's report)."""
    out.write("{")
    sep = "\n"
    for key, value in obj.items():
        out.write(f"{sep} {_JSON.encode(key)}: ")
        if isinstance(value, list) and value:
            out.write("[\n  " + ",\n  ".join(map(_JSON.encode, value)) + "\n ]")
        else:
            out.write(_JSON.encode(value))
        sep = ",\n"
    out.write("\n}\n")


ARCHIVE_NOTE = "archive/"  # store notes about an archive file start with its name


def _run(args: argparse.Namespace, body: Callable[[Any], None]) -> int:
    from ..setup.boot import BootError, close_desk, open_desk, options_from

    try:
        # Read-only: no lock, so this works while the console runs; nothing here writes.
        with paused_gc():  # building the desk from its snapshot is a bulk read too
            desk = open_desk(options_from(args), read_only=True, create=False)
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return exc.code
    notes = desk.store.recovered if desk.store is not None else []
    for note in getattr(desk.store, "warnings", ()):
        print(f"mentiondesk: warning: {note}", file=sys.stderr)
    for note in notes:
        print(f"mentiondesk: note: {note}", file=sys.stderr)
    said = len(notes)
    try:
        body(desk)
        # Archive files are read by the body: one that cannot be read is said here, and the
        # exit code says the output is incomplete (2), on every command that reads it.
        damaged = [n for n in notes[said:] if n.startswith(ARCHIVE_NOTE)]
        for note in notes[said:]:
            print(f"mentiondesk: note: {note}", file=sys.stderr)
        if damaged:
            print(f"mentiondesk: the output above is missing what the damaged archive "
                  f"file{'s' if len(damaged) > 1 else ''} held", file=sys.stderr)
            return USAGE
        return OK
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return USAGE
    finally:
        close_desk(desk)


def run_report(args: argparse.Namespace) -> int:
    return _run(args, lambda desk: report(desk, args.since, args.format, sys.stdout))


def run_export(args: argparse.Namespace) -> int:
    return _run(args, lambda desk: export(desk, args.since, args.format, sys.stdout))


def run_review(args: argparse.Namespace) -> int:
    return _run(args, lambda desk: review(desk, args.since, args.format, sys.stdout))


def run(args: argparse.Namespace) -> int:
    """Dispatch by sub-command name (the CLI's fallback handler)."""
    handler = {"report": run_report, "export": run_export, "review": run_review}[args.command]
    return handler(args)
