"""Triage rules (tui/core/rules.py): loading, every matcher, modifier and offline trigger."""

import textwrap
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from tui.core.hours import ALWAYS, OfficeHours
from tui.core.model import Author, Mention
from tui.core.replies import load_replies
from tui.core.rules import RulesError, load_rules

ROOT = Path(__file__).resolve().parents[2]
FRIDAY_EVENING = datetime(2025, 1, 17, 19, 0, tzinfo=UTC)  # 19:00 GMT, office closes at 20:00


@pytest.fixture(scope="module")
def rules():
    return load_rules(ROOT / "rules.yaml", reply_keys=load_replies(ROOT / "replies.yaml").keys)


def mention(text: str, *, channel: str = "public", handle: str = "alice", followers: int = 10,
            language: str | None = None, created: datetime = FRIDAY_EVENING,
            received: datetime | None = None) -> Mention:
    return Mention(id="1", source="demo", channel=channel,
                   author=Author(handle=handle, name="Alice", followers=followers),
                   text=text, created_at=created, received_at=received or created,
                   language=language)


HEADER = """\
urgency:
  critical: {target: 15m, clock: 24x7}
  normal: {target: 4h, clock: office}
  none: {target: none}
office_hours:
  timezone: Europe/London
  days: [mon, tue, wed, thu, fri]
  open: "08:00"
  close: "20:00"
teams:
  social: {description: Care team}
vip: [bigname]
"""


def write_rules(tmp_path: Path, categories: str, extra: str = "") -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(HEADER + "categories:\n" + textwrap.indent(textwrap.dedent(categories), "  ")
                    + "  - {id: general, urgency: normal, action: reply, reply: general_ack}\n"
                    + textwrap.dedent(extra))
    return path


# --- the shipped policy ----------------------------------------------------------------------

@pytest.mark.parametrize("text, channel, category, urgency, action", [
    ("I felt unsafe, a man threatened me on the 17:45", "public", "safety", "critical", "handoff"),
    ("Some idiot assaulted me on the platform you morons", "public", "safety", "critical",
     "handoff"),
    ("the ramp wasn't there and I'm in a wheelchair", "public", "accessibility", "high",
     "handoff"),
    ("The conductor was so rude to me", "public", "staff_complaint", "high", "handoff"),
    ("the guard on the 8:10 was shouting and refused to open the door", "public",
     "staff_complaint", "high", "handoff"),
    ("Check my profile for a crypto giveaway", "public", "spam", "none", "ignore"),
    ("you charged my card twice for one ticket", "public", "card_account", "normal",
     "take_offline"),
    ("they took the payment two times from me", "public", "card_account", "normal",
     "take_offline"),
    ("you are all idiots", "public", "abuse", "none", "ignore"),
    ("you idiots my train was delayed AGAIN", "public", "service_disruption", "high",
     "update_and_link"),
    ("Train CANCELLED!!! again", "public", "service_disruption", "high", "update_and_link"),
    ("how do I claim Delay Repay for yesterday", "public", "refund", "normal",
     "assist_and_direct"),
    ("I left my bag on the 17:45", "public", "lost_property", "normal", "assist_and_direct"),
    ("Can't log in to my account", "public", "card_account", "normal", "take_offline"),
    ("can I reserve a seat", "public", "booking", "normal", "assist_and_direct"),
    ("hello, quick question", "direct", "direct_message", "normal", "reply"),
    ("you are all idiots", "direct", "abuse", "none", "ignore"),
    ("Thanks for the great service today 👏", "public", "praise", "low", "reply"),
    ("thanks for nothing", "public", "general", "normal", "reply"),
    ("I think the new livery is ugly", "public", "opinion", "none", "monitor"),
    ("hello", "public", "general", "normal", "reply"),
])
def test_shipped_policy(rules, text, channel, category, urgency, action):
    t = rules.triage(mention(text, channel=channel))
    assert (t.category, t.urgency, t.action) == (category, urgency, action), t.why
    assert t.rank == list(rules.levels).index(urgency)
    assert t.why.startswith(f"{category}: ")


