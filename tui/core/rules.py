"""rules.yaml → :class:`Rules`, and the rules' verdict on one mention (:class:`Triage`).

Loading either succeeds completely or raises :class:`RulesError` listing every problem, each with
its file and line and what to write instead: a desk never runs on half a policy.

Everything a verdict needs is prepared at load time (one compiled regex per category over the
folded text, sets for channels and handles, resolved levels and clocks), so that triage costs a few
tens of microseconds per mention.  The semantics of ``match:`` are documented at the top of the
shipped rules.yaml: keywords, phrases and regex together describe the words (any one is enough);
every other condition is ANDed with them; entries of a list are ORed; ``unless`` vetoes.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from . import bank_holidays
from .hours import ALWAYS, Calendar, OfficeHours, weekday_number
from .model import ACTIONS, DIRECT, PUBLIC, Mention, Triage
from .pii import KINDS, LABELS, PersonalDataFinder
from .text import normalize_for_match
from .when import DURATION_HINT, parse_duration
from .wordforms import (
    Key,
    KeyIndex,
    Near,
    Negation,
    Seen,
    Stems,
    Terms,
    compile_words,
    is_stemmer_language,
    normalize_for_match_fast,
    stemmer_languages,
    term_key,
)
from .yamlfile import (
    Problem,
    Reader,
    YList,
    YMap,
    describe,
    did_you_mean,
    load_yaml,
    load_yaml_text,
)

__all__ = [
    "Category",
    "Level",
    "Problem",
    "Rules",
    "RulesError",
    "Team",
    "compile_words",
    "load_rules",
    "normalize_for_match_fast",
]

TOP_KEYS = ("version", "word_forms", "negation", "urgency", "office_hours", "status_url", "teams",
            "vip", "categories", "modifiers", "offline_triggers")
LEVEL_KEYS = ("target", "clock", "description")
OFFICE_KEYS = ("timezone", "days", "open", "close", "holidays")
TEAM_KEYS = ("description", "self_service")
CATEGORY_KEYS = ("id", "label", "urgency", "action", "team", "reply", "offline", "match",
                 "description")
MATCH_KEYS = ("keywords", "phrases", "regex", "near", "negation", "channel", "language",
              "min_followers", "vip", "repeat_contact", "question", "unless")
NEAR_KEYS = ("words", "with", "within")
NEGATION_KEYS = ("words", "window")
MODIFIER_KEYS = ("influencer", "repeat_customer", "negative_wording", "waiting", "vip",
                 "vip_bump")
OFFLINE_KEYS = ("personal_data", "categories", "booking_pattern")
CLOCKS = ("24x7", "office")
# Actions that answer the customer, so a category with them needs a reply key.
REPLYING = ("reply", "assist_and_direct", "take_offline", "handoff", "update_and_link")
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_TIME = re.compile(r"(\d{1,2}):(\d{2})\Z")


class RulesError(Exception):
    """The rules file cannot be used; ``problems`` says every reason, with file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    rank: int  # 0 = most urgent
    target: timedelta | None  # None: monitor only, no deadline
    calendar: Calendar  # rules.yaml "clock:": office hours or 24x7
    description: str = ""


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    description: str
    self_service_url: str | None = None


@dataclass(slots=True)
class Matcher:
    """One category's ``match:``, compiled."""

    words: Terms | None = None  # keywords and phrases
    regexes: list[re.Pattern[str]] = field(default_factory=list)  # over the cleaned text
    near: list[Near] = field(default_factory=list)
    channels: frozenset[str] | None = None
    languages: tuple[str, ...] | None = None
    min_followers: int | None = None
    vip: frozenset[str] | None = None
    repeat: tuple[int, int] | None = None  # (within_days, at_least)
    question: bool | None = None  # True: only questions; False: never questions
    negated: bool = False  # True: a word after a negation ("not delayed") does not count
    unless: Terms | None = None

    @property
    def keys(self) -> list[Key] | None:
        """Words of which the mention must contain at least one for this matcher to match at
        all (see :class:`wordforms.KeyIndex`), or None when that cannot be said (a regex, no
        words).  Lets triage skip every category none of whose words is in the mention."""
        if self.regexes or (self.words is None and not self.near):
            return None
        keys: list[Key] = []
        # A near pair matches only when a word of its first list is found.
        for terms in ([self.words] if self.words is not None else []) + [n.first for n in
                                                                         self.near]:
            keys.extend(terms.keys)
        return keys

    @property
    def catch_all(self) -> bool:
        return (self.words is None and not self.regexes and not self.near
                and self.channels is None and self.languages is None
                and self.min_followers is None and self.vip is None and self.repeat is None
                and self.question is None and self.unless is None)

    def match(self, m: Mention, seen: Seen, prior: Sequence[datetime],
              negation: Negation | None = None) -> list[str] | None:
        """The reasons it matched (for ``why``), or None.  Cheap conditions are tested first."""
        reasons: list[str] = []
        if self.channels is not None:
            if m.channel not in self.channels:
                return None
            reasons.append(f"channel {m.channel}")
        if self.languages is not None:
            lang = (m.language or m.author.language or "").lower()
            if not any(lang == code or lang.startswith(code + "-") for code in self.languages):
                return None
            reasons.append(f"language {lang}")
        if self.min_followers is not None:
            if m.author.followers < self.min_followers:
                return None
            reasons.append(f"{m.author.followers:,} followers")
        if self.vip is not None:
            if m.author.handle.lstrip("@").casefold() not in self.vip:
                return None
            reasons.append(f"vip @{m.author.handle}")
        if self.repeat is not None:
            days, at_least = self.repeat
            count = _recent(prior, m.created_at, days)
            if count < at_least:
                return None
            reasons.append(f"repeat contact ({count} in {days} days)")
        if self.question is not None:
            if seen.question != self.question:
                return None
            reasons.append("a question" if self.question else "not a question")
        if not self.negated:
            negation = None
        if self.words is not None or self.regexes or self.near:
            found = _word_reasons(self.words, seen, negation) if self.words is not None else []
            if not found:
                for near in self.near:
                    pair = near.find(seen, negation)
                    if pair is not None:
                        found.append(f'"{_short(pair[0])}" near "{_short(pair[1])}"')
                        break
            if not found:
                for pattern in self.regexes:
                    hit = pattern.search(m.text)
                    if hit:
                        found.append(f'regex "{_short(hit.group())}"')
                        break
            if not found:
                return None
            reasons[:0] = found
        if self.unless is not None and self.unless.any(seen):
            return None
        return reasons


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _word_reasons(terms: Terms, seen: Seen, negation: Negation | None) -> list[str]:
    keywords: list[str] = []
    phrases: list[str] = []
    negated: list[str] = []
    for hit in terms.hits(seen):
        if negation is not None and negation.negates(seen, hit):
            if hit.shown not in negated:
                negated.append(hit.shown)
            continue
        bucket = keywords if hit.kind == "k" else phrases
        if hit.shown not in bucket and len(bucket) < 5:
            bucket.append(hit.shown)
    out = []
    if keywords:
        out.append("keywords " + ", ".join(f'"{w}"' for w in keywords))
    if phrases:
        out.append("phrases " + ", ".join(f'"{w}"' for w in phrases))
    return out


