"""The desk's one client API: reply channel, canned reply rendering, owning team, drafts that
sending clears, the stale check, result phrases, queue markers, and the one timeline fold that
metrics use too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import ROOT, Clock, new_desk
from deskkit import mention

from tui.core.api import MARKERS, AlreadyAnswered, Outgrown, describe, describe_all, markers
from tui.core.conversation import Fold
from tui.core.desk import RESOLVED
from tui.core.metrics import collect, episodes
from tui.core.model import DIRECT, PUBLIC
from tui.core.replies import ReplyRefused
from tui.core.store import Store

SAFETY = "The doors closed on my child at Leeds, this is unsafe!"
REFUND = "I want a refund for my cancelled ticket please"
SPAM = "crypto giveaway dm me now"


def test_reply_channel_is_direct_once_offline_or_when_the_latest_message_is_a_dm() -> None:
    d = new_desk()
    amy = d.ingest([mention(REFUND, "amy")])[0].conv_id
    bob = d.ingest([mention("my booking ref is in here", "bob", channel="direct")])[0].conv_id
    assert d.reply_channel(d.get(amy)) == PUBLIC
    assert d.reply_channel(d.get(bob)) == DIRECT
    d.take_offline(amy, "We've sent you a DM", "Please send your booking reference")
    assert d.reply_channel(d.get(amy)) == DIRECT  # offline: never back to public
    # again=True: the DM still waits in the outbox (the duplicate-answer check asks first)
    ev = d.reply(amy, "Thanks, refund on its way", again=True)
    assert ev.details["channel"] == DIRECT
    assert d.suggestion(amy).channel == DIRECT


def test_render_reply_fills_in_the_customer_for_the_channel_and_refuses_clearly() -> None:
    d = new_desk()
    cid = d.ingest([mention(REFUND, "amy", name="Amy Pond")])[0].conv_id
    text = d.render_reply(cid, "close_loop", PUBLIC)
    assert "{" not in text
    assert d.render_reply(cid, "close_loop") == text  # default channel: the reply channel
    with pytest.raises((ReplyRefused, KeyError)):
        d.render_reply(cid, "no_such_reply")


def test_owning_team_is_the_hand_off_team_else_the_triage_team() -> None:
    d = new_desk()
    cid = d.ingest([mention(SAFETY, "sam")])[0].conv_id
    conv = d.get(cid)
    assert d.owning_team(conv) == conv.triage.team == "safety"
    d.handoff(cid, "operations")
    assert d.owning_team(d.get(cid)) == "operations"
    spam = d.ingest([mention(SPAM, "bot")])[0].conv_id
    assert d.owning_team(d.get(spam)) == d.get(spam).triage.team


@pytest.mark.parametrize("how", ["reply", "take_offline", "accept"])
def test_sending_clears_the_draft_for_every_client(tmp_path, how: str) -> None:
    store = Store(tmp_path / "d")
    """The sender's draft is gone for every client (a replica asks the same desk); another
    agent's draft on the conversation is theirs and stays."""
    d = new_desk(store)
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.save_draft(cid, "half written, then sent")
    d.save_draft(cid, "a colleague's own words", agent="kim")
    if how == "reply":
        d.reply(cid, "half written, then sent")
    elif how == "take_offline":
        d.take_offline(cid, "We've sent you a DM", "half written, then sent")
    else:
        d.accept(cid)
    assert d.own_draft(cid) is None
    assert d.own_draft(cid, "kim")["text"] == "a colleague's own words"
    store.close()
    store = Store(tmp_path / "d")  # and the journal agrees after a restart
    again = new_desk(store)
    assert again.own_draft(cid) is None
    assert again.own_draft(cid, "kim")["text"] == "a colleague's own words"
    store.close()


def test_undoing_a_held_reply_gives_its_words_back_as_the_draft() -> None:
    d = new_desk()
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.reply(cid, "Refund approved, 3 to 5 days")
    assert d.own_draft(cid) is None
    d.undo(conv_id=cid)
    assert d.own_draft(cid)["text"] == "Refund approved, 3 to 5 days"


def test_stale_check_is_a_typed_refusal_with_the_count_and_force_sends() -> None:
    clock = Clock()
    d = new_desk(clock=clock)
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    seen = d.mark_read(cid)
    d.ingest([mention("also my card was charged twice", "rita"),
              mention("hello??", "rita")])
    with pytest.raises(Outgrown) as caught:
        d.reply(cid, "Looking into it", seen_seq=seen)
    assert caught.value.count == 2
    assert caught.value.question == "2 new messages arrived — send anyway?"
    assert d.drafts.get(cid) is None and d.outbox.items == {}  # nothing was done
    ev = d.reply(cid, "Looking into it", seen_seq=None)  # the agent said "send anyway"
    assert ev.kind == "reply"