def test_shipped_rules_expose_levels_teams_and_categories(rules):
    assert list(rules.levels) == ["critical", "high", "normal", "low", "none"]
    assert rules.levels["critical"].calendar is ALWAYS
    assert rules.levels["critical"].target == timedelta(minutes=15)
    assert isinstance(rules.levels["high"].calendar, OfficeHours)
    assert rules.levels["none"].target is None
    assert set(rules.teams) == {"safety", "accessibility", "customer_relations", "operations",
                                "refunds", "lost_property", "accounts", "bookings", "social"}
    assert rules.teams["refunds"].self_service_url.startswith("https://help.northline.example")
    assert rules.status_url == "https://status.northline.example"
    assert rules.categories[0] == "safety" and rules.categories[-1] == "general"
    assert rules.office_hours.timezone == "Europe/London"


def test_deadlines_follow_each_level_clock(rules):
    critical = rules.triage(mention("I feel unsafe"))
    assert critical.deadline == FRIDAY_EVENING + timedelta(minutes=15)  # 24x7
    high = rules.triage(mention("train delayed"))
    assert high.deadline == FRIDAY_EVENING + timedelta(hours=1)  # still open until 20:00
    normal = rules.triage(mention("hello"))
    # 1h on Friday, 3h from Monday 08:00
    assert normal.deadline == datetime(2025, 1, 20, 11, tzinfo=UTC)
    assert rules.triage(mention("I think fares are high")).deadline is None
    assert rules.deadline("none", FRIDAY_EVENING) is None
    # time left counts office time: Monday 09:00 leaves 2 office hours
    monday = datetime(2025, 1, 20, 9, tzinfo=UTC)
    assert rules.time_left(normal.deadline, monday, "normal") == timedelta(hours=2)
    assert rules.time_left(normal.deadline, FRIDAY_EVENING) == timedelta(hours=4)
    assert rules.time_left(critical.deadline, monday, "critical") < -timedelta(days=2)


# --- matchers --------------------------------------------------------------------------------

def test_keywords_are_whole_words_case_accent_and_emoji_tolerant(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: hit
          urgency: normal
          action: reply
          reply: r
          match:
            keywords: [cafe, late, "😡", refund*]
        """))
    for text in ("The CAFÉ was shut", "late!!!", "so 😡😡", "refunded?", "Refunds"):
        assert rules.triage(mention(text)).category == "hit", text
    for text in ("chocolate", "latest news", "cafeteria", "irefund"):
        assert rules.triage(mention(text)).category == "general", text
    assert rules.triage(mention("REFUNDED, late")).why == 'hit: keywords "refunded", "late"'


def test_phrases_and_regex_are_ored_with_keywords(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: hit
          urgency: normal
          action: reply
          reply: r
          match:
            keywords: [wifi]
            phrases: [no signal]
            regex: ['\\bcoach [a-h]\\b']
        """))
    assert rules.triage(mention("the wifi is down")).why == 'hit: keywords "wifi"'
    assert rules.triage(mention("No signal... at all")).why == 'hit: phrases "no signal"'
    assert rules.triage(mention("It's cold in Coach C")).why == 'hit: regex "Coach C"'
    assert rules.triage(mention("signal no")).category == "general"


def test_channel_language_followers_are_anded_with_words(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: dm_fr
          urgency: normal
          action: reply
          reply: r
          match:
            channel: direct
            language: [fr]
            keywords: [retard]
        - id: big
          urgency: normal
          action: reply
          reply: r
          match:
            min_followers: 5000
        """))
    assert rules.triage(mention("Retard!", channel="direct", language="fr-CA")).why == (
        'dm_fr: keywords "retard"; channel direct; language fr-ca')
    assert rules.triage(mention("Retard!", channel="public", language="fr")).category == "general"
    assert rules.triage(mention("Retard!", channel="direct", language="en")).category == "general"
    assert rules.triage(mention("bonjour", channel="direct", language="fr")).category == "general"
    assert rules.triage(mention("hi", followers=5000)).why == "big: 5,000 followers"
    assert rules.triage(mention("hi", followers=4999)).category == "general"


def test_vip_list_and_vip_true(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: listed
          urgency: normal
          action: reply
          reply: r
          match:
            vip: ["@Press_Desk"]
        - id: top_vip
          urgency: normal
          action: reply
          reply: r
          match:
            vip: true
        """))
    assert rules.triage(mention("hi", handle="press_desk")).why == "listed: vip @press_desk"
    assert rules.triage(mention("hi", handle="BigName")).category == "top_vip"
    assert rules.triage(mention("hi", handle="nobody")).category == "general"


