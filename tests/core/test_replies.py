"""Canned replies (tui/core/replies.py): rendering, refusals, limits, search."""

from pathlib import Path

import pytest

from tui.core.replies import (
    Limit,
    RepliesError,
    ReplyRefused,
    check_reply,
    load_replies,
    network_of,
)

ROOT = Path(__file__).resolve().parents[2]
VALUES = {"name": "Alice", "handle": "alice", "case_id": "C-1042", "team": "Refunds",
          "status_url": "https://status.northline.example", "agent": "Sam"}
EXPECTED_KEYS = {"safety_ask_dm", "accessibility_ask_dm", "staff_complaint_ask_dm",
                 "disruption_update", "refund_assist", "lost_property_assist",
                 "card_account_offline", "booking_assist", "dm_ack", "praise_thanks",
                 "general_ack", "offline_bridge", "dm_closed", "close_loop", "handoff_ack"}


@pytest.fixture(scope="module")
def replies():
    return load_replies(ROOT / "replies.yaml")


def test_shipped_replies_render_everywhere(replies):
    assert EXPECTED_KEYS <= set(replies.keys)
    for key in replies.keys:
        for channel in ("public", "direct"):
            if replies.template(key, channel) is None:
                continue
            for network in ("mastodon", "bluesky", "demo"):
                text = replies.render(key, channel, network, VALUES)
                assert "{" not in text and text.endswith("^Sam"), (key, channel)


def test_render_fills_placeholders(replies):
    text = replies.render("disruption_update", "public", "mastodon", VALUES)
    assert text.startswith("Sorry for the disruption, Alice.")
    assert "https://status.northline.example" in text


def test_name_falls_back_to_handle(replies):
    values = dict(VALUES, name="")
    assert replies.render("praise_thanks", "public", "mastodon", values).startswith(
        "Thank you so much, alice!")


def test_values_are_not_expanded_twice(replies):
    text = replies.render("praise_thanks", "public", "mastodon", dict(VALUES, name="{agent}"))
    assert text.startswith("Thank you so much, {agent}!")


def test_direct_falls_back_to_public_and_public_only_replies(replies):
    assert replies.template("praise_thanks", "direct") == replies.template("praise_thanks",
                                                                          "public")
    with pytest.raises(ReplyRefused, match="no public variant"):
        replies.render("dm_ack", "public", "mastodon", VALUES)
    assert replies.render("dm_ack", "direct", "mastodon", VALUES).startswith("Hi Alice")


def test_refuses_unfilled_placeholder(replies):
    values = {k: v for k, v in VALUES.items() if k != "case_id"}
    with pytest.raises(ReplyRefused) as info:
        replies.render("handoff_ack", "direct", "mastodon", values)
    assert info.value.reason == "unfilled placeholder {case_id}: fill it in or remove it"


def test_refuses_unknown_key(replies):
    with pytest.raises(ReplyRefused,
                       match="no reply 'refund_asist' — did you mean 'refund_assist'"):
        replies.render("refund_asist", "public", "mastodon", VALUES)


def test_refuses_over_long_reply_per_network(replies):
    long_name = "N" * 250
    text = replies.render("praise_thanks", "public", "mastodon", dict(VALUES, name=long_name))
    assert len(text) > 300
    with pytest.raises(ReplyRefused,
                       match=r"too long for bluesky: \d+ graphemes, the limit is 300"):
        replies.render("praise_thanks", "public", "bluesky", dict(VALUES, name=long_name))


def test_bluesky_counts_graphemes_not_code_points():
    family = "👨‍👩‍👧‍👦"  # 7 code points, one grapheme
    text = family * 300
    assert len(text) == 2100
    assert check_reply(text, channel="public", network="bluesky") == []
    assert check_reply(text + "!", channel="public", network="bluesky") == [
        "too long for bluesky: 301 graphemes, the limit is 300 — shorten it by 1"]
    # Mastodon counts characters
    assert check_reply("x" * 501, channel="public", network="mastodon") == [
        "too long for mastodon: 501 characters, the limit is 500 — shorten it by 1"]
    assert check_reply("x" * 500, channel="public", network="unknown-network") == []
    assert check_reply("x" * 501, channel="public", network="unknown-network") != []


def test_refuses_personal_data_in_public_only():
    text = "Hi Alice, call us back on 07700 900123"
    assert check_reply(text, channel="public", network="mastodon") == [
        "personal data in a public reply (phone number): remove it or send it by direct message"]
    assert check_reply(text, channel="direct", network="mastodon") == []


def test_refuses_unfilled_placeholder_in_edited_text():
    assert check_reply("Hi {name}, see {status_url}", channel="direct", network="demo") == [
        "unfilled placeholder {name}, {status_url}: fill it in or remove it"]
    assert check_reply("   ", channel="direct", network="demo") == ["the reply is empty"]


def test_limits_from_the_file_apply(tmp_path):
    path = tmp_path / "replies.yaml"
    path.write_text("limits:\n  mastodon: 20\n  bluesky: {graphemes: 10}\n"
                    "replies:\n  hi:\n    public: 'Hello {name}'\n")
    replies = load_replies(path)
    assert replies.limits["mastodon"] == Limit(20)
    assert replies.limits["bluesky"] == Limit(10, "graphemes")
    with pytest.raises(ReplyRefused, match="too long for mastodon: 21 characters"):
        replies.render("hi", "public", "mastodon", {"name": "N" * 15})
    assert replies.check("x" * 11, channel="direct", network="bluesky") != []


def test_search_is_fuzzy(replies):
    assert replies.search("refnd")[0][0] == "refund_assist"
    assert replies.search("lost bag")[0][0] == "lost_property_assist"
    assert replies.search("wheelchair")[0][0] == "accessibility_ask_dm"
    assert replies.search("status page")[0][0] == "disruption_update"
    results = replies.search("thank", limit=3)
    assert len(results) == 3 and results[0] == ("praise_thanks", 100.0)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)
    assert [k for k, _ in replies.search("", limit=2)] == replies.keys[:2]


def test_network_of():
    assert network_of("mastodon:https://social.example") == "mastodon"
    assert network_of("bluesky:northline.bsky.social") == "bluesky"
    assert network_of("demo") == "demo"
    assert network_of("feed:https://x.example/rss") == "feed"
    assert network_of("replay:/tmp/x.jsonl") == "replay"


def test_load_errors_name_file_and_line(tmp_path):
    path = tmp_path / "replies.yaml"
    path.write_text("replies:\n"
                    "  a:\n"
                    "    public: 'Hi {nmae}'\n"
                    "  b:\n"
                    "    description: nothing to say\n"
                    "  c:\n"
                    "    publik: 'typo'\n"
                    "    direct: 'ok'\n"
                    "  d:\n"
                    "    public: 'mail me at jo@example.com'\n")
    with pytest.raises(RepliesError) as info:
        load_replies(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:3: unknown placeholder {{nmae}} in the public variant of reply 'a' — did you "
        "mean 'name'? Use {name}, {handle}, {case_id}, {team}, {status_url}, {agent}",
        f"{path}:4: reply 'b' has neither 'public:' nor 'direct:' text: add at least one",
        f"{path}:7: unknown key 'publik' in reply 'c' — did you mean 'public'? "
        "(allowed: description, public, direct)",
        f"{path}:10: the public variant of reply 'd' contains personal data (email address), so "
        "it would always be refused: link to a help page instead",
    ]