def test_one_phrase_per_action_for_console_and_cli() -> None:
    d = new_desk()
    sam = d.ingest([mention(SAFETY, "sam")])[0].conv_id
    rita = d.ingest([mention(REFUND, "rita")])[0].conv_id
    assert describe(d.handoff(sam, "operations")) == \
        f"handed #{sam} to operations as CASE-00001"
    assert describe(d.reply(rita, "On it")) == f"replied on #{rita} (public): queued"
    assert describe(d.tag(rita, "refund")) == f"tagged #{rita} refund"
    assert describe(d.tag(rita, "-refund")) == f"untagged #{rita} refund"
    assert describe(d.note(rita, "called")) == f"noted on #{rita}"
    assert describe(d.assign(rita, "kim")) == f"assigned #{rita} to kim"
    assert describe(d.resolve(rita)) == f"resolved #{rita}"
    assert describe(d.undo()) == f"undid resolve on #{rita}"
    bot = d.ingest([mention(SPAM, "bot")])[0].conv_id
    assert describe(d.ignore(bot, "spam")) == f"marked #{bot} as spam (nothing deleted)"
    amy = d.ingest([mention(REFUND, "amy")])[0].conv_id
    done = d.accept(amy)
    assert describe_all(done) == "; ".join(describe(e) for e in done)
    assert describe_all(done).startswith(f"replied on #{amy}")


def test_queue_markers_are_one_table_without_key_letters_that_mean_something_else() -> None:
    d = new_desk()
    cid = d.ingest([mention(SAFETY, "sam")])[0].conv_id
    assert markers(d.get(cid)) == "●↩   "
    d.mark_read(cid)
    d.assign(cid, "kim")
    d.take_offline(cid, "We've sent you a DM", "Where are you now?")
    d.handoff(cid, "safety")
    assert markers(d.get(cid)) == "  AOC"  # the same letters as the console and the README
    symbols = [m.symbol for m in MARKERS]
    assert len(set(symbols)) == len(symbols)
    legend = (ROOT / "README.md").read_text()  # the README's row legend names each one
    assert all(f"`{m.symbol}` " in legend for m in MARKERS), symbols


def test_a_thank_you_after_a_close_is_history_on_the_desk_and_in_the_metrics() -> None:
    clock = Clock()
    d = new_desk(clock=clock)
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.reply(cid, "Refund approved")
    clock.advance(minutes=5)
    d.resolve(cid)
    clock.advance(minutes=5)
    d.ingest([mention("thanks so much for sorting that", "rita", at=clock.now)])
    assert d.get(cid).status == RESOLVED and not d.get(cid).needs_reply
    found, _ = episodes(next(r for r in collect(d, None) if r.id == cid), d.rules.levels)
    assert len(found) == 1  # no reopened episode the desk never showed
    clock.advance(minutes=5)
    d.ingest([mention("actually the refund never arrived", "rita", at=clock.now)])
    found, _ = episodes(next(r for r in collect(d, None) if r.id == cid), d.rules.levels)
    assert [e.reopened for e in found] == [False, True] and d.get(cid).reopened == 1


def test_the_fold_rebuilds_exactly_the_live_state() -> None:
    clock = Clock()
    d = new_desk(clock=clock)
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.snooze(cid, clock.now + timedelta(hours=1))
    d.ingest([mention("hello??", "rita")])
    d.tag(cid, "vip")
    live = d.get(cid)
    before = (live.status, live.needs_reply, live.deadline, live.tags, live.triage)
    Fold.reset(live)
    assert live.status != before[0] or live.tags != before[3]
    d._refold(live, notify=False)
    assert (live.status, live.needs_reply, live.deadline, live.tags, live.triage) == before


def test_stale_check_names_what_other_agents_did_and_refuses_another_answer_outright() -> None:
    d = new_desk()
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    seen = d.mark_read(cid)
    d.handoff(cid, "refunds", agent="kim")
    d.resolve(cid, agent="lee")
    d.note(cid, "my own note", agent="sam")  # my own actions never make my answer stale
    with pytest.raises(Outgrown) as caught:
        d.reply(cid, "Looking into it", agent="sam", seen_seq=seen)
    assert caught.value.changes == ["kim handed it to refunds", "lee resolved it"]
    assert caught.value.count == 0
    assert caught.value.question == \
        "kim handed it to refunds; lee resolved it — send anyway?"
    assert str(caught.value) == ("kim handed it to refunds and lee resolved it since you "
                                 "opened this conversation")
    assert d.outbox.items == {}
    # another agent's *answer* is not something to send anyway: a different refusal
    seen = d.mark_read(cid)
    d.ingest([mention("still no refund", "rita")])
    d.reply(cid, "Refund is on its way", agent="kim")
    with pytest.raises(AlreadyAnswered) as answered:
        d.reply(cid, "Looking into it", agent="sam", seen_seq=seen)
    assert answered.value.by == "kim" and not isinstance(answered.value, Outgrown)
    # an undone change is no change; the same agent acting is no change
    seen = d.mark_read(cid)
    d.ingest([mention("hello?", "rita")])
    d.snooze(cid, d.clock() + timedelta(hours=1), agent="kim")
    d.undo(agent="kim")
    with pytest.raises(Outgrown) as caught:
        d.reply(cid, "Sorry for the wait", agent="sam", seen_seq=seen)
    assert caught.value.changes == [] and caught.value.count == 1


def test_what_others_did_before_the_agent_opened_it_is_not_since() -> None:
    d = new_desk()
    cid = d.ingest([mention(REFUND, "rita")])[0].conv_id
    d.reply(cid, "We are on it", agent="kim")
    d.resolve(cid, agent="kim")
    seen = d.mark_read(cid)  # sam opens it after kim's reply and resolve: both are on screen
    assert seen == d.get(cid).last_seq > d.get(cid).last_mention_seq
    ev = d.reply(cid, "One more thing: the refund shows in 3 days", agent="sam", seen_seq=seen,
                 again=True)
    assert ev.kind == "reply" and ev.agent == "sam"