def test_repeat_contact(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: again
          urgency: normal
          action: reply
          reply: r
          match:
            repeat_contact: {within_days: 3, at_least: 2}
        """))
    day = timedelta(days=1)
    recent = [FRIDAY_EVENING - day, FRIDAY_EVENING - 2 * day]
    assert rules.triage(mention("hi"), prior=recent).why == "again: repeat contact (2 in 3 days)"
    # too old, or only one recent contact, or "prior" after this mention: no match
    assert rules.triage(mention("hi"), prior=[FRIDAY_EVENING - 4 * day] * 5).category == "general"
    assert rules.triage(mention("hi"), prior=recent[:1]).category == "general"
    assert rules.triage(mention("hi"), prior=[FRIDAY_EVENING + day] * 3).category == "general"


def test_unless_vetoes(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: abuse
          urgency: none
          action: ignore
          match:
            keywords: [idiots]
            unless: [refund*, delay repay]
        """))
    assert rules.triage(mention("idiots")).category == "abuse"
    assert rules.triage(mention("idiots, where is my refund")).category == "general"
    assert rules.triage(mention("idiots. Delay-Repay?")).category == "general"


def test_first_match_wins_in_file_order(tmp_path):
    rules = load_rules(write_rules(tmp_path, """\
        - id: first
          urgency: critical
          action: handoff
          team: social
          reply: r
          match: {keywords: [fire]}
        - id: second
          urgency: normal
          action: reply
          reply: r
          match: {keywords: [fire, smoke]}
        """))
    assert rules.triage(mention("fire and smoke")).category == "first"
    assert rules.triage(mention("smoke")).category == "second"


# --- offline ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, label", [
    ("refund to card 4111 1111 1111 1111 please", "card number"),
    ("refund to sort code 12-34-56 please", "bank account"),
    ("refund to GB82 WEST 1234 5698 7654 32 please", "IBAN"),
    ("refund? mail me at jo@example.com", "email address"),
    ("refund? call 07700 900123", "phone number"),
    ("refund to 14 Station Road, Leeds", "postal address"),
    ("refund for booking ABC123", "booking reference"),
])
def test_personal_data_in_public_takes_it_offline(rules, text, label):
    t = rules.triage(mention(text))
    assert t.category == "refund"
    assert t.offline and t.offline_reasons == [label]
    # their data is public: the first step is moving to DMs, where the refund reply follows
    assert (t.action, t.reply_key, t.team) == ("take_offline", "refund_assist", "refunds")
    assert t.why.startswith('refund: keywords "refund"; offline: ' + label)


def test_offline_categories_keep_their_own_reply(rules):
    t = rules.triage(mention("I feel unsafe, call me on 07700 900123"))
    assert t.offline and t.offline_reasons == ["safety category", "phone number"]
    assert (t.action, t.reply_key, t.team) == ("handoff", "safety_ask_dm", "safety")
    assert "offline: safety category, phone number" in t.why


def test_direct_messages_are_already_offline(rules):
    t = rules.triage(mention("refund to card 4111 1111 1111 1111", channel="direct"))
    assert not t.offline and t.offline_reasons == []
    assert t.action == "assist_and_direct"


def test_ignored_mentions_are_never_taken_offline(rules):
    t = rules.triage(mention("crypto giveaway, call 07700 900123"))
    assert (t.category, t.offline, t.action) == ("spam", False, "ignore")


