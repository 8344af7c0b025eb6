"""replies.yaml → :class:`Replies`: canned replies, filled in and checked before anything is sent.

A reply is refused — :class:`ReplyRefused` from :meth:`Replies.render`, reasons from
:func:`check_reply` for text an agent edited — while a ``{placeholder}`` is unfilled, when it is
longer than the network allows (Bluesky counts graphemes, so an emoji with a skin tone is one), or
when a *public* reply contains personal data.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import DIRECT, PUBLIC
from .pii import LABELS, find_personal_data
from .yamlfile import Problem, Reader, YMap, describe, did_you_mean, load_yaml

__all__ = ["DEFAULT_LIMITS", "PLACEHOLDERS", "Limit", "Problem", "Replies", "RepliesError",
           "ReplyRefused", "check_reply", "load_replies", "network_of"]

PLACEHOLDERS = ("name", "handle", "case_id", "team", "status_url", "agent")
TOP_KEYS = ("limits", "replies")
REPLY_KEYS = ("description", "public", "direct")
UNITS = ("characters", "graphemes")
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")
_KEY = re.compile(r"[a-z][a-z0-9_]*\Z")


class RepliesError(Exception):
    """The replies file cannot be used; ``problems`` says every reason, with file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ReplyRefused(Exception):
    """A reply that must not be sent; ``reason`` says why in words an agent understands."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# Text made only of these has one grapheme cluster per code point (Unicode UAX #29: none of
# them is Extend, ZWJ, SpacingMark, Prepend, a regional indicator or Hangul; CR, which joins a
# following LF, is left out): Latin, Greek-free Latin-1 and Latin Extended letters, spacing
# modifiers, and the general punctuation dashes, quotes and ellipsis.
_ONE_PER_CHAR = re.compile(r"[\x00-\x0c\x0e-\u02ff\u2010-\u2027\u2030-\u205e]*")


def count_graphemes(text: str) -> int:
    """User-perceived characters (Unicode extended grapheme clusters): an emoji with a skin
    tone or a flag is one.  Bluesky's post limit counts these.  Plain text is counted by
    length; anything else by the ``regex`` module's ``\\X`` (imported on first need)."""
    if _ONE_PER_CHAR.fullmatch(text):
        return len(text)
    return len(_grapheme().findall(text))


@functools.cache
def _grapheme() -> Any:
    import regex

    return regex.compile(r"\X")


@dataclass(frozen=True, slots=True)
class Limit:
    max: int
    unit: str = "characters"  # or "graphemes", or "mastodon" (the server's own way, below)
    url_length: int = 23  # Mastodon: every URL counts as this many (characters_reserved_per_url)

    def measure(self, text: str) -> int:
        if self.unit == "graphemes":
            return count_graphemes(text)
        if self.unit == "mastodon":
            # Mastodon's StatusLengthValidator: each URL counts as ``url_length``, a remote
            # mention ``@user@domain`` as ``@user``, and the rest in grapheme clusters.
            counted = _URL.sub("x" * self.url_length, text)
            counted = _REMOTE_MENTION.sub(r"\1", counted)
            return count_graphemes(counted)
        return len(text)


_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_REMOTE_MENTION = re.compile(r"(?<![\w@])(@[\w.-]+)@[\w.-]+\.[A-Za-z]{2,}")


DEFAULT_LIMITS: dict[str, Limit] = {
    "default": Limit(500),
    "mastodon": Limit(500, "mastodon"),  # until the instance says (/api/v2/instance)
    "bluesky": Limit(300, "graphemes"),
}


def network_of(source: str) -> str:
    """The network a source posts to: ``"mastodon:https://x"`` → ``"mastodon"``,
    ``"bluesky:h"`` → ``"bluesky"``, ``"demo"`` → ``"demo"``."""
    return source.split(":", 1)[0].strip().lower()


def _limit_for(network: str, limits: Mapping[str, Limit] | None) -> Limit:
    table = limits if limits is not None else DEFAULT_LIMITS
    return table.get(network) or table.get("default") or DEFAULT_LIMITS["default"]


def _check(text: str, channel: str, network: str, limits: Mapping[str, Limit] | None,
           placeholders: bool, data: Iterable[str] = ()) -> list[str]:
    reasons: list[str] = []
    if not text.strip():
        return ["the reply is empty"]
    if placeholders:
        template = text
        # Values filled in from stranger data (a display name "{refund_url}") are text, not
        # placeholders: they are never expanded, so they are not "unfilled" either.
        for value in sorted({v for v in data if v and "{" in v}, key=len, reverse=True):
            template = template.replace(value, "")
        left = [f"{{{p}}}" for p in dict.fromkeys(_PLACEHOLDER.findall(template))]
        if left:
            reasons.append(f"unfilled placeholder {', '.join(left)}: fill it in or remove it")
    limit = _limit_for(network, limits)
    size = limit.measure(text)
    if size > limit.max:
        unit = "characters" if limit.unit == "mastodon" else limit.unit  # Mastodon's count
        reasons.append(f"too long for {network}: {size} {unit}, the limit is {limit.max} "
                       f"— shorten it by {size - limit.max}")
    if channel == PUBLIC:
        kinds = list(dict.fromkeys(LABELS[f.kind] for f in find_personal_data(text)))
        if kinds:
            reasons.append(f"personal data in a public reply ({', '.join(kinds)}): remove it or "
                           "send it by direct message")
    return reasons