def _recent(prior: Sequence[datetime], at: datetime, days: int) -> int:
    since = at - timedelta(days=days)
    return sum(1 for t in prior if since <= t < at)


@dataclass(slots=True)
class Category:
    id: str
    urgency: str
    action: str
    team: str | None
    reply_key: str | None
    offline: bool
    matcher: Matcher
    line: int
    description: str = ""
    label: str = ""  # the short name the queue shows (rules.yaml `label:`; default: the id)


@dataclass(slots=True)
class Modifiers:
    influencer: tuple[int, float] | None = None  # (min_followers, points)
    repeat_customer: tuple[int, int, float] | None = None  # (within_days, at_least, points)
    negative_words: re.Pattern[str] | None = None
    negative_keys: list[Key] | None = None  # one is in every mention negative_words finds
    negative_points: float = 0.0
    waiting: tuple[float, float] | None = None  # (points_per_hour, max_points)
    vip_points: float = 0.0
    vip_bump: bool = False


_FAR = timedelta(days=14)


class Rules:
    """A loaded, validated rules.yaml.  Build with :func:`load_rules`."""

    def __init__(self, *, path: Path, levels: dict[str, Level], teams: dict[str, Team],
                 office_hours: OfficeHours | None, status_url: str | None, vip: frozenset[str],
                 categories: list[Category], modifiers: Modifiers,
                 offline_kinds: frozenset[str], offline_categories: frozenset[str],
                 finder: PersonalDataFinder, stems: Stems | None = None,
                 negation: Negation | None = None) -> None:
        self.path = path
        self.stems = stems  # word_forms: the stemmer, or None (words match as written)
        self.negation = negation
        self.levels = levels
        self.teams = teams
        self.office_hours = office_hours
        self.status_url = status_url
        self.vip = vip
        self.category_rules = {c.id: c for c in categories}
        self.categories = [c.id for c in categories]
        self._ordered = categories
        # Which categories a mention's words allow (a bit per category, in order), and whether
        # the negative-wording modifier can find anything (the bit after them).
        self._index_: KeyIndex | None = None  # built on first use: see compile()
        self._bits = [(1 << i, c) for i, c in enumerate(categories)]
        self._negative_bit = 1 << len(categories)
        self.modifiers = modifiers
        self.offline_kinds = offline_kinds
        self.offline_categories = offline_categories
        self.finder = finder
        self._by_rank = sorted(levels.values(), key=lambda lv: lv.rank)

    @property
    def _index(self) -> KeyIndex:
        index = self._index_
        if index is None:
            index = self._index_ = KeyIndex(
                [c.matcher.keys for c in self._ordered] + [self.modifiers.negative_keys],
                self.stems)
        return index

    @_index.setter
    def _index(self, index: KeyIndex) -> None:
        self._index_ = index

    def compile(self) -> Rules:
        """Compile every category's words now (stems, patterns and the index of key words);
        returns the rules.  Otherwise done by the first :meth:`triage` (about 0.2 s for the
        shipped rules.yaml), which a console attached to a desk process never runs."""
        for c in self._ordered:
            m = c.matcher
            for terms in [m.words, m.unless] + [t for n in m.near for t in (n.first, n.second)]:
                if terms is not None:
                    terms.compile()
        _ = self._index
        return self

    # -- calendars ------------------------------------------------------------------------------

    def set_office_hours(self, office_hours: OfficeHours) -> None:
        """Use other office hours (a site's config overriding rules.yaml) for every office level.

        24x7 levels keep their calendar.  Deadlines already computed are not changed.
        """
        if not isinstance(office_hours, OfficeHours):
            raise TypeError("set_office_hours() needs an OfficeHours")
        self.office_hours = office_hours
        self.levels = {
            name: (Level(lv.name, lv.rank, lv.target, office_hours, lv.description)
                   if isinstance(lv.calendar, OfficeHours) else lv)
            for name, lv in self.levels.items()
        }
        self._by_rank = sorted(self.levels.values(), key=lambda lv: lv.rank)

    def deadline(self, level: str, start: datetime) -> datetime | None:
        """When a mention of urgency ``level`` posted at ``start`` is due (None: no deadline)."""
        lv = self.levels[level]
        if lv.target is None:
            return None
        return lv.calendar.add(start, lv.target)

    def time_left(self, deadline: datetime, now: datetime, level: str | None = None) -> timedelta:
        """Time until ``deadline`` counted on the level's calendar (office hours when no level is
        given); negative once the deadline has passed."""
        if abs(deadline - now) > _FAR:
            # Weeks away (an old history replayed as is): office-hours precision no longer
            # matters, and walking every day would cost a redraw per queue row.
            return deadline - now
        calendar: Calendar
        if level is not None:
            calendar = self.levels[level].calendar
        else:
            calendar = self.office_hours or ALWAYS
        return calendar.time_left(deadline, now)

    # -- the verdict ----------------------------------------------------------------------------

    def triage(self, m: Mention, *, prior: Sequence[datetime] = (),
               now: datetime | None = None) -> Triage:
        """The rules' verdict on ``m``.

        ``prior``: created_at of the customer's earlier mentions (repeat-contact matcher and
        modifier).  ``now``: when given, the waiting modifier counts up to ``now`` (re-triage of a
        backlog); otherwise up to ``m.received_at``, so a verdict is reproducible.
        """
        seen = Seen(m.text, self.stems)
        category = self._ordered[-1]
        reasons: list[str] = []
        candidates = (self._index_ or self._index).candidates(seen.word_set)
        for bit, cat in self._bits:
            if not candidates & bit:
                continue  # none of its words is in the mention: it cannot match
            found = cat.matcher.match(m, seen, prior, self.negation)
            if found is not None:
                category, reasons = cat, found
                break
        why = [f"{category.id}: " + ("; ".join(reasons) if reasons else "no other rule matched")]

        level = self.levels[category.urgency]
        handle = m.author.handle.lstrip("@").casefold()
        is_vip = handle in self.vip
        if is_vip and self.modifiers.vip_bump and level.target is not None and level.rank > 0:
            raised = self._by_rank[level.rank - 1]
            why.append(f"vip: {level.name} → {raised.name}")
            level = raised

        action, reply_key = category.action, category.reply_key
        offline_reasons: list[str] = []
        if m.channel == DIRECT and action == "take_offline":
            # A direct message is already private: answer it there, with the category's reply.
            action = "reply"
            why.append("direct message: already offline, reply in the DM")
        if m.channel == PUBLIC and action not in ("ignore", "monitor"):
            if (category.offline or category.id in self.offline_categories
                    or action == "take_offline"):
                offline_reasons.append(f"{category.id} category")
                if action not in ("take_offline", "handoff"):
                    # Offline and a public answer contradict each other: the first step is the
                    # move to DMs (the bridge), where the category's own reply follows.
                    action = "take_offline"
            if self.offline_kinds:
                pii_reasons = []
                for finding in self.finder.find(m.text):
                    label = LABELS[finding.kind]
                    if finding.kind in self.offline_kinds and label not in pii_reasons:
                        pii_reasons.append(label)
                if pii_reasons and not offline_reasons and action != "handoff":
                    # Their data is out in public: the first step is moving to DMs (the public
                    # bridge), where the category's own reply follows.
                    action = "take_offline"
                offline_reasons.extend(pii_reasons)
            if offline_reasons:
                why.append("offline: " + ", ".join(offline_reasons))

        score = self._score(m, seen.folded, candidates & self._negative_bit, prior, now, is_vip,
                            why)
        return Triage(
            category=category.id,
            urgency=level.name,
            deadline=self.deadline(level.name, m.created_at),
            team=category.team,
            action=action,
            reply_key=reply_key,
            offline=bool(offline_reasons),
            score=score,
            why="; ".join(why),
            rank=level.rank,
            offline_reasons=offline_reasons,
        )

    def _score(self, m: Mention, folded: str, negative: int, prior: Sequence[datetime],
               now: datetime | None, is_vip: bool, why: list[str]) -> float:
        """``negative``: nonzero when the mention has a word the negative wording needs."""
        mods = self.modifiers
        score = 0.0
        if mods.influencer and m.author.followers >= mods.influencer[0]:
            score += mods.influencer[1]
            why.append(f"+{_pts(mods.influencer[1])} influencer ({m.author.followers:,} followers)")
        if mods.repeat_customer:
            days, at_least, points = mods.repeat_customer
            count = _recent(prior, m.created_at, days)
            if count >= at_least:
                score += points
                why.append(f"+{_pts(points)} repeat customer ({count} contacts in {days} days)")
        if mods.negative_words is not None and negative:
            words: list[str] = []
            for hit in mods.negative_words.finditer(folded):
                word = hit.group(hit.lastgroup or 0)
                if word not in words:
                    words.append(word)
            if words:
                score += mods.negative_points
                shown = ", ".join(f'"{w}"' for w in words[:3])
                why.append(f"+{_pts(mods.negative_points)} negative wording {shown}")
        if mods.waiting:
            per_hour, cap = mods.waiting
            waited = ((now or m.received_at) - m.created_at).total_seconds() / 3600
            if waited > 0:
                points = round(min(cap, waited * per_hour), 1)
                if points > 0:
                    score += points
                    why.append(f"+{_pts(points)} waiting ({_hours(waited)})")
        if is_vip and mods.vip_points:
            score += mods.vip_points
            why.append(f"+{_pts(mods.vip_points)} vip")
        return round(score, 1)