def test_offline_trigger_kinds_and_categories_are_configurable(tmp_path):
    path = write_rules(tmp_path, """\
        - id: lost
          urgency: normal
          action: assist_and_direct
          reply: r
          match: {phrases: [left my]}
        """, """\
        offline_triggers:
          personal_data: [email]
          categories: [lost]
          booking_pattern: '\\bTKT\\d{6}\\b'
        """)
    rules = load_rules(path)
    assert rules.triage(mention("I left my hat")).offline_reasons == ["lost category"]
    assert not rules.triage(mention("call 07700 900123")).offline  # phone is not a trigger here
    t = rules.triage(mention("write to me at jo@example.com"))
    assert t.offline_reasons == ["email address"]
    assert (t.action, t.reply_key) == ("take_offline", "general_ack")
    assert rules.finder.find("TKT123456")[0].kind == "booking"


# --- modifiers -------------------------------------------------------------------------------

def test_influencer(rules):
    t = rules.triage(mention("hello", followers=12400))
    assert t.score == 15
    assert t.why == "general: no other rule matched; +15 influencer (12,400 followers)"
    assert rules.triage(mention("hello", followers=9999)).score == 0


def test_repeat_customer(rules):
    prior = [FRIDAY_EVENING - timedelta(days=d) for d in (1, 2, 3)]
    t = rules.triage(mention("hello"), prior=prior)
    assert t.score == 10 and "+10 repeat customer (3 contacts in 7 days)" in t.why
    assert rules.triage(mention("hello"), prior=prior[:1]).score == 0


def test_negative_wording(rules):
    t = rules.triage(mention("Delayed again, what a SHAMBLES 😡"))
    assert t.score == 5
    assert t.why == 'service_disruption: keywords "delayed"; +5 negative wording "shambles", "😡"'


def test_waiting_points_are_capped(rules):
    late = rules.triage(mention("hello", received=FRIDAY_EVENING + timedelta(hours=2)))
    assert late.score == 4 and "+4 waiting (2h)" in late.why
    very_late = rules.triage(mention("hello", received=FRIDAY_EVENING + timedelta(days=2)))
    assert very_late.score == 20
    # re-triage later counts up to `now`
    again = rules.triage(mention("hello"), now=FRIDAY_EVENING + timedelta(minutes=30))
    assert again.score == 1 and "+1 waiting (30m)" in again.why


def test_vip_points_and_urgency_bump(rules):
    t = rules.triage(mention("hello", handle="RailWatch_News"))
    assert (t.urgency, t.rank) == ("high", 1)
    assert t.score == 20
    assert t.why == "general: no other rule matched; vip: normal → high; +20 vip"
    assert t.deadline == rules.deadline("high", FRIDAY_EVENING)
    # never above the most urgent level, never out of "none"
    assert rules.triage(mention("I feel unsafe", handle="railwatch_news")).urgency == "critical"
    assert rules.triage(mention("crypto giveaway", handle="railwatch_news")).urgency == "none"


def test_modifiers_add_up_in_why(rules):
    t = rules.triage(mention("I feel unsafe, useless lot", followers=12400),
                     prior=[FRIDAY_EVENING - timedelta(hours=5)] * 2)
    assert t.score == 30
    assert t.why == ('safety: phrases "feel unsafe"; offline: safety category; '
                     '+15 influencer (12,400 followers); +10 repeat customer (2 contacts in 7 '
                     'days); +5 negative wording "useless"')


# --- loading errors (the file-level cases live in test_check.py) -----------------------------

def test_rules_error_lists_every_problem(tmp_path):
    path = write_rules(tmp_path, """\
        - id: a
          urgency: urgent
          action: reply
          reply: r
          match: {keywrods: [x]}
        - id: b
          urgency: normal
          action: shout
          reply: r
        """)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 4, messages
    assert all(m.startswith(f"{path}:") for m in messages)
    assert any("unknown urgency 'urgent'" in m for m in messages)
    assert any("did you mean 'keywords'?" in m for m in messages)
    assert any("unknown action 'shout'" in m for m in messages)
    assert any("'general' can never match: 'b' above it (line 19)" in m for m in messages)


def test_reply_keys_are_checked_only_when_given(tmp_path):
    path = write_rules(tmp_path, "")
    load_rules(path)
    with pytest.raises(RulesError, match="unknown reply 'general_ack'"):
        load_rules(path, reply_keys=["general_acknowledgement"])


