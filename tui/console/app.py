"""The Textual console: a view of the desk that sends it commands.

``mentiondesk`` with no sub-command calls :func:`run_console`.  The app owns no business rule: it
reads the desk (queue, history, suggestion, counts), sends it commands (reply, take offline, hand
off, resolve, snooze, ignore, assign, tag, note, accept, undo) and shows each result — or the
desk's reasons for refusing — as a notification with ``markup=False``.

Sources run on the app's own event loop in an async worker (the desk is single-threaded): the
:class:`~tui.sources.runner.Runner` batches their mentions into ``desk.ingest`` and delivers the
outbox.  The desk tells us what changed through ``desk.subscribe``.

While 100 mentions a second stream in, the screen must stay quiet enough for keys to feel
instant (p95 < 50 ms) and for a remote terminal to keep up (< 20 KB/s at 80x24), so every
redraw is coalesced:

* the queue widget applies changes on its own 4 Hz tick;
* the status bar redraws once a second (on the desk's tick, ``tick_seconds``) and after the
  agent's own actions, only when its text changed, and without a layout;
* the detail panes (conversation + suggestion) redraw ``DETAIL_DEBOUNCE`` seconds after the
  cursor stops moving, so holding ``j`` costs one queue row per key, not a screen layout;
* alerts (critical arrivals, at-risk clocks) become at most one toast and one bell per kind
  every ``ALERT_COOLDOWN`` seconds, naming how many arrived; the status bar counts unread
  critical conversations, so an alert is never lost in a summary.

The conversation pane also shows the thread around the conversation's latest mention as the
network has it (``Source.context``): fetched when the agent opens a conversation or the cursor
rests on one, in an exclusive async worker (moving on cancels the fetch in flight) with a
timeout, and kept per mention in a small LRU so that going back costs nothing.  A source that
offers no thread (demo, replay, feed) costs nothing either: no worker, no section.

:meth:`MentionDesk.flush_redraws` applies whatever is pending at once (tests, after an action).

Desk actions are bound on the main screen (not the app) so that a key pressed while a modal is
open can never start a second action underneath it.  Every binding has an ``id`` so the config's
``keys:`` mapping can remap it (``App.set_keymap``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.containers import Container, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import Worker, get_current_worker

from widgets.conversation import ConversationView, Thread
from widgets.queue_view import QueueView
from widgets.safe import one_line, scrub
from widgets.status_bar import SourceLine, StatusBar
from widgets.suggestion import SuggestionView

from ..core.desk import OPEN, ActionRefused, Desk, Outgrown
from ..core.model import Mention
from ..core.replies import network_of
from ..setup.boot import recovery_notes
from ..sources.base import Source
from .screens import (
    ActionModal,
    ComposerScreen,
    ConfirmScreen,
    HandoffScreen,
    HelpScreen,
    OfflineScreen,
    PromptScreen,
    ResolveScreen,
    SnoozeScreen,
    filter_help,
    parse_filter,
)

log = logging.getLogger("mentiondesk.console")

# (binding id, key, action, footer label, description, shown in the footer)
DESK_KEYS: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("desk.next", "n", "next", "Next", "Jump to the most urgent", True),
    ("desk.reply", "r", "reply", "Reply", "Reply (composer, canned replies)", True),
    ("desk.offline", "o", "offline", "Offline", "Take offline (public bridge + DM)", True),
    ("desk.handoff", "h", "handoff", "Hand off", "Hand off to a team (case id)", True),
    ("desk.resolve", "e", "resolve", "Resolve", "Resolve (optional close-the-loop)", True),
    ("desk.snooze", "s", "snooze", "Snooze", "Snooze (30m, 1h, 4h, tomorrow)", False),
    ("desk.ignore", "x", "ignore", "Spam", "Mark spam / ignore", False),
    ("desk.assign", "a", "assign", "Assign", "Assign to me", False),
    ("desk.tag", "t", "tag", "Tag", "Tag (-tag removes)", False),
    ("desk.note", "m", "note", "Note", "Add an internal note", False),
    ("desk.undo", "u", "undo", "Undo", "Undo my last action", True),
    ("desk.filter", "slash", "filter", "Filter", "Filter the queue", True),
    ("desk.clear_filter", "escape", "clear_filter", "Clear filter", "Clear the filter", False),
    ("desk.accept", "A", "accept", "Accept", "Accept the whole suggested action", True),
    ("desk.stats", "S", "stats", "Stats", "Shift statistics", False),
    ("desk.help", "question_mark", "help", "Help", "Help: every key", True),
    ("desk.quit", "q", "quit", "Quit", "Quit (saves everything)", True),
)
KEY_LABELS = {"slash": "/", "question_mark": "?", "escape": "esc"}
DETAIL_DEBOUNCE = 0.08  # the detail panes redraw this long after the cursor stops
ALERT_COOLDOWN = 5.0  # at most one toast (and one bell) per kind of alert in this time
ALERT_NAMED = 6  # conversations named in a summary toast; the count covers the rest
THREAD_TIMEOUT = 8.0  # seconds a thread fetch may take before the pane says it is unavailable
THREAD_CACHE = 300  # threads kept (per mention); going back to one does not fetch it again
THREAD_RETRY = 30.0  # a failed fetch is tried again when its conversation is shown after this


PaneT = TypeVar("PaneT", bound=Widget)


@dataclass(slots=True)
class Alert:
    """One alert: who (``#12 @casey (safety)``) and what (the message, may be empty)."""

    who: str
    what: str = ""


@dataclass(slots=True)
class AlertBatch:
    """Alerts of one kind waiting for their toast."""

    title: str  # "CRITICAL"
    noun: str  # "new critical", for the summary: "3 new critical"
    severity: str
    pending: list[Alert] = field(default_factory=list)
    last_shown: float = float("-inf")  # time.monotonic() of the last toast
    timer: Timer | None = None

    def summary(self, alerts: list[Alert]) -> str:
        """One alert in full; several as a count and the first few by name."""
        if len(alerts) == 1:
            a = alerts[0]
            return f"{self.title} {a.who}" + (f": {a.what}" if a.what else "")
        named = ", ".join(a.who for a in alerts[:ALERT_NAMED])
        more = len(alerts) - ALERT_NAMED
        return (f"{self.title}: {len(alerts)} {self.noun} — {named}"
                + (f", and {more} more" if more > 0 else "") + " (n: most urgent first)")


@dataclass(slots=True, frozen=True)
class Fetched:
    """What a source answered for one mention's thread: its posts, or why there are none."""

    posts: tuple[Mention, ...] = ()
    reason: str | None = None  # set when the fetch failed (server text: data)
    at: float = 0.0  # time.monotonic() of the answer


class ThreadCache:
    """Fetched threads by mention key; the least recently shown is dropped beyond ``size``."""

    def __init__(self, size: int = THREAD_CACHE) -> None:
        self.size = size
        self._items: OrderedDict[str, Fetched] = OrderedDict()

    def get(self, key: str) -> Fetched | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, item: Fetched) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class DeskCommands(Provider):
    """The command palette (ctrl+p): every desk action by name."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for _id, _key, action, _label, description, _show in DESK_KEYS:
            score = matcher.match(description)
            if score > 0:
                yield Hit(score, matcher.highlight(description),
                          partial(self.app.trigger, action), help=f"action: {action}")

    async def discover(self) -> Hits:
        for _id, _key, action, _label, description, _show in DESK_KEYS:
            yield DiscoveryHit(description, partial(self.app.trigger, action),
                               help=f"action: {action}")


class MainScreen(Screen):
    """Queue | conversation + suggestion, status bar, footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"app.{action}", label, show=show, id=bid, tooltip=description)
        for bid, key, action, label, description, show in DESK_KEYS
    ]
    # Under 120 columns the panes stack (queue on top); from 120 they sit side by side.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, desk: Desk) -> None:
        super().__init__(id="main")
        self.desk = desk

    def compose(self) -> ComposeResult:
        with Container(id="panes"):
            yield QueueView(self.desk, self.desk.queue, id="queue")
            with Vertical(id="detail"):
                yield ConversationView(id="conversation")
                yield SuggestionView(id="suggestion")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(QueueView).focus()
        self.app.redraw()  # type: ignore[attr-defined]


