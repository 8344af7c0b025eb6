"""QueueView driven by a real Desk (real rules.yaml / replies.yaml) in a tiny Textual app."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import EPOCH
from deskkit import mention
from rich.cells import cell_len
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Static

from widgets.queue_view import EMPTY_TEXT, QueueView, format_time_left

SIZE = (80, 24)
REFUND = "I want a refund for my cancelled train"
SAFETY = "there is smoke on the platform at Leeds station"
HOSTILE = [
    "[bold]hi[/] [@click=app.quit]press[/] and [/foo]",
    "[@click=app.quit]quit[/]",
    "🚆🚆🚆 東京駅の電車が遅れています 🚆 [link=https://evil.example]x[/link]",
    "\u202eevil\u202c bidi \x1b[31mred\x1b[0m \x07 bell",
    "[/foo]" + "x" * 10_000,
    "👨‍👩‍👧‍👦" * 3000,
]


class QueueApp(App):
    """The view over a desk, wired the way the console wires it: desk changes → changed()."""

    def __init__(self, desk, queue=None) -> None:
        super().__init__()
        self.desk = desk
        self.queue = queue if queue is not None else desk.queue
        self.selected: list[str] = []
        self.opened: list[str] = []
        self.got_selected = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield QueueView(self.desk, self.queue, id="queue")
        yield Static("detail", id="detail")

    def on_mount(self) -> None:
        self.desk.subscribe(self.query_one(QueueView).changed)
        self.query_one(QueueView).focus()

    def on_queue_view_selected(self, event: QueueView.Selected) -> None:
        self.selected.append(event.conv_id)
        self.got_selected.set()

    def on_queue_view_opened(self, event: QueueView.Opened) -> None:
        self.opened.append(event.conv_id)


def row_text(view: QueueView, y: int) -> str:
    return "".join(seg.text for seg in view.render_line(y))


def cells_from(text: str, offset: int) -> str:
    """``text`` from terminal cell ``offset`` on."""
    # Measured on prefixes, as Rich measures: a ZWJ emoji sequence is one 2-cell grapheme.
    for i in range(len(text) + 1):
        if cell_len(text[:i]) >= offset:
            return text[i:]
    return ""


def screen_row(view: QueueView, conv_id: str) -> int:
    return view.queue.index(conv_id) - round(view.scroll_y)


def refunds(desk, n: int, *, prefix: str = "r") -> list[str]:
    """``n`` normal-urgency conversations, one per customer, oldest first (so in queue order)."""
    out = desk.ingest(mention(REFUND, f"{prefix}{i:05d}", at=EPOCH - timedelta(minutes=n - i))
                      for i in range(n))
    return [r.conv_id for r in out]


def test_time_left_labels() -> None:
    assert format_time_left(None) == ""
    assert format_time_left(timedelta(minutes=14, seconds=30)) == "14m"
    assert format_time_left(timedelta(hours=1, minutes=5)) == "1h05"
    assert format_time_left(timedelta(minutes=-3)) == "-3m"
    assert format_time_left(timedelta(seconds=-20)) == "due"
    assert format_time_left(timedelta(days=2, hours=3)) == "2d03"
    assert format_time_left(timedelta(days=12, hours=3)) == "12d"


async def test_navigation_keys_and_enter(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 60)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        assert list(desk.queue)[:3] == ids[:3]
        assert view.selected == ids[0]
        await pilot.press("j")
        assert view.selected == ids[1]
        await pilot.press("down", "down")
        assert view.selected == ids[3]
        await pilot.press("k")
        assert view.selected == ids[2]
        await pilot.press("up", "up", "up")  # stops at the top
        assert view.selected == ids[0]
        await pilot.press("pagedown")
        page = view.scrollable_content_region.height - 1
        assert view.selected == ids[page]
        await pilot.press("pageup")
        assert view.selected == ids[0]
        await pilot.press("end")
        assert view.selected == ids[-1]
        assert 0 <= screen_row(view, ids[-1]) < view.scrollable_content_region.height
        assert "›" in row_text(view, screen_row(view, ids[-1]))
        await pilot.press("home")
        assert view.selected == ids[0] and view.scroll_y == 0
        await pilot.press("j", "enter")
        await pilot.pause()
        assert app.opened == [ids[1]]
        assert app.selected[-2:] == [ids[0], ids[1]]


async def test_bindings_have_ids_for_the_keymap(make_desk) -> None:
    ids = {b.id for b in QueueView.BINDINGS}
    assert {"queue.down", "queue.up", "queue.page_down", "queue.page_up", "queue.first",
            "queue.last", "queue.open"} <= ids
    desk = make_desk()
    ids_ = refunds(desk, 5)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        app.set_keymap({"queue.down": "n"})
        await pilot.press("n")
        assert app.query_one(QueueView).selected == ids_[1]


async def test_cursor_stays_on_its_conversation_when_urgent_mentions_arrive_above(make_desk):
    desk = make_desk()
    ids = refunds(desk, 40)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        await pilot.press(*["j"] * 5)
        assert view.selected == ids[5]
        row = screen_row(view, ids[5])
        before = row_text(view, row)
        desk.ingest(mention(SAFETY, f"urgent{i}") for i in range(3))
        assert desk.queue.index(ids[5]) == 8  # the desk moved it down three places...
        view.apply_changes()
        assert view.selected == ids[5]  # ...the cursor stayed with it...
        assert screen_row(view, ids[5]) == row  # ...on the same screen row
        assert round(view.scroll_y) == 3
        assert row_text(view, row) == before
        # Keys continue from where the agent is, not from an old row number.
        await pilot.press("j")
        assert view.selected == ids[6]
        await pilot.press("home")
        assert desk.conversations[view.selected].urgency == "critical"


async def test_changes_are_applied_on_the_tick(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 10)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        await pilot.press("j", "j")
        app.selected.clear()
        app.got_selected.clear()
        # The agent resolves the conversation under the cursor: no call to the view, only the
        # desk's notification; the view's own tick moves the cursor to the row that took its
        # place and says so.
        desk.resolve(ids[2])
        await asyncio.wait_for(app.got_selected.wait(), timeout=10)
        assert view.selected == ids[3]
        assert app.selected == [ids[3]]
        assert screen_row(view, ids[3]) == 2


async def test_queue_shrinking_under_the_cursor(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 30)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        await pilot.press("end")
        assert view.selected == ids[-1]
        for cid in ids[-5:]:
            desk.resolve(cid)
        view.apply_changes()
        assert view.selected == ids[-6]
        assert 0 <= screen_row(view, ids[-6]) < view.scrollable_content_region.height
        for cid in ids[:-5]:
            desk.resolve(cid)
        view.apply_changes()
        assert view.selected is None
        assert EMPTY_TEXT in row_text(view, 0)
        assert row_text(view, 1).strip() == ""
        await pilot.press("j", "k", "enter", "end", "pagedown")  # nothing to move to: no crash
        assert app.opened == []
        # A new mention fills the empty queue and gets the cursor.
        new = desk.ingest([mention(SAFETY, "newcomer")])[0].conv_id
        view.apply_changes()
        await pilot.pause()
        assert view.selected == new and app.selected[-1] == new
        assert "@newcomer" in row_text(view, 0)


async def test_empty_queue_shows_a_friendly_row(make_desk) -> None:
    app = QueueApp(make_desk())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(QueueView)
        assert view.selected is None
        assert EMPTY_TEXT in row_text(view, 0)
        assert app.selected == []


async def test_set_queue_filtering_keeps_the_selection(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 10)
    lost = [r.conv_id for r in desk.ingest(
        mention("I left my bag on the 8:10", f"bag{i}", at=EPOCH - timedelta(hours=1))
        for i in range(4))]
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        view.select(lost[2])
        assert view.selected == lost[2]
        only_lost = desk.view(lambda c: c.category == "lost_property")
        view.set_queue(only_lost)
        await pilot.pause()
        assert view.selected == lost[2]
        assert len(only_lost) == 4
        assert "@bag" in row_text(view, screen_row(view, lost[2]))
        assert all("refund" not in row_text(view, y) for y in range(4))
        await pilot.press("k")
        assert view.selected == lost[1]
        view.set_queue(desk.queue)
        assert view.selected == lost[1]
        # A filter without the selection moves the cursor to its first row, and says so.
        only_refunds = desk.view(lambda c: c.category == "refund")
        view.set_queue(only_refunds)
        await pilot.pause()
        assert view.selected == only_refunds[0] and app.selected[-1] == only_refunds[0]
        assert view.selected in ids
        desk.drop_view(only_lost)
        desk.drop_view(only_refunds)


async def test_deadline_states_follow_the_clock(clock, make_desk) -> None:
    desk = make_desk()
    # Critical: a 15 minute target on the 24x7 clock; at risk once 75 % is used.
    cid = desk.ingest([mention(SAFETY, "smoke")])[0].conv_id
    refunds(desk, 3)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(QueueView)
        assert desk.queue[0] == cid
        # Off the cursor row: on it every cell takes the cursor's colours (contrast, issue 12
        # item 2) and the state shows as bold / reverse instead.
        view.select(desk.queue[1])

        def time_cell() -> tuple[str, object]:
            """The countdown on the row and the style it is drawn in."""
            strip = view.render_line(screen_row(view, cid))
            text = "".join(seg.text for seg in strip)
            label = text[5:11].strip()  # cursor, urgency, gap, then the countdown column
            at = 0
            for seg in strip:
                if at <= 6 < at + len(seg.text):
                    return label, seg.style
                at += len(seg.text)
            raise AssertionError(text)

        def colour(name: str):
            return view.get_component_rich_style(name, partial=True).color

        label, style = time_cell()
        alarms = {colour("queue-view--at-risk"), colour("queue-view--breached")}
        assert label == "15m" and style.color not in alarms
        clock.advance(minutes=11)
        view.refresh_countdowns()
        label, style = time_cell()
        assert label == "4m" and style.color not in alarms
        clock.advance(minutes=1)  # 12 of 15 minutes used: at risk
        view.refresh_countdowns()
        label, style = time_cell()
        assert label == "3m" and style.color == colour("queue-view--at-risk")
        assert colour("queue-view--at-risk") != colour("queue-view--breached")
        clock.advance(minutes=6)  # past the deadline
        view.refresh_countdowns()
        label, style = time_cell()
        assert label == "-3m" and style.color == colour("queue-view--breached")
        # Answering clears the deadline: no countdown, no alarm colour.
        desk.reply(cid, "Please get away from the smoke and call 999 if anyone is in danger.")
        view.apply_changes()
        label, style = time_cell()
        assert label == "" and style.color not in alarms


async def test_hostile_text_renders_literally_and_keeps_columns(make_desk) -> None:
    desk = make_desk()
    handles = ["[bold]x", "[@click=app.quit]", "[/foo]", "東京🚆駅", "👨‍👩‍👧‍👦emoji", "a" * 300]
    desk.ingest(mention(text, handle, name=text[:200], at=EPOCH - timedelta(minutes=i))
                for i, (text, handle) in enumerate(zip(HOSTILE, handles, strict=True)))
    refunds(desk, 3)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(QueueView)
        width = view.size.width
        rows = [row_text(view, y) for y in range(len(desk.queue))]
        text = "\n".join(rows)
        for literal in ("[bold]", "[@click=app.quit]", "[/foo]", "東京🚆駅"):
            assert literal in text
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
        handle_at = None
        for y in range(len(desk.queue)):
            strip = view.render_line(y)
            assert strip.cell_length == width
            assert cell_len(rows[y]) == width
            for seg in strip:
                assert not (seg.style and seg.style.meta), "no click actions from stranger text"
                assert not (seg.style and seg.style.link)
            # Every column starts at the same cell on every row, whatever the handle holds:
            # the handle column starts at the first "@", the category 17 cells further on.
            text = rows[y]
            at = cell_len(text[: text.index("@")])
            handle_at = at if handle_at is None else handle_at
            assert at == handle_at
            conv = desk.conversations[desk.queue[y]]
            label = view.labels.category(conv.category)
            assert cells_from(text, at + 17).startswith(label), (text, label)
        # Walk over every row, open them, click them: the app keeps running.
        for _ in desk.queue:
            await pilot.press("j", "enter")
        for y in range(len(desk.queue)):
            await pilot.click(QueueView, offset=(20, y))
        await pilot.pause()
        assert app.is_running
        assert len(app.opened) == len(desk.queue)
        assert "[/foo]" in app.export_screenshot().replace("&#91;", "[").replace("&#93;", "]")


async def test_mouse_click_selects_and_double_click_opens(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 10)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        await pilot.click(QueueView, offset=(30, 4))
        assert view.selected == ids[4]
        await pilot.double_click(QueueView, offset=(30, 6))
        await pilot.pause()
        assert view.selected == ids[6] and app.opened == [ids[6]]


async def test_ten_thousand_rows_without_ten_thousand_widgets(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 10_000)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(QueueView)
        assert view.virtual_size.height == 10_000
        assert len(list(app.query("*"))) < 20
        assert f"@r{0:05d}" in row_text(view, 0)
        await pilot.press("end")
        assert view.selected == ids[-1]
        assert f"@r{9999:05d}" in row_text(view, screen_row(view, ids[-1]))
        await pilot.press("pageup", "pageup", "k")
        assert view.selected == ids[-1 - 2 * (view.scrollable_content_region.height - 1) - 1]
        # Rows come from a bounded cache, not one strip per conversation.
        assert len(view._strips) <= 1024
        # A hundred new mentions above the cursor: it stays put.
        row = screen_row(view, view.selected)
        chosen = view.selected
        desk.ingest(mention(SAFETY, f"burst{i}") for i in range(100))
        view.apply_changes()
        assert view.selected == chosen and screen_row(view, chosen) == row
        # The scroll range follows the queue lazily; the last row is still reachable at once.
        desk.ingest(mention(REFUND, f"late{i}", at=EPOCH + timedelta(minutes=1))
                    for i in range(5))
        await pilot.press("end")
        assert view.selected == desk.queue[len(desk.queue) - 1]
        assert "@late4" in row_text(view, screen_row(view, view.selected))
        assert 0 <= screen_row(view, view.selected) < view.scrollable_content_region.height


@pytest.mark.parametrize("width", [40, 60, 120])
async def test_rows_fit_any_width(make_desk, width: int) -> None:
    desk = make_desk()
    desk.ingest(mention(text, f"h{i}") for i, text in enumerate(HOSTILE))
    app = QueueApp(desk)
    async with app.run_test(size=(width, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(QueueView)
        assert len(desk.queue) > 0
        for y in range(len(desk.queue)):
            assert view.render_line(y).cell_length == view.size.width


async def test_wheel_scrolls_and_the_rows_read_hold_still(make_desk) -> None:
    desk = make_desk()
    ids = refunds(desk, 80)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        for _ in range(5):
            view.post_message(events.MouseScrollDown(view, 10, 5, 0, 1, 0, False, False, False))
            await pilot.pause()
        top = round(view.scroll_y)
        assert top > 0
        assert view.selected == ids[0]  # the wheel scrolls; it does not move the cursor
        reading = row_text(view, 0)
        assert f"@r{top:05d}" in reading
        # Urgent mentions arrive above: the row being read stays on top, the cursor stays put.
        desk.ingest(mention(SAFETY, f"urgent{i}") for i in range(4))
        view.apply_changes()
        await pilot.pause()
        assert round(view.scroll_y) == top + 4
        assert row_text(view, 0) == reading
        assert view.selected == ids[0]
        # The next key brings the cursor back into view, one row on from where it was.
        await pilot.press("j")
        assert view.selected == ids[1]
        assert 0 <= screen_row(view, ids[1]) < view.scrollable_content_region.height


async def test_a_filtered_queue_takes_its_own_scroll_range_at_once(make_desk) -> None:
    """The virtual size follows streaming growth sparingly (at most once a second), but a new
    queue (a filter) is not growth: a 2-row filter right after the 40-row queue must not keep
    the old scroll range and scrollbar for seconds."""
    desk = make_desk()
    refunds(desk, 40)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        await pilot.pause()
        assert view.virtual_size.height == 40
        two = desk.view(lambda c: c.id in set(list(desk.queue)[:2]))
        view.set_queue(two)  # well within a second of the last resize
        assert view.virtual_size.height == 2
        await pilot.pause()
        assert view.max_scroll_y == 0
        view.set_queue(desk.queue)
        assert view.virtual_size.height == 40


async def test_the_scroll_range_follows_the_queue_without_a_screen_layout(make_desk) -> None:
    """Streaming growth moves only the scroll range and the scrollbar's thumb: no screen
    layout (a key pressed meanwhile would wait for it), and the range, thumb and last row are
    exactly what a layout would have given.  Shrinking under the scroll position clamps it; a
    queue that fits on screen (the scrollbar goes) takes the full layout."""
    desk = make_desk()
    refunds(desk, 60)
    app = QueueApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(QueueView)
        await pilot.pause()
        height = view.scrollable_content_region.height
        assert view.virtual_size.height == 60 and view.show_vertical_scrollbar
        layouts: list[object] = []
        real_refresh = view.refresh

        def refresh(*regions, **kwargs):
            if kwargs.get("layout"):
                layouts.append(kwargs)
            return real_refresh(*regions, **kwargs)

        view.refresh = refresh  # type: ignore[method-assign]
        desk.ingest(mention(REFUND, f"more{i}", at=EPOCH + timedelta(minutes=1))
                    for i in range(30))
        view.apply_changes()
        view._resize_virtual(force=True)
        assert layouts == []
        assert view.virtual_size.height == 90
        assert view.vertical_scrollbar.window_virtual_size == 90
        assert view.max_scroll_y == 90 - height
        await pilot.press("end")
        assert view.selected == desk.queue[89]
        assert round(view.scroll_y) == 90 - height
        assert "@more29" in row_text(view, screen_row(view, view.selected))
        # Shrinking below the scroll position clamps it to the new range.
        keep = height + 5
        for conv_id in list(desk.queue)[keep:]:
            desk.resolve(conv_id)
        view.apply_changes()
        view._resize_virtual(force=True)
        assert view.virtual_size.height == keep
        assert round(view.scroll_y) == view.max_scroll_y == 5
        assert layouts == []
        # Fits on screen: the scrollbar goes, which is a layout.
        for conv_id in list(desk.queue)[3:]:
            desk.resolve(conv_id)
        view.apply_changes()
        view._resize_virtual(force=True)
        assert view.virtual_size.height == 3
        await pilot.pause()
        assert layouts and not view.show_vertical_scrollbar