def check_reply(text: str, *, channel: str, network: str,
                limits: Mapping[str, Limit] | None = None, data: Iterable[str] = ()) -> list[str]:
    """Reasons to refuse sending ``text``; an empty list means it may be sent.  ``data``: the
    values a canned reply was filled with (customer name, handle...): braces inside them are
    the customer's text, never an unfilled placeholder."""
    return _check(text, channel, network, limits, placeholders=True, data=data)


@dataclass(frozen=True, slots=True)
class Reply:
    key: str
    description: str
    public: str | None
    direct: str | None
    line: int


class Replies:
    """Loaded replies.yaml.  Build with :func:`load_replies`."""

    def __init__(self, replies: dict[str, Reply], limits: dict[str, Limit],
                 path: Path | None = None) -> None:
        self.path = path
        self.replies = replies
        self.keys = list(replies)
        self.limits = limits
        self._searched: tuple[dict[str, str], dict[str, str]] | None = None  # see _search_texts

    def _search_texts(self) -> tuple[dict[str, str], dict[str, str]]:
        """What fuzzy search looks at: the key in words with the description (the "title"), and
        the text of both variants (weighted lower: common words appear in every reply).  Made
        on the first search (``rapidfuzz`` is imported then, not at every start)."""
        if self._searched is None:
            from rapidfuzz import utils

            self._searched = (
                {key: utils.default_process(f"{key.replace('_', ' ')} {r.description}")
                 for key, r in self.replies.items()},
                {key: utils.default_process(" ".join(filter(None, (r.public, r.direct))))
                 for key, r in self.replies.items()})
        return self._searched

    def __contains__(self, key: object) -> bool:
        return key in self.replies

    def template(self, key: str, channel: str) -> str | None:
        """The unfilled text used for ``channel`` (DMs fall back to the public variant)."""
        reply = self.replies.get(key)
        if reply is None:
            return None
        if channel == DIRECT:
            return reply.direct if reply.direct is not None else reply.public
        return reply.public

    def render(self, key: str, channel: str, network: str, values: Mapping[str, str]) -> str:
        """Fill in reply ``key`` for ``channel`` on ``network``; raise :class:`ReplyRefused`."""
        if key not in self.replies:
            raise ReplyRefused(f"there is no reply '{key}'{did_you_mean(key, self.keys)}")
        text = self.template(key, channel)
        if text is None:
            raise ReplyRefused(f"reply '{key}' has no public variant: it is for direct "
                               "messages only")
        filled = {k: str(v) for k, v in values.items() if v not in (None, "")}
        if "name" not in filled and "handle" in filled:
            filled["name"] = filled["handle"]  # "Hi alice" reads better than "Hi ,"
        missing = [p for p in dict.fromkeys(_PLACEHOLDER.findall(text)) if p not in filled]
        if missing:
            raise ReplyRefused("unfilled placeholder "
                               + ", ".join(f"{{{p}}}" for p in missing)
                               + ": fill it in or remove it")
        # One pass, so that a value containing "{...}" (a customer's name) is never expanded.
        rendered = _PLACEHOLDER.sub(lambda m: filled[m.group(1)], text)
        reasons = _check(rendered, channel, network, self.limits, placeholders=False)
        if reasons:
            raise ReplyRefused("; ".join(reasons))
        return rendered

    def check(self, text: str, *, channel: str, network: str) -> list[str]:
        """:func:`check_reply` with this file's limits."""
        return check_reply(text, channel=channel, network=network, limits=self.limits)

    def search(self, query: str, limit: int = 10) -> list[tuple[str, float]]:
        """Reply keys best matching ``query`` (typos tolerated), best first, with a 0–100 score."""
        from rapidfuzz import fuzz, utils

        q = utils.default_process(query)
        if not q:
            return [(key, 100.0) for key in self.keys[:limit]]
        heads, bodies = self._search_texts()
        scored = []
        for index, key in enumerate(self.keys):
            head = heads[key]
            score = max(fuzz.token_set_ratio(q, head), fuzz.partial_ratio(q, head),
                        0.9 * fuzz.partial_ratio(q, bodies[key]))
            scored.append((-score, index, key))
        scored.sort()
        return [(key, round(-neg, 1)) for neg, _i, key in scored[:limit]]


# --- loading -------------------------------------------------------------------------------------

