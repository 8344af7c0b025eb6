"""Stranger text through the whole console: every pane, modal and notification.

Markup-looking text, escape sequences, bidi overrides, NUL, a 10,000-character line and wide
emoji must render literally, never trigger an action, never break the layout, never crash.
"""

from __future__ import annotations

import re

import pytest
from app_fixtures import (
    click_actions,
    make_app,
    mention,
    notifications,
    screen_text,
    show,
)
from textual.widgets import Input

from tui.console.screens import (
    ComposerScreen,
    ConfirmScreen,
    HandoffScreen,
    NoteScreen,
    OfflineScreen,
    PromptScreen,
    ResolveScreen,
    SnoozeScreen,
)
from tui.sources.demo import DemoSource

SIZE = (80, 24)

# (raw text as it arrives, what must be on screen)
HOSTILE = [
    ("[bold]not bold[/bold]", "[bold]not bold[/bold]"),
    ("[@click=app.quit]click me[/]", "[@click=app.quit]click me[/]"),
    ("[/foo] closes nothing", "[/foo] closes nothing"),
    ("\x1b[31mred\x1b[0m ansi", "red ansi"),
    ("\x1b]8;;https://evil.example\x07osc link\x1b]8;;\x07", "osc link"),
    ("\x1b]0;pwned\x07title", "title"),
    ("\u202eevil bidi\u202c", "evil bidi"),
    ("nul\x00byte", "nulbyte"),
    ("👨‍👩‍👧‍👦🏳️‍🌈 wide 漢字", "👨‍👩‍👧‍👦🏳️‍🌈 wide 漢字"),
    ("[link=https://evil.example]x[/link] $accent {name}",
     "[link=https://evil.example]x[/link] $accent {name}"),
]
HANDLE = "[b]mal[/b]"
NAME = "[@click=app.quit]Mallory[/]"
LONG = "A" * 10_000


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def hostile_desk(make_desk):
    desk = make_desk(demo=6)
    batch = [mention(f"h{i}", raw, handle=f"{HANDLE}{i}", name=NAME)
             for i, (raw, _) in enumerate(HOSTILE)]
    batch.append(mention("long", LONG, handle="longline", name="\x1b[2J" + NAME))
    results = desk.ingest(batch)
    desk.hostile = {r.mention.id: r.conv_id for r in results}
    return desk


def assert_sane(app, pilot_size=SIZE):
    """Still running, no clickable action from stranger text, every line exactly the width."""
    assert app.is_running and app.return_code is None
    assert click_actions(app) == []
    for strip in app.screen._compositor.render_strips():
        assert strip.cell_length == pilot_size[0]


async def test_hostile_text_is_literal_in_every_pane(hostile_desk):
    desk = hostile_desk
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for i, (_raw, shown) in enumerate(HOSTILE):
            conv_id = desk.hostile[f"h{i}"]
            await show(app, pilot, conv_id)
            text = screen_text(app)
            assert squash(shown) in squash(text), shown  # history
            assert f"@{HANDLE}{i}" in text  # queue row and profile
            assert NAME in text  # profile
            assert_sane(app)
        await show(app, pilot, desk.hostile["long"])
        assert "A" * 70 in screen_text(app)
        assert_sane(app)
        # Clicking on the literal "[@click=app.quit]" does nothing.
        await show(app, pilot, desk.hostile["h1"])
        for y, strip in enumerate(app.screen._compositor.render_strips()):
            x = strip.text.find("[@click")
            if x >= 0:
                await pilot.click(offset=(x + 2, y))
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_hostile_text_in_the_wide_layout(hostile_desk):
    desk = hostile_desk
    app = make_app(desk)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        for key in ("h1", "h2", "h8", "long"):
            await show(app, pilot, desk.hostile[key])
            assert_sane(app, (160, 48))
        assert NAME in screen_text(app)


MODALS = [("r", ComposerScreen), ("o", OfflineScreen), ("h", HandoffScreen),
          ("e", ResolveScreen), ("s", SnoozeScreen), ("t", PromptScreen), ("m", NoteScreen),
          ("x", ConfirmScreen)]


