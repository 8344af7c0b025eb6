"""Finding personal data in a message, so that it is taken offline and never repeated in public.

Kinds: ``card`` (13–19 digits, Luhn-checked), ``account`` (bank account numbers and sort codes,
recognised by their wording), ``iban`` (mod-97 checked), ``email``, ``phone`` (international, UK
and US forms), ``address`` (a street number and a street word, UK postcodes, US state + ZIP) and
``booking`` (booking references; the pattern is configurable).

The aim is "good enough to warn an agent", tuned against the false positives a rail operator's
mentions are full of: times (17:45), dates (12/05/2024), prices (£12.50), train head codes (1A23),
platform and bus numbers.  Every pattern is compiled once; text without a digit or an ``@`` — most
mentions — costs one regex search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("card", "account", "iban", "email", "phone", "address", "booking")
LABELS = {
    "card": "card number",
    "account": "bank account",
    "iban": "IBAN",
    "email": "email address",
    "phone": "phone number",
    "address": "postal address",
    "booking": "booking reference",
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int

    @property
    def label(self) -> str:
        return LABELS[self.kind]


_DIGIT = re.compile(r"\d")

# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\w+.,/:-])\d(?:[ -]?\d){12,18}(?![\w.,/:]?\d)")
# IBANs are written in capitals, compact or in groups of four.
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
# Sort codes look exactly like dates (12-05-24), so they need their wording or an account
# number right after them.
_ACCOUNT = re.compile(
    r"""
      \b(?:sort[ ]?code|s/c)\b[\s:#.-]{0,4}(\d{2}[ -]?\d{2}[ -]?\d{2})\b
    | \b(?:account|acct|acc|a/c|routing)(?:[ ]?(?:no|number|num|nr))?\b\.?(?:[ ]is)?[\s:#]{0,4}
      (\d{6,17})\b
    | \b(\d{2}-\d{2}-\d{2}[ ,/]{1,3}\d{8})\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
# The look-behind keeps Mastodon handles (@alice@example.social) from passing for addresses.
_EMAIL = re.compile(r"(?<![@\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(
    r"""
      (?<![\w+])\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\d){6,13}(?![\d])       # +44 20 7946 0958
    | (?<![\w+])00\d{1,3}(?:[ .-]?\d){7,12}(?![\d])                        # 0044 20 7946 0958
    | (?<![\w(+])\(0\d{2,4}\)[ ]?\d{3,4}[ -]?\d{3,4}(?![\d])               # (020) 7946 0958
    | (?<![\w+:./-])0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}(?![\d.,:/-]?\d)       # 07700 900123
    | (?<![\w+:./-])\(?[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4}(?![\d.,:/-]?\d)   # (555) 123-4567
    """,
    re.VERBOSE,
)
_STREET_WORDS = (
    "Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Drive|Close|Way|Crescent|Place|Court|Terrace|Gardens"
    "|Grove|Boulevard|Blvd|Square|Sq|Hill|Row|Mews|Walk|Parade|Rise|View"
)
# Street names are capitalised words: "waited 20 minutes on the way" is not an address.
_STREET = (
    r"(?<![\w£$€.,:/-])\d{1,5}[A-Za-z]?,?[ ]+(?:(?:[A-Z][\w'’-]*|of|the|de)[ ]+){1,4}"
    rf"(?i:{_STREET_WORDS})\b\.?"
)
# UK postcodes: the inward code's letters never include C, I, K, M, O or V, which is what keeps
# "M25 3PM" out.
_POSTCODE = r"(?i:\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)[ ]?\d[ABD-HJLNP-UW-Z]{2}\b)"
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM"
    "|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC"
)
_ZIP = rf"\b(?:{_US_STATES}),?[ ]+\d{{5}}(?:-\d{{4}})?\b"
# One pass for the three address forms.
_ADDRESS = re.compile(f"{_STREET}|{_POSTCODE}|{_ZIP}")

# Default booking references: "booking ABC123", "ref: X7Y8Z9", "PNR 4KQ2ZT", "my booking
# reference is 4kq2zt", "confirmation code was X7Y8Z9", "référence de réservation AB12CD", or
# NL-123456.  A reference has a digit in it (so "booking confirmation" or "reference please" are
# not references) and is typed in any case.
DEFAULT_BOOKING_PATTERN = (
    r"(?i:\b(?:booking|bookings|ref|reference|pnr|confirmation|reservation|r[eé]f[eé]rence"
    r"|localizador|buchungsnummer)"
    r"(?:[ ]?(?:no|number|num|code|id|de r[eé]servation|reference|ref))?\b\.?"
    r"(?:[\s:#-]{0,4}(?:is|was|es|est|ist)\b)?[\s:#-]{0,4}"
    r"((?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{6,10}|\d{6,10}))\b"
    r"|\b([A-Z]{2}-\d{6})\b"
)

# Wording that says a number is a card's (bank card, travel card, smartcard, loyalty card) in the
# languages the shipped policy covers.  With it, any 8-19 digit number that follows within a few
# words is a card number, Luhn or not: customers mistype, and travel cards (12 digits, no Luhn)
# are personal data too.
_CARD_WORDING = re.compile(
    r"(?i:\b(?:card|cards|smartcard|oyster|railcard|carte|tarjeta|karte|kartennummer|cerdyn)"
    r"(?:[ ]?(?:no|number|num|nr|numero|numéro|número|nummer))?\b[^\d\n]{0,24}?)"
    r"(?<![\w+.,/:-])(\d(?:[ -]?\d){7,18})(?![\w.,/:]?\d)")
# A compact or 4-4-4-4 grouped 16-digit number is a card number even when the Luhn check fails.
_CARD16 = re.compile(r"(?<![\w+.,/:-])\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}(?![\w.,/:]?\d)")
# Codes that look like UK postcodes but follow these words are codes, not addresses ("error code
# CE34 8AB", "redeem key WS12 3XY").
_CODE_WORDS = re.compile(
    r"(?i:\b(?:code|codes|error|err|key|voucher|promo|redeem|coupon|level|pin|serial|version"
    r"|model|part|sku|ticket no)\b[\s:#-]{0,4}$)")


def _starting(chars: str, pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` behind a look-ahead for the characters every one of its matches starts with
    (``chars``, a regex class): the same matches, but `re` rejects most positions with one class
    test instead of trying each alternative and its look-behind (3-4x faster on a mention with
    digits).  The class must allow every character any alternative can start with."""
    end = "\n)" if pattern.flags & re.VERBOSE else ")"  # a verbose pattern may end in a comment
    return re.compile(f"(?={chars})(?:{pattern.pattern}{end}", pattern.flags)


# Alternatives start with: a digit (card); a capital (IBAN); "sort", "s/c", "account", "acct",
# "acc", "a/c", "routing" or a digit (account); "+", "00", "(0", "0", "(" or 2-9 (phone);
# a digit, a letter of a postcode or a state code (address: `[^\W_]`, any letter or digit, also
# allows the letters case-insensitive matching adds, such as the Kelvin sign for K).
_CARD = _starting(r"\d", _CARD)
_IBAN = _starting("[A-Z]", _IBAN)
_ACCOUNT = _starting(r"[^\W_]", _ACCOUNT)
_PHONE = _starting(r"[\d+(]", _PHONE)
_ADDRESS = _starting(r"[^\W_]", _ADDRESS)
_CARD_WORDING = _starting(r"[^\W_]", _CARD_WORDING)  # "card", "oyster", "carte", ...

# When two findings overlap the more specific kind wins (an IBAN contains an account number...).
_PRIORITY = {"iban": 0, "card": 1, "account": 2, "email": 3, "booking": 4, "phone": 5,
             "address": 6}


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in moved))
    except ValueError:
        return False
    return number % 97 == 1


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


class PersonalDataFinder:
    """The finder; ``booking_pattern`` replaces the default booking-reference regex."""

    def __init__(self, booking_pattern: str | None = None) -> None:
        self.booking = re.compile(booking_pattern or DEFAULT_BOOKING_PATTERN)
        if booking_pattern is None:  # it starts with a word ("booking", "ref") or "NL-"
            self.booking = _starting(r"[^\W_]", self.booking)

    def find(self, text: str) -> list[Finding]:
        if not text:
            return []
        # Every kind but email needs digits, and most need many: counting them first lets the
        # common mention ("the 17:45 was late again") skip most patterns.
        digits = len(_DIGIT.findall(text))
        found: list[Finding] = []
        add = found.append
        at = text.find("@")
        if at >= 0 and "." in text[at:]:
            for m in _EMAIL.finditer(text):
                add(Finding("email", m.start(), m.end()))
        if not digits:
            return found
        if digits >= 8:
            for m in _IBAN.finditer(text):
                if _iban_ok(m.group()):
                    add(Finding("iban", m.start(), m.end()))
            for m in _PHONE.finditer(text):
                if 8 <= _digit_count(m.group()) <= 15:
                    add(Finding("phone", m.start(), m.end()))
        if digits >= 8:
            for m in _CARD_WORDING.finditer(text):
                add(Finding("card", m.start(1), m.end(1)))
        if digits >= 13:
            for m in _CARD.finditer(text):
                number = re.sub(r"\D", "", m.group())
                if 13 <= len(number) <= 19 and (_luhn(number) or _CARD16.fullmatch(m.group())):
                    add(Finding("card", m.start(), m.end()))
        if digits >= 6:
            for m in _ACCOUNT.finditer(text):
                group = next(g for g in range(1, 4) if m.group(g))
                add(Finding("account", m.start(group), m.end(group)))
        for m in self.booking.finditer(text):
            # A pattern with groups marks the reference itself; otherwise the whole match.
            g = next((i for i in range(1, (m.re.groups or 0) + 1) if m.group(i)), 0)
            add(Finding("booking", m.start(g), m.end(g)))
        for m in _ADDRESS.finditer(text):
            if m.group()[:1].isdigit() or not _CODE_WORDS.search(text, 0, m.start()):
                add(Finding("address", m.start(), m.end()))
        return _without_overlaps(found)


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    if len(found) < 2:
        return found
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (_PRIORITY[f.kind], f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    kept.sort(key=lambda f: f.start)
    return kept


_DEFAULT = PersonalDataFinder()


def find_personal_data(text: str, finder: PersonalDataFinder | None = None) -> list[Finding]:
    """Every piece of personal data in ``text``, in order of appearance."""
    return (finder or _DEFAULT).find(text)


def kinds_in(text: str, finder: PersonalDataFinder | None = None) -> list[str]:
    """The distinct kinds found, in order of first appearance."""
    seen: list[str] = []
    for f in find_personal_data(text, finder):
        if f.kind not in seen:
            seen.append(f.kind)
    return seen