def _pts(points: float) -> str:
    return f"{points:g}"


def _hours(hours: float) -> str:
    if hours < 1:
        return f"{max(1, round(hours * 60))}m"
    return f"{hours:.1f}".rstrip("0").rstrip(".") + "h"


# --- loading -------------------------------------------------------------------------------------

def load_rules(path: Path | str, *, reply_keys: Collection[str] | None = None,
               name: str | None = None, text: str | None = None) -> Rules:
    """Load and validate ``path``; raise :class:`RulesError` with every problem found.

    ``reply_keys``: the keys of replies.yaml, to check every ``reply:``; None skips that check.
    ``name``: how problems name the file (default: the path as given).  ``text``: the file's
    contents when they come from elsewhere (a console attached to a desk process gets the text
    the desk process loaded); ``path`` then only names it.
    """
    file = name or str(path)
    data, problems = load_yaml(path, name=name) if text is None else load_yaml_text(text, file)
    if data is None:
        raise RulesError(problems or [Problem(file, 1, "the rules file is empty: see the shipped "
                                                       "rules.yaml for a complete example")])
    loader = _Loader(file, reply_keys)
    loader.reader.problems[:0] = problems
    rules = loader.load(data, Path(path))
    if loader.reader.problems or rules is None:
        raise RulesError(loader.reader.problems)
    return rules


