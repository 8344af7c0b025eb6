"""Issue 12: the console never hides the most important fact and never says something untrue.

Pilot tests, one or more per numbered item of the issue (the item is named in each test).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import textual.constants
from app_fixtures import make_app, mention, notifications, screen_text, show
from conftest import EPOCH, Clock, new_desk
from textual import events
from textual.widgets import Input, Static, TextArea

from tui.console.alerts import AlertBatches, AlertLine
from tui.console.app import DESK_KEYS, MentionDesk
from tui.console.screens import (
    ChoiceScreen,
    ConfirmScreen,
    HandoffScreen,
    InfoScreen,
    NoteScreen,
    OutboxScreen,
    PickScreen,
    SnoozeScreen,
)
from tui.core.model import Mention
from tui.core.when import format_time_left, local_time
from tui.sources.base import FAILED, LIVE, RETRYING, Source
from widgets.status_bar import StatusBar

SIZE = (80, 24)
SAFETY = "The doors closed on my child at Leeds, this is unsafe!"


def critical_conv(desk: Any, handle: str = "casey_commuter", mid: str = "crit-1") -> str:
    """A critical, unread conversation that needs a reply (the shipped rules: safety)."""
    conv_id = desk.ingest([mention(mid, SAFETY, handle=handle)])[0].conv_id
    assert desk.get(conv_id).urgency == "critical"
    return conv_id


@pytest.fixture
def desk():
    return new_desk(demo=30)


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
    desk = new_desk(demo=30)
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
    desk = new_desk(demo=30)
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


# ---- item 2: contrast of every element on the cursor row, in every colour mode --------------

def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def cursor_row_pairs(app: Any, mode: str) -> list[tuple[str, tuple, tuple]]:
    """(text, fg, bg) of every visible cell run on the cursor row, as the terminal shows it in
    ``mode`` ("truecolor", "16" — the 16 standard ANSI colours — or "no_color")."""
    from rich.color import ColorSystem
    from rich.segment import Segment
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME

    queue = app.queue_view
    index = queue.queue.index(queue.selected)
    y = index - round(queue.scroll_y)
    segments = list(queue.render_line(y))
    background = app.screen.styles.background
    for line_filter in app.get_line_filters():
        segments = line_filter.apply(segments, background)
    base = queue.rich_style
    out = []
    for seg in Segment.simplify(segments):
        if not seg.text.strip():
            continue
        style = seg.style
        fg = (style.color if style and style.color else base.color)
        bg = (style.bgcolor if style and style.bgcolor else base.bgcolor)
        if mode == "16":
            fg, bg = fg.downgrade(ColorSystem.STANDARD), bg.downgrade(ColorSystem.STANDARD)
        fg_rgb = tuple(fg.get_truecolor(DEFAULT_TERMINAL_THEME, foreground=True))
        bg_rgb = tuple(bg.get_truecolor(DEFAULT_TERMINAL_THEME, foreground=False))
        if style and style.reverse:
            fg_rgb, bg_rgb = bg_rgb, fg_rgb
        out.append((seg.text, fg_rgb, bg_rgb))
    return out


THEMES = ("textual-dark", "textual-light", "nord", "gruvbox", "dracula", "solarized-light")


@pytest.mark.parametrize("mode", ["truecolor", "16", "no_color"])
async def test_every_element_of_the_cursor_row_keeps_contrast(mode, monkeypatch):
    if mode == "no_color":
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    # what TEXTUAL_COLOR_SYSTEM (or the terminal: COLORTERM=truecolor, a 16-colour TERM) gives
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM",
                        "standard" if mode == "16" else "truecolor")
    desk = new_desk(demo=30)
    # a critical, unread, needs-reply row with a handle: every marker the row can carry
    target = critical_conv(desk)
    app = make_app(desk)
    async with app.run_test(size=(120, 30)) as pilot:
        assert app.no_color == (mode == "no_color")
        assert (app.console.color_system == "standard") == (mode == "16")
        await show(app, pilot, target)
        for theme in THEMES:  # switching themes (ctrl+p) keeps it
            app.theme = theme
            await pilot.pause()
            pairs = cursor_row_pairs(app, mode)
            texts = "".join(t for t, _, _ in pairs)
            assert "@" + desk.get(target).handle[:10] in texts and "CRIT" in texts
            assert "↩" in texts
            for text, fg, bg in pairs:
                ratio = contrast(fg, bg)
                assert ratio >= 3.0, (theme, mode, text, fg, bg, round(ratio, 2))


async def test_without_colour_markers_are_bold_and_the_cursor_is_reversed(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    desk = new_desk(demo=30)
    target = critical_conv(desk)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, desk.queue[-1])  # the critical row is not the cursor row
        queue = app.queue_view
        y = queue.queue.index(target) - round(queue.scroll_y)
        row = list(queue.render_line(y))
        crit = next(s for s in row if "CRIT" in s.text)
        mark = next(s for s in row if "↩" in s.text)
        assert crit.style.bold and mark.style.bold
        await show(app, pilot, target)
        y = queue.queue.index(target) - round(queue.scroll_y)
        assert all(s.style.reverse for s in queue.render_line(y) if s.text.strip())


async def test_the_chosen_theme_is_remembered(tmp_path):
    desk = new_desk(data_dir=tmp_path / "data", demo=30)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.theme = "nord"
        await pilot.pause()
        await pilot.press("q")
    assert json.loads((tmp_path / "data" / "console-state.json").read_text())["theme"] == "nord"
    again = make_app(new_desk(data_dir=tmp_path / "data"))
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
        await pilot.press("q")


# ---- items 3, 4, 5: the deadline line, countdowns that tick together, wall-clock due times --

LONG_NAME = "Dr. Alexandra Montgomery-Fairweather 🚆 Commuter Advocate & Rail Reform Campaigner"


def verified_with_case(desk: Any) -> str:
    """A verified customer with a long name whose critical conversation was handed off (case),
    tagged and noted — everything the header has to fit at 80x24."""
    m = Mention.from_dict({
        "id": "vip-1", "text": SAFETY, "channel": "public", "source": "demo",
        "author": {"handle": "alexandra_montgomery_fairweather", "name": LONG_NAME,
                   "followers": 48213, "verified": True},
        "created_at": (EPOCH - timedelta(minutes=2)).isoformat(),
        "received_at": (EPOCH - timedelta(minutes=2)).isoformat()})
    conv_id = desk.ingest([m])[0].conv_id
    desk.handoff(conv_id, "safety", "CCTV request, Leeds platform 4")
    desk.tag(conv_id, "vip")
    desk.note(conv_id, "line one of the note\nline two\ncase ref LDS-4471 on line 3")
    return conv_id


def profile_lines(app: Any) -> list[str]:
    return [line for line in screen_text(app).splitlines()]


async def test_the_deadline_line_always_shows_and_the_profile_gives_way():
    desk = new_desk(demo=30)
    conv_id = verified_with_case(desk)
    conv = desk.get(conv_id)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, conv_id)
        text = screen_text(app)
        tz = desk.rules.office_hours.tz
        due = local_time(conv.deadline, tz, desk.clock())
        line = next(ln for ln in text.splitlines() if f"#{conv_id} open" in ln)
        # state, urgency, countdown with its due time, case and team: whole, on one line
        assert f"due 13m ({due})" in line and conv.case_id in line and "team safety" in line
        assert "@alexandra_montgomery_fairweather" in text  # the profile, cut to one line
        assert "tags: vip" in text
        assert "note: line one of the note line two case ref" in text
        # the case is with safety already: the suggestion is to answer, not to hand off again
        assert "answer the customer (case with safety)" in text


async def test_every_countdown_on_screen_ticks_together(desk):
    clock = desk.clock
    conv_id = critical_conv(desk)
    conv = desk.get(conv_id)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, conv_id)
        for seconds in (45, 61, 125):  # just breached ("due"), then 1 and 2 minutes late
            clock.now = conv.deadline + timedelta(seconds=seconds)
            app.tick()  # the one-second tick, nothing else
            await pilot.pause()
            label = format_time_left(desk.time_left(conv, clock.now))
            text = screen_text(app)
            row = next(ln for ln in text.splitlines() if "@casey_commuter" in ln and "CRIT" in ln)
            assert f" {label} " in row, (label, row)
            assert f"LATE {label} (" in text, (label, text)


async def test_due_times_and_snooze_confirmations_read_in_office_time(desk):
    conv_id = next(c for c in desk.queue if desk.get(c).needs_reply)
    conv = desk.get(conv_id)
    tz = desk.rules.office_hours.tz
    app = make_app(desk)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await show(app, pilot, conv_id)
        due = local_time(conv.deadline, tz, desk.clock())
        assert f"({due})" in screen_text(app)
        await pilot.press("s")
        app.screen.query_one("#until", Input).value = "17:30"
        app.screen.query_one("#until", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        said = " ".join(notifications(app))
        assert f"snoozed #{conv_id} until 17:30 (office time)" in said
        assert "+00:00" not in said and "T17:30" not in said


def test_queue_json_gives_the_office_local_due_time(capsys):
    from tui.cli.actions import cmd_queue

    desk = new_desk(demo=10)
    cmd_queue(desk, SimpleNamespace(all=False, limit=0, json=True))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    tz = desk.rules.office_hours.tz
    for row in rows:
        if row["deadline"]:
            deadline = desk.get(row["id"]).deadline
            assert row["due_local"] == deadline.astimezone(tz).isoformat(timespec="minutes")
            assert row["due"] == local_time(deadline, tz, desk.clock())


# ---- item 6: a filter with no match says what it hides -------------------------------------

async def test_a_filter_with_no_match_says_what_it_hides(desk):
    critical_conv(desk)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.critical_unread.add(critical_conv(desk, "second_crit", "crit-2"))
        message = app.apply_filter("category:spam")
        await pilot.pause()
        counts = desk.counts()
        text = screen_text(app)
        unread = app._critical_unread()
        assert unread == 2  # the one there at start (counted on mount) and the new one
        expected = (f"no match for category:spam — {counts['open']} open, "
                    f"{counts['breached']} breached, {unread} critical unread; esc clears")
        assert message == expected
        assert expected[:70] in text  # the queue pane says it (cut at the pane's width)
        assert "Nothing needs an answer" not in text
        # the counts follow the desk while the filter stays on
        desk.ingest([mention("late-1", "where is my refund?", handle="refundy")])
        app.redraw_status()
        await pilot.pause()
        assert f"{counts['open'] + 1} open" in app.queue_view.empty_text
        await pilot.press("escape")
        await pilot.pause()
        assert app.filter_view is None and app.queue_view.empty_text.startswith("Nothing")


# ---- item 16: help collisions, Tab then j/k, the cursor after clearing a filter -------------

async def test_help_columns_never_collide(desk):
    app = make_app(desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        sections = app.help_sections()
        rows = [r for _t, rs in sections for r in rs]
        await pilot.press("question_mark")
        await pilot.pause()
        body = app.screen.query_one("#help-body").query_one(Static).content.plain
        lines = body.splitlines()
        for _key, description, binding_id in rows:
            if binding_id:
                # the id ends the line its description starts on, after a gap (a long
                # description wraps at word boundaries below it)
                first = description.split()[0]
                assert any(line.rstrip().endswith(f"  {binding_id}") and first in line
                           for line in lines), binding_id
                assert description + binding_id not in body
        assert "tab / shift+tab" in body and "Row markers" in body and "ctrl+g" in body


async def test_j_and_k_work_wherever_tab_left_the_focus(desk):
    app = make_app(desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = app.selected
        await pilot.press("tab")
        assert app.focused is not app.queue_view
        await pilot.press("j")
        assert app.selected == desk.queue[1] and app.focused is app.queue_view
        await pilot.press("tab", "tab", "k")
        assert app.selected == first and app.focused is app.queue_view


async def test_clearing_a_filter_puts_the_cursor_back(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        target = desk.queue[5]
        await show(app, pilot, target)
        app.apply_filter("category:spam")  # no match: nothing selected under the filter
        await pilot.pause()
        assert app.selected is None
        await pilot.press("escape")
        await pilot.pause()
        assert app.selected == target
        queue = app.queue_view
        index = queue.queue.index(target)
        assert round(queue.scroll_y) <= index < round(queue.scroll_y) + queue.size.height
        # a conversation picked inside a filter stays picked when it is cleared
        category = desk.get(desk.queue[3]).category
        app.apply_filter(f"category:{category}")
        await pilot.pause()
        picked = app.queue_view.queue[len(app.queue_view.queue) - 1]
        await show(app, pilot, picked)
        await pilot.press("escape")
        await pilot.pause()
        assert app.selected == picked


# ---- item 10: undo acts on the conversation on screen; elsewhere it asks, naming it --------

async def test_undo_acts_on_screen_and_asks_before_reaching_elsewhere(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        noted, other, third = desk.queue[0], desk.queue[1], desk.queue[2]
        desk.note(noted, "called back")  # the agent's note on #noted
        desk.tag(other, "vip")  # then a tag on #other
        await show(app, pilot, noted)
        await pilot.press("u")  # on screen: the note, not the newer tag elsewhere
        await pilot.pause()
        assert desk.get(noted).notes == [] and desk.get(other).tags == ["vip"]
        await show(app, pilot, third)
        await pilot.press("u")  # nothing here: it asks, naming the conversation and the action
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert f"#{other} @{desk.get(other).handle}" in text and "tagged vip" in text
        await pilot.press("n")
        await pilot.pause()
        assert desk.get(other).tags == ["vip"]  # said no: nothing undone
        await pilot.press("u", "y")
        await pilot.pause()
        assert desk.get(other).tags == []
        assert any(f"undid tag on #{other}" in n for n in notifications(app))


# ---- item 7: critical items never go out of sight silently ---------------------------------

async def test_snoozing_or_ignoring_a_critical_item_asks_naming_the_deadline(desk):
    conv_id = critical_conv(desk)
    conv = desk.get(conv_id)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, conv_id)
        due = local_time(conv.deadline, desk.rules.office_hours.tz, desk.clock())
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        left = format_time_left(desk.time_left(conv, desk.clock()))
        assert f"#{conv_id} @casey_commuter is critical, due {left} ({due})" in text
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and conv.status == "open"
        await pilot.press("x")
        await pilot.pause()
        assert f"is critical, due {left}" in screen_text(app)
        await pilot.press("n")
        await pilot.press("s", "y")  # snooze anyway: the snooze dialog opens
        await pilot.pause()
        assert isinstance(app.screen, SnoozeScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert conv.status == "snoozed"


async def test_a_normal_item_snoozes_without_a_question(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        conv_id = next(c for c in desk.queue if desk.get(c).urgency == "normal")
        await show(app, pilot, conv_id)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SnoozeScreen)


def test_a_snoozed_item_keeps_its_pre_breach_warning():
    clock = Clock()
    desk = new_desk(clock=clock)
    conv_id = desk.ingest([mention("s-1", SAFETY, handle="casey", at=clock.now)])[0].conv_id
    conv = desk.get(conv_id)
    desk.snooze(conv_id, clock.now + timedelta(hours=2))
    clock.now = conv.risk_at + timedelta(seconds=1)
    alerts = desk.tick(clock.now)
    assert [a.conv_id for a in alerts] == [conv_id]
    assert "(snoozed)" in alerts[0].message and "min left" in alerts[0].message


async def test_new_criticals_above_the_viewport_are_signalled(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, desk.queue[-1])  # scrolled to the bottom of the queue
        assert round(app.queue_view.scroll_y) > 0
        conv_id = app.ingest([mention("c-9", SAFETY, handle="urgent_one")])[0].conv_id
        app.flush_redraws()
        await pilot.pause()
        assert app.queue_view.queue.index(conv_id) < round(app.queue_view.scroll_y)
        assert "▲ 1 new critical above (n jumps)" in screen_text(app)
        await pilot.press("n")
        app.flush_redraws()
        await pilot.pause()
        assert "critical above" not in screen_text(app)


# ---- item 8: notifications -------------------------------------------------------------------

async def test_notifications_leave_the_status_bar_visible_and_can_be_dismissed(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        for i in range(6):
            app.notify(f"burst {i} " + "x" * 60, timeout=30)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert f"{len(desk.queue)} open" in lines[-2]  # the status bar, above the footer
        assert "burst" not in lines[-2] and "burst" not in lines[-1]
        await pilot.press("d")
        await pilot.pause()
        assert not list(app._notifications)
        assert "burst" not in screen_text(app)


def test_a_grouped_notification_names_each_conversation_once_and_says_late():
    batches = AlertBatches(clock=lambda: 0.0)
    batches.add("at_risk", [AlertLine("#12 @casey (safety, critical): 3 min left", "", "12"),
                            AlertLine("#12 @casey (safety, critical): LATE by 25m", "", "12"),
                            AlertLine("#13 @robin (refund, normal): 9 min left", "", "13")])
    toast = batches.take("at_risk")
    assert toast.message.count("#12") == 1 and "#13" in toast.message
    clock = Clock()
    desk = new_desk(clock=clock)
    conv_id = desk.ingest([mention("l-1", SAFETY, handle="casey", at=clock.now)])[0].conv_id
    clock.now = desk.get(conv_id).deadline + timedelta(minutes=25)
    (alert,) = desk.tick(clock.now)  # first tick after a restart, already late
    assert alert.message.endswith("LATE by 25m") and "0 min left" not in alert.message


async def test_critical_unread_survives_a_restart(tmp_path):
    desk = new_desk(data_dir=tmp_path / "data", demo=10)
    conv_id = desk.ingest([mention("r-1", SAFETY, handle="casey")])[0].conv_id
    desk.flush()
    desk.store.close()
    again = new_desk(data_dir=tmp_path / "data")
    app = make_app(again)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.redraw_status()
        await pilot.pause()
        assert conv_id in app.critical_unread
        assert "‼ 1 critical unread" in screen_text(app)
        await show(app, pilot, conv_id)
        app.open(conv_id)
        app.redraw_status()
        await pilot.pause()
        assert "critical unread" not in screen_text(app)
        await pilot.press("q")


# ---- item 14: wide terminals use the space --------------------------------------------------

def queue_rows(app: Any) -> list[str]:
    queue = app.queue_view
    return [queue.render_line(y).text for y in range(queue.size.height)]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 48), (200, 50)])
async def test_wider_terminals_show_more_of_the_queue(size):
    desk = new_desk(demo=30)
    app = make_app(desk)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        queue = app.queue_view
        rows = [r for r in queue_rows(app) if r.strip()]
        assert queue.size.width >= 78 and len(rows) >= 8
        conv = desk.get(queue.selected)
        row = rows[0]
        if size[0] >= 120:
            assert queue.size.height > 9  # more rows than at 80x24
            assert desk.rules.categories and app.main.labels.category(conv.category)[:8] in row
        if queue.size.width >= 100:
            due = local_time(conv.deadline, desk.rules.office_hours.tz, desk.clock())
            assert due in row
        # the brand's own @handle, first in every public mention, is not row text
        assert all("@northline" not in r for r in rows)
        assert "@" + conv.handle[:10] in row


# ---- item 15: emoji that terminals measure differently ---------------------------------------

TRICKY = ["I ❤️ the new trains ☺️", "👍🏽 thanks a lot 👍🏿", "proud 🏳️‍🌈 rider",
          "family trip 👨‍👩‍👧‍👦 delayed", "seat 1️⃣ broken ✔️"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_emoji_sequences_are_normalised_so_every_row_ends_at_the_edge(size):
    desk = new_desk(demo=5)
    for i, text in enumerate(TRICKY):
        desk.ingest([mention(f"e-{i}", f"@northline my refund {text}",
                             handle=f"emoji❤️{i}👍🏽")])
    app = make_app(desk)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        queue = app.queue_view
        for y in range(queue.size.height):
            strip = queue.render_line(y)
            assert strip.cell_length == queue.size.width
            for bad in ("\ufe0f", "\u200d", "\U0001f3fd", "\U0001f3ff", "\u20e3"):
                assert bad not in strip.text, (y, strip.text)
        text = "\n".join(queue_rows(app))
        assert "I ❤ the new trains ☺" in text or "I ❤ the new" in text
        assert "@emoji❤0👍" in text


# ---- item 9: lost or replaced work ------------------------------------------------------------

async def test_a_canned_reply_asks_before_touching_the_agents_text_and_is_undoable(desk):
    app = make_app(desk)
    async with app.run_test(size=(100, 40)) as pilot:
        conv_id = next(c for c in desk.queue if desk.get(c).needs_reply)
        await show(app, pilot, conv_id)
        await pilot.press("r")
        area = app.screen.query_one("#reply-text", TextArea)
        area.text = "Hi, I checked with the depot: "  # the agent's own words
        area.move_cursor(area.document.end)
        key = next(iter(desk.replies.keys))
        composer = app.screen
        composer.use_canned(key)
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)  # asked: insert, replace or cancel
        assert area.text == "Hi, I checked with the depot: "
        await pilot.press("enter")  # the first choice: insert at the cursor
        await pilot.pause()
        canned = composer._canned_text
        assert area.text == "Hi, I checked with the depot: " + canned
        await pilot.press("ctrl+z")  # undoable
        await pilot.pause()
        assert area.text == "Hi, I checked with the depot: "
        composer.use_canned(key)
        await pilot.pause()
        await pilot.press("tab", "enter")  # replace
        await pilot.pause()
        assert area.text == canned
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert area.text == "Hi, I checked with the depot: "
        composer.use_canned(key)
        await pilot.pause()
        await pilot.press("escape")  # cancel: untouched
        await pilot.pause()
        assert area.text == "Hi, I checked with the depot: "


async def test_a_pasted_multi_line_note_keeps_every_line(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        conv_id = app.selected
        await pilot.press("m")
        assert isinstance(app.screen, NoteScreen)
        pasted = "customer called back\nwants a callback after 17:00\ncase ref LDS-4471"
        app.post_message(events.Paste(pasted))  # as the terminal delivers a paste
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert desk.get(conv_id).notes == [pasted]


# ctrl+g closing every dialog (item 9) is shown, with the palette, the help, the stats page and
# the views too, by tests/console/test_dialog_toasts.py::test_ctrl_g_closes_every_overlay.


# ---- item 13: views, outbox, #42, filters by tag and across states, markers, palette keys ----

async def test_views_of_snoozed_and_resolved_with_unsnooze_and_reopen(desk):
    snoozed, resolved = desk.queue[0], desk.queue[1]
    desk.snooze(snoozed, desk.clock() + timedelta(hours=2))
    desk.resolve(resolved)
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("v")
        assert isinstance(app.screen, PickScreen)
        await pilot.press("down", "enter")  # Snoozed
        await pilot.pause()
        assert list(app.queue_view.queue) == [snoozed] and app.selected == snoozed
        assert "filter: status:snoozed" in screen_text(app)
        await pilot.press("U")  # un-snooze
        await pilot.pause()
        assert desk.get(snoozed).status == "open"
        app.apply_filter("status:resolved")
        await pilot.pause()
        assert app.selected == resolved
        await pilot.press("U")
        await pilot.pause()
        assert desk.get(resolved).status == "open" and resolved in desk.queue
        # undone like any action (it left this view: undo asks, naming it, item 10)
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and f"#{resolved}" in screen_text(app)
        await pilot.press("y")
        await pilot.pause()
        assert desk.get(resolved).status == "resolved"


async def test_jump_to_a_conversation_by_number_in_the_filter_and_the_palette(desk):
    target = desk.queue[-1]
    desk.resolve(desk.queue[2])
    closed = next(c for c in desk.conversations if desk.get(c).status == "resolved")
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.apply_filter(f"#{target}")
        await pilot.pause()
        assert app.selected == target
        app.apply_filter(f"#{closed}")  # not in the queue: its status's view
        await pilot.pause()
        assert app.selected == closed and app.filter_text == "status:resolved"
        from tui.console.palette import DeskCommands
        provider = DeskCommands(app.screen)
        hits = [h async for h in provider.search(f"#{target}")]
        assert hits and str(hits[0].match_display) == f"Go to #{target}"
        hits = [h async for h in provider.search("Reply")]
        assert any(h.help == "key: r" for h in hits)  # the palette shows each action's key


async def test_filter_by_tag_and_across_states(desk):
    a, b = desk.queue[0], desk.queue[1]
    desk.tag(a, "VIP")
    desk.tag(b, "vip")
    desk.snooze(b, desk.clock() + timedelta(hours=1))
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.apply_filter("tag:vip")
        assert list(app.filter_view) == [a]
        app.apply_filter("tag:vip status:any")
        assert set(app.filter_view) == {a, b}
        with pytest.raises(ValueError, match="statuses are"):
            app.apply_filter("status:sleeping")


async def test_the_outbox_view_retries_and_cancels(desk):
    one, two = desk.queue[0], desk.queue[1]
    desk.reply(one, "Hi, sorry about that — here is the refund form.")
    desk.reply(two, "Hi, we have passed this to the depot.")
    failed = desk.outbox.for_conversation(one)[0]["id"]
    desk.outbox.start(failed)
    desk.outbox.fail(failed, "422 Unprocessable: status too long [b]x[/b]")
    app = make_app(desk)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("b")
        assert isinstance(app.screen, OutboxScreen)
        text = screen_text(app)
        assert "failed" in text and "422 Unprocessable: status too long [b]x[/b]" in text
        assert "pending" in text
        listing = app.screen.query_one("#outbox-list")
        ids = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        listing.highlighted = ids.index(failed)
        await pilot.press("r")
        assert desk.outbox.items[failed]["status"] == "pending"
        pending = desk.outbox.for_conversation(two)[0]["id"]
        listing.highlighted = ids.index(pending)
        await pilot.press("c")
        assert desk.outbox.items[pending]["status"] == "cancelled"
        await pilot.press("escape")


async def test_a_saved_draft_is_marked_on_its_row(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        conv_id = desk.queue[1]
        await show(app, pilot, desk.queue[0])
        y = app.queue_view.queue.index(conv_id) - round(app.queue_view.scroll_y)
        assert "✎" not in app.queue_view.render_line(y).text
        desk.save_draft(conv_id, "half a reply")
        app.flush_redraws()
        assert "✎" in app.queue_view.render_line(y).text
