"""count_graphemes counts plain text by its length and everything else with the ``regex``
module's ``\\X``: both give the same count (issue 9: ``regex`` is no longer imported at every
start for a count a plain reply does not need)."""

from __future__ import annotations

import regex

from tui.core import replies
from tui.core.replies import Limit, count_graphemes


def by_regex(text: str) -> int:
    return len(regex.findall(r"\X", text))


def test_every_character_counted_by_length_is_one_grapheme_on_its_own() -> None:
    plain = [chr(c) for c in range(0x110000)
             if 0xD800 > c or c > 0xDFFF if replies._ONE_PER_CHAR.fullmatch(chr(c))]
    assert "\r" not in plain and "\u0301" not in plain and "\u200d" not in plain
    assert len(plain) > 700
    for c in plain:  # next to itself and to others, never joined into one cluster
        text = "a" + c + c + "\n" + c + "b"
        assert count_graphemes(text) == by_regex(text) == 6, hex(ord(c))


def test_the_rest_is_counted_in_graphemes() -> None:
    for text in ["e\u0301te\u0301", "\r\n", "a\r\nb", "👍🏽 ok", "🇬🇧🇫🇷", "👩‍👩‍👧", "한국어",
                 "नमस्ते", "café — “quoted” …", "Ünïcödé ✓", "x\u200dy", ""]:
        assert count_graphemes(text) == by_regex(text), text
    assert count_graphemes("👍🏽" * 300) == 300
    assert Limit(300, "graphemes").measure("\r\n" * 10) == 10
