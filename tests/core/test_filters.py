"""The queue filter language (tui/core/filters.py): fields from the loaded rules, free words,
clear refusals."""

from __future__ import annotations

import pytest
from deskkit import mention

from tui.core.filters import filter_fields, parse_filter

REFUND = "I need a refund for my cancelled ticket"
SAFETY = "someone collapsed on the platform, please help"


def ids(desk, predicate) -> set[str]:
    return {c.id for c in desk.conversations.values() if predicate(c)}


def test_empty_filter_is_none(desk) -> None:
    assert parse_filter("", desk) is None
    assert parse_filter("   ", desk) is None


def test_fields_and_words_select_open_conversations(desk) -> None:
    refund = desk.ingest([mention(REFUND, "amy")])[0].conv_id
    safety = desk.ingest([mention(SAFETY, "bob")])[0].conv_id
    dm = desk.ingest([mention("hello, a question about my booking", "cat",
                              channel="direct")])[0].conv_id
    assert ids(desk, parse_filter("category:refund", desk)) == {refund}
    assert ids(desk, parse_filter("urgency:critical", desk)) == {safety}
    assert ids(desk, parse_filter("channel:dm", desk)) == {dm}
    assert ids(desk, parse_filter("channel:public", desk)) == {refund, safety}
    # values of one field are ORed, fields ANDed, words must all appear
    assert ids(desk, parse_filter("category:refund category:safety", desk)) == {refund, safety}
    assert ids(desk, parse_filter("category:refund urgency:critical", desk)) == set()
    assert ids(desk, parse_filter("PLATFORM", desk)) == {safety}
    assert ids(desk, parse_filter("@bob", desk)) == set()  # handles are matched without @
    assert ids(desk, parse_filter("bob collapsed", desk)) == {safety}
    desk.resolve(safety)
    assert ids(desk, parse_filter("platform", desk)) == set()  # only open conversations


@pytest.mark.parametrize(("text", "message"), [
    ("urgency:urgent", "urgency:urgent? levels are critical, high, normal, low, none"),
    ("team:nobody", "team:nobody? teams are"),
    ("channel:fax", "channel:fax? write channel:public or channel:direct"),
    ("colour:red", "colour:? filter by category, team, channel, urgency, tag, status, assigned "
                   "or free text"),
])
def test_mistakes_say_what_is_allowed(desk, text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("?", r"\?")):
        parse_filter(text, desk)


def test_help_lists_what_the_rules_allow(desk) -> None:
    fields = dict(filter_fields(desk.rules))
    assert list(fields) == ["category", "team", "urgency", "channel", "tag", "status", "assigned",
                            "#42"]
    assert "waiting" in fields["status"] and "snoozed" in fields["status"]
    assert fields["urgency"] == list(desk.rules.levels)
    assert fields["category"] == list(desk.rules.categories) and "refund" in fields["category"]
    assert fields["team"] == list(desk.rules.teams)


def test_assigned_me_none_and_a_name_and_next_honours_them(desk) -> None:
    mine, kims, free = (desk.ingest([mention(REFUND, h)])[0].conv_id
                        for h in ("amy", "bob", "cat"))
    desk.assign(mine, agent=desk.agent)
    desk.assign(kims, "Kim", agent="kim")
    assert ids(desk, parse_filter("assigned:me", desk)) == {mine}
    assert ids(desk, parse_filter("assigned:kim", desk)) == {kims}  # names: any case
    assert ids(desk, parse_filter("assigned:none", desk)) == {free}
    # n: mine first, then unassigned, never someone else's unless asked
    assert desk.next().id == mine
    desk.resolve(mine)
    assert desk.next().id == free
    desk.resolve(free)
    assert desk.next() is None
    assert desk.next(others=True).id == kims


@pytest.mark.parametrize("text, hint", [
    ("category:refnud", "did you mean 'refund'"),
    ("urgency:hihg", "did you mean 'high'"),
    ("category:saftey late", "did you mean 'safety'"),
])
def test_a_mistyped_value_says_what_was_meant(make_desk, text, hint):
    with pytest.raises(ValueError, match=hint):
        parse_filter(text, make_desk())
