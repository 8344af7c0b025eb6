"""The fast triage path gives exactly what a straightforward evaluation gives.

Triage is fast because of shortcuts (issue 11, bench/bench_triage.py): a word→category index picks
the categories a mention can match, text is folded through a per-character table, stems and
office-hours windows are cached, and the personal-data patterns sit behind a look-ahead for the
characters their matches start with.  Each shortcut may only skip work.  These tests evaluate the
same mentions the straightforward way — every category in order, folding and stemming from
scratch, the plain personal-data patterns, every opening window computed — and require the same
verdict, field by field (category, action, offline, urgency, deadline, score, the ``why`` line),
for the shipped policy and every sector preset.
"""

from __future__ import annotations

import csv
import json
import random
import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
import snowballstemmer

from tui.core import pii
from tui.core import rules as rules_module
from tui.core.hours import OfficeHours
from tui.core.model import Author, Mention
from tui.core.rules import Rules, load_rules
from tui.core.text import normalize_for_match
from tui.core.wordforms import Seen

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
RULE_FILES = [ROOT / "rules.yaml", *sorted((ROOT / "tui" / "presets").glob("*.rules.yaml"))]
START = datetime(2025, 1, 17, 19, 0, tzinfo=UTC)  # a Friday evening: office deadlines roll over


# --- the straightforward evaluation ----------------------------------------------------------

_EMOJI = "\U0001F000-\U0001FAFF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF"


def reference_fold(text: str) -> str:
    """normalize_for_match as first written: whole-text steps, no table."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("\u200d", "").replace("\ufe0f", "")
    spaced = re.sub(rf"([{_EMOJI}])", r" \1 ", stripped)
    return " " + " ".join(re.sub(rf"[^\w{_EMOJI}]+", " ", spaced).split()) + " "


@cache
def _stemmer(language: str):
    return snowballstemmer.stemmer(language)


def reference_stem(language: str, word: str) -> str:
    if len(word) < 3 or word.isdigit():
        return word
    return _stemmer(language).stemWord(word) or word


class ReferenceSeen(Seen):
    """A mention folded and stemmed from scratch (no per-character table, no stem cache)."""

    __slots__ = ()

    def __init__(self, text, stems) -> None:
        super().__init__(text, stems)
        self.folded = reference_fold(text)
        if stems is not None:
            self._stemmed = " " + " ".join(reference_stem(stems.language, w)
                                           for w in self.folded.split()) + " "


class EveryCategory:
    """In place of the word index: every category (and the negative wording) is tried."""

    def candidates(self, words) -> int:
        return -1  # every bit set


def reference_window(self, day):
    if day.weekday() not in self.days or self.is_holiday(day):
        return None
    return (datetime.combine(day, self.open, tzinfo=self.tz).astimezone(UTC),
            datetime.combine(day, self.close, tzinfo=self.tz).astimezone(UTC))


PII_PATTERNS = ("_CARD", "_IBAN", "_ACCOUNT", "_PHONE", "_ADDRESS", "_CARD_WORDING")


def plain(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A personal-data pattern without the look-ahead pii._starting put in front of it."""
    assert pattern.pattern.startswith("(?=")
    return re.compile(pattern.pattern[pattern.pattern.index("(?:") + 3:-1], pattern.flags)


@pytest.fixture
def plain_pii(monkeypatch):
    """The personal-data finder with its patterns as written (no look-aheads)."""
    for name in PII_PATTERNS:
        monkeypatch.setattr(pii, name, plain(getattr(pii, name)))


@pytest.fixture
def straightforward(monkeypatch):
    """triage(rules, mention) the straightforward way."""
    def triage(rules: Rules, m: Mention, **kw):
        with monkeypatch.context() as mp:
            mp.setattr(rules_module, "Seen", ReferenceSeen)
            mp.setattr(rules, "_index", EveryCategory())
            for name in PII_PATTERNS:
                mp.setattr(pii, name, plain(getattr(pii, name)))
            if rules.finder.booking.pattern.startswith("(?="):
                mp.setattr(rules.finder, "booking", plain(rules.finder.booking))
            mp.setattr(OfficeHours, "_window", reference_window)
            return rules.triage(m, **kw)
    return triage


