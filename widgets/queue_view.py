"""The queue as a virtualized list: one row per open conversation, drawn with the Line API.

Model: Textualize/toolong's ``LogLines``.  The widget never builds a widget per row: its
``virtual_size`` is ``(width, len(queue))`` and ``render_line(y)`` draws only the rows on screen,
reading ``queue[scroll_y + y]`` (O(log n) on the SortedList-backed queue).  Rendered rows are
cached as ``Strip``s keyed by everything that changes how a row looks, so a repaint after a
change costs one row render per changed conversation.

Changes are coalesced: the owner calls :meth:`QueueView.changed` with the conversation ids the
desk reported (``desk.subscribe``) and the widget applies them on its own tick (4 Hz), refreshing
only the screen rows whose content differs from what was drawn.  Countdowns are checked on the
same tick, at most once a second.

The cursor follows a conversation, not a row number: when mentions arrive above the agent's
conversation the list scrolls under it so that it stays on the same screen row; when it leaves
the queue (resolved, snoozed, filtered out) the cursor moves to the row that took its place.

Stranger text (handles, mention text) is data: rows are built from ``Segment``s with explicit
styles — never markup — and every column is measured, cropped and padded in terminal cells, so
emoji and CJK never break the columns.

Row legend: ``›`` cursor, urgency, time left to the deadline, the wall-clock due time in office
time (from 100 columns), channel (``pub``/``DM``), markers (``●`` unread, ``↩`` needs a reply,
``A`` assigned, ``O`` taken offline to DMs, ``C`` handed off with a case, ``✎`` a saved draft),
``@handle``, category (from 70 columns), team (from 120), first line of the latest customer
message without the @handles it opens with.  Emoji sequences are split into single code points
in every cell (:func:`widgets.safe.one_cell_emoji`) so each row ends at the edge in every
terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from time import monotonic
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.api import MARKERS
from tui.core.labels import Labels
from tui.core.model import DIRECT
from tui.core.when import format_time_left as _format_time_left
from tui.core.when import local_time

from .safe import one_cell_emoji, scrub

if TYPE_CHECKING:
    from tui.core.conversation import Conversation
    from tui.core.desk import Desk

TICK_SECONDS = 0.25  # how often coalesced changes are applied (4 Hz)
COUNTDOWN_SECONDS = 1.0  # how often countdowns are re-checked
EMPTY_TEXT = "Nothing needs an answer right now"
_OK, _AT_RISK, _BREACHED = "ok", "at-risk", "breached"
MIN_CONTRAST = 4.5  # WCAG AA for text: the cursor row's foreground against its background


def contrast_ratio(a: Any, b: Any) -> float:
    """WCAG contrast ratio (1–21) of two RGB triples."""
    def lum(rgb: Any) -> float:
        def ch(c: float) -> float:
            c = c / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b_ = rgb
        return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b_)
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# Without colour these are told apart by weight: the needs-reply and other markers, the urgency.
_MARKED = frozenset({"queue-view--marker", "queue-view--unread", "queue-view--urgency-critical",
                     "queue-view--urgency-high", "queue-view--at-risk", "queue-view--breached"})


def format_time_left(left: timedelta | None) -> str:
    """The row's countdown: blank when there is no deadline (see ``when.format_time_left``)."""
    return _format_time_left(left, none="")


def fit(text: str, width: int, *, right: bool = False) -> str:
    """``text`` cropped (with an ellipsis) or padded to exactly ``width`` terminal cells."""
    if width <= 0:
        return ""
    cells = cell_len(text)
    if cells <= width:
        pad = " " * (width - cells)
        return pad + text if right else text + pad
    # set_cell_size pads with a space where a wide character would straddle the edge.
    return set_cell_size(text, width - 1) + "…"


_ADDRESSING = re.compile(r"^(?:\s*@[\w.\-]+(?:@[\w.\-]+)?[,:]?)+\s+")