def read_office_hours(top: YMap, file: str) -> tuple[OfficeHours | None, list[Problem]]:
    """The ``office_hours:`` section of an already-read YAML mapping ``top``, checked exactly as
    in rules.yaml (the config file's override uses it, so both give the same messages).

    Returns the office calendar (None when the section is absent or has problems) and the
    problems found, each naming ``file`` and its line; never raises for bad content.
    """
    loader = _Loader(file, None)
    office = loader._office_hours(top, True)
    return office, loader.reader.problems


class _Loader:
    def __init__(self, file: str, reply_keys: Collection[str] | None) -> None:
        self.reader = Reader(file)
        self.stems: Stems | None = None
        self.has_negation = False
        self.reply_keys = set(reply_keys) if reply_keys is not None else None

    def problem(self, line: int, message: str) -> None:
        self.reader.problem(line, message)

    def load(self, data: Any, path: Path) -> Rules | None:
        r = self.reader
        top = r.mapping(data, 1, "the rules file", TOP_KEYS, required=("urgency", "categories"))
        if top is None:
            return None
        version = top.get("version", 1)
        if version != 1:
            self.problem(top.line_of("version"),
                         f"version {describe(version)} is not supported: write version: 1")

        self.stems = self._word_forms(top)
        negation = self._negation(top)
        self.has_negation = "negation" in top
        levels, needs_office = self._levels(top)
        office = self._office_hours(top, needs_office)
        if office is not None:
            levels = {n: (Level(lv.name, lv.rank, lv.target, office, lv.description)
                          if lv.calendar is _OFFICE else lv) for n, lv in levels.items()}
        status_url = r.get(top, "status_url", str, "the rules file")
        teams = self._teams(top)
        vip = self._vip(top)
        modifiers = self._modifiers(top)
        categories = self._categories(top, levels, teams, vip)
        kinds, offline_cats, booking = self._offline(top, categories)
        if r.problems:
            return None
        try:
            finder = PersonalDataFinder(booking)
        except re.error:  # already reported by _offline
            return None
        return Rules(path=path, levels=levels, teams=teams, office_hours=office,
                     status_url=status_url, vip=vip, categories=categories, modifiers=modifiers,
                     offline_kinds=kinds, offline_categories=offline_cats,
                     finder=finder, stems=self.stems, negation=negation)

    # -- word forms and negation ----------------------------------------------------------------

    def _word_forms(self, top: YMap) -> Stems | None:
        value = top.get("word_forms")
        if value is None or value == "exact":
            return None
        if not isinstance(value, str) or not is_stemmer_language(value):
            languages = stemmer_languages()
            self.problem(top.line_of("word_forms"),
                         f"word_forms {describe(value)} is not a stemmer"
                         f"{did_you_mean(str(value), languages)}: write exact (words match as "
                         f"written) or one of {', '.join(languages)}")
            return None
        return Stems(value)

    def _negation(self, top: YMap) -> Negation | None:
        if "negation" not in top:
            return None
        r = self.reader
        where = "'negation'"
        section = r.mapping(top["negation"], top.line_of("negation"), where, NEGATION_KEYS,
                            required=("words",))
        if section is None:
            return None
        words, _ = r.string_list(section, "words", where)
        self._check_words(words, section.line_of("words"), where)
        window = self._count(section, "window", where) if "window" in section else 3
        pattern = compile_words(words)
        if pattern is None or window is None:
            return None
        return Negation(pattern, window)

    # -- urgency levels -------------------------------------------------------------------------

    def _levels(self, top: YMap) -> tuple[dict[str, Level], bool]:
        r = self.reader
        levels: dict[str, Level] = {}
        section = r.mapping(top.get("urgency"), top.line_of("urgency"), "'urgency'")
        if section is None:
            return levels, False
        if not section:
            self.problem(section.line, "'urgency' lists no levels: add e.g. 'normal: {target: 4h}'")
        needs_office = False
        for rank, (name, spec) in enumerate(section.items()):
            line = section.line_of(name)
            where = f"urgency level '{name}'"
            if not isinstance(name, str) or not _ID.match(name):
                self.problem(line, f"urgency level name {describe(name)} must be a lowercase word")
                continue
            spec = r.mapping(spec, line, where, LEVEL_KEYS, required=("target",))
            if spec is None:
                continue
            target: timedelta | None = None
            raw = spec.get("target")
            if raw is not None and not (isinstance(raw, str) and raw.strip().lower() == "none"):
                try:
                    target = parse_duration(raw)
                except ValueError as exc:
                    self.problem(spec.line_of("target"), f"target of {where}: {exc}, "
                                                         "or 'none' for monitor only")
                    # keep the level so categories using it are not reported as well
                    levels[name] = Level(name, rank, None, ALWAYS)
                    continue
                if target <= timedelta(0):
                    self.problem(spec.line_of("target"),
                                 f"target of {where} must be longer than 0: {DURATION_HINT}")
            clock_name = spec.get("clock", "office")
            calendar: Calendar = ALWAYS
            if clock_name not in CLOCKS:
                self.problem(spec.line_of("clock"),
                             f"unknown clock {describe(clock_name)} for {where}"
                             f"{did_you_mean(str(clock_name), CLOCKS)}: write clock: 24x7 "
                             "(day and night) or clock: office (office hours only)")
            elif clock_name == "office" and target is not None:
                calendar = _OFFICE
                needs_office = True
            description = r.get(spec, "description", str, where, "")
            levels[name] = Level(name, rank, target, calendar, description)
        return levels, needs_office

    # -- office hours ---------------------------------------------------------------------------

    def _office_hours(self, top: YMap, needed: bool) -> OfficeHours | None:
        r = self.reader
        if "office_hours" not in top:
            if needed:
                self.problem(top.line, "a level uses clock: office but there is no "
                                       "'office_hours:' section: add timezone, days, open, close")
            return None
        where = "'office_hours'"
        oh = r.mapping(top["office_hours"], top.line_of("office_hours"), where, OFFICE_KEYS,
                       required=("timezone", "days", "open", "close"))
        if oh is None:
            return None
        ok = True
        tz = r.get(oh, "timezone", str, where)
        if tz is not None:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                hint = did_you_mean(tz, sorted(zoneinfo.available_timezones()))
                self.problem(oh.line_of("timezone"),
                             f"unknown timezone '{tz}'{hint}: write an IANA name such as "
                             "Europe/London or America/New_York")
                ok = False
        else:
            ok = False
        days: list[int] = []
        names, lines = self.reader.string_list(oh, "days", where)
        for day, line in zip(names, lines, strict=True):
            try:
                days.append(weekday_number(day))
            except ValueError as exc:
                self.problem(line, str(exc))
                ok = False
        if "days" in oh and not names:
            self.problem(oh.line_of("days"), "office_hours days is empty: write e.g. "
                                             "days: [mon, tue, wed, thu, fri]")
            ok = False
        opens = self._time(oh, "open")
        closes = self._time(oh, "close")
        if opens is not None and closes is not None and not opens < closes:
            self.problem(oh.line_of("close"),
                         f"office hours close ({closes:%H:%M}) must be after they open "
                         f"({opens:%H:%M}); for round-the-clock cover use a level with clock: 24x7")
            ok = False
        holidays: set[date] = set()
        calendar = None
        if "holidays" in oh:
            items = oh["holidays"]
            if isinstance(items, YMap):
                calendar, items, fine = self._calendar(items)
                ok = ok and fine
            if items is None:
                pass
            elif not isinstance(items, YList):
                self.problem(oh.line_of("holidays"),
                             "office_hours holidays must be a list of dates (- 2025-12-25) or a "
                             "calendar: {country: GB, subdiv: ENG, extra: [2026-12-24]}")
                ok = False
            else:
                for i, item in enumerate(items):
                    if isinstance(item, datetime):
                        item = item.date()
                    if isinstance(item, date):
                        holidays.add(item)
                    else:
                        self.problem(items.line_of(i), f"holiday {describe(item)} is not a date: "
                                                       "write YYYY-MM-DD, e.g. 2025-12-25")
                        ok = False
        if not ok or opens is None or closes is None or tz is None:
            return None
        return OfficeHours(tz, days, opens, closes, holidays, calendar)

    def _calendar(self, m: YMap) -> tuple[Any, Any, bool]:
        """``holidays: {country: GB, subdiv: ENG, extra: [dates]}``: the bank holidays of a
        country (and region) from the ``holidays`` library, plus extra closed days.
        Returns (calendar or None, the extra list or None, ok)."""
        where = "'office_hours holidays'"
        checked = self.reader.mapping(m, m.line, where, ("country", "subdiv", "extra"),
                                      required=("country",))
        if checked is None:
            return None, None, False
        m = checked
        country = self.reader.get(m, "country", str, where)
        subdiv = self.reader.get(m, "subdiv", str, where)
        if country is None:
            return None, None, False
        code = country.strip().upper()
        region = subdiv.strip().upper() if subdiv is not None else None
        # A country and region the installed library accepted before: its days from the cache,
        # without importing the library (half a second; see tui.core.bank_holidays).
        known = bank_holidays.cached(code, region) if region != "" else None
        if known is not None:
            return known, m.get("extra"), True
        import holidays as holidays_lib

        # The codes alone (holidays.registry), not list_supported_countries(): that imports
        # every country's module, half a second at each start of every command.
        from holidays.registry import EntityLoader

        codes = list(EntityLoader.get_country_codes())
        if code not in codes:
            self.problem(m.line_of("country"),
                         f"holidays country '{country}' is not known to the holidays library"
                         f"{did_you_mean(code, codes)}: write an ISO 3166 code such as "
                         "GB, US, FR or DE")
            return None, m.get("extra"), False
        subs = list(getattr(holidays_lib, code).subdivisions)
        if subdiv is not None and subdiv.strip().upper() not in subs:
            self.problem(m.line_of("subdiv"),
                         f"holidays subdiv '{subdiv}' is not a region of {code}"
                         f"{did_you_mean(subdiv.strip().upper(), subs)}"
                         f" (regions: {', '.join(subs) or 'none'})")
            return None, m.get("extra"), False
        calendar = holidays_lib.country_holidays(code, subdiv=region or None)
        return bank_holidays.remember(code, region or None, calendar) or calendar, \
            m.get("extra"), True

    def _time(self, oh: YMap, key: str) -> time | None:
        if key not in oh:
            return None
        value = oh[key]
        # YAML 1.1 reads an unquoted 9:30 as the number 570 (base 60): use the text as written.
        text = oh.raw.get(key, value) if isinstance(value, int) else value
        match = _TIME.match(str(text).strip()) if isinstance(text, (str, int)) else None
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
        self.problem(oh.line_of(key), f"office_hours {key} {describe(value)} is not a time: "
                                      f"write a 24-hour time in quotes, e.g. {key}: \"08:00\"")
        return None

    # -- teams and VIPs -------------------------------------------------------------------------

    def _teams(self, top: YMap) -> dict[str, Team]:
        r = self.reader
        teams: dict[str, Team] = {}
        if "teams" not in top:
            return teams
        section = r.mapping(top["teams"], top.line_of("teams"), "'teams'")
        if section is None:
            return teams
        for team_id, spec in section.items():
            line = section.line_of(team_id)
            if not isinstance(team_id, str) or not _ID.match(team_id):
                self.problem(line, f"team id {describe(team_id)} must be a lowercase word "
                                   "(letters, digits, _)")
                continue
            where = f"team '{team_id}'"
            if spec is None:
                teams[team_id] = Team(team_id, team_id)
                continue
            spec = r.mapping(spec, line, where, TEAM_KEYS)
            if spec is None:
                continue
            description = r.get(spec, "description", str, where, team_id)
            url = r.get(spec, "self_service", str, where)
            if url is not None and not url.startswith(("https://", "http://")):
                self.problem(spec.line_of("self_service"),
                             f"self_service of {where} must be a web address starting https://")
            teams[team_id] = Team(team_id, description, url)
        return teams

    def _vip(self, top: YMap) -> frozenset[str]:
        handles, _ = self.reader.string_list(top, "vip", "the rules file")
        return frozenset(h.strip().lstrip("@").casefold() for h in handles if h.strip())

    # -- modifiers ------------------------------------------------------------------------------

    def _modifiers(self, top: YMap) -> Modifiers:
        r = self.reader
        mods = Modifiers()
        if "modifiers" not in top:
            return mods
        section = r.mapping(top["modifiers"], top.line_of("modifiers"), "'modifiers'",
                            MODIFIER_KEYS)
        if section is None:
            return mods
        num = (int, float)

        def spec(key: str, keys: tuple[str, ...]) -> YMap | None:
            if key not in section:
                return None
            return r.mapping(section[key], section.line_of(key), f"modifier '{key}'", keys,
                             required=keys)

        if (s := spec("influencer", ("min_followers", "points"))) is not None:
            n = self._count(s, "min_followers", "modifier 'influencer'", minimum=0)
            p = r.get(s, "points", num, "modifier 'influencer'")
            if n is not None and p is not None:
                mods.influencer = (n, float(p))
        if (s := spec("repeat_customer", ("within_days", "at_least", "points"))) is not None:
            d = self._count(s, "within_days", "modifier 'repeat_customer'")
            k = self._count(s, "at_least", "modifier 'repeat_customer'")
            p = r.get(s, "points", num, "modifier 'repeat_customer'")
            if d is not None and k is not None and p is not None:
                mods.repeat_customer = (d, k, float(p))
        if (s := spec("negative_wording", ("keywords", "points"))) is not None:
            words, _ = r.string_list(s, "keywords", "modifier 'negative_wording'")
            p = r.get(s, "points", num, "modifier 'negative_wording'")
            self._check_words(words, s.line_of("keywords"), "modifier 'negative_wording'")
            if words and p is not None:
                mods.negative_words = compile_words(words)
                mods.negative_keys = [Key(*key, stemmed=False) for w in words
                                      if (key := term_key(w)) is not None]
                mods.negative_points = float(p)
        if (s := spec("waiting", ("points_per_hour", "max_points"))) is not None:
            per = r.get(s, "points_per_hour", num, "modifier 'waiting'")
            cap = r.get(s, "max_points", num, "modifier 'waiting'")
            if per is not None and cap is not None:
                mods.waiting = (float(per), float(cap))
        if (s := spec("vip", ("points",))) is not None:
            p = r.get(s, "points", num, "modifier 'vip'")
            mods.vip_points = float(p or 0)
        mods.vip_bump = bool(r.get(section, "vip_bump", bool, "'modifiers'", False))
        return mods

    def _count(self, m: YMap, key: str, where: str, minimum: int = 1) -> int | None:
        value = self.reader.get(m, key, int, where)
        if value is not None and value < minimum:
            self.problem(m.line_of(key), f"'{key}' in {where} must be at least {minimum}")
            return None
        return value

    def _check_words(self, words: list[str], line: int, where: str) -> None:
        for word in words:
            if not normalize_for_match(word.strip().lstrip("=").rstrip("*")).strip():
                self.problem(line, f"'{word}' in {where} has no letters, digits or emoji; "
                                   "matching ignores punctuation, so it can never match")
            elif (star := self._star_problem(word)) is not None:
                self.problem(line, f"'{word}' in {where} {star}")
            elif '"' in word or re.search(r"(^|\s)'=", word):
                # [wheelchair "=ramp", ...]: YAML reads one word 'wheelchair "=ramp"' that no
                # mention ever contains, and the rule silently stops matching.
                self.problem(line, f"'{word}' in {where} has a quote inside it: a comma is "
                                   "probably missing between two words; write each one "
                                   "separately, e.g. [wheelchair, \"=ramp\"]")

    @staticmethod
    def _star_problem(word: str) -> str | None:
        """Why a ``*`` in a rule's word would not do what it says (README "Word forms": a
        ``*`` at the end of a word matches any ending), or None.  A ``*`` elsewhere was taken
        as literal punctuation and ignored; one after a space, or after fewer than three
        letters, matched every word starting with the letters before it ("a *": every word
        starting with "a")."""
        text = word.strip().lstrip("=")
        body = text[:-1] if text.endswith("*") else text
        if "*" in body:
            return ("has a '*' that is not at the end of a word: '*' only means \"any ending\" "
                    "there (refund* finds refunds, refunded); remove it or put it at the end")
        if not text.endswith("*"):
            return None
        last = (normalize_for_match(body).split() or [""])[-1]
        if body != body.rstrip():
            return (f"has a '*' after a space: it makes '{last}' match every word starting "
                    f"with '{last}'; write the '*' straight after a word, e.g. refund*")
        if len(last) < 3:
            return (f"ends in '*' after only {len(last)} letter(s): it would match every word "
                    f"starting with '{last}'; give at least three letters before the '*', or "
                    "list the words")
        return None

    # -- categories -----------------------------------------------------------------------------

    def _categories(self, top: YMap, levels: dict[str, Level], teams: dict[str, Team],
                    vip: frozenset[str]) -> list[Category]:
        r = self.reader
        out: list[Category] = []
        items = top.get("categories")
        line = top.line_of("categories")
        if "categories" not in top:
            return out
        if not isinstance(items, YList):
            self.problem(line, "'categories' must be a list; each item starts with '- id: ...'")
            return out
        if not items:
            self.problem(line, "'categories' is empty: add at least a fallback such as '- {id: "
                               "general, urgency: normal, action: reply, reply: general_ack}'")
            return out
        seen: dict[str, int] = {}
        catch_all: Category | None = None
        for i, item in enumerate(items):
            item_line = items.line_of(i)
            c = r.mapping(item, item_line, f"category #{i + 1}", CATEGORY_KEYS,
                          required=("id", "urgency", "action"))
            if c is None:
                continue
            cid = c.get("id")
            if not isinstance(cid, str) or not _ID.match(cid):
                if "id" in c:
                    self.problem(c.line_of("id"), f"category id {describe(cid)} must be a "
                                                  "lowercase word (letters, digits, _)")
                continue
            where = f"category '{cid}'"
            if cid in seen:
                self.problem(c.line_of("id"), f"duplicate category id '{cid}' (first at line "
                                              f"{seen[cid]}): give each category its own id")
                continue
            seen[cid] = c.line_of("id")
            urgency = c.get("urgency")
            if "urgency" in c and urgency not in levels:
                self.problem(c.line_of("urgency"),
                             f"unknown urgency {describe(urgency)} in {where}"
                             f"{did_you_mean(str(urgency), levels)}: write one of "
                             f"{', '.join(levels) or 'the levels under urgency:'}")
            action = c.get("action")
            if "action" in c and action not in ACTIONS:
                self.problem(c.line_of("action"),
                             f"unknown action {describe(action)} in {where}"
                             f"{did_you_mean(str(action), ACTIONS)}: write one of "
                             f"{', '.join(ACTIONS)}")
            team = c.get("team")
            if team is not None and team not in teams:
                self.problem(c.line_of("team"),
                             f"unknown team {describe(team)} in {where}"
                             f"{did_you_mean(str(team), teams)}: write one of the teams under "
                             f"teams: ({', '.join(teams) or 'none defined'})")
            if team is None and action == "handoff":
                self.problem(c.line, f"{where} hands off but names no team: add 'team:'")
            reply = c.get("reply")
            if reply is not None:
                if not isinstance(reply, str):
                    self.problem(c.line_of("reply"), f"reply in {where} must be a reply key "
                                                     "from replies.yaml")
                elif action in ("ignore", "monitor"):
                    self.problem(c.line_of("reply"), f"{where} has action {action}, which never "
                                                     "replies: remove 'reply:'")
                elif self.reply_keys is not None and reply not in self.reply_keys:
                    self.problem(c.line_of("reply"), self._unknown_reply(reply, where))
            elif action in REPLYING:
                self.problem(c.line, f"{where} has action {action} but no 'reply:': add the "
                                     "key of a reply from replies.yaml")
            offline = r.get(c, "offline", bool, where, False)
            if action == "take_offline" and "offline" in c and offline is False:
                self.problem(c.line_of("offline"), f"{where} has action take_offline but "
                                                   "offline: false, which contradicts it: remove "
                                                   "'offline: false' (taking offline is offline)")
            if offline and action in ("ignore", "monitor"):
                self.problem(c.line_of("offline"), f"{where} has action {action}, which never "
                                                   "answers, so it cannot go offline: remove "
                                                   "'offline: true'")
            description = r.get(c, "description", str, where, "")
            label = r.get(c, "label", str, where, "")
            if isinstance(c.get("label"), str) and not label.strip():
                self.problem(c.line_of("label"), f"{where} has an empty 'label:': write a short "
                                                 "name for the queue, or leave the key out")
            matcher = self._matcher(c, where, vip)
            category = Category(cid, urgency if isinstance(urgency, str) else "", str(action),
                                team if isinstance(team, str) else None,
                                reply if isinstance(reply, str) else None, bool(offline),
                                matcher, c.line_of("id"), description,
                                str(label or "").strip())
            if catch_all is not None:
                self.problem(c.line_of("id"), f"{where} can never match: '{catch_all.id}' above "
                                              f"it (line {catch_all.line}) catches everything; "
                                              "move it up or give that one a 'match:'")
            elif matcher.catch_all and not c.get("match"):
                catch_all = category
            out.append(category)
        if out and catch_all is None:
            self.problem(items.line_of(len(items) - 1),
                         "the last category must catch everything so that every mention gets a "
                         "verdict: add a final category without 'match:' (e.g. id: general)")
        return out

    def _unknown_reply(self, key: str, where: str) -> str:
        assert self.reply_keys is not None
        return (f"unknown reply '{key}' in {where}{did_you_mean(key, sorted(self.reply_keys))}: "
                "add it to replies.yaml or use one of its keys")

    def _matcher(self, c: YMap, where: str, vip: frozenset[str]) -> Matcher:
        r = self.reader
        matcher = Matcher()
        if "match" not in c or c["match"] is None:
            return matcher
        where = f"'match' of {where}"
        m = r.mapping(c["match"], c.line_of("match"), where, MATCH_KEYS)
        if m is None:
            return matcher
        keywords, _ = r.string_list(m, "keywords", where)
        phrases, _ = r.string_list(m, "phrases", where)
        self._check_words(keywords, m.line_of("keywords"), where)
        self._check_words(phrases, m.line_of("phrases"), where)
        matcher.words = Terms.build(keywords, phrases, self.stems)
        if "near" in m:
            matcher.near = self._near(m, where)
        if "question" in m:
            matcher.question = r.get(m, "question", bool, where)
        if "negation" in m:
            matcher.negated = bool(r.get(m, "negation", bool, where, False))
            if matcher.negated and not self.has_negation:
                self.problem(m.line_of("negation"), f"negation: true in {where} but the rules "
                                                    "file has no top-level 'negation:' words: "
                                                    "add 'negation: {words: [not, no, never]}'")
        patterns, lines = r.string_list(m, "regex", where)
        for pattern, line in zip(patterns, lines, strict=True):
            try:
                matcher.regexes.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                self.problem(line, f"bad regex {pattern!r} in {where}: {exc.msg} at position "
                                   f"{exc.pos}; fix the pattern (quote it with single quotes in "
                                   "YAML so backslashes stay as written)")
        if "channel" in m:
            channels, lines = r.string_list(m, "channel", where)
            for ch, line in zip(channels, lines, strict=True):
                if ch not in (PUBLIC, DIRECT):
                    self.problem(line, f"unknown channel '{ch}' in {where}"
                                       f"{did_you_mean(ch, (PUBLIC, DIRECT))}: write public "
                                       "or direct")
            matcher.channels = frozenset(channels)
        if "language" in m:
            langs, _ = r.string_list(m, "language", where)
            matcher.languages = tuple(lang.strip().lower() for lang in langs)
        if "min_followers" in m:
            matcher.min_followers = self._count(m, "min_followers", where, minimum=0)
        if "vip" in m:
            value = m["vip"]
            if value is True:
                if not vip:
                    self.problem(m.line_of("vip"), f"vip: true in {where} but the top-level "
                                                   "'vip:' list is empty: add handles to it")
                matcher.vip = vip
            elif isinstance(value, (YList, str)):
                handles, _ = r.string_list(m, "vip", where)
                matcher.vip = frozenset(h.strip().lstrip("@").casefold() for h in handles)
            else:
                self.problem(m.line_of("vip"), f"vip in {where} must be true (the top-level vip "
                                               "list) or a list of handles")
        if "repeat_contact" in m:
            spec = r.mapping(m["repeat_contact"], m.line_of("repeat_contact"),
                             f"'repeat_contact' in {where}", ("within_days", "at_least"),
                             required=("within_days", "at_least"))
            if spec is not None:
                days = self._count(spec, "within_days", "repeat_contact")
                at_least = self._count(spec, "at_least", "repeat_contact")
                if days is not None and at_least is not None:
                    matcher.repeat = (days, at_least)
        if "unless" in m:
            veto, _ = r.string_list(m, "unless", where)
            self._check_words(veto, m.line_of("unless"), where)
            matcher.unless = Terms.build(veto, (), self.stems)
        return matcher

    def _near(self, m: YMap, where: str) -> list[Near]:
        r = self.reader
        items = m["near"]
        if not isinstance(items, YList):
            self.problem(m.line_of("near"), f"'near' in {where} must be a list of "
                                            "'- {words: [...], with: [...], within: 6}'")
            return []
        out: list[Near] = []
        for i, item in enumerate(items):
            spec = r.mapping(item, items.line_of(i), f"near #{i + 1} in {where}", NEAR_KEYS,
                             required=("words", "with"))
            if spec is None:
                continue
            first, _ = r.string_list(spec, "words", where)
            second, _ = r.string_list(spec, "with", where)
            self._check_words(first, spec.line_of("words"), where)
            self._check_words(second, spec.line_of("with"), where)
            within = self._count(spec, "within", where, minimum=0) if "within" in spec else 6
            a, b = Terms.build(first, (), self.stems), Terms.build(second, (), self.stems)
            if a is None or b is None or within is None:
                if a is None or b is None:
                    self.problem(spec.line, f"near #{i + 1} in {where} needs words in both "
                                            "'words:' and 'with:'")
                continue
            out.append(Near(a, b, within))
        return out

    # -- offline triggers -----------------------------------------------------------------------

    def _offline(self, top: YMap, categories: list[Category]
                 ) -> tuple[frozenset[str], frozenset[str], str | None]:
        r = self.reader
        if "offline_triggers" not in top:
            return frozenset(), frozenset(), None
        where = "'offline_triggers'"
        section = r.mapping(top["offline_triggers"], top.line_of("offline_triggers"), where,
                            OFFLINE_KEYS)
        if section is None:
            return frozenset(), frozenset(), None
        kinds, lines = r.string_list(section, "personal_data", where)
        for kind, line in zip(kinds, lines, strict=True):
            if kind not in KINDS:
                self.problem(line, f"unknown kind of personal data '{kind}'"
                                   f"{did_you_mean(kind, KINDS)}: write any of {', '.join(KINDS)}")
        ids, lines = r.string_list(section, "categories", where)
        known = {c.id for c in categories}
        for cid, line in zip(ids, lines, strict=True):
            if known and cid not in known:
                self.problem(line, f"unknown category '{cid}' in {where}"
                                   f"{did_you_mean(cid, known)}: write a category id from "
                                   "'categories:'")
        booking = r.get(section, "booking_pattern", str, where)
        if booking is not None:
            try:
                re.compile(booking)
            except re.error as exc:
                self.problem(section.line_of("booking_pattern"),
                             f"bad regex {booking!r} in booking_pattern: {exc.msg} at position "
                             f"{exc.pos}; fix the pattern")
        return frozenset(kinds), frozenset(ids), booking


# Placeholder calendar for "office" levels until office_hours is parsed (replaced in load()).
_OFFICE: Any = object()

