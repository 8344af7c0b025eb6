"""Cleaning stranger-supplied text once, when it arrives.

Mention text, display names and handles come from strangers.  They are cleaned here, stored
cleaned, and rendered only as data by the console.  Cleaning removes whole terminal escape
sequences (CSI, OSC, DCS, ...), C0/C1 control characters except newline and tab, Unicode bidi
overrides and isolates, and caps the length.  HTML (Mastodon's ``content``) is converted to
plain text with the standard library's parser: paragraphs and ``<br>`` become newlines, links keep
their visible text.
"""

from __future__ import annotations

import re
import unicodedata
from html import unescape
from html.parser import HTMLParser

MAX_TEXT = 5000  # characters kept of a mention's text
MAX_NAME = 100  # characters kept of a display name or handle

# ESC followed by a whole sequence: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC (ESC ] ... BEL or
# ESC \), or a two-character escape.  The 8-bit C1 forms (0x9b CSI, 0x9d OSC, ...) likewise.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?          # CSI ... final byte
  | (?:\x1b[\]PX^_]|[\x90\x9d\x98\x9e\x9f])    # OSC, DCS, SOS, PM, APC ...
        [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?  # ... up to BEL / ST (or end of text)
  | \x1b[ -/]*[0-~]?                           # other escapes (ESC ( B, ESC c, ESC 7 ...)
    """,
    re.VERBOSE,
)
# C0 controls but \t and \n, DEL, C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi embeddings/overrides/isolates and marks that can reorder what follows them on screen,
# plus zero-width characters other than the joiner (kept: it builds emoji sequences).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060\ufeff]")
# Lone UTF-16 surrogates (valid JSON: "\ud800") cannot be encoded, so printing or writing them
# fails later, far from where they came in: each becomes U+FFFD.
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """Return ``value`` as safe plain text: no escapes, no controls, no bidi tricks, no lone
    surrogates (each becomes U+FFFD), capped."""
    if value is None:
        return ""
    text = str(value)
    text = _SURROGATES.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub("", text)
    text = _BIDI.sub("", text)
    text = text.replace("\t", " ")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def clean_name(value: object, limit: int = MAX_NAME) -> str:
    """A display name or handle: one line, cleaned, capped."""
    return clean_text(value, limit=limit * 4).replace("\n", " ")[:limit]


def scrub(value: object, limit: int | None = None) -> str:
    """``value`` as text with no escape sequence, control character (but newline) or bidi
    override left, cut to ``limit`` characters with an ellipsis — for showing text that did not
    come through :func:`clean_text` (server errors, pasted drafts) on a terminal."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _BIDI.sub("", _CONTROLS.sub("", _ESCAPES.sub("", text)))
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def one_line(value: object, width: int | None = None) -> str:
    """Scrubbed, whitespace folded onto one line, cut to ``width`` characters with an ellipsis.
    The one helper every client uses to show a message, a handle or an error on one line."""
    flat = " ".join(scrub(value).split())
    if width is not None and len(flat) > width:
        flat = flat[: max(0, width - 1)] + "…"
    return flat


class _HTMLToText(HTMLParser):
    _BREAKS = {"br"}
    _BLOCKS = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr"}
    _SKIP = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        # Mastodon hides parts of long URLs in <span class="invisible">; they are still text.

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")
        elif tag in self._BLOCKS and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_LOOKS_LIKE_HTML = re.compile(r"<(?:p|br|a|span|div)[\s>/]", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (as Mastodon sends ``content``)."""
    if not html:
        return ""
    if not _LOOKS_LIKE_HTML.search(html):
        return unescape(html)
    parser = _HTMLToText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # a malformed fragment still yields what was parsed
        pass
    return "".join(parser.parts)


# --- normalisation for matching (never for display) -------------------------------------------

# Emoji and pictographs: the main emoji blocks plus the older symbol blocks emoji live in
# (⌛ ⏰ in Misc Technical, ☀ ✈ in Misc Symbols/Dingbats, ⭐ ⬛ in Misc Symbols and Arrows).
_EMOJI = "\U0001F000-\U0001FAFF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF"
_NON_WORD = re.compile(rf"[^\w{_EMOJI}]+")


def normalize_for_match(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used by keyword matchers.

    ``"Ça NE marche PAS!!! 😡"`` → ``" ca ne marche pas 😡 "``.  Emoji are kept as their own words
    so that a keyword can be an emoji, and emoji glued to words (``refund💸please``) split them.
    The result starts and ends with a space so that `` word `` finds whole words.

    Every step works character by character (see :func:`_fold_chars`), so the text goes through
    one ``str.translate`` with a table that remembers what each character became.
    """
    return " " + " ".join(text.translate(_FOLD).split()) + " "


def _fold_chars(text: str) -> str:
    """Casefold, decompose (NFKD) and drop combining marks, drop the emoji joiner and variation
    selector, put spaces around emoji and turn everything else that is not a word character into
    a space.

    Each step maps one character to a string regardless of its neighbours: case folding is
    context-free, and NFKD only decomposes characters and reorders combining marks among
    themselves, which are all dropped.  So the result for a text is the concatenation of the
    results for its characters, which is what lets :data:`_FOLD` cache them.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("\u200d", "").replace("\ufe0f", "")
    spaced = _EMOJI_CHAR.sub(r" \1 ", stripped)
    return _NON_WORD.sub(" ", spaced)


_EMOJI_CHAR = re.compile(rf"([{_EMOJI}])")
_FOLD_LIMIT = 100_000  # characters remembered (a text of every code point cannot grow it more)


class _FoldTable(dict[int, str]):
    """Code point → :func:`_fold_chars` of that character, filled on first sight."""

    def __missing__(self, code: int) -> str:
        folded = _fold_chars(chr(code))
        if len(self) < _FOLD_LIMIT:
            self[code] = folded
        return folded


_FOLD = _FoldTable()


def cell_len(text: str) -> int:
    """Terminal cells ``text`` takes: East Asian wide and full-width characters (most emoji)
    count two, combining marks, joiners and variation selectors none (Unicode UAX #11)."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf") \
                or 0xFE00 <= ord(ch) <= 0xFE0F:
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total
