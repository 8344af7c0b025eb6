"""Reading the times agents type: ``30m``, ``2h``, ``1d``, ``17:30``, ``tomorrow``, ISO 8601.

Used by snooze (``mentiondesk snooze 42 2h``, the console's snooze presets) and ``--since``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from .model import parse_time

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DURATION_HINT = "write a duration like 15m, 1h or 1d (units d, h, m, s; combined as 4h30m)"


# The longest duration an agent can type (a snooze, a window): a year.  Longer is a typo, and
# a date that far out would not fit a datetime (OverflowError) for 9999999d.
MAX_DURATION = timedelta(days=366)
MAX_WINDOW = timedelta(days=100 * 366)  # a report window (``--since``)


def parse_duration(value: Any, limit: timedelta = MAX_DURATION) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"4h30m"``, ``"1d"`` (spaces and case ignored) →
    timedelta; the one reading of a duration, for what agents type (snooze, ``--since``) and for
    the policy and config files.  At most ``limit`` (a year by default: longer is a typo).
    ValueError's message says what to write instead."""
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(f"{value} has no unit: {DURATION_HINT}")
        raise ValueError(f"{value!r} is not a duration: {DURATION_HINT}")
    text = value.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration: {DURATION_HINT}")
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    try:
        span: timedelta | None = timedelta(days=d, hours=h, minutes=m, seconds=s)
    except OverflowError:
        span = None
    if span is None or span > limit:
        raise ValueError(f"'{value}' is too long: at most {limit.days} days")
    return span


def parse_until(text: str, now: datetime, tz: tzinfo | None = None,
                next_open: object = None) -> datetime:
    """A point in the future from what an agent typed.

    ``tomorrow`` means the next office opening after midnight when ``next_open`` (a callable
    ``datetime -> datetime``) is given, else 09:00 tomorrow in ``tz``.
    """
    text = (text or "").strip()
    local_now = now.astimezone(tz) if tz else now
    if text.lower() in ("tomorrow", "next-open", "morning"):
        midnight = (local_now + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
        if callable(next_open):
            return next_open(midnight)
        return midnight.replace(hour=9)
    clock = _CLOCK.match(text)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} is not a time of day: write e.g. 17:30")
        at = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return at if at > local_now else at + timedelta(days=1)
    try:
        span = parse_duration(text)
    except ValueError as exc:
        if "too long" in str(exc):
            raise
    else:
        return now + span
    try:
        return _timestamp(text, tz)
    except ValueError:
        raise ValueError(f"{text!r}: write a duration (30m, 2h, 1d), a time (17:30), "
                         "'tomorrow', or an ISO timestamp") from None


def _timestamp(text: str, tz: tzinfo | None) -> datetime:
    """An ISO 8601 timestamp; without an offset it is read in ``tz`` (office time), not UTC.
    A bare number is refused: "30" is far more likely a forgotten unit than epoch seconds."""
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", text):
        raise ValueError(text)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return parse_time(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz or UTC)
    return dt.astimezone(UTC)


def parse_since(text: str, now: datetime) -> datetime:
    """``12h`` → 12 hours ago; an ISO timestamp as is."""
    try:
        return now - parse_duration(text, limit=MAX_WINDOW)
    except OverflowError:
        raise ValueError(f"{text!r} reaches before year 1") from None
    except ValueError:
        try:
            return _timestamp(text, None)
        except ValueError:
            raise ValueError(f"--since {text!r}: write e.g. 12h, 7d or an ISO timestamp") from None


def format_time_left(left: timedelta | None, none: str = "-") -> str:
    """Time to a deadline as an agent reads it: ``14m``, ``1h05``, ``2d03``, ``-3m`` once late,
    ``due`` within the minute after the deadline; ``none`` when there is no deadline."""
    if left is None:
        return none
    seconds = left.total_seconds()
    if -60 < seconds <= 0:
        return "due"
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{sign}{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h{minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d" if days >= 10 else f"{sign}{days}d{hours:02d}"


def fmt_seconds(seconds: float | None) -> str:
    """``None`` → ``-``; 59 → ``59s``; 754 → ``12m``; 3900 → ``1h05``; 90000 → ``1d01h``."""
    if seconds is None:
        return "-"
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s >= 86400:
        return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}"
    if s >= 60:
        return f"{sign}{s // 60}m"
    return f"{sign}{s}s"


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def local_time(at: datetime, tz: tzinfo | None, now: datetime | None = None) -> str:
    """A moment as a person reads it, in office-local time (``tz``; UTC without one), to the
    minute: ``17:30`` today, ``Tue 09:00`` within the coming or past six days, ``3 Mar 09:00``
    beyond — never an ISO string with seconds and microseconds."""
    zone = tz or UTC
    local = at.astimezone(zone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    days = (local.date() - today).days
    if days == 0:
        return local.strftime("%H:%M")
    if -6 <= days <= 6:
        return local.strftime("%a %H:%M")
    return f"{local.day} {local:%b %H:%M}"


def due_text(left: timedelta | None, deadline: datetime | None, tz: tzinfo | None,
             now: datetime) -> str:
    """A countdown with its wall-clock due time: ``14m (09:30)``, ``1h00 (Tue 09:00)`` — the
    countdown is office-hours time, so at night "1h00" stays put while the due time says when
    that is.  Empty without a deadline."""
    if deadline is None:
        return ""
    return f"{format_time_left(left)} ({local_time(deadline, tz, now)})"


def need_reply_text(counts: dict[str, int]) -> str:
    """``"143 need a reply"``, or ``"143 need a reply (1 snoozed)"`` when some of them are
    snoozed: the figure counts conversations out of the queue too, so "142 open, 143 need a
    reply" must say why it is larger."""
    n, snoozed = counts.get("needs_reply", 0), counts.get("needs_reply_snoozed", 0)
    return f"{n} need a reply" + (f" ({snoozed} snoozed)" if snoozed else "")