# --- the mentions ------------------------------------------------------------------------------

def mention(text: str, i: int = 0, *, channel: str = "public", followers: int = 10,
            handle: str = "alice") -> Mention:
    created = START + timedelta(minutes=37 * i)
    return Mention(id=f"m{i}", source="demo", channel=channel,
                   author=Author(handle=handle, name="A", followers=followers),
                   text=text, created_at=created, received_at=created + timedelta(minutes=i % 90))


HANDWRITTEN = [
    # inflections and word forms
    "The 17:45 was delayed again, delays every single day", "trains keep getting cancelled",
    "Gate agents were terribly rude to my mum", "the conductor shouted at me and laughed",
    "Service suspended between Leeds and York, we're at a standstill",
    "the crew hasn't turned up so we're stuck at Crewe", "refunds? refunded? refunding please",
    "I was overcharged, charged twice for one ticket", "my smartcard stopped working",
    "Drivers were unhelpful and dismissive", "disabled access lift broken at platform 2",
    # negation
    "not delayed today for once, thanks!", "no longer stuck, we're moving", "nobody was hurt",
    "never late this week, brilliant service", "the train isn't cancelled is it?",
    "not brilliant, never helpful", "no one injured but a man collapsed in coach C",
    # other languages, accents, emoji
    "Mon train est annulé, encore en retard 😡", "¿Por qué el tren tiene retraso? ¡Huelga!",
    "Der Zug fällt aus, Verspätung von 40 Minuten", "Mae'r tren yn hwyr eto", "fraude sur ma carte",
    "Mi tarjeta fue bloqueada", "J'ai oublié mon sac dans le train 🎒", "♿ no ramp at Leeds",
    "🚨🚨 smoke in coach B", "thanks 👏👏 made my day ❤️", "refund💸please",
    "ＦＵＬＬＷＩＤＴＨ delay",
    "Straße gesperrt, ﬁnally moving", "İstanbul ΣΊΣΥΦΟΣ ς ß", "👨‍👩‍👧 lost child at the station",
    "café crème délai", "e\u0301tudiant late", "\u200bzero\u200bwidth delay",
    # spam, abuse, opinions, questions, sarcasm
    "🎉 GIVEAWAY 🎉 follow back for free followers", "you idiots stop sending me to collections",
    "shut up you morons", "imo the new livery is overpriced", "should i buy a season ticket?",
    "how do i get a refund", "thanks for nothing", "great job not running any trains",
    "Do I need photo ID for a weekly ticket?", "which fare is valid off peak?",
    # personal data and look-alikes
    "my card 4111 1111 1111 1111 was charged twice", "card number 1234 5678 9012 3456 typo",
    "oyster 123456789012 not working", "booking reference is 4kq2zt", "ref: X7Y8Z9 please",
    "PNR 4KQ2ZT missing", "NL-123456 never arrived", "call me on 07700 900123",
    "+44 20 7946 0958 or (020) 7946 0958", "0044 20 7946 0958", "(555) 123-4567 any time",
    "email me at bob.smith@example.com", "I live at 12 Station Road, Leeds LS1 4AB",
    "10 Downing Street", "post it to ls1 4ab please", "flat 2, sw1a 1aa", "\u212at1 1aa",
    "error code CE34 8AB in the app", "NY 10001 office", "M25 3PM",
    "sort code 12-34-56 account 12345678", "acct no 98765432", "12-34-56 12345678",
    "IBAN GB29 NWBK 6016 1331 9268 19", "the 07:15 from 2024 timetable",
    "Kelvin \u212aARD 1234 5678 9012",
    "ſort code 12-34-56", "ＫARD 9999 8888", "", "   ", "?", "a b c",
]


