"""A conversation as one plain row: what the queue shows, what ``mentiondesk queue --json``
prints, and what the desk process sends its clients.  Times are ISO 8601 UTC; ``seconds_left``
is seconds until the response deadline in office-hours time (negative once breached, None
without a deadline); ``due_local`` (ISO) and ``due`` (short text) are the deadline's wall-clock
time in the office's time zone; ``seq`` is the newest timeline sequence number (a client
sending with ``seen_seq=seq`` is refused if the conversation changed in between); ``markers``
the queue's marker column (``api.markers``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .api import markers
from .model import iso
from .when import format_time_left, local_time


def conversation_row(desk: Any, conv: Any, now: datetime) -> dict[str, Any]:
    latest = desk.latest_mention(conv)
    last_ev = None
    for _, kind, key in reversed(conv.timeline):
        if kind == "e":
            ev = desk.events.get(key)
            if ev is not None:
                last_ev = {"kind": ev.kind, "agent": ev.agent, "os_user": ev.os_user,
                           "at": iso(ev.at), "undone": ev.undone}
            break
    tz = getattr(desk.rules.office_hours, "tz", None) or UTC
    return {
        "id": conv.id, "status": conv.status, "needs_reply": conv.needs_reply,
        "urgency": conv.urgency, "category": conv.category,
        "team": desk.owning_team(conv),
        "deadline": iso(conv.deadline),
        # the wall-clock due time in office-local time (the countdown is office-hours time)
        "due_local": (conv.deadline.astimezone(tz).isoformat(timespec="minutes")
                      if conv.deadline else None),
        "due": local_time(conv.deadline, tz, now) if conv.deadline else None,
        "seconds_left": (int(desk.time_left(conv, now).total_seconds())
                         if conv.deadline else None),
        "channel": latest.channel if latest else None, "handle": conv.handle,
        "source": conv.source, "offline": conv.offline, "case_id": conv.case_id,
        "assigned": conv.assigned, "unread": conv.unread, "tags": conv.tags,
        "score": conv.score, "text": latest.text if latest else "",
        "seq": conv.timeline[-1][0] if conv.timeline else 0, "last_event": last_ev,
        "markers": markers(conv),
    }


def row_due_text(row: dict[str, Any]) -> str:
    """A row's countdown with its wall-clock due time, ``14m (09:30)`` (``when.due_text`` from
    the row's ``seconds_left`` and ``due``); empty without a deadline."""
    if row.get("deadline") is None or row.get("seconds_left") is None:
        return ""
    return f"{format_time_left(timedelta(seconds=row['seconds_left']))} ({row['due']})"
