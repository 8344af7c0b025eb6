"""Issue 12: the console never hides the most important fact and never says something untrue.

Pilot tests, one or more per numbered item of the issue (the item is named in each test).
"""

from __future__ import annotations

import pytest
from app_fixtures import make_app, make_desk, notifications, screen_text, show
from textual.widgets import Input

from tui.console.screens import HandoffScreen

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
