"""Author fields from strangers' servers (tui/core/model.py)."""

from __future__ import annotations

import pytest

from tui.core.model import Author, follower_count


@pytest.mark.parametrize("value, count", [
    (48200, 48200), ("310", 310), (" 12 ", 12), (3e4, 30000), (0, 0), (None, 0), (True, 0),
    (1.5e300, 0), ("9" * 5000, 0), (-7, 0), ("12x", 0), (float("nan"), 0), (float("inf"), 0),
    (2.5, 0), ("١٢", 0), (10**11, 0), ([5], 0), ({"n": 5}, 0),
])
def test_follower_counts_from_strangers_are_whole_numbers_or_zero(value, count):
    assert follower_count(value) == count
    assert Author.from_value({"handle": "amy", "followers": value}).followers == count


def test_iso_texts_are_utc_and_the_same_whether_remembered_or_not(monkeypatch):
    """iso() remembers the texts of aware times (issue 8: ingest formats one time ~8 times);
    a remembered text must be exactly the one formatting gives, for every zone and precision,
    and a full memory starts over instead of growing."""
    from datetime import UTC, datetime, timedelta, timezone

    from tui.core import model

    monkeypatch.setattr(model, "_ISO_TEXT", {})
    monkeypatch.setattr(model, "_ISO_KEPT", 4)
    paris = timezone(timedelta(hours=1))
    cases = [
        (datetime(2025, 3, 4, 9, 0, tzinfo=UTC), "2025-03-04T09:00:00Z"),
        (datetime(2025, 3, 4, 10, 0, tzinfo=paris), "2025-03-04T09:00:00Z"),  # same instant
        (datetime(2025, 3, 4, 9, 0, 0, 120, tzinfo=UTC), "2025-03-04T09:00:00.000120Z"),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=paris), "1999-12-31T22:59:59Z"),
        (datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=-5))), "2030-01-01T05:00:00Z"),
    ]
    for _ in range(3):  # first formatted, then remembered (and the memory cleared on the way)
        for dt, text in cases:
            assert model.iso(dt) == text
            assert len(model._ISO_TEXT) <= 4
    assert model.iso(None) is None
    # Naive times mean the local zone, which can change: never remembered.
    naive = datetime(2025, 3, 4, 9, 0)
    model._ISO_TEXT.clear()
    assert model.iso(naive) == naive.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert model._ISO_TEXT == {}
