"""Topics: what people say about us when they are not asking for anything.

Monitor-only mentions (triage action ``monitor``: opinions and statements that need no reply)
still tell the business what people think.  This module finds the words and phrases that come
back most often among them.

How a text becomes terms:

1. URLs (``https://…``, ``www.…``) and handles (``@northline``, ``@a@b.social``) are cut out of
   the original text: they are addresses, not opinions.  Each cut breaks the text, so no phrase
   spans it.
2. The rest is normalized with :func:`tui.core.text.normalize_for_match` (case, accents and
   punctuation removed).
3. Tokens with a digit, of a single character, or without a letter (emoji) are breaks too.
4. *Terms* are unigrams that are not stop-words, and bigrams/trigrams of consecutive tokens that
   neither start nor end with a stop-word (so "value for money" is a phrase, "for money" is not).
   Stop-words are a real English list plus common French, Spanish and German ones.

Counting: a term's *count* is the number of mentions using it (a mention repeating a word
still counts once), so one ranting customer cannot make a topic.

Preferring phrases: a phrase (2–3 words) seen in at least ``min_count`` mentions replaces each of
its shorter terms (its words, and the bigrams inside a trigram) when it accounts for most of
their uses — ``count(phrase) * 2 > count(term)``.  "ticket machine" ×6 hides "machine" ×7, but
not "ticket" ×20, which then stays a topic of its own.  Ranking: count, then the longer term,
then alphabetical, so the result is stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .text import normalize_for_match

MAX_N = 3  # longest phrase, in words
MAX_EXAMPLES = 3

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# A handle: @user or @user@instance.social (Mastodon), @user.bsky.social (Bluesky).
_HANDLE = re.compile(r"(?<![\w@])@[\w.\-]+(?:@[\w.\-]+)?")
_BREAK = "\x00"

STOP_EN = """
a about above after again against all also am an and any are aren arent as at be because been
before being below between both but by can cant cannot could couldn couldnt d did didn didnt do
does doesn doesnt doing don dont down during each few for from further get gets got had hadn
hasnt has hasn have haven havent having he hed hes her here heres hers herself him himself his
how hows i id ill im ive if in into is isn isnt it its itself just lets ll m ma me more most
mustn my myself needn no nor not now o of off on once only or other ought our ours ourselves
out over own re s same shan she shed shes should shouldn so some such t than that thats the
their theirs them themselves then there theres these they theyd theyll theyre theyve this those
through to too under until up us ve very was wasn wasnt we wed were weren werent weve what
whats when whens where wheres which while who whos whom why whys will with won wont would
wouldn wouldnt y you youd youll youre youve your yours yourself yourselves yes yeah ok okay
really even much many every one ever thing things lot bit like just via amp im u ur
"""
STOP_FR = """
au aux avec ce ces c ca cet cette dans de des du elle elles en est et etre eu il ils j je la le
les leur leurs lui l ma mais me meme mes moi mon n ne nos notre nous on ou par pas pour qu que
qui s sa se ses son sur ta te tes toi ton tu un une vos votre vous y a ete sont suis fait tres
plus comme tout tous
"""
STOP_ES = """
al algo como con de del el ella ellas ellos en entre era es esa ese eso esta estan este esto
estoy fue ha hay la las le les lo los me mi mis muy nada ni no nos o os para pero por porque
que se si sin sobre su sus te ti tu tus un una uno unos y ya yo mas
"""
STOP_DE = """
aber alle als am an auch auf aus bei bin bis bist da dann das dass dem den der des die dies
diese dieser doch du durch ein eine einem einen einer es fur gegen hat hatte ich ihr im in ist
ja jetzt kann kein keine man mein mich mir mit nach nicht noch nur oder ohne schon sehr sein
sich sie sind so uber um und uns unser vom von vor war warum was weil wenn wer wie wir wird
zu zum zur
"""
STOP_WORDS: frozenset[str] = frozenset(
    " ".join((STOP_EN, STOP_FR, STOP_ES, STOP_DE)).split())


@dataclass(slots=True)
class Topic:
    term: str  # folded words, space separated
    count: int  # mentions using it
    examples: list[str] = field(default_factory=list)  # up to 3 mention texts, as given

    @property
    def words(self) -> int:
        return self.term.count(" ") + 1

    def to_dict(self) -> dict[str, object]:
        return {"term": self.term, "count": self.count, "examples": list(self.examples)}


def tokenize(text: str) -> list[list[str]]:
    """The runs of usable tokens in ``text`` (a run ends at a URL, handle, number, emoji...)."""
    cut = _HANDLE.sub(f" {_BREAK} ", _URL.sub(f" {_BREAK} ", text))
    runs: list[list[str]] = []
    run: list[str] = []
    for part in cut.split(_BREAK):
        for token in normalize_for_match(part).split():
            if len(token) < 2 or any(ch.isdigit() for ch in token) or not any(
                    ch.isalpha() for ch in token):
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(token)
        if run:
            runs.append(run)
        run = []
    return runs


def terms_of(text: str, stop_words: frozenset[str] = STOP_WORDS) -> set[str]:
    """Every term (unigram, bigram, trigram) of one text, each once."""
    out: set[str] = set()
    for run in tokenize(text):
        for i, word in enumerate(run):
            if word in stop_words:
                continue
            out.add(word)
            for n in range(2, MAX_N + 1):
                if i + n > len(run):
                    break
                gram = run[i: i + n]
                if gram[-1] not in stop_words:
                    out.add(" ".join(gram))
    return out


def _sub_terms(term: str) -> list[str]:
    words = term.split()
    subs = []
    for n in range(1, len(words)):
        for i in range(len(words) - n + 1):
            subs.append(" ".join(words[i: i + n]))
    return subs


def topics(texts: Iterable[str], top: int = 10, *, min_count: int = 2,
           stop_words: frozenset[str] = STOP_WORDS) -> list[Topic]:
    """The ``top`` topics among ``texts`` (give the newest first: examples are the first seen).

    Only terms used in at least ``min_count`` mentions are topics.
    """
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for text in texts:
        for term in terms_of(text, stop_words):
            counts[term] = counts.get(term, 0) + 1
            ex = examples.setdefault(term, [])
            if len(ex) < MAX_EXAMPLES and text not in ex:
                ex.append(text)
    frequent = {t: c for t, c in counts.items() if c >= min_count}
    hidden: set[str] = set()
    for term, count in frequent.items():
        if " " not in term:
            continue
        for sub in _sub_terms(term):
            sub_count = frequent.get(sub)
            if sub_count is not None and count * 2 > sub_count:
                hidden.add(sub)
    ranked = sorted((t for t in frequent if t not in hidden),
                    key=lambda t: (-frequent[t], -t.count(" "), t))
    return [Topic(t, frequent[t], examples[t]) for t in ranked[:top]]