class MentionDesk(App[int]):
    """The console.  Tests build it with ``desk=`` (a fixed clock), ``sources=[]``."""

    CSS_PATH = "app.tcss"
    TITLE = "mentiondesk"
    COMMANDS = App.COMMANDS | {DeskCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, desk: Desk, sources: Iterable[Any] = (), *,
                 clock: Callable[[], datetime] | None = None, blink: bool = True,
                 tick_seconds: float = 1.0, keymap: dict[str, str] | None = None,
                 runner_options: dict[str, Any] | None = None,
                 serve: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.desk = desk
        # Serve the desk to CLI commands and other clients on the data directory's socket
        # while this console holds it (``DeskServer``'s ``execute``; None: do not serve).
        self.serve_execute = serve
        self.desk_server: Any = None
        self.sources = list(sources)
        self.clock = clock or desk.clock
        self.blink = blink
        self.tick_seconds = tick_seconds
        self.runner_options = runner_options or {}
        self.runner: Any = None
        self.seen: dict[str, int] = {}  # conv id -> seen_seq when the agent opened it
        self.filter_text = ""
        self.filter_view: Any = None
        self.rings = 0  # bells rung (tests read it: the headless driver has no bell)
        self.closed = False
        self._changed: set[str] = set()
        self._redraw_scheduled = False
        self._detail_timer: Timer | None = None
        self._moved_at = float("-inf")  # time.monotonic() of the last cursor move
        self.detail_debounce = DETAIL_DEBOUNCE
        self._arrivals: deque[tuple[float, int]] = deque()
        self._alerts: dict[str, AlertBatch] = {
            "critical": AlertBatch("CRITICAL", "new critical", "error"),
            "at_risk": AlertBatch("AT RISK", "at risk", "warning"),
        }
        # Critical conversations alerted and not opened yet: the status bar's count, which
        # includes every alert a summary toast did not name.
        self.critical_unread: set[str] = set()
        self._stop: asyncio.Event | None = None
        self.threads = ThreadCache()
        self.thread_timeout = THREAD_TIMEOUT
        self._thread_fetch: tuple[str, Worker[None]] | None = None  # (mention key, worker)
        keys = dict(getattr(desk.config, "keys", None) or {})
        keys.update(keymap or {})
        self.keys = {k: str(v) for k, v in keys.items()}

    # ==== life cycle ===========================================================================

    def get_default_screen(self) -> Screen:
        return MainScreen(self.desk)

    def on_mount(self) -> None:
        if self.keys:
            self.set_keymap(self.keys)
        self.desk.subscribe(self._desk_changed)
        # Delivery progress (pending → sent / failed) is shown in the history as it happens.
        self.desk.outbox.listeners.append(self._delivery_changed)
        self.set_interval(self.tick_seconds, self.tick, name="desk-tick")
        for note in recovery_notes(self.desk):  # what a crash left behind, repaired: say so
            log.warning(note)
            self.notify(note, title="Data directory repaired", severity="warning",
                        timeout=30, markup=False)
        if self.sources:
            self.run_sources()
        if self.serve_execute is not None and self.desk.store is not None:
            self.serve_desk()

    @work(group="desk-server")
    async def serve_desk(self) -> None:
        """Scripts work while this console runs: they reach the desk through this process."""
        from ..server.server import DeskServer

        data_dir = getattr(self.desk.store, "data_dir", None)
        server = DeskServer(self.desk, data_dir, config=self.desk.config,
                            execute=self.serve_execute)
        try:
            await server.start()
        except OSError as exc:  # e.g. a data directory path too long for a socket
            log.warning("not serving the desk to scripts: %s", exc)
            return
        self.desk_server = server

    def _delivery_changed(self, item: dict[str, Any]) -> None:
        self._desk_changed({str(item.get("conv_id"))})

    @work(exclusive=True, group="sources")
    async def run_sources(self) -> None:
        """Run every source and the outbox deliveries until quit (on this loop)."""
        from ..sources.runner import Runner

        self._stop = asyncio.Event()
        self.runner = Runner(self.desk, self.sources, on_ingested=self.ingested,
                             clock=self.clock, **self.runner_options)
        try:
            await self.runner.run(until=self._stop)
        except Exception as exc:  # the runner should not fail; if it does, say so and go on
            log.exception("sources stopped")
            self.notify(scrub(f"sources stopped: {exc}", 300), severity="error", markup=False)

    def on_unmount(self) -> None:
        # The desk outlives the app (tests reuse it): stop hearing from it, stop pending redraws.
        for listeners, callback in ((self.desk.listeners, self._desk_changed),
                                    (self.desk.outbox.listeners, self._delivery_changed)):
            if callback in listeners:
                listeners.remove(callback)
        self._cancel_detail()
        for batch in self._alerts.values():
            if batch.timer is not None:
                batch.timer.stop()
                batch.timer = None
        self.close_desk()

    def close_desk(self) -> None:
        """Flush, snapshot and release the data directory (once)."""
        if self.closed:
            return
        self.closed = True
        if self.desk_server is not None:
            self.desk_server.close_now()
            self.desk_server = None
        desk = self.desk
        desk.flush()
        if desk.store is not None:
            try:
                desk.checkpoint()
            finally:
                desk.store.close()

    async def action_quit(self) -> None:
        if self._stop is not None:
            self._stop.set()
            # Let the runner hand over what it holds and finish posts in flight (5 s grace).
            await self.workers.wait_for_complete()
        # A dialog still open holds typing the draft debounce has not written down yet.
        if not self.closed:
            for screen in self.screen_stack:
                if isinstance(screen, ActionModal):
                    screen.save_draft()
        self.close_desk()
        self.exit(0)

    # ==== desk → screen ========================================================================

    def _desk_changed(self, conv_ids: set[str]) -> None:
        self._changed |= conv_ids
        if not self._redraw_scheduled:
            self._redraw_scheduled = True
            self.call_later(self._apply_changes)

    def _apply_changes(self) -> None:
        self._redraw_scheduled = False
        changed, self._changed = self._changed, set()
        queue = self._pane(QueueView)
        if queue is None:
            return  # not mounted yet / shutting down
        queue.changed(changed)  # applied on the queue's own tick
        if self.selected in changed or self.selected is None:
            self.schedule_detail()
        # The status bar's counts follow on the next desk tick (1 s).

    @property
    def main(self) -> MainScreen:
        return self.screen_stack[0]  # type: ignore[return-value]

    def _pane(self, cls: type[PaneT]) -> PaneT | None:
        """The main screen's ``cls`` widget, or None while mounting or after unmount (timers
        and desk callbacks can fire around both)."""
        try:
            return self.screen_stack[0].query_one(cls)
        except (IndexError, NoMatches):
            return None

    @property
    def queue_view(self) -> QueueView:
        return self.main.query_one(QueueView)

    @property
    def selected(self) -> str | None:
        queue = self._pane(QueueView)
        return None if queue is None else queue.selected

    def redraw(self) -> None:
        self.redraw_detail()
        self.redraw_status()

    def flush_redraws(self) -> None:
        """Apply every coalesced change now: the queue's, the detail panes' (debounced), the
        status bar's and the alerts waiting for their cooldown.  After an agent's action, and
        in tests instead of waiting for timers."""
        queue = self._pane(QueueView)
        if queue is not None:
            if self._changed:
                self._apply_changes()
            queue.apply_changes()
        self.flush_alerts()
        self.redraw()

    def schedule_detail(self) -> None:
        """Redraw the detail panes once the cursor has rested for ``detail_debounce`` s."""
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(self.detail_debounce, self.redraw_detail,
                                            name="detail-debounce")

    def _cancel_detail(self) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None

    def redraw_detail(self, force: bool = False) -> None:
        """Redraw the conversation and suggestion panes now (``force``: lay them out even when
        their text did not change)."""
        self._cancel_detail()
        conversation, suggestion = self._pane(ConversationView), self._pane(SuggestionView)
        if conversation is None or suggestion is None:
            return
        conv_id = self.selected
        if conv_id is not None and conv_id not in self.desk.conversations:
            conv_id = None
        if conv_id is not None:
            # The pane shows the whole history: what it shows counts as seen when replying.
            self.seen[conv_id] = self.desk.conversations[conv_id].last_mention_seq
        narrow = self.main.has_class("-narrow")
        suggestion.show(self.desk, conv_id, compact=narrow, force=force)
        conversation.show(self.desk, conv_id, thread=self.thread_for(conv_id), force=force)

    # ==== the thread around a conversation, from its network ===================================

    def thread_source(self, name: str) -> Any | None:
        """The source named ``name`` when it can fetch threads, else None (the base class's
        ``context`` answers [] without asking anyone: no request, no section)."""
        for source in self.sources:
            if getattr(source, "name", None) == name:
                method = getattr(type(source), "context", None)
                return None if method is None or method is Source.context else source
        return None

    def thread_for(self, conv_id: str | None) -> Thread | None:
        """The thread section for ``conv_id``'s latest mention: from the cache, else "loading"
        while a fetch started here runs; None when its source offers no thread."""
        conv = self.desk.conversations.get(conv_id) if conv_id else None
        mention = self.desk.latest_mention(conv) if conv is not None else None
        source = self.thread_source(mention.source) if mention is not None else None
        if mention is None or source is None:
            self._cancel_thread_fetch()
            return None
        key, network = mention.key, network_of(mention.source)
        fetched = self.threads.get(key)
        if fetched is not None and (fetched.reason is None
                                    or time.monotonic() - fetched.at < THREAD_RETRY):
            self._cancel_thread_fetch()  # the agent moved on: a fetch in flight is not wanted
            if fetched.reason is not None:
                return Thread(network, "failed", reason=fetched.reason)
            known = self.desk.mentions  # what the desk history shows already
            posts = tuple({p.key: p for p in fetched.posts
                           if p.key not in known and p.key != key}.values())
            return Thread(network, "ready", posts, at=mention.created_at)
        if self._thread_fetch is None or self._thread_fetch[0] != key:
            # exclusive: starting this fetch cancels the one for the previous conversation
            self._thread_fetch = (key, self.fetch_thread(key, source, mention))
        return Thread(network, "loading")

    def _cancel_thread_fetch(self) -> None:
        if self._thread_fetch is not None:
            self._thread_fetch = None
            self.workers.cancel_group(self, "context")

    @work(exclusive=True, group="context", exit_on_error=False)
    async def fetch_thread(self, key: str, source: Any, mention: Mention) -> None:
        """Ask ``source`` for the thread around ``mention``; cache the answer (or the reason
        there is none) under ``key`` and redraw if the agent is still looking at it.  Nothing
        here reaches the source's status or the status bar: a thread is a nice-to-have."""
        try:
            posts = await asyncio.wait_for(source.context(mention), self.thread_timeout)
            fetched = Fetched(tuple(p for p in posts if isinstance(p, Mention)),
                              at=time.monotonic())
        except TimeoutError:
            fetched = Fetched(reason=f"no answer in {self.thread_timeout:g} s",
                              at=time.monotonic())
        except Exception as exc:  # any source bug or network fault: say so in the pane
            log.warning("thread of %s: %s", one_line(key, 200), one_line(repr(exc), 300))
            fetched = Fetched(reason=one_line(str(exc) or type(exc).__name__, 200),
                              at=time.monotonic())
        finally:
            if self._thread_fetch is not None and self._thread_fetch[1] is get_current_worker():
                self._thread_fetch = None
        self.threads.put(key, fetched)
        conv = self.desk.conversations.get(self.selected or "")
        latest = self.desk.latest_mention(conv) if conv is not None else None
        if latest is not None and latest.key == key:
            self.redraw_detail()

    def redraw_status(self) -> None:
        """Redraw the status bar now (a no-op when its figures did not change)."""
        bar = self._pane(StatusBar)
        if bar is None:
            return
        now = self.clock()
        cutoff = now.timestamp() - 60
        while self._arrivals and self._arrivals[0][0] < cutoff:
            self._arrivals.popleft()
        per_minute = float(sum(n for _, n in self._arrivals))
        oh = self.desk.rules.office_hours
        bar.show(
            sources=[SourceLine(s.name, s.status.state, s.status.detail) for s in self.sources],
            per_minute=per_minute, counts=self.desk.counts(now), agent=self.desk.agent,
            office_open=bool(oh.is_open(now)) if oh is not None else True,
            filter_text=self.filter_text or None, critical=self._critical_unread())

    def _critical_unread(self) -> int:
        """Alerted critical conversations still open and unread (the set is pruned here, so it
        never grows with the queue: only with alerts nobody has looked at)."""
        conversations = self.desk.conversations
        self.critical_unread = {
            c for c in self.critical_unread
            if (conv := conversations.get(c)) is not None and conv.status == OPEN
            and conv.unread}
        return len(self.critical_unread)

    @on(QueueView.Selected)
    def _selected(self, event: QueueView.Selected) -> None:
        # A move after a pause redraws at once (with the cursor, no frame of its own); moves in
        # quick succession (a held key) only repaint queue rows, and the panes follow once the
        # cursor rests.
        now = time.monotonic()
        rested = now - self._moved_at >= self.detail_debounce
        self._moved_at = now
        if rested and self._detail_timer is None:
            self.redraw_detail()
        else:
            self.schedule_detail()

    @on(QueueView.Opened)
    def _opened(self, event: QueueView.Opened) -> None:
        self.open(event.conv_id)

    def on_resize(self) -> None:
        # Breakpoint classes change with the width: the suggestion is drawn compact or not,
        # and the panes' heights depend on the width.
        self.call_after_refresh(self.redraw_detail, True)

    # ==== alerts ===============================================================================

    def ingested(self, results: list[Any]) -> None:
        """Called with each batch ``desk.ingest`` filed (by the runner, or by :meth:`ingest`)."""
        new = sum(1 for r in results if r.new)
        if new:
            self._arrivals.append((self.clock().timestamp(), new))
        critical = [r for r in results if r.alert == "critical"]
        if critical:
            self.critical_unread.update(r.conv_id for r in critical)
            self.alert("critical", [
                Alert(f"#{r.conv_id} @{one_line(r.mention.author.handle, 40)} "
                      f"({r.triage.category})", one_line(r.mention.text, 120))
                for r in critical])

    def ingest(self, mentions: Iterable[Any]) -> list[Any]:
        """File mentions now (tests, pasted imports) with the same alerting as live ones."""
        results = self.desk.ingest(mentions)
        self.ingested(results)
        return results

    def tick(self) -> None:
        """Every second: wake snoozes, raise at-risk alerts, redraw the status bar."""
        alerts = self.desk.tick(self.clock())
        if alerts:
            self.alert("at_risk", [Alert(a.message, "") for a in alerts])
        self.redraw_status()

    def alert(self, kind: str, alerts: list[Alert]) -> None:
        """Toast and ring for ``alerts`` of ``kind`` ("critical", "at_risk"): at once when this
        kind was quiet for ``ALERT_COOLDOWN`` s, else together with whatever else arrives
        before the cooldown ends — one toast, one bell, every alert counted."""
        batch = self._alerts[kind]
        batch.pending.extend(alerts)
        wait = batch.last_shown + ALERT_COOLDOWN - time.monotonic()
        if wait <= 0:
            self._show_alerts(kind)
        elif batch.timer is None:
            batch.timer = self.set_timer(wait, partial(self._show_alerts, kind),
                                         name=f"alerts-{kind}")

    def flush_alerts(self) -> None:
        """Show the alerts waiting for their cooldown now."""
        for kind in self._alerts:
            self._show_alerts(kind)

    def _show_alerts(self, kind: str) -> None:
        batch = self._alerts[kind]
        if batch.timer is not None:
            batch.timer.stop()
            batch.timer = None
        alerts, batch.pending = batch.pending, []
        if not alerts:
            return
        batch.last_shown = time.monotonic()
        self.rings += 1
        self.bell()
        self.notify(scrub(batch.summary(alerts), 600), severity=batch.severity,  # type: ignore[arg-type]
                    timeout=10, markup=False)

    # ==== commands =============================================================================

    def trigger(self, action: str) -> None:
        """Run a desk action by name (the command palette) — not under an open dialog: it would
        act on whatever the queue has selected, beneath the agent's half-done work."""
        if any(not isinstance(s, (MainScreen, CommandPalette)) for s in self.screen_stack):
            self.say("close the open dialog first", "warning")
            return
        self.call_later(self.run_action, action)

    def say(self, message: str, severity: str = "information") -> None:
        self.notify(scrub(message, 600), severity=severity, markup=False)  # type: ignore[arg-type]

    def refuse(self, reasons: Iterable[str]) -> None:
        self.say("refused: " + "; ".join(reasons), "warning")

    def current(self) -> str | None:
        conv_id = self.selected
        if conv_id is None or conv_id not in self.desk.conversations:
            self.say("no conversation selected", "warning")
            return None
        return conv_id

    def open(self, conv_id: str) -> int:
        seq = self.desk.open(conv_id)
        self.seen[conv_id] = seq
        self.redraw_detail()
        return seq

    def seen_seq(self, conv_id: str) -> int:
        """What the agent saw: recorded when they opened it, else now (they are looking at it)."""
        if conv_id not in self.seen:
            return self.open(conv_id)
        if self.desk.conversations[conv_id].unread:
            # Shown in the pane but never opened: acting on it reads it, as opening does; what
            # the agent saw is still what the pane last drew.
            self.desk.open(conv_id)
        return self.seen[conv_id]

    def done(self, message: str | None) -> None:
        """A modal's result: show it and redraw."""
        if message:
            self.say(message)
        # The agent acted: show the queue's answer now rather than on the widget's next tick.
        queue = self._pane(QueueView)
        if queue is not None:
            queue.apply_changes()
        self.redraw()

    def run_desk(self, do: Callable[[], str]) -> None:
        try:
            message = do()
        except ActionRefused as exc:
            self.refuse(exc.reasons)
            return
        except (KeyError, ValueError) as exc:
            self.say(str(exc.args[0]) if exc.args else str(exc), "warning")
            return
        self.done(message)

    def action_next(self) -> None:
        conv = self.desk.next()
        if conv is None:
            self.say("nothing in the queue")
            return
        queue = self.queue_view
        if conv.id not in queue.queue:
            self.action_clear_filter()
        queue.select(conv.id)
        self.open(conv.id)

    def _modal(self, screen_cls: type, **kw: Any) -> None:
        conv_id = self.current()
        if conv_id is None:
            return
        try:
            screen = screen_cls(self.desk, conv_id, blink=self.blink, **kw)
        except (KeyError, ActionRefused) as exc:
            self.say(str(exc), "warning")
            return
        self.push_screen(screen, self.done)

    def action_reply(self) -> None:
        conv_id = self.current()
        if conv_id is not None:
            self._modal(ComposerScreen, seen_seq=self.seen_seq(conv_id))

    def action_offline(self) -> None:
        conv_id = self.current()
        if conv_id is not None:
            self._modal(OfflineScreen, seen_seq=self.seen_seq(conv_id))

    def action_handoff(self) -> None:
        self._modal(HandoffScreen)

    def action_resolve(self) -> None:
        self._modal(ResolveScreen)

    def action_snooze(self) -> None:
        self._modal(SnoozeScreen)

    def action_ignore(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return
        conv = self.desk.conversations[conv_id]
        question = Content.assemble(
            ("Mark ", ""), (f"#{conv_id} @{one_line(conv.handle, 40)}", "bold"),
            " as spam / ignore? Nothing is deleted; u undoes it.")

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_desk(lambda: (self.desk.ignore(conv_id, "spam"),
                                       f"marked #{conv_id} as spam (nothing deleted)")[1])

        self.push_screen(ConfirmScreen(question, yes="Mark spam", no="Cancel"), answer)

    def action_assign(self) -> None:
        conv_id = self.current()
        if conv_id is not None:
            self.run_desk(lambda: f"assigned #{conv_id} to "
                                  f"{self.desk.assign(conv_id).details['to']}")

    def action_tag(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return

        def act(text: str) -> str:
            ev = self.desk.tag(conv_id, text)
            verb = "untagged" if ev.details["remove"] else "tagged"
            return f"{verb} #{conv_id} {ev.details['tag']}"

        self.push_screen(PromptScreen(f"Tag #{conv_id} (-tag removes it)", placeholder="tag",
                                      act=act, blink=self.blink), self.done)

    def action_note(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return

        def act(text: str) -> str:
            self.desk.note(conv_id, text)
            return f"noted on #{conv_id}"

        self.push_screen(PromptScreen(f"Internal note on #{conv_id}",
                                      placeholder="what the next agent should know", act=act,
                                      blink=self.blink), self.done)

    def action_undo(self) -> None:
        def do() -> str:
            ev = self.desk.undo()
            return f"undid {', '.join(ev.details['kinds'])} on #{ev.conv}"

        self.run_desk(do)

    def action_accept(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return

        def accept(seen: int | None) -> None:
            try:
                events = self.desk.accept(conv_id, seen_seq=seen)
            except Outgrown as exc:
                def answer(yes: bool | None) -> None:
                    if yes:
                        accept(None)

                noun = "message" if exc.count == 1 else "messages"
                self.push_screen(ConfirmScreen(f"{exc.count} new {noun} arrived — send anyway?",
                                               yes="Send anyway", no="Go back"), answer)
                return
            except ActionRefused as exc:
                self.refuse(exc.reasons)
                return
            kinds = ", ".join(e.kind for e in events)
            case = next((e.details["case_id"] for e in events if e.kind == "handoff"), None)
            self.done(f"#{conv_id}: {kinds}" + (f" ({case})" if case else "")
                      + " — u undoes it all")

        accept(self.seen_seq(conv_id))

    def action_filter(self) -> None:
        def act(text: str) -> str:
            return self.apply_filter(text)

        self.push_screen(PromptScreen(
            "Filter the queue", value=self.filter_text,
            placeholder="category:refund team:refunds channel:dm urgency:high words",
            help_lines=filter_help(self.desk), act=act, blink=self.blink), self.done)

    def apply_filter(self, text: str) -> str:
        """Show only open conversations matching ``text`` (empty: the whole queue)."""
        predicate = parse_filter(text, self.desk)  # ValueError names what is wrong
        old = self.filter_view
        if predicate is None:
            self.filter_view, self.filter_text = None, ""
            self.queue_view.set_queue(self.desk.queue)
            message = "filter cleared"
        else:
            self.filter_view, self.filter_text = self.desk.view(predicate), text.strip()
            self.queue_view.set_queue(self.filter_view)
            message = f"filter: {self.filter_text} ({len(self.filter_view)} open)"
        if old is not None:
            self.desk.drop_view(old)
        self.redraw()
        return message

    def action_clear_filter(self) -> None:
        if self.filter_view is not None:
            self.say(self.apply_filter(""))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    def key_of(self, binding_id: str, default: str) -> str:
        key = self.keys.get(binding_id, default)
        return ", ".join(KEY_LABELS.get(k.strip(), k.strip()) for k in key.split(","))

    def help_sections(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        desk_rows = [(self.key_of(bid, key), description, bid)
                     for bid, key, _action, _label, description, _show in DESK_KEYS]
        queue_rows = []
        for b in QueueView.BINDINGS:
            assert isinstance(b, Binding)
            queue_rows.append((self.key_of(b.id or "", b.key), b.description, b.id or ""))
        modal_rows = [("ctrl+s", "Send / confirm in a modal", "modal.submit"),
                      ("escape", "Close a modal (a reply draft is kept)", "modal.close"),
                      ("ctrl+f", "Composer: search canned replies", "composer.search"),
                      ("y / n", "Answer a confirmation", "confirm.yes / confirm.no")]
        app_rows = [("ctrl+p", "Command palette: every action by name", "command_palette"),
                    ("ctrl+q", "Quit (saves everything)", "quit")]
        return [("Desk", desk_rows), ("Queue", queue_rows), ("Modals", modal_rows),
                ("App", app_rows)]

    def action_stats(self) -> None:
        try:
            from .stats_screen import StatsScreen
        except ImportError:
            self.say("the statistics screen is not available in this build", "warning")
            return
        self.push_screen(StatsScreen(self.desk))


# ==== the command line =========================================================================

def build_sources(args: argparse.Namespace, config: Any) -> list[Any]:
    """``--source`` specs, else the config's sources, else the demo stream."""
    from ..sources.registry import make_source, source_options

    specs = list(getattr(args, "source", None) or [])
    if not specs and config is not None:
        configured = getattr(config, "sources", None) or []
        specs = [s if isinstance(s, str) else getattr(s, "spec", str(s)) for s in configured]
    if not specs:
        specs = ["demo"]
    return [make_source(spec, config, options=source_options(spec, args)) for spec in specs]


def run_console(args: argparse.Namespace, serve: Callable[..., Any] | None = None) -> int:
    """Open the desk from the command-line options and run the console until quit.  ``serve``:
    run CLI commands sent over the data directory's socket with it (see ``DeskServer``)."""
    from ..setup.boot import BootError, open_desk, options_from

    try:
        desk = open_desk(options_from(args), console=True)
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return exc.code
    try:
        sources = build_sources(args, desk.config)
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        desk.close()
        if desk.store is not None:
            desk.store.close()
        return 2
    log_dir = getattr(desk.store, "path", None) or getattr(desk.store, "data_dir", None)
    if log_dir is not None:
        # Sources log to a file: the console owns the terminal.
        logging.basicConfig(filename=str(Path(log_dir) / "console.log"), level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = MentionDesk(desk, sources, serve=serve)
    result = app.run()
    app.close_desk()
    return int(result or 0)
