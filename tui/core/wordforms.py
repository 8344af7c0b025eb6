"""Word forms for triage matching: stems, negation and words near each other.

A mention is folded once (:func:`text.normalize_for_match`: case, accents and punctuation
removed, words separated by single spaces).  When rules.yaml sets ``word_forms: english`` (any
Snowball language), the folded text is also *stemmed* word by word, so ``agent`` in a rule finds
"agents", ``suspend`` finds "suspended" and ``terrible`` finds "terribly" — one stem per word, so
a word's position is the same in both texts and a hit in the stemmed text can always be shown
with the customer's own words (the ``why`` line).

Stemmer: the Snowball algorithms (Porter's successors, snowballstem.org) through the
``snowballstemmer`` package, which uses the PyStemmer C extension when it is installed.  Stems
are cached per word: mention vocabulary is Zipfian, so after a few thousand mentions nearly every
word is a dictionary hit (bench/bench_triage.py measures the cost).

Negation: a hit whose preceding ``window`` words contain a negation ("not delayed", "no longer
stuck", "never late") does not count.  Nearness: two term lists match when a hit of each lies at
most ``within`` words apart ("gate agents were terrible").
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .text import normalize_for_match

_CACHE_LIMIT = 200_000  # distinct words kept per stemmer before the cache starts over

# Kept under its old name: normalize_for_match was once slower than an ASCII-only fast path; it
# now costs less (one str.translate over a per-character table), so both are the same function.
normalize_for_match_fast = normalize_for_match


def stemmer_languages() -> tuple[str, ...]:
    """The languages ``word_forms:`` accepts (Snowball's algorithm names, e.g. ``english``).
    Imports every stemmer (about 50 ms): see :func:`is_stemmer_language` for the cheap test."""
    import snowballstemmer

    return tuple(sorted(snowballstemmer.algorithms()))


def is_stemmer_language(language: str) -> bool:
    """True when ``language`` is one of :func:`stemmer_languages`.  A name Snowball ships a
    module for (``snowballstemmer/<language>_stemmer.py``) is known without importing the
    package, which imports every language's stemmer; any other name is looked up in the list."""
    from importlib.util import find_spec

    if language.isidentifier() and language.islower():
        try:
            spec = find_spec("snowballstemmer")
        except (ImportError, ValueError):
            spec = None
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            if os.path.isfile(os.path.join(folder, f"{language}_stemmer.py")):
                return True
    return language in stemmer_languages()


class Stems:
    """A cached Snowball stemmer for one language (the stemmer itself is loaded on the first
    word: importing ``snowballstemmer`` loads every language's).  Raises KeyError for an
    unknown language."""

    def __init__(self, language: str) -> None:
        if not is_stemmer_language(language):
            raise KeyError(language)
        self.language = language
        self._stem: Callable[[str], str] | None = None
        self._cache: dict[str, str] = {}

    def _stemmer(self) -> Callable[[str], str]:
        if self._stem is None:
            import snowballstemmer

            self._stem = snowballstemmer.stemmer(self.language).stemWord
        return self._stem

    def word(self, word: str) -> str:
        stem = self._cache.get(word)
        if stem is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            # Digits and one-letter words have no forms; the stemmer would only copy them.
            stem = word if len(word) < 3 or word.isdigit() else (self._stemmer()(word) or word)
            self._cache[word] = stem
        return stem

    def text(self, folded: str) -> str:
        """The stemmed twin of folded text: the same number of words, each replaced by its stem."""
        get, word = self._cache.get, self.word
        return " " + " ".join([get(w) or word(w) for w in folded.split()]) + " "

    def term(self, term: str) -> str:
        """A rule's word or phrase as stems (folded first, like the mention)."""
        return " ".join(self.word(w) for w in normalize_for_match(term).split())


class Seen:
    """One mention's text prepared for matching; the stemmed form is built only when asked."""

    __slots__ = ("_question", "_stem_set", "_stemmed", "_word_set", "_words", "folded",
                 "stems", "text")

    def __init__(self, text: str, stems: Stems | None) -> None:
        self.text = text
        self.folded = normalize_for_match_fast(text)
        self.stems = stems
        self._stemmed: str | None = None
        self._words: list[str] | None = None
        self._word_set: frozenset[str] | None = None
        self._stem_set: frozenset[str] | None = None
        self._question: bool | None = None

    @property
    def stemmed(self) -> str:
        if self._stemmed is None:
            self._stemmed = self.stems.text(self.folded) if self.stems else self.folded
        return self._stemmed

    @property
    def word_set(self) -> frozenset[str]:
        """The distinct folded words: a term list whose first words are all missing cannot
        match, which one set operation tells (most categories, for most mentions)."""
        if self._word_set is None:
            self._word_set = frozenset(self.words)
        return self._word_set

    @property
    def stem_set(self) -> frozenset[str]:
        if self._stem_set is None:
            self._stem_set = frozenset(self.stemmed.split()) if self.stems else self.word_set
        return self._stem_set

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = self.folded.split()
        return self._words

    @property
    def question(self) -> bool:
        """Asks something: a question mark, or it opens with a question word ("how do I ...")."""
        if self._question is None:
            words = self.words
            self._question = "?" in self.text or "¿" in self.text or bool(
                words and words[0] in QUESTION_OPENERS and len(words) > 2)
        return self._question


# Words that open a question without a question mark ("how do i get a refund").  English and the
# other languages the shipped policy covers; a team can always write `question:` conditions that
# do not rely on this.
QUESTION_OPENERS = frozenset(
    "how what when where why who which whats wheres hows can could is are do does did will would "
    "should any anyone est pourquoi comment quand ou quel quelle puis como cuando donde por que "
    "puedo wie wann wo warum kann gibt".split())


class Hit(NamedTuple):
    """One term found in a mention (a tuple: made for every hit, so it must be cheap)."""

    kind: str  # "k" keyword, "p" phrase
    word: int  # index of the first word in the mention
    length: int  # words
    shown: str  # the customer's words (folded)


@dataclass(frozen=True, slots=True, order=True)
class Key:
    """A word a mention must contain for some term to be found in it."""

    word: str  # folded (stemmed=False) or a stem (stemmed=True)
    prefix: bool  # True: the mention's word need only start with it (a ``*`` term)
    stemmed: bool  # True: compared with the stems of the mention's words


class KeyIndex:
    """Which of several term lists (e.g. the categories of a rules file) can match a mention,
    from its words alone: one cached dictionary look-up per distinct word instead of one
    search per list.

    ``groups[i]`` holds the keys of list ``i`` (a mention containing none of them cannot match
    it), or None when that cannot be said (a regex, no words: list ``i`` is always a
    candidate).  :meth:`candidates` returns a bit mask: bit ``i`` set when list ``i`` is a
    candidate.  The answer only ever leaves out lists that cannot match, so matching the
    candidates in order gives exactly what matching every list in order gives.
    """

    def __init__(self, groups: Sequence[Iterable[Key] | None], stems: Stems | None) -> None:
        self.stems = stems
        self.always = 0
        self._exact: dict[str, int] = {}
        self._stemmed: dict[str, int] = {}
        self._prefixes: dict[str, int] = {}
        for i, keys in enumerate(groups):
            bit = 1 << i
            if keys is None:
                self.always |= bit
                continue
            for key in keys:
                table = (self._prefixes if key.prefix else
                         self._stemmed if key.stemmed else self._exact)
                table[key.word] = table.get(key.word, 0) | bit
        self._prefix_items = sorted(self._prefixes.items())
        self._cache: dict[str, int] = {}

    def word(self, word: str) -> int:
        """The lists a mention containing the folded ``word`` may match (a bit mask)."""
        bits = self._cache.get(word)
        if bits is None:
            bits = self._exact.get(word, 0)
            for prefix, more in self._prefix_items:
                if word.startswith(prefix):
                    bits |= more
            if self._stemmed and self.stems is not None:
                bits |= self._stemmed.get(self.stems.word(word), 0)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[word] = bits
        return bits

    def candidates(self, words: Iterable[str]) -> int:
        """Bit mask of the lists a mention with these folded words may match."""
        bits = self.always
        get, word = self._cache.get, self.word
        for w in words:
            found = get(w)
            bits |= word(w) if found is None else found
        return bits


_END, _STAR = 0, 1  # trie markers: a term ends here / a term ends here with any word ending


def fold_term(term: str) -> tuple[str, bool]:
    """A rule's word or phrase as it is searched: (folded words separated by single spaces,
    whether it ends in ``*``, i.e. its last word may have any ending)."""
    star = term.rstrip().endswith("*")
    return " ".join(normalize_for_match(term.rstrip().rstrip("*")).split()), star


def term_key(term: str) -> tuple[str, bool] | None:
    """One word the mention must contain for ``term`` to be found: (word, is_prefix), or None
    for a term with no words.

    A term is found only as whole words of the folded (or stemmed) text, so each of its words is
    one of the mention's words; the longest is taken (long words are the rare ones: "on the
    tracks" is keyed by "tracks", not "on").  A ``*`` term's last word is only a prefix of the
    mention's word, so it is the key only when the term has no other word.
    """
    folded, star = fold_term(term)
    words = folded.split()
    if not words:
        return None
    if star:
        if len(words) == 1:
            return words[0], True
        words = words[:-1]
    return max(reversed(words), key=len), False


def word_alternation(words: Iterable[str]) -> str:
    """Folded words/phrases → one regex alternation; a trailing ``*`` matches any word ending.

    The terms are factored into a trie (``un(?:safe|conscious)``) so that `re` tries each letter
    once instead of once per term: a category with 40 keywords costs about what one costs.
    """
    root: dict = {}
    for word in words:
        folded, star = fold_term(word)
        if not folded:
            continue
        node = root
        for ch in folded:
            node = node.setdefault(ch, {})
        node[_STAR if star else _END] = True
    return _emit(root) if root else ""


def _emit(node: dict) -> str:
    alternatives = [re.escape(ch) + _emit(child)
                    for ch, child in sorted((k, v) for k, v in node.items() if isinstance(k, str))]
    # Longer continuations are listed first; the (?= ) after the group lets `re` backtrack to a
    # shorter term when a longer one does not end on a word boundary.
    if node.get(_STAR):
        alternatives.append(r"\w*")
    elif node.get(_END):
        alternatives.append("")
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


def compile_words(keywords: Iterable[str], phrases: Iterable[str] = ()) -> re.Pattern[str] | None:
    """Whole-word matcher over folded text (words there are separated by single spaces).

    Groups ``k`` (a keyword matched) and ``p`` (a phrase matched).
    """
    k, p = word_alternation(keywords), word_alternation(phrases)
    groups = []
    if p:
        groups.append(f"(?P<p>{p})")
    if k:
        groups.append(f"(?P<k>{k})")
    if not groups:
        return None
    # The leading space is consumed (a literal start is much faster for `re` than a
    # look-behind); the trailing one is only looked at, so the next word can start with it.
    return re.compile(" (?:" + "|".join(groups) + r")(?= )")


def split_terms(terms: Iterable[str], stems: Stems | None) -> tuple[list[str], list[str]]:
    """(terms matched as written, terms matched by stem).

    With a stemmer, a plain term matches every form of its words; a term ending in ``*`` (any
    ending) or starting with ``=`` (this exact form only: ``=late`` does not find "lately") is
    matched as written.  Stemmed terms are returned already stemmed.
    """
    exact: list[str] = []
    stemmed: list[str] = []
    for term in terms:
        t = term.strip()
        if t.startswith("="):
            exact.append(t[1:])
        elif stems is None or t.endswith("*"):
            exact.append(t)
        else:
            s = stems.term(t)
            if s:
                stemmed.append(s)
    return exact, stemmed


def _first_words(terms: Iterable[str]) -> frozenset[str] | None:
    """The first word of every term, or None when a term ends in * (any ending: no set)."""
    firsts = set()
    for term in terms:
        if term.rstrip().endswith("*"):
            return None
        words = normalize_for_match(term).split()
        if words:
            firsts.add(words[0])
    return frozenset(firsts)


def _has_words(term: str) -> bool:
    """True when ``term`` (as written in a rules file) has a word to search for: one that
    :func:`split_terms` keeps and :func:`word_alternation` does not skip."""
    t = term.strip()
    return bool(fold_term(t[1:] if t.startswith("=") else t)[0])


class _Compiled(NamedTuple):
    exact: re.Pattern[str] | None
    stemmed: re.Pattern[str] | None
    exact_firsts: frozenset[str] | None
    stem_firsts: frozenset[str] | None
    keys: tuple[Key, ...]


class Terms:
    """Keywords and phrases of one list, compiled for the folded and the stemmed text.

    Compiled on first use (the first mention triaged, or :meth:`compile`): stemming every term
    and compiling the patterns of a rules file costs about 0.2 s, which a console attached to
    the desk process (it never triages) or a command that only reads need not pay at start.
    Nothing in compiling can fail on terms :meth:`build` accepted: a list without a word to
    search for is refused there, at load (and reported with its line by the rules loader).
    """

    __slots__ = ("_compiled", "_keywords", "_phrases", "_stems")

    def __init__(self, keywords: Sequence[str], phrases: Sequence[str],
                 stems: Stems | None) -> None:
        self._keywords = tuple(keywords)
        self._phrases = tuple(phrases)
        self._stems = stems
        self._compiled: _Compiled | None = None

    @classmethod
    def build(cls, keywords: Iterable[str], phrases: Iterable[str] = (),
              stems: Stems | None = None) -> Terms | None:
        """The terms of one list, or None when none of them has a word to search for."""
        keywords, phrases = tuple(keywords), tuple(phrases)
        if not any(_has_words(t) for t in keywords + phrases):
            return None
        return cls(keywords, phrases, stems)

    def compile(self) -> _Compiled:
        compiled = self._compiled
        if compiled is None:
            ke, ks = split_terms(self._keywords, self._stems)
            pe, ps = split_terms(self._phrases, self._stems)
            keys = {Key(*k, stemmed=False) for t in ke + pe if (k := term_key(t)) is not None}
            keys |= {Key(*k, stemmed=True) for t in ks + ps if (k := term_key(t)) is not None}
            compiled = self._compiled = _Compiled(
                compile_words(ke, pe), compile_words(ks, ps), _first_words(ke + pe),
                frozenset(t.split()[0] for t in ks + ps if t), tuple(sorted(keys)))
        return compiled

    @property
    def exact(self) -> re.Pattern[str] | None:
        """Over ``Seen.folded``."""
        return self.compile().exact

    @property
    def stemmed(self) -> re.Pattern[str] | None:
        """Over ``Seen.stemmed``."""
        return self.compile().stemmed

    @property
    def exact_firsts(self) -> frozenset[str] | None:
        """First words of the exact terms (None: any)."""
        return self.compile().exact_firsts

    @property
    def stem_firsts(self) -> frozenset[str] | None:
        return self.compile().stem_firsts

    @property
    def keys(self) -> tuple[Key, ...]:
        """One key word per term (see :func:`term_key`): no term can be found unless the
        mention has one."""
        return self.compile().keys

    def _exact(self, seen: Seen) -> re.Pattern[str] | None:
        """The exact pattern when some term could occur (its first word is in the mention)."""
        c = self._compiled or self.compile()
        if c.exact is None or (c.exact_firsts is not None
                               and c.exact_firsts.isdisjoint(seen.word_set)):
            return None
        return c.exact

    def _stemmed(self, seen: Seen) -> re.Pattern[str] | None:
        c = self._compiled or self.compile()
        if c.stemmed is None or (c.stem_firsts is not None
                                 and c.stem_firsts.isdisjoint(seen.stem_set)):
            return None
        return c.stemmed

    def any(self, seen: Seen) -> bool:
        """Some term occurs (negation not considered): a set test, then one C-level search."""
        exact = self._exact(seen)
        if exact is not None and exact.search(seen.folded):
            return True
        stemmed = self._stemmed(seen)
        return stemmed is not None and stemmed.search(seen.stemmed) is not None

    def hits(self, seen: Seen) -> Iterator[Hit]:
        exact = self._exact(seen)
        if exact is not None:
            yield from _hits(exact, seen.folded, seen)
        stemmed = self._stemmed(seen)
        if stemmed is not None:
            yield from _hits(stemmed, seen.stemmed, seen)


def _hits(pattern: re.Pattern[str], text: str, seen: Seen) -> Iterator[Hit]:
    for m in pattern.finditer(text):
        group = m.lastgroup or "k"
        start = text.count(" ", 0, m.start())  # index of the hit's first word
        length = m.group(group).count(" ") + 1
        yield Hit(group, start, length, " ".join(seen.words[start:start + length]))


@dataclass(slots=True)
class Negation:
    """Negation words and how far back they reach (in words)."""

    pattern: re.Pattern[str]
    window: int = 3

    def negates(self, seen: Seen, hit: Hit) -> str | None:
        """The negation before ``hit``, or None."""
        if hit.word == 0:
            return None
        before = " " + " ".join(seen.words[max(0, hit.word - self.window):hit.word]) + " "
        m = self.pattern.search(before)
        return m.group(m.lastgroup or "k") if m else None


@dataclass(slots=True)
class Near:
    """Two term lists that must occur within ``within`` words of each other."""

    first: Terms
    second: Terms
    within: int = 6

    def find(self, seen: Seen, negation: Negation | None) -> tuple[str, str] | None:
        if not (self.first.any(seen) and self.second.any(seen)):
            return None
        a = [h for h in self.first.hits(seen) if not (negation and negation.negates(seen, h))]
        if not a:
            return None
        b = [h for h in self.second.hits(seen) if not (negation and negation.negates(seen, h))]
        for x in a:
            for y in b:
                gap = y.word - (x.word + x.length) if y.word >= x.word else \
                    x.word - (y.word + y.length)
                if gap <= self.within:
                    return x.shown, y.shown
        return None
