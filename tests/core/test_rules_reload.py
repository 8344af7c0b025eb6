"""Rules change without a restart (Desk.reload_rules): applied once they pass check, refused with
file:line when broken (the old rules stay), open conversations keep their triage unless asked."""

import shutil

import pytest
from conftest import ROOT, Clock, new_desk, policy
from deskkit import mention

from tui.core.rules import RulesError
from tui.core.store import Store


@pytest.fixture
def rules_copy(tmp_path):
    path = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "rules.yaml", path)
    return path


def desk_on(rules_copy, tmp_path, store=False):
    from tui.core.desk import Desk
    from tui.core.rules import load_rules

    _, replies = policy()
    rules = load_rules(rules_copy, reply_keys=set(replies.keys))
    return Desk(rules, replies, Store(tmp_path / "data") if store else None, clock=Clock())


def add_category(path, text):
    """Insert a category before the transactions (after abuse)."""
    body = path.read_text(encoding="utf-8")
    anchor = "  - id: service_disruption\n"
    path.write_text(body.replace(anchor, text + "\n" + anchor, 1), encoding="utf-8")


KIOSK = """  - id: kiosk
    urgency: high
    action: assist_and_direct
    team: bookings
    reply: booking_assist
    match:
      keywords: [kiosk, ticket machine]
"""


def test_new_rules_apply_to_new_mentions_open_conversations_keep_theirs(rules_copy, tmp_path):
    desk = desk_on(rules_copy, tmp_path)
    first = desk.ingest([mention("the kiosk ate my money", handle="ann")])[0]
    assert first.triage.category != "kiosk"
    add_category(rules_copy, KIOSK)
    result = desk.reload_rules()
    assert "kiosk" in result.new_categories and result.retriaged == 0
    assert "added kiosk" in result.summary and "keep their triage" in result.summary
    # the open conversation keeps its triage ...
    assert desk.get(first.conv_id).triage.category == first.triage.category
    # ... and a new mention gets the new rules
    later = desk.ingest([mention("the ticket machines at Fenwick are broken", handle="bo")])[0]
    assert later.triage.category == "kiosk" and "kiosk" in later.triage.why


def test_retriage_when_asked(rules_copy, tmp_path):
    desk = desk_on(rules_copy, tmp_path, store=True)
    first = desk.ingest([mention("the kiosk ate my money", handle="ann")])[0]
    add_category(rules_copy, KIOSK)
    result = desk.reload_rules(retriage=True)
    assert result.retriaged >= 1
    conv = desk.get(first.conv_id)
    assert conv.triage.category == "kiosk" and conv.triage.urgency == "high"
    desk.store.close()
    # the re-triage is durable: a reopened desk has it
    again = desk_on(rules_copy, tmp_path, store=True)
    assert again.get(first.conv_id).triage.category == "kiosk"
    again.store.close()


def test_broken_file_is_refused_with_file_and_line_and_the_old_rules_stay(rules_copy, tmp_path):
    desk = desk_on(rules_copy, tmp_path)
    before = desk.rules
    add_category(rules_copy, KIOSK.replace("action: assist_and_direct", "action: asist"))
    with pytest.raises(RulesError) as info:
        desk.reload_rules()
    problem = info.value.problems[0]
    assert str(rules_copy) in str(problem) and "unknown action 'asist'" in str(problem)
    assert f"{rules_copy}:" in str(problem)  # file:line
    assert desk.rules is before
    t = desk.ingest([mention("the kiosk ate my money", handle="cy")])[0].triage
    assert t.category != "kiosk"


def test_a_reply_key_the_replies_do_not_have_is_refused(rules_copy, tmp_path):
    desk = desk_on(rules_copy, tmp_path)
    add_category(rules_copy, KIOSK.replace("reply: booking_assist", "reply: kiosk_help"))
    with pytest.raises(RulesError, match="unknown reply 'kiosk_help'"):
        desk.reload_rules()


def test_config_office_hours_still_override(rules_copy, tmp_path):
    from datetime import time
    from types import SimpleNamespace

    from tui.core.hours import OfficeHours

    desk = desk_on(rules_copy, tmp_path)
    hours = OfficeHours("America/New_York", [0, 1, 2, 3, 4], time(9), time(17), set())
    desk.config = SimpleNamespace(office_hours=hours)
    desk.reload_rules()
    assert desk.rules.office_hours is hours


def test_reload_defaults_to_the_desks_own_file():
    desk = new_desk()
    result = desk.reload_rules()
    assert result.path == str(desk.rules.path)