def _labelled(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _twcs() -> list[str]:
    with open(FIXTURES / "twcs" / "inbound.csv", newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def generated(rules: Rules, n: int, seed: int) -> list[str]:
    """Mentions made of the rules' own words: inflected, negated, accented, glued to emoji and
    punctuation, in random case, so that many categories compete for each mention."""
    rng = random.Random(seed)
    terms: list[str] = []
    for text in (ROOT / "rules.yaml", rules.path):
        for line in Path(text).read_text(encoding="utf-8").splitlines():
            if "[" in line or line.startswith(" " * 10):
                terms += [t.strip(" \"'=*[]-") for t in re.split(r"[,\[\]]", line.split(":")[-1])]
    terms = [t for t in terms if t and not t.startswith("#") and len(t) < 30] or ["delay"]
    fillers = ["the", "train", "my", "i", "was", "so", "today", "again", "at", "platform", "?",
               "!", "😡", "🙏", "please", "@northline", "https://t.co/x", "17:45", "isn t", "no",
               "not", "never", "without", "can", "you", "help", "é", "ça", "…"]
    endings = ["", "", "", "s", "ed", "ing", "ly", "er", "'s", "*", "-", "💸"]
    out = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(1, 14)):
            if rng.random() < 0.45:
                words.append(rng.choice(terms) + rng.choice(endings))
            else:
                words.append(rng.choice(fillers))
        text = " ".join(words)
        if rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.5 else text.title()
        if rng.random() < 0.2:
            text = text.replace("e", "é").replace("a", "à")
        out.append(text)
    return out


def corpus(rules: Rules, *, generated_n: int, everything: bool) -> list[Mention]:
    texts = list(HANDWRITTEN) + _labelled(FIXTURES / "triage" / "kinds.labelled.jsonl")
    if everything:
        texts += _twcs() + _labelled(FIXTURES / "twcs" / "virgintrains.labelled.jsonl")
    texts += generated(rules, generated_n, seed=len(texts))
    out = []
    for i, text in enumerate(texts):
        channel = "direct" if i % 7 == 3 else "public"
        handle = "railwatch_news" if i % 23 == 5 else f"user{i % 50}"
        out.append(mention(text, i, channel=channel, followers=(i * 997) % 30_000, handle=handle))
    return out


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_fast_triage_equals_the_straightforward_evaluation(path, straightforward):
    rules = load_rules(path)
    shipped = path == ROOT / "rules.yaml"
    mentions = corpus(rules, generated_n=1500 if shipped else 400, everything=shipped)
    categories = set()
    for m in mentions:
        prior = [m.created_at - timedelta(days=d) for d in range(len(m.text) % 4)]
        fast = rules.triage(m, prior=prior)
        assert fast == straightforward(rules, m, prior=prior), m.text
        categories.add(fast.category)
    # The mentions are varied enough to reach (nearly) every category of the policy.
    assert len(categories) >= len(rules.categories) - 2, set(rules.categories) - categories


def test_every_category_a_mention_can_match_is_a_candidate():
    """Stronger than the first match: the index may leave out a category only when its matcher
    would say no, for every category, not just the one that wins."""
    rules = load_rules(ROOT / "rules.yaml")
    for m in corpus(rules, generated_n=800, everything=False):
        candidates = rules._index.candidates(Seen(m.text, rules.stems).word_set)
        seen = ReferenceSeen(m.text, rules.stems)
        for bit, cat in rules._bits:
            if cat.matcher.match(m, seen, (), rules.negation) is not None:
                assert candidates & bit, (cat.id, m.text)


def test_a_verdict_does_not_depend_on_what_the_caches_have_seen():
    """Cold caches (a fresh load, every word new) and warm ones give the same verdicts."""
    warm = load_rules(ROOT / "rules.yaml")
    mentions = corpus(warm, generated_n=300, everything=False)
    first = [warm.triage(m) for m in mentions]
    again = [warm.triage(m) for m in reversed(mentions)][::-1]
    cold = load_rules(ROOT / "rules.yaml")  # its index, stem and window caches are empty
    assert first == again
    assert [cold.triage(m) for m in mentions] == first


def test_folding_equals_the_whole_text_reference():
    rng = random.Random(11)
    alphabet = ("abcXYZ019_ -.,!?'’\n\t" "éÉèçÇñÑüÜöÖäÄßẞøØåÅœŒæÆıİŀĿǅǆǈ" "ΣσςΐΰἀἈ" "ﬁﬂﬀ"
                "ＡＺａｚ０９"
                "٣۳߃१" "가각힣ᄀ" "\u0301\u0308\u0327\u20dd\u0345" "\u200d\ufe0f\u200b\u00a0\u2028"
                "😡👏🏽👨‍👩‍👧❤️🚨♿⌛☀✈⭐⬛🀄🫶" "中文日本語" "עבריתعربي" "№™℃½²")
    texts = HANDWRITTEN + _twcs()[:200]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += [chr(c) for c in range(0, 0x3000)] + [chr(c) for c in range(0x1F000, 0x1FB00)]
    for text in texts:
        assert normalize_for_match(text) == reference_fold(text), repr(text)


def pii_texts() -> list[str]:
    rng = random.Random(5)
    pieces = [t for t in HANDWRITTEN if any(ch.isdigit() for ch in t)]
    texts = HANDWRITTEN + _twcs() + _labelled(FIXTURES / "triage" / "kinds.labelled.jsonl")
    texts += [" ".join(rng.sample(pieces, 3)) for _ in range(300)]
    return texts + [rng.choice(pieces).upper() for _ in range(100)]


def test_personal_data_look_aheads_change_no_match():
    """pii._starting puts a look-ahead for the first character in front of each pattern; every
    match (span and groups) is the plain pattern's."""
    fast_booking = pii.PersonalDataFinder().booking
    exercised = 0
    for pattern in [getattr(pii, name) for name in PII_PATTERNS] + [fast_booking]:
        slow = plain(pattern)
        for text in pii_texts():
            got = [(m.span(), m.groups()) for m in pattern.finditer(text)]
            assert got == [(m.span(), m.groups()) for m in slow.finditer(text)], text
            exercised += bool(got)
    assert exercised > 50


def test_personal_data_finder_equals_the_plain_patterns(request):
    texts = pii_texts()
    fast = pii.PersonalDataFinder()
    found = [fast.find(t) for t in texts]
    request.getfixturevalue("plain_pii")
    slow = pii.PersonalDataFinder(pii.DEFAULT_BOOKING_PATTERN)  # a pattern given: as written
    assert not slow.booking.pattern.startswith("(?=")
    assert found == [slow.find(t) for t in texts]
    assert {f.kind for fs in found for f in fs} == set(pii.KINDS)


def test_office_windows_are_the_same_cached_or_not():
    rules = load_rules(ROOT / "rules.yaml")
    office = rules.office_hours
    assert office is not None
    day = START.date() - timedelta(days=400)
    for i in range(900):  # across weekends, bank holidays and clock changes
        d = day + timedelta(days=i)
        assert office._window(d) == reference_window(office, d) == office._window(d)


def test_the_index_is_rebuilt_with_the_rules(tmp_path):
    """A changed rules file (reload) gets its own index: a word new to it is found."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    before = load_rules(ROOT / "rules.yaml")
    m = mention("the flux capacitor exploded")
    assert before.triage(m).category == "general"
    changed = tmp_path / "rules.yaml"
    changed.write_text(text.replace("keywords: [unsafe,", "keywords: [capacitor*, unsafe,", 1),
                       encoding="utf-8")
    after = load_rules(changed)
    assert after.triage(m).category == "safety"
    assert after.triage(replace(m, text="capacitors everywhere")).category == "safety"
    assert before.triage(m).category == "general"
