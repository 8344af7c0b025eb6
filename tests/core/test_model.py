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