def load_replies(path: Path | str, *, name: str | None = None) -> Replies:
    """Load and validate replies.yaml; raise :class:`RepliesError` listing every problem."""
    data, problems = load_yaml(path, name=name)
    file = name or str(path)
    if data is None:
        raise RepliesError(problems or [Problem(file, 1, "the replies file is empty: see the "
                                                         "shipped replies.yaml for an example")])
    r = Reader(file)
    r.problems.extend(problems)
    top = r.mapping(data, 1, "the replies file", TOP_KEYS, required=("replies",))
    limits = dict(DEFAULT_LIMITS)
    replies: dict[str, Reply] = {}
    if top is not None:
        if "limits" in top:
            limits.update(_limits(r, top))
        if "replies" in top:
            replies = _replies(r, top, limits)
    if r.problems:
        raise RepliesError(r.problems)
    return Replies(replies, limits, Path(path))


def _limits(r: Reader, top: YMap) -> dict[str, Limit]:
    out: dict[str, Limit] = {}
    section = r.mapping(top["limits"], top.line_of("limits"), "'limits'")
    if section is None:
        return out
    hint = "write a number of characters (mastodon: 500) or 'graphemes: 300'"
    for network, value in section.items():
        line = section.line_of(network)
        where = f"the limit for {network}"
        if isinstance(value, int) and not isinstance(value, bool):
            if value <= 0:
                r.problem(line, f"{where} must be more than 0: {hint}")
            else:
                out[str(network)] = Limit(value)
            continue
        if not isinstance(value, YMap):
            r.problem(line, f"{where} must be a number, not {describe(value)}: {hint}")
            continue
        for unit in value:
            if unit not in UNITS:
                r.problem(value.line_of(unit), f"unknown unit '{unit}' in {where}"
                                               f"{did_you_mean(str(unit), UNITS)}: {hint}")
        units = [u for u in UNITS if u in value]
        if len(units) != 1:
            if not any(u not in UNITS for u in value):
                r.problem(line, f"{where} needs exactly one of characters: or graphemes:")
            continue
        amount = value[units[0]]
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            r.problem(value.line_of(units[0]), f"{where} must be a whole number above 0, "
                                               f"not {describe(amount)}")
            continue
        out[str(network)] = Limit(amount, units[0])
    return out


def _replies(r: Reader, top: YMap, limits: dict[str, Limit]) -> dict[str, Reply]:
    out: dict[str, Reply] = {}
    section = r.mapping(top["replies"], top.line_of("replies"), "'replies'")
    if section is None:
        return out
    if not section:
        r.problem(section.line, "'replies' is empty: add at least one reply")
    for key, spec in section.items():
        line = section.line_of(key)
        if not isinstance(key, str) or not _KEY.match(key):
            r.problem(line, f"reply key {describe(key)} must be a lowercase word "
                            "(letters, digits, _), e.g. refund_assist")
            continue
        where = f"reply '{key}'"
        spec = r.mapping(spec, line, where, REPLY_KEYS)
        if spec is None:
            continue
        variants: dict[str, str | None] = {}
        for variant in (PUBLIC, DIRECT):
            text = r.get(spec, variant, str, where)
            if text is not None:
                text = text.strip()
                _check_template(r, spec.line_of(variant), f"the {variant} variant of {where}",
                                text, limits)
            variants[variant] = text or None
        if variants[PUBLIC] is None and variants[DIRECT] is None:
            if PUBLIC not in spec and DIRECT not in spec:
                r.problem(line, f"{where} has neither 'public:' nor 'direct:' text: add at "
                                "least one")
        out[key] = Reply(key, r.get(spec, "description", str, where, ""), variants[PUBLIC],
                         variants[DIRECT], line)
    return out


def _check_template(r: Reader, line: int, where: str, text: str,
                    limits: dict[str, Limit]) -> None:
    if not text:
        r.problem(line, f"{where} is empty: write the text or remove the line")
        return
    for found in dict.fromkeys(_PLACEHOLDER.findall(text)):
        if found not in PLACEHOLDERS:
            r.problem(line, f"unknown placeholder {{{found}}} in {where}"
                            f"{did_you_mean(found, PLACEHOLDERS)}: use "
                            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    # Even with every placeholder empty it must fit the smallest limit, or it can never be sent.
    bare = _PLACEHOLDER.sub("", text)
    for network, limit in limits.items():
        size = limit.measure(bare)
        if size > limit.max:
            r.problem(line, f"{where} is {size} {limit.unit} before its placeholders are filled "
                            f"in; {network} allows {limit.max}: shorten it")
    if where.startswith("the public"):
        kinds = list(dict.fromkeys(LABELS[f.kind] for f in find_personal_data(bare)))
        if kinds:
            r.problem(line, f"{where} contains personal data ({', '.join(kinds)}), so it would "
                            "always be refused: link to a help page instead")

