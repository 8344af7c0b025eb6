"""Take offline, DM first — the check *before* offering it (issue 10, item 9).

A customer whose DM settings keep us out (Bluesky chat ``allowIncoming`` "none", or "following"
while they do not follow us) is never offered "take offline" as if it would work: the one
suggestion says why and proposes the public answer asking them to write to us.  A later message
showing new settings updates it; a restart keeps it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import EPOCH, Clock, new_desk

from tui.core.desk import DM_CLOSED_REPLY
from tui.core.model import Author, Mention, dm_closed_reason
from tui.core.outbox import FAILED
from tui.core.replies import Replies

SOURCE = "bluesky:brand.bsky.social"
CARD = "@brand charged twice for my ticket, booking NL-482913"  # the rules take it offline
SAFETY = "@brand someone was following me at the station and staff did nothing"


def note(mid: str, text: str = CARD, *, did: str = "did:plc:rider", handle: str = "rider.test",
         dms_from: str | None = None, follows_us: bool | None = None,
         at: timedelta = timedelta(minutes=-5), read: timedelta | None = None,
         source: str = SOURCE) -> Mention:
    created = EPOCH + at
    return Mention(id=mid, source=source, channel="public",
                   author=Author(handle, "Rider", id=did, dms_from=dms_from,
                                 follows_us=follows_us),
                   text=text, created_at=created,
                   received_at=EPOCH + (read if read is not None else at))


@pytest.mark.parametrize(("dms_from", "follows_us", "closed"), [
    ("none", None, "does not accept direct messages"),
    ("none", True, "does not accept direct messages"),
    ("following", False, "accepts DMs only from accounts they follow, and does not follow us"),
    ("following", True, None),
    ("following", None, None),  # not known: the send decides (and a refusal is reported)
    ("all", False, None),
    (None, False, None),  # Mastodon: a direct post reaches anyone who does not block us
    (None, None, None),
])
def test_the_one_rule_says_why_a_dm_cannot_reach_them(dms_from, follows_us, closed):
    reason = dm_closed_reason("@ann.example", dms_from, follows_us)
    if closed is None:
        assert reason is None
    else:
        assert reason == f"@ann.example {closed}"
    author = Author("ann.example", dms_from=dms_from, follows_us=follows_us)
    assert author.dm_closed == reason


def test_the_dm_settings_travel_with_the_mention_through_every_form():
    m = note("1", dms_from="following", follows_us=False)
    data = m.to_dict()
    assert data["author"]["dms_from"] == "following" and data["author"]["follows_us"] is False
    for again in (Mention.restore(data), Mention.from_dict(data)):
        assert (again.author.dms_from, again.author.follows_us) == ("following", False)
    plain = note("2").to_dict()
    assert "dms_from" not in plain["author"] and "follows_us" not in plain["author"]
    # A word the network may add one day is not guessed at: unknown.
    odd = Author.from_value({"handle": "x", "dms_from": "mutuals", "follows_us": "yes"})
    assert odd.dms_from is None and odd.follows_us is True


def test_a_customer_we_cannot_dm_is_told_in_public_and_offline_is_not_offered():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", dms_from="following", follows_us=False)])
    assert got.triage.offline  # the rules would take it offline...
    s = desk.suggestion(got.conv_id)
    assert not s.offline and s.dm is None and s.bridge is None  # ...the suggestion does not
    assert s.action == "reply"
    assert s.dm_closed == ("@rider.test accepts DMs only from accounts they follow, and does "
                           "not follow us")
    assert s.reply_key == DM_CLOSED_REPLY and s.channel == "public" and s.refused == []
    assert "send us a direct message" in s.text and "help.northline.example/contact" in s.text
    assert desk.dm_closed(got.conv_id) == s.dm_closed
    # Accepting it posts that public answer: no DM is queued, no "we've sent you a DM".
    desk.accept(got.conv_id)
    items = desk.outbox.for_conversation(got.conv_id)
    assert [(i["kind"], i["channel"]) for i in items] == [("reply", "public")]
    assert items[0]["text"] == s.text
    assert not desk.get(got.conv_id).offline


def test_a_case_for_a_team_keeps_its_hand_off_but_answers_in_public():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", SAFETY, dms_from="none")])
    s = desk.suggestion(got.conv_id)
    assert s.action == "handoff" and s.team and not s.offline
    assert s.dm_closed == "@rider.test does not accept direct messages"
    assert s.reply_key == DM_CLOSED_REPLY


def test_a_later_mention_showing_they_now_follow_us_offers_the_dm_again():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", dms_from="following", follows_us=False)])
    assert desk.suggestion(got.conv_id).dm_closed
    desk.ingest([note("2", "@brand ok I followed you", dms_from="following", follows_us=True,
                      at=timedelta(minutes=-1))])
    s = desk.suggestion(got.conv_id)
    assert s.dm_closed is None and s.offline and s.dm and s.bridge
    # ...and they switch DMs off altogether: said again.
    desk.ingest([note("3", "@brand actually no DMs please", dms_from="none", follows_us=True,
                      at=timedelta(minutes=0))])
    assert desk.suggestion(got.conv_id).dm_closed == "@rider.test does not accept direct messages"


def test_what_was_read_last_wins_not_what_was_written_last():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    # Read at -1 min: closed.  Then an older post (written at -10 min) read later, at +1 min,
    # shows their settings as they are now (open): that is what counts.
    (got,) = desk.ingest([note("2", dms_from="following", follows_us=False,
                               at=timedelta(minutes=-1))])
    desk.ingest([note("1", dms_from="all", at=timedelta(minutes=-10),
                      read=timedelta(minutes=1))])
    assert desk.dm_closed(got.conv_id) is None
    # A reading older than the last one changes nothing.
    desk.ingest([note("0", dms_from="none", at=timedelta(minutes=-20),
                      read=timedelta(minutes=-20))])
    assert desk.dm_closed(got.conv_id) is None


def test_a_message_that_says_nothing_about_dms_keeps_what_we_know():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", dms_from="none")])
    desk.ingest([note("2", "@brand hello?", at=timedelta(minutes=-1))])  # no settings read
    assert desk.dm_closed(got.conv_id) == "@rider.test does not accept direct messages"


def test_mastodon_customers_are_offered_the_dm_as_before():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", source="mastodon:https://social.example",
                               did="https://social.example/users/rider")])
    s = desk.suggestion(got.conv_id)
    assert s.offline and s.dm_closed is None and s.dm and s.bridge


def test_a_refused_dm_is_forgiven_once_their_settings_open():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", dms_from="following", follows_us=False)])
    desk.take_offline(got.conv_id, "bridge text", "Hi, your booking reference please?")
    (dm,) = [i for i in desk.outbox.for_conversation(got.conv_id) if i["kind"] == "dm"]
    desk.outbox.start(dm["id"])
    desk.outbox.fail(dm["id"], "recipient requires incoming messages to come from someone "
                     "they follow")
    assert desk.outbox.items[dm["id"]]["status"] == FAILED
    assert desk.get(got.conv_id).needs_reply
    assert desk.suggestion(got.conv_id).dm_closed
    desk.ingest([note("2", "@brand followed you now", dms_from="following", follows_us=True,
                      at=timedelta(minutes=-1))])
    s = desk.suggestion(got.conv_id)
    assert s.dm_closed is None and s.offline


def test_the_settings_survive_a_restart(tmp_path):
    desk = new_desk(data_dir=tmp_path, clock=Clock(EPOCH), undo_seconds=0)
    (got,) = desk.ingest([note("1", dms_from="following", follows_us=False)])
    desk.store.close()
    again = new_desk(data_dir=tmp_path, clock=Clock(EPOCH), undo_seconds=0)
    assert again.suggestion(got.conv_id).dm_closed == desk.suggestion(got.conv_id).dm_closed
    assert again.suggestion(got.conv_id).dm_closed is not None
    again.store.close()


def test_without_the_canned_reply_the_suggestion_refuses_rather_than_guess():
    desk = new_desk(clock=Clock(EPOCH), undo_seconds=0)
    kept = {k: v for k, v in desk.replies.replies.items() if k != DM_CLOSED_REPLY}
    desk.replies = Replies(kept, desk.replies.limits)
    (got,) = desk.ingest([note("1", dms_from="none")])
    s = desk.suggestion(got.conv_id)
    assert not s.offline and s.text is None and s.dm_closed
    assert any("no 'dm_closed' reply" in r for r in s.refused)
