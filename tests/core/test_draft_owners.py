"""A reply draft (and an internal note draft) belongs to the agent who wrote it, on a team desk
where one desk serves many agents: each gets back only their own; saving, sending or undoing by
one never touches another's; the store keeps them apart whatever the agents' names; drafts saved
before drafts had owners still load and go to the first agent who saves."""

from __future__ import annotations

import pytest
from conftest import new_desk
from deskkit import mention

from tui.core.model import DIRECT, PUBLIC
from tui.core.store import Store

REFUND = "I want a refund for my cancelled ticket please"


def test_two_agents_on_one_conversation_each_get_their_own_draft(tmp_path) -> None:
    store = Store(tmp_path / "d")
    d = new_desk(store, agent="ana")
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.save_draft(cid, "ana: refund approved", agent="ana")
    d.save_draft(cid, "ben: let me check", agent="ben")  # ben goes on past the soft lock
    assert d.draft_for(cid, PUBLIC, agent="ana")["text"] == "ana: refund approved"
    assert d.draft_for(cid, PUBLIC, agent="ben")["text"] == "ben: let me check"
    assert d.draft_for(cid, PUBLIC)["text"] == "ana: refund approved"  # the desk's agent
    assert d.draft_for(cid, PUBLIC, agent="cleo") is None  # nobody else's words
    d.save_draft(cid, "ben: let me check the booking", agent="ben")
    assert d.own_draft(cid, "ana")["text"] == "ana: refund approved"
    d.save_draft(cid, "", agent="ben")  # ben empties his composer: only his draft goes
    assert d.own_draft(cid, "ben") is None
    assert d.own_draft(cid, "ana")["text"] == "ana: refund approved"
    d.save_draft(cid, "ben: second try", agent="ben")

    d.reply(cid, "ana: refund approved", agent="ana")  # ana sends: ben's draft stays
    assert d.own_draft(cid, "ana") is None
    assert d.own_draft(cid, "ben")["text"] == "ben: second try"
    d.undo(agent="ana", conv_id=cid)  # the unsent words come back as ana's draft
    assert d.own_draft(cid, "ana")["text"] == "ana: refund approved"
    assert d.own_draft(cid, "ben")["text"] == "ben: second try"
    store.close()

    again = new_desk(Store(tmp_path / "d"), agent="ben")  # restart: both kept, apart
    assert again.draft_for(cid, PUBLIC)["text"] == "ben: second try"
    assert again.draft_for(cid, PUBLIC, agent="ana")["text"] == "ana: refund approved"
    again.store.close()


def test_undo_by_one_agent_restores_only_their_own_words() -> None:
    d = new_desk(agent="ana")
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.save_draft(cid, "ben: not sent yet", agent="ben")
    d.take_offline(cid, "We've sent you a DM", "ana: DM me your booking ref", agent="ana")
    d.undo(agent="ana", conv_id=cid)
    assert d.own_draft(cid, "ana")["text"] == "ana: DM me your booking ref"
    assert d.draft_for(cid, PUBLIC, agent="ana") is None  # a DM stays a DM
    assert d.own_draft(cid, "ben")["text"] == "ben: not sent yet"


@pytest.mark.parametrize("names", [("ana/kim", "ana", "kim"), ("ana|kim", "ana", "kim|"),
                                   ("a%7Cb", "a|b", "a%7Cb|"), ("note", "1", "2/note")])
def test_store_keys_are_unambiguous_whatever_the_agents_names(tmp_path, names) -> None:
    store = Store(tmp_path / "d")
    d = new_desk(store)
    first, second = (d.ingest([mention(REFUND, h)])[0].conv_id for h in ("rita", "otto"))
    for conv in (first, second):
        for name in names:
            d.save_draft(conv, f"{name} on {conv}", agent=name)
            d.save_note_draft(conv, "note", f"{name}'s note on {conv}", agent=name)
    assert len(d.drafts) == len(d.note_drafts) == 2 * len(names)
    store.close()
    again = new_desk(Store(tmp_path / "d"))
    for conv in (first, second):
        for name in names:
            assert again.own_draft(conv, name)["text"] == f"{name} on {conv}"
            assert again.note_draft_for(conv, "note", agent=name)["text"] == \
                f"{name}'s note on {conv}"
    again.store.close()


def test_note_drafts_belong_to_their_agent() -> None:
    d = new_desk(agent="ana")
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.save_note_draft(cid, "note", "ana's note", agent="ana")
    d.save_note_draft(cid, "note", "ben's note", agent="ben")
    d.save_note_draft(cid, "handoff", "for refunds", team="refunds", agent="ben")
    assert d.note_draft_for(cid, "note")["text"] == "ana's note"
    assert d.note_draft_for(cid, "note", agent="ben")["text"] == "ben's note"
    assert d.note_draft_for(cid, "handoff") is None
    d.note(cid, "ana's note", agent="ana")  # saving ana's note drops only hers
    assert d.note_draft_for(cid, "note") is None
    assert d.note_draft_for(cid, "note", agent="ben")["text"] == "ben's note"
    d.handoff(cid, "refunds", "for refunds", agent="ben")
    assert d.note_draft_for(cid, "handoff", agent="ben") is None


def test_drafts_saved_before_owners_load_and_go_to_the_first_agent_who_saves(tmp_path) -> None:
    store = Store(tmp_path / "d")
    d = new_desk(store)
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    # As the previous version wrote them: keyed by the conversation alone, no "agent".
    store.put("drafts", cid, {"conv": cid, "text": "old words", "reply_key": None,
                              "audience": PUBLIC, "at": "2026-01-01T00:00:00Z"})
    store.put("note_drafts", f"{cid}/note", {"conv": cid, "kind": "note", "text": "old note",
                                            "team": None, "at": "2026-01-01T00:00:00Z"})
    store.flush()
    store.close()

    d = new_desk(Store(tmp_path / "d"), agent="ana")
    assert d.draft_for(cid, PUBLIC, agent="ben")["text"] == "old words"  # offered to either
    assert d.draft_for(cid, DIRECT)["text"] == "old words"
    assert d.note_draft_for(cid, "note", agent="ben")["text"] == "old note"
    d.save_draft(cid, "old words, finished", agent="ben")  # ben saves first: now ben's
    d.save_note_draft(cid, "note", "old note", agent="ben")
    assert d.draft_for(cid, PUBLIC) is None  # ana no longer gets it
    assert d.note_draft_for(cid, "note") is None
    d.store.close()
    again = new_desk(Store(tmp_path / "d"), agent="ana")
    assert again.draft_for(cid, PUBLIC) is None
    assert again.draft_for(cid, PUBLIC, agent="ben")["text"] == "old words, finished"
    assert again.note_draft_for(cid, "note", agent="ben")["text"] == "old note"
    again.store.close()


def test_a_draft_from_before_owners_goes_when_it_is_sent(tmp_path) -> None:
    store = Store(tmp_path / "d")
    d = new_desk(store)
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    store.put("drafts", cid, {"conv": cid, "text": "old words", "audience": PUBLIC})
    store.flush()
    store.close()
    d = new_desk(Store(tmp_path / "d"))
    d.reply(cid, "old words")
    assert d.own_draft(cid) is None and not d.drafts
    d.store.close()
    assert not new_desk(Store(tmp_path / "d")).drafts
