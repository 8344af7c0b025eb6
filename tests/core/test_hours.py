"""Office-hours deadlines and elapsed times (tui/core/hours.py)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tui.core.hours import ALWAYS, OfficeHours, weekday_number

# Mon–Fri 08:00–20:00 London, Christmas and Boxing Day 2025 closed.
OFFICE = OfficeHours("Europe/London", ["mon", "tue", "wed", "thu", "fri"], time(8), time(20),
                     {date(2025, 12, 25), date(2025, 12, 26)})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def test_within_the_same_day():
    # Wed 15 Jan 2025, 10:00 GMT (= UTC in winter)
    assert OFFICE.add(utc(2025, 1, 15, 10), h(4)) == utc(2025, 1, 15, 14)


def test_evening_rolls_to_next_morning():
    # 19:00 with a 4h target: 1h tonight, 3h from 08:00 tomorrow
    assert OFFICE.add(utc(2025, 1, 15, 19), h(4)) == utc(2025, 1, 16, 11)


def test_posted_at_night_starts_at_opening():
    assert OFFICE.add(utc(2025, 1, 15, 23, 30), h(1)) == utc(2025, 1, 16, 9)
    assert OFFICE.add(utc(2025, 1, 16, 3), h(1)) == utc(2025, 1, 16, 9)


def test_exactly_at_closing_time_ends_at_close():
    assert OFFICE.add(utc(2025, 1, 15, 16), h(4)) == utc(2025, 1, 15, 20)


def test_friday_evening_to_monday():
    # Fri 17 Jan 2025 19:00 → 1h Friday, 3h Monday 20 Jan
    assert OFFICE.add(utc(2025, 1, 17, 19), h(4)) == utc(2025, 1, 20, 11)
    # posted on Saturday: Monday opening counts
    assert OFFICE.add(utc(2025, 1, 18, 12), timedelta(minutes=15)) == utc(2025, 1, 20, 8, 15)


def test_holidays_are_skipped():
    # Wed 24 Dec 19:30 → 30m that evening, Thu 25 + Fri 26 closed, weekend, Mon 29 Dec
    assert OFFICE.add(utc(2025, 12, 24, 19, 30), h(1)) == utc(2025, 12, 29, 8, 30)


def test_long_targets_span_several_days():
    # 24h of office time = 2 full days of 12h
    assert OFFICE.add(utc(2025, 1, 15, 8), h(24)) == utc(2025, 1, 16, 20)
    assert OFFICE.add(utc(2025, 1, 15, 8), h(24) + timedelta(seconds=1)) == utc(
        2025, 1, 17, 8, 0, 1)


def test_dst_spring_forward():
    # Clocks go forward on Sun 30 March 2025.  Fri 28 Mar 19:00 GMT (= 19:00 UTC): 1h Friday,
    # then Monday opens at 08:00 BST = 07:00 UTC: 3h more → 10:00 UTC.
    assert OFFICE.add(utc(2025, 3, 28, 19), h(4)) == utc(2025, 3, 31, 10)


def test_dst_autumn_back():
    # Clocks go back on Sun 26 Oct 2025.  Fri 24 Oct 18:00 BST = 17:00 UTC: 2h Friday, Monday
    # opens at 08:00 GMT = 08:00 UTC.
    assert OFFICE.add(utc(2025, 10, 24, 17), h(4)) == utc(2025, 10, 27, 10)


def test_dst_change_inside_a_24x7_window_uses_real_hours():
    # A 24x7 level is wall-clock: the lost hour of spring is not counted twice.
    start = utc(2025, 3, 30, 0, 30)
    assert ALWAYS.add(start, h(2)) == utc(2025, 3, 30, 2, 30)
    assert ALWAYS.elapsed(start, utc(2025, 3, 30, 2, 30)) == h(2)


def test_is_open_and_next_open():
    assert OFFICE.is_open(utc(2025, 1, 15, 8))
    assert not OFFICE.is_open(utc(2025, 1, 15, 20))  # close is exclusive
    assert not OFFICE.is_open(utc(2025, 1, 18, 12))  # Saturday
    assert not OFFICE.is_open(utc(2025, 12, 25, 12))  # holiday
    # Summer: 07:30 UTC is 08:30 BST
    assert OFFICE.is_open(utc(2025, 6, 11, 7, 30))
    assert OFFICE.next_open(utc(2025, 1, 17, 21)) == utc(2025, 1, 20, 8)
    assert OFFICE.next_open(utc(2025, 1, 15, 12)) == utc(2025, 1, 15, 12)


def test_elapsed_counts_only_open_time():
    assert OFFICE.elapsed(utc(2025, 1, 15, 10), utc(2025, 1, 15, 12)) == h(2)
    assert OFFICE.elapsed(utc(2025, 1, 15, 19), utc(2025, 1, 16, 9)) == h(2)
    # Friday 19:00 → Monday 09:00: one hour each side of the weekend
    assert OFFICE.elapsed(utc(2025, 1, 17, 19), utc(2025, 1, 20, 9)) == h(2)
    assert OFFICE.elapsed(utc(2025, 1, 18, 9), utc(2025, 1, 19, 20)) == timedelta(0)
    assert OFFICE.elapsed(utc(2025, 1, 16), utc(2025, 1, 15)) == timedelta(0)


def test_elapsed_is_the_inverse_of_add():
    starts = [utc(2025, 3, 28, 19), utc(2025, 10, 24, 17), utc(2025, 12, 23, 15, 7),
              utc(2025, 1, 18, 12)]
    for start in starts:
        for target in (timedelta(minutes=15), h(1), h(4), h(24), h(100)):
            deadline = OFFICE.add(start, target)
            assert OFFICE.elapsed(start, deadline) == target, (start, target)


def test_time_left_is_negative_once_breached():
    deadline = utc(2025, 1, 17, 20)  # Friday close
    assert OFFICE.time_left(deadline, utc(2025, 1, 17, 19)) == h(1)
    # Monday 09:00: one office hour past the deadline (the weekend does not count)
    assert OFFICE.time_left(deadline, utc(2025, 1, 20, 9)) == -h(1)
    assert ALWAYS.time_left(deadline, utc(2025, 1, 20, 9)) == -h(61)


def test_naive_times_are_taken_as_utc():
    assert OFFICE.add(datetime(2025, 1, 15, 19), h(4)) == utc(2025, 1, 16, 11)


def test_bad_office_hours_are_refused():
    with pytest.raises(ValueError, match="open before"):
        OfficeHours("Europe/London", ["mon"], time(20), time(8))
    with pytest.raises(ValueError, match="at least one"):
        OfficeHours("Europe/London", [], time(8), time(20))
    with pytest.raises(ValueError, match="not a weekday"):
        weekday_number("mondy")
    assert weekday_number("Monday") == 0 and weekday_number("sun") == 6


def test_a_calendar_that_never_opens_does_not_hang():
    every_day = {date(2025, 1, 1) + timedelta(days=i) for i in range(800)}
    closed = OfficeHours("Europe/London", ["mon"], time(8), time(9), every_day)
    with pytest.raises(ValueError, match="never opens"):
        closed.add(utc(2025, 1, 1), h(1))
