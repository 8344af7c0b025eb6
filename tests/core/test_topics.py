"""Topics among monitor-only mentions: counts, phrases over their words, stop-words, handles."""

from __future__ import annotations

from tui.core.topics import STOP_WORDS, terms_of, tokenize, topics


def test_urls_handles_numbers_and_emoji_break_runs() -> None:
    runs = tokenize("@northline The 0815 ticket machine at https://x.example/a is slow 😡 ok?")
    assert runs == [["the"], ["ticket", "machine", "at"], ["is", "slow"], ["ok"]]
    # Mastodon and Bluesky handles both go
    assert tokenize("@amy@mastodon.example and @bob.bsky.social agree") == [["and"], ["agree"]]


def test_terms_skip_stop_word_edges_but_keep_inner_ones() -> None:
    terms = terms_of("Great value for money, honestly")
    assert {"value for money", "value", "money", "great value", "honestly"} <= terms
    assert "for money" not in terms and "for" not in terms and "value for" not in terms


def test_counts_are_mentions_not_repetitions() -> None:
    out = topics(["livery livery livery", "the livery"], min_count=1)
    assert out[0].term == "livery" and out[0].count == 2


def test_a_phrase_replaces_its_words_when_it_accounts_for_most_uses() -> None:
    texts = (["the ticket machine at Leeds is broken"] * 1
             + ["ticket machine broken again", "why is the ticket machine so slow",
                "ticket machine ate my card", "ticket prices are a scandal",
                "ticket prices up again", "ticket office closed early", "my ticket"])
    out = {t.term: t.count for t in topics(texts, top=20)}
    # "ticket machine" 4 of "machine" 4 and of "ticket" 8: hides "machine" (4*2 > 4) but not
    # "ticket" (4*2 = 8, not more than 8).  "ticket prices" 2 hides "prices" 2.
    assert out["ticket machine"] == 4 and "machine" not in out
    assert out["ticket"] == 8
    assert out["ticket prices"] == 2 and "prices" not in out
    assert out["broken"] == 2
    assert "again" not in out  # a stop-word, however often it is used


def test_trigram_hides_its_bigrams() -> None:
    texts = ["value for money is gone", "no value for money here", "zero value for money"]
    out = {t.term: t.count for t in topics(texts)}
    assert out == {"value for money": 3}


def test_ranking_examples_and_top() -> None:
    texts = ["the new livery is ugly", "i think the new livery looks dated",
             "new livery, new me", "timetable change again", "timetable change is bad"]
    out = topics(texts, top=2)
    assert [(t.term, t.count) for t in out] == [("new livery", 3), ("timetable change", 2)]
    assert out[0].examples == texts[:3]
    assert out[1].examples == texts[3:5]


def test_multilingual_stop_words() -> None:
    for word in ("the", "and", "les", "pour", "pero", "los", "und", "nicht"):
        assert word in STOP_WORDS
    out = {t.term for t in topics(["le train est toujours en retard",
                                   "encore en retard le train"])}
    assert out == {"train", "retard"}


def test_nothing_to_say() -> None:
    assert topics([]) == []
    assert topics(["@northline https://x.example 123 😡"]) == []