@pytest.mark.parametrize("conv_key", ["h1", "long"])
async def test_hostile_text_in_every_modal(hostile_desk, conv_key):
    desk = hostile_desk
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show(app, pilot, desk.hostile[conv_key])
        # The 10,000-character line goes through the modals that quote the message.
        modals = MODALS if conv_key == "h1" else MODALS[:2] + MODALS[3:4]
        for key, screen in modals:
            await pilot.press(key)
            assert isinstance(app.screen, screen), key
            text = screen_text(app)
            if key not in ("t", "m"):
                assert ("@[b]mal[/b]1" in text) if conv_key == "h1" else ("@longline" in text)
            if key == "r" and conv_key == "h1":
                assert "[@click=app.quit]click me[/]" in text  # the customer's message
            assert_sane(app)
            await pilot.press("escape")
            assert not isinstance(app.screen, screen)
        assert app.is_running and app.return_code is None


async def test_hostile_text_in_notifications_status_and_filter(hostile_desk):
    desk = hostile_desk
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        # A tag and a note typed as markup come back in notifications and the profile.
        await show(app, pilot, desk.hostile["h2"])
        await pilot.press("t")
        app.screen.query_one(Input).value = "[/foo]"
        await pilot.press("enter")
        await pilot.pause()
        assert desk.get(desk.hostile["h2"]).tags == ["[/foo]"]
        assert any("[/foo]" in n for n in notifications(app))
        assert "[/foo]" in screen_text(app)
        assert_sane(app)
        # A critical mention full of markup raises an alert toast.
        app.ingest([mention("fire", "[@click=app.quit]smoke[/] in coach C, people are scared, "
                                    "is anyone coming??", handle="[red]pyro[/]")])
        await pilot.pause()
        assert app.rings == 1
        assert any("[@click=app.quit]smoke[/]" in n and "@[red]pyro[/]" in n
                   for n in notifications(app))
        assert "[red]pyro[/]" in screen_text(app)
        assert_sane(app)
        # A server error in a source's status.
        source = DemoSource()
        source.status.set("retrying", "502 [/bold][@click=app.quit]gateway\x1b[31m\u202e")
        app.sources.append(source)
        app.redraw_status()
        app.clear_notifications()
        await pilot.pause()
        # The status bar shows a short name and a symbol; the server's words are on `i`.
        app.action_sources()
        await pilot.pause()
        assert "502 [/bold][@click=app.quit]gateway" in screen_text(app)
        assert_sane(app)
        app.pop_screen()
        await pilot.pause()
        app.sources.clear()
        # Filter text is shown in the status bar literally.
        await pilot.press("slash")
        app.screen.query_one(Input).value = "[/foo]"
        await pilot.press("enter")
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        assert "filter: [/foo]" in screen_text(app)
        assert_sane(app)
        # An undo refusal and a reply refusal quoting hostile input.
        await pilot.press("escape")
        app.queue_view.select(desk.hostile["h1"])
        await pilot.press("r")
        from textual.widgets import TextArea
        app.screen.query_one(TextArea).text = "[@click=app.quit]{oops}[/]"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "unfilled placeholder {oops}" in screen_text(app)
        assert_sane(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_hostile_handles_in_a_coalesced_alert(hostile_desk):
    desk = hostile_desk
    app = make_app(desk)
    smoke = "smoke in coach C, people are scared, is anyone coming??"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        app.ingest([mention("fire-0", smoke, handle="calm")])
        app.ingest([mention(f"fire-{i}", f"[@click=app.quit]{smoke}", handle=f"[red]pyro{i}[/]")
                    for i in (1, 2)])
        app.flush_alerts()
        await pilot.pause()
        assert app.rings == 2
        summary = [n for n in notifications(app) if "2 new critical" in n]
        assert len(summary) == 1
        assert "@[red]pyro1[/]" in summary[0] and "@[red]pyro2[/]" in summary[0]
        assert "\x1b" not in summary[0]
        app.redraw_status()
        app.clear_notifications()
        await pilot.pause()
        assert "‼ 3 critical unread" in screen_text(app)
        assert_sane(app)
