"""Internal note drafts (QA item 2): kept like reply drafts, apart from them, across a restart,
and dropped when the note is saved or the hand-off made."""

from __future__ import annotations

import pytest
from deskkit import mention

from tui.core.desk import ActionRefused
from tui.core.store import Store

REFUND = "I want a refund for my cancelled ticket please"


def test_a_note_draft_survives_a_restart_and_never_becomes_a_reply_draft(make_desk, tmp_path):
    store = Store(tmp_path)
    d = make_desk(store)
    c = d.ingest([mention(REFUND, "amy")])[0].conv_id
    d.save_note_draft(c, "note", "customer is a journalist, careful")
    d.save_note_draft(c, "handoff", "refund of 12.50 approved by Sam", team="refunds")
    # internal words never fill a reply of any audience
    assert d.draft_for(c, "public") is None and d.draft_for(c, "direct") is None
    assert d.own_draft(c) is None and not d.drafts
    store.close()  # as a crash leaves it: the journal holds the drafts

    d2 = make_desk(Store(tmp_path))
    assert d2.note_draft_for(c, "note")["text"] == "customer is a journalist, careful"
    hand = d2.note_draft_for(c, "handoff")
    assert (hand["text"], hand["team"]) == ("refund of 12.50 approved by Sam", "refunds")
    assert d2.draft_for(c, "direct") is None
    d2.note(c, "customer is a journalist, careful")
    assert d2.note_draft_for(c, "note") is None  # saved: the draft is done
    assert d2.note_draft_for(c, "handoff") is not None  # the other kind stays
    d2.handoff(c, "refunds", "refund of 12.50 approved by Sam")
    assert d2.note_draft_for(c, "handoff") is None
    d2.store.close()
    d3 = make_desk(Store(tmp_path))
    assert d3.note_drafts == {}


def test_empty_text_drops_a_note_draft_and_bad_input_is_refused(make_desk):
    d = make_desk()
    c = d.ingest([mention(REFUND, "amy")])[0].conv_id
    d.save_note_draft(c, "note", "half a thought")
    d.save_note_draft(c, "note", "   ")
    assert d.note_draft_for(c, "note") is None
    with pytest.raises(ValueError, match="unknown note draft kind"):
        d.save_note_draft(c, "reply", "x")
    with pytest.raises(KeyError):
        d.save_note_draft("999", "note", "x")


def test_an_answered_conversation_suggests_nothing_and_accept_gives_the_same_reason(make_desk):
    d = make_desk()
    c = d.ingest([mention(REFUND, "amy")])[0].conv_id
    assert d.suggestion(c).idle is None
    d.reply(c, "Sorry, we are on it")
    idle = d.suggestion(c).idle
    assert idle is not None and idle.startswith("answered — waiting for the customer")
    with pytest.raises(ActionRefused, match="nothing waiting for an answer: answered"):
        d.accept(c)
    d.resolve(c)
    assert d.suggestion(c).idle.startswith("resolved")
