"""Office hours: deadlines and elapsed times that count only the hours the care team works.

A "4h" target for a mention posted at 19:00 on a Friday is due at 11:00 on Monday when the office
opens 08:00–20:00 Monday to Friday.  All arithmetic is done on UTC instants; each day's opening and
closing times are resolved in the office's timezone with ``zoneinfo``, so a DST change moves the
window, never the count.  Work goes day by day (not minute by minute): a deadline costs a handful
of iterations even across a long weekend.

``ALWAYS`` is the 24x7 calendar for levels that do not wait for the office to open.
A level's calendar is what rules.yaml calls its ``clock:`` (``office`` or ``24x7``); in the code
*clock* means only the function that says what time it is now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZERO = timedelta(0)
# A year of days without a single open hour means the calendar is unusable; stop rather than spin.
_MAX_CLOSED_DAYS = 400


def weekday_number(name: str) -> int:
    """``"Mon"``, ``"monday"`` → 0 ... ``"sun"`` → 6; ValueError for anything else."""
    key = str(name).strip().lower()
    for number, full in enumerate(_FULL_DAYS):
        if key in (full, full[:3]):
            return number
    raise ValueError(f"'{name}' is not a weekday: write mon, tue, wed, thu, fri, sat or sun")


_WINDOWS_KEPT = 4096  # days of opening times remembered (about 11 years)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


class OfficeHours:
    """The care team's working week: ``days`` between ``open`` and ``close`` in ``timezone``."""

    name = "office"

    def __init__(self, timezone: str, days: Iterable[str | int], open: time, close: time,
                 holidays: Iterable[date] = (), calendar: Any = None) -> None:
        """``holidays``: extra closed days (local dates).  ``calendar``: a bank-holiday calendar
        from the ``holidays`` library (``holidays.country_holidays("GB", subdiv="ENG")``, any
        object supporting ``date in calendar``), or None."""
        if not open < close:
            raise ValueError("office hours must open before they close (overnight shifts are "
                             "not supported: use a 24x7 level instead)")
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.days = frozenset(d if isinstance(d, int) else weekday_number(d) for d in days)
        if not self.days:
            raise ValueError("office hours need at least one working day")
        self.open = open
        self.close = close
        self.holidays = frozenset(holidays)
        self.calendar = calendar
        self._windows: dict[date, tuple[datetime, datetime] | None] = {}

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (self.calendar is not None and day in self.calendar)

    def calendar_ends(self) -> date | None:
        """The last day the holidays are known for: the calendar library's last year (the
        ``holidays`` library computes each year from its rules up to ``end_year``), else the end
        of the year of the last listed date; None when there are no holidays at all.  After it,
        deadlines count holidays as working days."""
        if self.calendar is not None:
            end_year = getattr(self.calendar, "end_year", None)
            return date(int(end_year), 12, 31) if end_year else date.max
        if self.holidays:
            return date(max(self.holidays).year, 12, 31)
        return None

    def __repr__(self) -> str:
        days = ",".join(WEEKDAYS[d] for d in sorted(self.days))
        return (f"OfficeHours({self.timezone!r}, {days}, {self.open:%H:%M}-{self.close:%H:%M}, "
                f"{len(self.holidays)} holidays)")

    # -- one day's window ---------------------------------------------------------------------

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC instants the office opens and closes on local ``day``, or None if closed.

        Remembered per day (every deadline of a day's mentions walks the same few days); the
        office hours, holidays and calendar do not change after they are built."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        window: tuple[datetime, datetime] | None = None
        if day.weekday() in self.days and not self.is_holiday(day):
            window = (datetime.combine(day, self.open, tzinfo=self.tz).astimezone(UTC),
                      datetime.combine(day, self.close, tzinfo=self.tz).astimezone(UTC))
        if len(self._windows) >= _WINDOWS_KEPT:
            self._windows.clear()
        self._windows[day] = window
        return window

    def _local_day(self, t: datetime) -> date:
        return t.astimezone(self.tz).date()

    # -- public API ---------------------------------------------------------------------------

    def is_open(self, t: datetime) -> bool:
        t = _utc(t)
        window = self._window(self._local_day(t))
        return window is not None and window[0] <= t < window[1]

    def next_open(self, t: datetime) -> datetime:
        """``t`` itself when the office is open, else the next opening instant (UTC)."""
        t = _utc(t)
        day = self._local_day(t)
        for _ in range(_MAX_CLOSED_DAYS):
            window = self._window(day)
            if window is not None and t < window[1]:
                return max(t, window[0])
            day += timedelta(days=1)
        raise ValueError("the office never opens: check office_hours days and holidays")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when ``duration`` of open time has passed since ``start`` (UTC)."""
        t = _utc(start)
        remaining = duration
        if remaining <= _ZERO:
            return t
        day = self._local_day(t)
        closed = 0
        while True:
            window = self._window(day)
            if window is not None and t < window[1]:
                begin = max(t, window[0])
                available = window[1] - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
                closed = 0
            else:
                closed += 1
                if closed > _MAX_CLOSED_DAYS:
                    raise ValueError("the office never opens: check office_hours days and holidays")
            day += timedelta(days=1)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two instants (zero when ``end`` is not after ``start``)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return _ZERO
        total = _ZERO
        day = self._local_day(start)
        last = self._local_day(end)
        while day <= last:
            window = self._window(day)
            if window is not None:
                begin, finish = max(start, window[0]), min(end, window[1])
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def time_left(self, deadline: datetime, now: datetime) -> timedelta:
        """Open time until ``deadline``; negative (open time since it passed) once breached."""
        if _utc(now) <= _utc(deadline):
            return self.elapsed(now, deadline)
        return -self.elapsed(deadline, now)


class _Always:
    """The 24x7 clock: same methods as :class:`OfficeHours`, plain wall-clock arithmetic."""

    name = "24x7"

    def __repr__(self) -> str:
        return "ALWAYS"

    def is_open(self, t: datetime) -> bool:
        return True

    def next_open(self, t: datetime) -> datetime:
        return _utc(t)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return _utc(start) + max(duration, _ZERO)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        return max(_utc(end) - _utc(start), _ZERO)

    def time_left(self, deadline: datetime, now: datetime) -> timedelta:
        return _utc(deadline) - _utc(now)


ALWAYS = _Always()
Calendar = OfficeHours | _Always
