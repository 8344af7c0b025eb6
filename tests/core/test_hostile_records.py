"""Hostile records: cleaned or refused on arrival by a documented rule (README, interchange
table), never stored wrongly, never overwriting another customer's words, never making a reply
unsendable, never an OverflowError."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Clock, new_desk

from tests.deskkit import mention
from tui.cli import main
from tui.core.desk import ActionRefused
from tui.core.model import Mention
from tui.core.store import Store
from tui.core.when import parse_until

BASE = {"id": "h1", "text": "@northline my train was cancelled, refund please",
        "author": "amy", "created_at": "2025-03-03T07:50:00Z"}


def record(**changes) -> dict:
    return {**BASE, **changes}


def test_a_lone_surrogate_is_cleaned_on_arrival_and_every_command_prints(
        tmp_path: Path, capsys) -> None:
    history = tmp_path / "h.jsonl"
    # Valid JSON: a lone high surrogate in the text and in the display name.
    history.write_text('{"id": "s1", "text": "refund \\ud83d please", "created_at": '
                       '"2025-03-03T07:50:00Z", "author": {"handle": "sam", '
                       '"name": "Sam \\udc00"}}\n')
    data = tmp_path / "d"
    assert main(["ingest", "--source", f"replay:{history}", "--speed", "max", "--once",
                 "--no-deliver", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    for args in (["queue"], ["queue", "--json"], ["show", "1"], ["export", "--since", "5000d"],
                 ["export", "--since", "5000d", "--format", "csv"]):
        code = main([*args, "--data-dir", str(data)])
        out, err = capsys.readouterr()
        assert code == 0, (args, err)
        assert "\ufffd" in out or "refund" in out, args
        out.encode("utf-8")  # printable: no surrogate left


@pytest.mark.parametrize(("changes", "verified"), [
    ({"author": {"handle": "amy", "verified": "false"}}, False),
    ({"author": {"handle": "amy", "verified": "FALSE"}}, False),
    ({"author": {"handle": "amy", "verified": "yes"}}, True),
    ({"author": {"handle": "amy", "verified": 0}}, False),
    ({"author": {"handle": "amy", "verified": True}}, True),
])
def test_verified_words_are_converted_by_the_documented_rule(changes, verified) -> None:
    assert Mention.from_dict(record(**changes), source="x").author.verified is verified


@pytest.mark.parametrize(("changes", "field"), [
    ({"text": {"body": "refund"}}, "text"),
    ({"text": ["refund"]}, "text"),
    ({"author": {"handle": {"id": 1}}}, "author handle"),
    ({"author": {"handle": "amy", "verified": "maybe"}}, "author verified"),
    ({"id": {"x": 1}}, "id"),
    ({"in_reply_to": ["a"]}, "in_reply_to"),
    ({"deleted": "perhaps"}, "deleted"),
])
def test_wrong_types_are_refused_naming_the_field(changes, field) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be"):
        Mention.from_dict(record(**changes), source="x")


def test_a_name_of_the_wrong_type_is_dropped_never_stored_as_a_repr() -> None:
    m = Mention.from_dict(record(author={"handle": "amy", "name": {"first": "Amy"}}), source="x")
    assert m.author.name == "" and "{" not in m.author.name
    assert Mention.from_dict(record(id=42), source="x").id == "42"


def test_a_reused_id_from_another_author_never_overwrites_the_first_customer(
        tmp_path: Path) -> None:
    store = Store(tmp_path)
    desk = new_desk(store, Clock())
    first = desk.ingest([mention("@northline my bag is lost", "amy", mid="dup")])
    second = desk.ingest([mention("@northline ignore the above, all fine", "mallory",
                                  mid="dup")])
    assert second and second[0].new and second[0].mention.author.handle == "mallory"
    texts = {m.author.handle: m.text for m in desk.mentions.values()}
    assert texts == {"amy": "@northline my bag is lost",
                     "mallory": "@northline ignore the above, all fine"}
    assert first[0].conv_id != second[0].conv_id
    # A real edit by the same author still edits.
    desk.ingest([mention("@northline my bag is lost (blue)", "amy", mid="dup")])
    assert desk.mentions[first[0].mention.key].text == "@northline my bag is lost (blue)"
    store.close()
    again = new_desk(Store(tmp_path), Clock())
    assert len(again.mentions) == 2
    again.store.close()


def test_a_name_with_a_placeholder_never_makes_the_suggestion_unsendable() -> None:
    desk = new_desk(None, Clock())
    conv = desk.ingest([mention("@northline my train was cancelled, I want a refund",
                                "amy", name="{refund_url} {case_id}")])[0].conv_id
    s = desk.suggestion(conv)
    assert s.text is not None and "{refund_url}" in s.text and not s.refused
    events = desk.accept(conv)
    assert events and events[0].details["text"] == s.text  # sent as shown, not re-expanded
    # An agent's own unfilled placeholder is still refused.
    conv2 = desk.ingest([mention("@northline where is my bag", "bob")])[0].conv_id
    with pytest.raises(ActionRefused, match="unfilled placeholder"):
        desk.reply(conv2, "Hi, see {refund_url}")


@pytest.mark.parametrize("text", ["9999999d", "99999999999999d", "400d"])
def test_an_absurd_snooze_is_refused_with_a_message(text: str, tmp_path: Path, capsys) -> None:
    clock = Clock()
    with pytest.raises(ValueError, match="too long: at most 366 days"):
        parse_until(text, clock())
    desk = new_desk(Store(tmp_path / "d"), clock)
    conv = desk.ingest([mention("@northline my bag is lost", "amy")])[0].conv_id
    with pytest.raises(ActionRefused, match="at most 366 days"):
        desk.snooze(conv, clock().replace(year=9999))
    desk.store.close()
    code = main(["snooze", conv, text, "--data-dir", str(tmp_path / "d")])
    _out, err = capsys.readouterr()
    assert code == 2 and "too long" in err and "Traceback" not in err


async def test_an_absurd_snooze_in_the_console_is_refused_not_a_crash() -> None:
    from app_fixtures import make_app, screen_text
    from textual.widgets import Input

    from tui.console.screens import SnoozeScreen

    desk = new_desk(None, Clock(), demo=5)
    app = make_app(desk)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("s")
        assert isinstance(app.screen, SnoozeScreen)
        app.screen.query_one("#until", Input).value = "9999999d"
        app.screen.query_one("#until", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "too long: at most 366 days" in screen_text(app)
        assert desk.get(conv_id).status == "open"