def strip_addressing(text: str) -> str:
    """The message without the @handles it opens with (``@northline @bob the 07:12 …`` →
    ``the 07:12 …``): on every public mention the brand's own handle comes first, and in a
    row it only eats the text (issue 12 item 14).  A message that is nothing but handles is
    kept as it is."""
    rest = _ADDRESSING.sub("", text, count=1)
    return rest if rest.strip() else text


def first_line(text: str, limit: int) -> str:
    """The first non-blank line of ``text``, at most ``limit`` characters, scrubbed.

    The core cleaned the text at ingest; scrubbing again (escape sequences, controls, bidi
    overrides) keeps this boundary from relying on every producer being careful.
    """
    for candidate in one_cell_emoji(scrub(text[: limit * 4])).splitlines():
        if candidate.strip():
            return candidate[:limit].strip()
    return ""


class QueueView(ScrollView, can_focus=True, inherit_bindings=False):
    """The queue of open conversations, one row each, with a cursor that follows a conversation.

    ``queue`` is a :class:`tui.core.queue.Queue` (``desk.queue`` or a ``desk.view(...)``).  The
    owner forwards the desk's change notifications to :meth:`changed`; :meth:`apply_changes`
    applies them at once (the widget also does so on its tick).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Next", show=False, id="queue.down"),
        Binding("up,k", "cursor_up", "Previous", show=False, id="queue.up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="queue.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="queue.page_up"),
        Binding("home", "first", "First", show=False, id="queue.first"),
        Binding("end", "last", "Last", show=False, id="queue.last"),
        Binding("enter", "open", "Open", id="queue.open"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "queue-view--cursor",
        "queue-view--urgency-critical",
        "queue-view--urgency-high",
        "queue-view--urgency-normal",
        "queue-view--urgency-low",
        "queue-view--urgency-none",
        "queue-view--time",  # unstyled by default: themes may colour it
        "queue-view--at-risk",
        "queue-view--breached",
        "queue-view--channel",
        "queue-view--direct",
        "queue-view--unread",
        "queue-view--marker",
        "queue-view--handle",
        "queue-view--category",
        "queue-view--text",  # unstyled by default
        "queue-view--empty",
    }

    DEFAULT_CSS = """
    QueueView {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        & > .queue-view--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .queue-view--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .queue-view--urgency-critical { color: $error; text-style: bold; }
        & > .queue-view--urgency-high { color: $warning; }
        & > .queue-view--urgency-normal { color: $foreground; }
        & > .queue-view--urgency-low { color: $foreground-muted; }
        & > .queue-view--urgency-none { color: $foreground-disabled; }
        & > .queue-view--at-risk { color: $warning; text-style: bold; }
        & > .queue-view--breached { color: $error; text-style: bold reverse; }
        & > .queue-view--channel { color: $foreground-muted; }
        & > .queue-view--direct { color: $accent; }
        & > .queue-view--unread { color: $accent; text-style: bold; }
        & > .queue-view--marker { color: $secondary; }
        & > .queue-view--handle { color: $primary; }
        & > .queue-view--category { color: $foreground-muted; }
        & > .queue-view--empty { color: $foreground-muted; text-style: italic; }
    }
    """

    class Selected(Message):
        """The cursor moved to another conversation."""

        def __init__(self, queue_view: QueueView, conv_id: str) -> None:
            super().__init__()
            self.queue_view = queue_view
            self.conv_id = conv_id

        @property
        def control(self) -> QueueView:
            return self.queue_view

    class Opened(Message):
        """The agent pressed enter (or double-clicked) on a conversation."""

        def __init__(self, queue_view: QueueView, conv_id: str) -> None:
            super().__init__()
            self.queue_view = queue_view
            self.conv_id = conv_id

        @property
        def control(self) -> QueueView:
            return self.queue_view

    def __init__(self, desk: Desk, queue: Any, *, labels: Labels | None = None,
                 clock: Callable[[], datetime] | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.desk = desk
        self.queue = queue
        # Level styles and category names come from the loaded rules (a team may rename them).
        self.labels = labels or Labels.from_rules(desk.rules)
        self.clock: Callable[[], datetime] = clock or desk.clock
        self.selected: str | None = None
        self._pending: set[str] = set()
        self._versions: dict[str, int] = {}  # conv id -> bumped on every reported change
        self._seen_version = -1  # the queue version the screen reflects
        self._cursor_index = 0  # last known index of the selection
        self._below: str | None = None  # the conversation under the selection, last we looked
        self._anchor: tuple[str, int] | None = None  # (conv id, screen row) kept in place
        self._strips: LRUCache[tuple[Any, ...], Strip] = LRUCache(1024)
        self._drawn: dict[int, tuple[Any, ...]] = {}  # screen row -> key of what is drawn there
        # Countdown labels, recomputed at most once a second (time_left can be office-hours
        # arithmetic, too slow to repeat for every row on every tick).
        self._countdowns: dict[str, tuple[datetime | None, str, str]] = {}
        self._countdown_at: datetime | None = None
        self._countdown_checked = 0.0
        self._resized_at = 0.0
        self._driven = False  # the owner calls refresh_countdowns(now) on its own tick
        # What the list says when it is empty: the owner says what a filter hides.
        self.empty_text = EMPTY_TEXT
        # Who else is on a conversation (a console attached to a desk process): conv id -> one
        # cell, "✍" someone else writes, "◉" someone else views.  None: no presence column.
        self.presence: dict[str, str] | None = None

    # ==== public API ===========================================================================

    def changed(self, conv_ids: set[str]) -> None:
        """Note conversations that changed; applied on the next tick, not now (coalescing).

        Call it on the UI thread (from a worker thread, go through ``call_from_thread``).
        """
        self._pending.update(conv_ids)

    def apply_changes(self) -> None:
        """Apply the changes noted so far (and the queue's own moves) to the screen now."""
        pending, self._pending = self._pending, set()
        moved = self.queue.version != self._seen_version
        if not pending and not moved:
            return
        for conv_id in pending:
            self._versions[conv_id] = self._versions.get(conv_id, 0) + 1
            self._countdowns.pop(conv_id, None)
        self._seen_version = self.queue.version
        self._sync(post=True)

    def set_queue(self, queue: Any) -> None:
        """Show another queue (a filtered view), keeping the selection when it is in it."""
        self.apply_changes()
        self.queue = queue
        self._seen_version = queue.version
        # Another queue is not streaming growth: its size holds at once (a filter of 2 rows
        # must not keep the whole queue's scroll range and scrollbar for up to 10 s).
        self._resize_virtual(force=True)
        if self.selected is not None and self.selected in queue:
            # Keep the selection on the same screen row.
            row = self._cursor_index - round(self.scroll_y)
            self._anchor = (self.selected, row if 0 <= row < self._height else 0)
        else:
            self._anchor = None
            self._below = None
            self._cursor_index = 0
        self._sync(post=True)

    def set_empty_text(self, text: str) -> None:
        """Say ``text`` (one line, trusted) when the list is empty — e.g. what a filter hides."""
        if text != self.empty_text:
            self.empty_text = text
            if not len(self.queue):
                self._refresh_rows()

    def select(self, conv_id: str) -> None:
        """Put the cursor on ``conv_id`` (ignored when it is not in the queue)."""
        self.apply_changes()
        index = self.queue.index(conv_id)
        if index is not None:
            self._goto(index)

    # ==== messages and life cycle ==============================================================

    def on_mount(self) -> None:
        self._seen_version = self.queue.version
        self._sync(post=True)
        self.set_interval(TICK_SECONDS, self._tick, name="queue-view-tick")

    def on_resize(self, event: events.Resize) -> None:
        self._resize_virtual(force=True)
        self._drawn.clear()
        self._keep_cursor_visible()
        self.refresh()

    def notify_style_update(self) -> None:
        # Theme or focus changed: every cached row was drawn with old styles.
        super().notify_style_update()
        self._strips.clear()
        self._drawn.clear()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        # Unlike ScrollView's full repaint, refresh only rows whose content differs: when
        # the list scrolls under the cursor to absorb rows arriving above, nothing visible moves.
        if self.show_vertical_scrollbar:
            self.vertical_scrollbar.position = new_value
        if round(old_value) != round(new_value):
            self._refresh_rows()
            # A scroll the agent made (wheel, scrollbar) is the new place to hold still.
            index = self.queue.index(self.selected) if self.selected is not None else None
            self._remember(self._cursor_index if index is None else index)

    def refresh_countdowns(self, now: datetime | None = None) -> None:
        """Re-read the clock (or take ``now``) and redraw the rows whose countdown or deadline
        state changed.  An owner that passes ``now`` drives the countdowns from then on (the
        widget's own tick stops re-reading the clock), so every countdown on screen — rows,
        the conversation header — is computed from the same instant (issue 12 item 4)."""
        if now is not None:
            self._driven = True
        self._countdown_at = now or self.clock()
        self._countdowns.clear()
        self._refresh_rows()

    def _tick(self) -> None:
        self.apply_changes()
        self._resize_virtual()
        if not self._driven and monotonic() - self._countdown_checked >= COUNTDOWN_SECONDS:
            self._countdown_checked = monotonic()
            self.refresh_countdowns()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        self.apply_changes()
        index = round(self.scroll_y) + offset.y
        if 0 <= index < len(self.queue):
            self._goto(index)
            if event.chain >= 2 and self.selected is not None:
                self.post_message(self.Opened(self, self.selected))

    # ==== actions ==============================================================================

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_page_down(self) -> None:
        self._move(max(1, self._height - 1))

    def action_page_up(self) -> None:
        self._move(-max(1, self._height - 1))

    def action_first(self) -> None:
        self.apply_changes()
        self._goto(0)

    def action_last(self) -> None:
        self.apply_changes()
        self._goto(len(self.queue) - 1)

    def action_open(self) -> None:
        self.apply_changes()
        if self.selected is not None:
            self.post_message(self.Opened(self, self.selected))

    # ==== cursor and scrolling =================================================================

    @property
    def _height(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def _move(self, delta: int) -> None:
        # Apply what arrived first, so the move starts from what the agent sees.
        self.apply_changes()
        index = self.queue.index(self.selected) if self.selected is not None else None
        self._goto(0 if index is None else index + delta)

    def _goto(self, index: int) -> None:
        size = len(self.queue)
        if size == 0:
            self._set_selected(None, post=True)
            return
        index = max(0, min(index, size - 1))
        if index >= self.virtual_size.height:
            self._resize_virtual(force=True)  # the queue grew since the scroll range was set
        old = self.selected
        self._set_selected(self.queue[index], post=True)
        top = round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + self._height:
            self.scroll_to(y=index - self._height + 1, animate=False)
        if old != self.selected:
            self._refresh_rows()
        self._remember(index)

    def _keep_cursor_visible(self) -> None:
        if self.selected is None:
            return
        index = self.queue.index(self.selected)
        if index is None:
            return
        if index >= self.virtual_size.height:
            self._resize_virtual(force=True)
        top = round(self.scroll_y)
        if index < top or index >= top + self._height:
            self.scroll_to(y=max(0, index - self._height // 2), animate=False)
        self._remember(index)

    def _set_selected(self, conv_id: str | None, *, post: bool) -> None:
        if conv_id == self.selected:
            return
        self.selected = conv_id
        # No message for "nothing selected" (an emptied queue): listeners look conversations
        # up by id, and `selected` being None says it already.
        if post and conv_id is not None:
            self.post_message(self.Selected(self, conv_id))

    def _remember(self, index: int) -> None:
        """Note where the selection is, and what screen row to hold still on the next change."""
        self._cursor_index = index
        size = len(self.queue)
        self._below = self.queue[index + 1] if index + 1 < size else None
        top = round(self.scroll_y)
        if self.selected is not None and top <= index < top + self._height:
            self._anchor = (self.selected, index - top)
        elif 0 <= top < size:
            # The agent scrolled away from the cursor: hold the top row still instead.
            self._anchor = (self.queue[top], 0)
        else:
            self._anchor = None

    def _sync(self, *, post: bool) -> None:
        """Bring size, selection and scroll in line with the queue after it changed."""
        queue = self.queue
        size = len(queue)
        anchor = self._anchor
        if size == 0:
            self._resize_virtual(force=True)
            self._set_selected(None, post=post)
            self._anchor = None
            self._cursor_index = 0
            self.scroll_to(y=0, animate=False)
            self._refresh_rows()
            return
        if self.selected is None or self.selected not in queue:
            # The row that took its place: the one that was under it, else the same position.
            old = self.selected
            if self._below is not None and self._below in queue:
                replacement = self._below
            else:
                replacement = queue[max(0, min(self._cursor_index, size - 1))]
            self._set_selected(replacement, post=post)
            if anchor is not None and anchor[0] == old:
                anchor = (replacement, anchor[1])
        index = queue.index(self.selected)
        assert index is not None
        if anchor is not None and anchor[0] in queue:
            anchor_index = queue.index(anchor[0])
            assert anchor_index is not None
            target = anchor_index - anchor[1]
        else:
            target = round(self.scroll_y)
        # Never let the cursor end up off screen because of a change it did not cause.
        height = self._height
        if anchor is None or anchor[0] == self.selected:
            target = min(max(target, index - height + 1), index)
        target = max(0, min(target, max(0, size - height)))
        # The scroll range must already hold the target and the cursor.
        self._resize_virtual(force=target + height > self.virtual_size.height
                             or index >= self.virtual_size.height)
        if target != round(self.scroll_y):
            self.scroll_to(y=target, animate=False)
        self._refresh_rows()
        self._remember(index)

    def _resize_virtual(self, *, force: bool = False) -> None:
        """Match ``virtual_size`` to the queue — sparingly.

        Textual repaints the whole widget whenever its virtual size changes (the compositor
        sees new geometry), which while streaming would redraw every row on every tick.  The
        size only drives the scroll range and the scrollbar thumb, so it follows the queue at
        most once a second, when the thumb would visibly move (2 %) or after 10 s — and at
        once when scrolling or the cursor needs the room (``force``).  See
        :meth:`_set_virtual_size` for what a change costs.
        """
        want = Size(self.size.width, len(self.queue))
        have = self.virtual_size
        if want == have:
            return
        elapsed = monotonic() - self._resized_at
        grew = abs(want.height - have.height)
        if (force or want.width != have.width or not want.height or not have.height
                or (elapsed >= 1.0 and grew >= max(1, want.height // 50))
                or elapsed >= 10.0):
            self._resized_at = monotonic()
            self._set_virtual_size(want)

    def _set_virtual_size(self, want: Size) -> None:
        """Set ``virtual_size`` — without a screen layout when only the scroll range moves.

        ``virtual_size`` is a layout reactive: assigning it reflows the whole screen (10–20 ms
        at 80x24 on a busy desk, bench/bench_console.py), and a key pressed meanwhile waits for
        it.  When the width is the same and the scrollbar neither appears nor goes, nothing on
        screen changes place: the scroll range and the scrollbar's thumb are all that follow,
        which is what Textual's own layout pass would update (``_scroll_update``: the thumb's
        virtual size, the scroll position clamped to the new range).  Anything else (a resize,
        a filter that fits on screen) takes the full layout."""
        have = self.virtual_size
        height = self.container_size.height
        if (not self.is_mounted or not height or want.width != have.width
                or not want.height or not have.height
                or (want.height > height) != (have.height > height)
                or (want.height > height) != self.show_vertical_scrollbar):
            self.virtual_size = want
            return
        self.set_reactive(ScrollView.virtual_size, want)
        if self.show_vertical_scrollbar:
            self.vertical_scrollbar.window_virtual_size = want.height
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    # ==== drawing ==============================================================================

    def _refresh_rows(self) -> None:
        """Refresh the screen rows whose content differs from what was drawn there."""
        if not self.is_mounted:
            return
        width = self.size.width
        top = round(self.scroll_y)
        regions = []
        for y in range(self.size.height):
            if self._row_key(top + y, width, y) != self._drawn.get(y):
                regions.append(Region(0, y, width, 1))
        if regions:
            self.refresh(*regions)

    def _countdown(self, conv: Conversation) -> tuple[str, str]:
        """(label, state) for ``conv``'s deadline: state is ok / at-risk / breached."""
        cached = self._countdowns.get(conv.id)
        if cached is not None and cached[0] == conv.deadline:
            return cached[1], cached[2]
        now = self._countdown_at or self.clock()
        if conv.deadline is None:
            label, state = "", _OK
        else:
            label = format_time_left(self.desk.time_left(conv, now))
            if conv.deadline <= now:
                state = _BREACHED
            elif conv.risk_at is not None and conv.risk_at <= now:
                state = _AT_RISK
            else:
                state = _OK
        self._countdowns[conv.id] = (conv.deadline, label, state)
        return label, state

    def _due_local(self, conv: Any) -> str:
        """The wall-clock due time in office-local time (``09:30``, ``Tue 09:00``)."""
        if conv.deadline is None or not conv.needs_reply:
            return ""
        tz = getattr(getattr(self.desk.rules, "office_hours", None), "tz", None)
        return local_time(conv.deadline, tz, self._countdown_at or self.clock())

    def _row_key(self, index: int, width: int, y: int) -> tuple[Any, ...]:
        size = len(self.queue)
        if size == 0:
            return ("empty", width, y, self.empty_text)
        if index >= size or index < 0:
            return ("blank", width)
        conv_id = self.queue[index]
        conv = self.desk.conversations.get(conv_id)
        if conv is None:
            return ("blank", width)
        label, state = self._countdown(conv)
        return (conv_id, width, conv_id == self.selected, self._versions.get(conv_id, 0),
                label, state, self.desk.own_draft(conv_id) is not None,
                self.presence.get(conv_id, " ") if self.presence is not None else None)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        key = self._row_key(round(self.scroll_y) + y, width, y)
        self._drawn[y] = key
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_key(key, width)
            self._strips[key] = strip
        return strip

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    @property
    def few_colors(self) -> bool:
        """The terminal has 16 colours (or fewer): theme colours collapse onto a few ANSI ones,
        so a cursor bar's colour pair cannot be trusted to stay apart."""
        system = getattr(getattr(self.app, "console", None), "color_system", None)
        return system in ("standard", "windows")

    def _cursor_style(self) -> Style:
        """The cursor row's base style: reverse video without colour or with 16 colours; else
        the theme's cursor pair, its foreground swapped for black or white when the theme's
        pair has too little contrast (some themes' do, e.g. gruvbox: 2.4:1)."""
        if self.no_color or self.few_colors:
            return Style(reverse=True)
        cursor = self._style("queue-view--cursor")
        base = self.rich_style
        fg, bg = cursor.color or base.color, cursor.bgcolor or base.bgcolor
        if fg is None or bg is None:
            return cursor
        fg_rgb, bg_rgb = fg.get_truecolor(), bg.get_truecolor()
        if contrast_ratio(fg_rgb, bg_rgb) >= MIN_CONTRAST:
            return cursor
        best = max(((0, 0, 0), (255, 255, 255)), key=lambda c: contrast_ratio(c, bg_rgb))
        return cursor + Style(color=RichColor.from_rgb(*best))

    @property
    def no_color(self) -> bool:
        """``NO_COLOR`` is set: colours are stripped, so nothing may rely on one."""
        return bool(getattr(self.app, "no_color", False))

    def _cell_style(self, name: str, selected: bool) -> Style:
        """A cell's own style on top of the row's.  On the cursor row (and without colour) only
        its attributes count — bold, italic, underline, reverse — never its colours: a handle
        drawn in ``$primary`` on a cursor of ``$primary`` is invisible, in every colour mode
        (issue 12 item 2).  The cursor's own foreground/background pair is the theme's, chosen to
        contrast."""
        own = self._style(name)
        if not (selected or self.no_color):
            return own
        plain = self.no_color
        return Style(bold=own.bold or (plain and name in _MARKED) or None,
                     italic=own.italic, underline=own.underline, reverse=own.reverse)

    def _render_key(self, key: tuple[Any, ...], width: int) -> Strip:
        base = self.rich_style
        if key[0] == "empty":
            if key[2] != 0:
                return Strip.blank(width, base)
            text = fit("  " + self.empty_text, width)
            return Strip([Segment(text, base + self._style("queue-view--empty"))], width)
        if key[0] == "blank":
            return Strip.blank(width, base)
        conv_id, _, selected, _, label, state, _draft, _presence = key
        conv = self.desk.conversations[conv_id]
        return self._render_row(conv, width, selected, label, state)

    def _render_row(self, conv: Conversation, width: int, selected: bool, label: str,
                    state: str) -> Strip:
        base = self.rich_style
        if selected:
            # Without colour the cursor is reverse video: a grey cursor bar could be as pale as
            # the text on it.
            base = base + self._cursor_style()

        def style(name: str) -> Style:
            return self._cell_style(name, selected)

        latest = self.desk.latest_mention(conv)
        direct = latest is not None and latest.channel == DIRECT
        urgency = conv.urgency
        urgency_class = f"queue-view--urgency-{self.labels.tier(urgency)}"
        time_class = {_BREACHED: "queue-view--breached", _AT_RISK: "queue-view--at-risk"}.get(
            state, "queue-view--time")
        # The same markers, in the same order, as every other client (tui.core.api.MARKERS).
        marks = [(m.symbol if m.shows(conv) else " ",
                  "queue-view--unread" if m.name == "unread" else "queue-view--marker")
                 for m in MARKERS]
        drafted = self.desk.own_draft(conv.id) is not None  # this agent's own draft
        marks.append(("✎" if drafted else " ", "queue-view--marker"))
        if self.presence is not None:
            marks.append((self.presence.get(conv.id, " "), "queue-view--unread"))
        # Wider terminals get more columns and roomier ones (issue 12 item 14): the category
        # from 70 columns, the wall-clock due time from 100, the team from 120.
        handle_w = 12 if width < 70 else 16 if width < 100 else 20 if width < 130 else 24
        category_w = 0 if width < 70 else 13 if width < 130 else 16
        due_w = 9 if width >= 100 else 0
        team_w = 12 if width >= 120 else 0
        category = self.labels.category(conv.category)
        cells: list[tuple[str, str | None]] = [
            ("›" if selected else " ", None),
            (fit(urgency[:4].upper(), 4), urgency_class),
            (" ", None),
            (fit(label, 5, right=True), time_class),
            (" ", None),
        ]
        if due_w:
            cells += [(fit(self._due_local(conv), due_w), "queue-view--time"), (" ", None)]
        cells += [
            ("DM " if direct else "pub", "queue-view--direct" if direct else "queue-view--channel"),
            (" ", None),
            *marks,
            (" ", None),
            (fit("@" + one_cell_emoji(conv.handle), handle_w), "queue-view--handle"),
        ]
        if category_w:
            cells += [(" ", None), (fit(category, category_w), "queue-view--category")]
        if team_w:
            team = conv.team or (conv.triage.team if conv.triage else None) or ""
            cells += [(" ", None), (fit(one_cell_emoji(team), team_w), "queue-view--category")]
        used = sum(cell_len(text) for text, _ in cells) + 1
        rest = width - used
        segments = []
        for text, name in cells:
            segments.append(Segment(text, base + style(name) if name else base))
        if rest > 0:
            if latest is None:
                text = "(message deleted)"
            else:
                text = first_line(strip_addressing(latest.text), rest * 2 + 8)
            segments.append(Segment(" ", base))
            segments.append(Segment(fit(text, rest), base + style("queue-view--text")))
        # Merged runs of one style: fewer escape sequences per row written to the terminal.
        return Strip(segments).adjust_cell_length(width, base).crop(0, width).simplify()