def test_office_hours_can_be_overridden(tmp_path):
    rules = load_rules(ROOT / "rules.yaml")

    weekends = OfficeHours("Europe/London", ["sat", "sun"], time(10), time(16))
    rules.set_office_hours(weekends)
    assert rules.office_hours is weekends
    assert rules.levels["normal"].calendar is weekends
    assert rules.levels["critical"].calendar is ALWAYS
    # Friday 19:00 + 4h of weekend office time → Saturday 14:00
    assert rules.triage(mention("hello")).deadline == datetime(2025, 1, 18, 14, tzinfo=UTC)
    with pytest.raises(TypeError):
        rules.set_office_hours({"timezone": "Europe/London"})


def test_fast_fold_agrees_with_text_fold():
    import random
    import string

    from tui.core.rules import normalize_for_match_fast
    from tui.core.text import normalize_for_match

    rng = random.Random(7)
    alphabet = string.printable + "  __"
    samples = ["Delay-Repay?!", "  CAFE_2  ", "", "a\nb\tc", "@northline 17:45 #fail"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
                for _ in range(500)]
    for text in samples:
        assert normalize_for_match_fast(text) == normalize_for_match(text), repr(text)
    assert normalize_for_match_fast("Ça marche 😡") == normalize_for_match("Ça marche 😡")


def keywords_refused(tmp_path, keywords: str) -> str:
    """Load a category whose ``keywords:`` is ``keywords`` (YAML); the RulesError's message,
    checked to name the file and the keywords' line."""
    path = write_rules(tmp_path, f"""\
        - id: access
          urgency: normal
          action: reply
          reply: r
          match:
            keywords: {keywords}
        """)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert f"{path}:" in message, message
    line = int(message.split(f"{path}:")[1].split(":")[0])
    assert "keywords:" in path.read_text().splitlines()[line - 1]
    return message


@pytest.mark.parametrize("words", [
    '[wheelchair "=ramp", lift]', "[wheelchair '=ramp', lift]", '[lift, "ramp" "steps"]',
])
def test_a_missing_comma_between_quoted_words_is_named_with_the_fix(tmp_path, words):
    """YAML reads [wheelchair "=ramp"] as ONE word that no mention contains: the category would
    silently stop matching.  The loader names the file, the line and the fix instead."""
    message = keywords_refused(tmp_path, words)
    assert "comma is probably missing" in message


@pytest.mark.parametrize("word, fix", [
    ('"a *"', "makes 'a' match every word starting with 'a'"),
    ('"my *"', "makes 'my' match every word starting with 'my'"),
    ('"re*fund"', "not at the end of a word"),
    ('"*fund"', "not at the end of a word"),
    ("ab*", "after only 2 letter(s)"),
])
def test_a_wildcard_that_would_match_too_much_or_nothing_is_named_with_the_fix(
        tmp_path, word, fix):
    """README "Word forms": a '*' at the end of a word matches any ending.  "a *" matched every
    word starting with "a" (every mention critical), "re*fund" silently dropped the '*'."""
    message = keywords_refused(tmp_path, f"[lift, {word}, ramp*]")
    assert fix in message, message
    assert "ramp*" not in message  # a '*' at the end of a word, as documented, is fine


@pytest.mark.parametrize("broken, fix", [
    ("  team: social\n", "check the indentation"),  # one key out of line with its mapping
    ("team: [social, \"care\" \"ops\"]\n", "comma is probably missing"),
    ("\tteam: social\n", "indent with spaces, not tabs"),
])
def test_yaml_syntax_errors_name_the_line_and_the_fix(tmp_path, broken, fix):
    path = write_rules(tmp_path, """\
        - id: late
          urgency: normal
          action: reply
          reply: r
          match:
            phrases: [running late]
        """)
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "action: reply" in line)
    lines.insert(at + 1, broken if broken.startswith(("  ", "\t")) else "    " + broken)
    path.write_text("".join(lines))
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert f"{path}:" in str(info.value) and fix in str(info.value)


def test_twice_as_much_is_an_opinion_not_a_double_charge(rules):
    verdict = rules.triage(mention("I paid twice as much as last year for the same journey"))
    assert verdict.category != "card_account"
