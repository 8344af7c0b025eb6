"""Stranger text → something Textual draws as data, never as markup.

Mention text, display names, handles and server error messages come from strangers.  In Textual a
plain ``str`` handed to ``Static``, ``Label``, ``notify`` or an ``OptionList`` is parsed as markup
(``[@click=app.quit]`` becomes an action, ``[/foo]`` raises), so every such string goes through
this module and reaches widgets as a :class:`Content` (whose text is never parsed).

The core already cleaned the text once at ingest (``tui.core.text.clean_text``); this module
scrubs again because text also arrives from places the core does not see (server errors in a
source's status, a draft typed by an agent who pasted from a terminal) and because a boundary that
relies on every producer being careful is not a boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from textual.content import Content
from textual.style import Style

from tui.core.text import one_line as _one_line
from tui.core.text import scrub

__all__ = ["assemble", "join", "one_cell_emoji", "one_line", "plain", "scrub"]

# Emoji sequences terminals measure differently: variation selectors (VS16 asks for the wide
# emoji form of ❤ ☺ ✔ …, which some terminals draw 2 cells wide and others 1), the zero-width
# joiner gluing several emoji into one glyph (🏳️‍🌈, families), skin-tone modifiers, keycap and
# tag sequences (subdivision flags).  Dropped in one-line cells, each piece is drawn as its
# own, unambiguous width, so a row ends at the edge in every terminal and under tmux.
_EMOJI_JOINERS = re.compile("[\ufe0e\ufe0f\u200d\u20e3\U0001f3fb-\U0001f3ff"
                            "\U000e0020-\U000e007f]")


def one_cell_emoji(text: str) -> str:
    """``text`` with emoji sequences split into single code points (see ``_EMOJI_JOINERS``):
    ``❤️`` → ``❤``, ``👍🏽`` → ``👍``, ``🏳️‍🌈`` → ``🏳🌈``."""
    return _EMOJI_JOINERS.sub("", text)


def one_line(value: object, width: int | None = None) -> str:
    """:func:`tui.core.text.one_line` for a one-line cell: emoji sequences split
    (:func:`one_cell_emoji`) so the cell's width is the same in every terminal."""
    return _one_line(one_cell_emoji(scrub(value)), width)

Part = str | Content | tuple[str, str | Style]


def plain(value: object, style: str | Style = "", *, limit: int | None = None) -> Content:
    """Stranger text as Content: drawn literally, optionally in a (trusted) style."""
    content = Content(scrub(value, limit))
    return content.stylize(style) if style else content


def assemble(*parts: Part | None) -> Content:
    """Join trusted styled labels and stranger text into one Content.

    A ``str`` part is *text*, never markup (it is scrubbed); a ``(text, style)`` tuple is text in a
    style the program chose; a Content part is kept as it is.  ``None`` parts are skipped so
    callers can write optional pieces inline.
    """
    cleaned: list[Part] = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, str):
            cleaned.append(scrub(part))
        elif isinstance(part, tuple):
            cleaned.append((scrub(part[0]), part[1]))
        else:
            cleaned.append(part)
    return Content.assemble(*cleaned)


def join(lines: Iterable[Content], separator: str = "\n") -> Content:
    """Content lines joined with a separator."""
    return Content(separator).join(list(lines))
