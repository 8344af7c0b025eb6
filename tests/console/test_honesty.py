"""Issue 12: the console never hides the most important fact and never says something untrue.

Pilot tests, one or more per numbered item of the issue (the item is named in each test).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from app_fixtures import make_app, make_desk, notifications, screen_text, show
from textual.widgets import Input, Static

from tui.console.app import DESK_KEYS, MentionDesk
from tui.console.screens import HandoffScreen, InfoScreen
from tui.sources.base import FAILED, LIVE, RETRYING, Source
from widgets.status_bar import StatusBar

SIZE = (80, 24)


@pytest.fixture
def desk():
    return make_desk(None)


# ---- item 11: a hand-off is not an answer; enter on the team list does not hand off --------

async def test_enter_on_the_team_list_does_not_hand_off_with_an_empty_note(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = next(c for c in desk.queue if desk.get(c).needs_reply)
        await show(app, pilot, conv_id)
        await pilot.press("h")
        assert isinstance(app.screen, HandoffScreen)
        assert "has not been answered" in screen_text(app)
        await pilot.press("enter")  # picks the team: focus moves to the note
        await pilot.pause()
        assert isinstance(app.screen, HandoffScreen)
        assert app.screen.focused is app.screen.query_one("#note", Input)
        await pilot.press("enter")  # an empty note: refused in place
        await pilot.pause()
        assert isinstance(app.screen, HandoffScreen)
        assert "write a note" in screen_text(app)
        assert desk.get(conv_id).team is None
        await pilot.press("ctrl+s")  # the other submit key refuses it too
        await pilot.pause()
        assert isinstance(app.screen, HandoffScreen) and desk.get(conv_id).team is None
        await pilot.press(*"CCTV request")
        await pilot.press("enter")
        await pilot.pause()
        conv = desk.get(conv_id)
        assert conv.team is not None and conv.case_id
        assert conv.needs_reply and conv.deadline is not None  # the customer heard nothing
        app.flush_redraws()
        await pilot.pause()
        assert conv_id in desk.queue
        assert any(conv.case_id in n for n in notifications(app))


# ---- item 1: status bar priorities --------------------------------------------------------

class StuckSource(Source):
    """A source stuck in ``state`` with a server message, as a real one is while it retries."""

    def __init__(self, name: str, state: str, detail: str = "") -> None:
        super().__init__()
        self.name = name
        self.status.set(state, detail)

    async def run(self, emit: Any) -> None:
        await asyncio.Event().wait()


def long_failing() -> list[Source]:
    """Fresh sources each time: a runner that ends marks its sources stopped."""
    return [
    StuckSource("mastodon:https://mastodon.northline-rail-customer-care.example", RETRYING,
                "503 Service Unavailable from upstream, retry in 30 s [b]not markup[/b]"),
    StuckSource("bluesky:northline-rail.bsky.social", FAILED, "401 bad app password"),
    StuckSource("demo", LIVE, "streaming"),
    ]


def status_text(app: Any) -> str:
    return app.main.query_one(StatusBar).render().plain  # type: ignore[union-attr]


@pytest.mark.parametrize("width", [80, 100, 120, 200])
async def test_counts_and_critical_unread_always_show_whatever_fails(width):
    desk = make_desk(None)
    app = MentionDesk(desk, long_failing(), blink=False)
    app.animation_level = "none"
    async with app.run_test(size=(width, 24)) as pilot:
        app.critical_unread.update(c for c in desk.queue if desk.get(c).urgency == "critical")
        app.critical_unread.add(desk.queue[0])
        desk.conversations[desk.queue[0]].read_seq = 0
        app.redraw_status()
        await pilot.pause()
        critical = app._critical_unread()
        assert critical >= 1
        counts = desk.counts()
        line = [s.text for s in app.screen._compositor.render_strips()][-2]  # above the footer
        for fact in (f"‼ {critical} critical unread", f"{counts['open']} open",
                     f"{counts['at_risk']} at risk", f"{counts['breached']} breached"):
            assert fact in line, (width, line)
        # nothing was cut at the edge: the bar gave way by priority instead
        assert not line.rstrip().endswith("…"), line
        # source health is still there, compressed: a short name and a state symbol
        if width <= 80:
            assert "masto ⟳" in line or "⟳1" in line, line
            assert "✗" in line
        if width >= 200:
            assert "mastodon:https://mastod" in line and "office open" in line


async def test_source_detail_is_one_key_away_and_in_the_palette():
    desk = make_desk(None)
    app = MentionDesk(desk, long_failing(), blink=False)
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, InfoScreen)
        text = app.screen.query_one("#info-body").query_one(Static).content.plain
        assert "mastodon:https://mastodon.northline-rail-customer-care.example" in text
        assert "[b]not markup[/b]" in text and "401 bad app password" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, InfoScreen)
        assert any(d == "Source health: each source's state and error"
                   for _i, k, _a, _l, d, _s in DESK_KEYS if k == "i")
