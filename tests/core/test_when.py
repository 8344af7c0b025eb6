from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tui.core.when import parse_duration, parse_since, parse_until

NOW = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)  # summer: London is UTC+1
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("4h30m", timedelta(hours=4, minutes=30)),
        ("1d", timedelta(days=1)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_until(text, NOW) == NOW + delta


def test_clock_times_are_office_local_and_in_the_future() -> None:
    assert parse_until("17:30", NOW, LONDON) == datetime(2026, 7, 6, 16, 30, tzinfo=UTC)
    assert parse_until("09:00", NOW, LONDON) == datetime(2026, 7, 7, 8, 0, tzinfo=UTC)


def test_tomorrow_uses_the_next_office_opening() -> None:
    def next_open(t):
        return t.replace(hour=8)

    assert parse_until("tomorrow", NOW, LONDON, next_open).date().isoformat() == "2026-07-07"


def test_iso_without_offset_is_office_time() -> None:
    assert parse_until("2026-07-06T18:00", NOW, LONDON) == datetime(2026, 7, 6, 17, 0, tzinfo=UTC)
    assert parse_until("2026-07-06T18:00Z", NOW, LONDON) == datetime(2026, 7, 6, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["30", "soon", "25:00", ""])
def test_bad_times_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="write"):
        parse_until(bad, NOW, LONDON)


def test_since() -> None:
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    with pytest.raises(ValueError):
        parse_since("7", NOW)


@pytest.mark.parametrize(("seconds", "text"), [(14 * 60 + 30, "14m"), (3900, "1h05"),
                                               (2 * 86400 + 3 * 3600, "2d03"), (-200, "-3m"),
                                               (-30, "due"), (12 * 86400, "12d")])
def test_time_left_reads_the_same_everywhere(seconds: int, text: str) -> None:
    from tui.core.when import format_time_left

    assert format_time_left(timedelta(seconds=seconds)) == text
    assert format_time_left(None) == "-" and format_time_left(None, none="") == ""
