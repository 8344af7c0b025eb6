"""The Textual console: a view of the desk that sends it commands.

``mentiondesk`` with no sub-command calls :func:`run_console`.  The app owns no business rule: it
reads the desk (queue, history, suggestion, counts), sends it commands (reply, take offline, hand
off, resolve, snooze, ignore, assign, tag, note, accept, undo) and shows each result — or the
desk's reasons for refusing — as a notification with ``markup=False``.

Sources run on the app's own event loop in an async worker (the desk is single-threaded): the
:class:`~tui.sources.runner.Runner` batches their mentions into ``desk.ingest`` and delivers the
outbox.  The desk tells us what changed through ``desk.subscribe``.

While 100 mentions a second stream in, the screen must stay quiet enough for keys to feel
instant (p95 <= 16 ms, one frame at 60 Hz) and for a remote terminal to keep up (< 20 KB/s
at 80x24), so every redraw is coalesced and no single step holds the loop long:

* the queue widget applies changes on its own 4 Hz tick; its scroll range follows the queue
  without a screen layout;
* the status bar redraws once a second (on the desk's tick, ``tick_seconds``) and after the
  agent's own actions, only when its text changed, and without a layout;
* the detail panes (conversation + suggestion) redraw ``DETAIL_DEBOUNCE`` seconds after the
  cursor stops moving (right after the cursor's own frame when it moves after a pause), so
  holding ``j`` costs one queue row per key, not a screen layout;
* alerts (critical arrivals, at-risk clocks) become at most one toast and one bell per kind
  every ``ALERT_COOLDOWN`` seconds, naming how many arrived (:mod:`.alerts` keeps the
  batches; the app owns the timers and the bell); the status bar counts unread critical
  conversations, so an alert is never lost in a summary.

The conversation pane also shows the thread around the conversation's latest mention as the
network has it (``Source.context``): fetched when the agent opens a conversation or the cursor
rests on one, in an exclusive async worker (moving on cancels the fetch in flight) with a
timeout, and kept per mention in a small LRU (:mod:`.threads`) so that going back costs
nothing.  The key table, the help and the command palette are :mod:`.keys` and
:mod:`.palette`; the filter language is :mod:`tui.core.filters`.  A source that
offers no thread (demo, replay, feed) costs nothing either: no worker, no section.

:meth:`MentionDesk.flush_redraws` applies whatever is pending at once (tests, after an action).

Desk actions are bound on the main screen (not the app) so that a key pressed while a modal is
open can never start a second action underneath it.  Every binding has an ``id`` so the config's
``keys:`` mapping can remap it (``App.set_keymap``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Container, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import Worker, get_current_worker

from widgets.conversation import ConversationView, Thread, event_text
from widgets.queue_view import EMPTY_TEXT, QueueView
from widgets.safe import assemble, one_line, plain, scrub
from widgets.status_bar import STATE_STYLE, SourceLine, StatusBar
from widgets.suggestion import SuggestionView

from ..core.api import ActionRefused, Outgrown, describe, describe_all
from ..core.desk import OPEN, Desk
from ..core.filters import parse_filter
from ..core.labels import Labels
from ..core.model import Mention
from ..core.replies import network_of
from ..core.rules import RulesError
from ..core.store import process_running
from ..core.when import due_text
from ..server.remote import RemoteDesk
from ..setup.boot import close_desk, recovery_notes
from ..setup.reload import take_request
from ..sources.base import Source
from .alerts import AlertBatches, AlertLine, desktop_notification
from .keys import DESK_KEYS, help_sections
from .palette import JUMP, DeskCommands
from .threads import THREAD_TIMEOUT, Fetched, ThreadCache

log = logging.getLogger("mentiondesk.console")


def screens() -> Any:
    """The dialogs (``tui.console.screens``), imported when the first one opens: the first
    screen does not need them, and a console's start is measured (bench/bench_desk_process.py,
    issue 9)."""
    from . import screens as module

    return module

STATE_FILE = "console-state.json"  # in the data directory: the chosen theme
# The detail panes redraw this long after the cursor stops (seconds).  Above the gaps of a
# held key or a fast scan (20-80 ms, bench/bench_console.py): at 0.08 s a scan's 80 ms gap
# started a pane redraw (~12 ms + its frame) just as the next key came, and that key waited
# for it — p95 31 ms against the 16 ms target; at 0.12 s p95 12.6-13.3 ms (idle, 2 cores).
# A single move after a pause still draws its panes in the frame right after the cursor's.
DETAIL_DEBOUNCE = 0.12
# From this many mentions on the desk, the objects that live as long as the desk are moved out
# of the cycle collector's sight (gc.freeze), again each time the desk doubles: a full
# collection over a 10,000-conversation desk stopped the screen for 200-450 ms at random
# moments (bench/bench_console.py, issue 12 acceptance).  Below it the pause is too short to see.
FREEZE_FROM = 2000


PaneT = TypeVar("PaneT", bound=Widget)


class MainScreen(Screen):
    """Queue | conversation + suggestion, status bar, footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"app.{action}", label, show=show, id=bid, tooltip=description)
        for bid, key, action, label, description, show in DESK_KEYS
    ] + [
        # j/k work wherever Tab left the focus (the history, the suggestion): they move the
        # queue's cursor and give the queue its focus back — never a dead key (issue 12 #16).
        Binding("j", "queue_move(1)", "Next", show=False, id="main.down"),
        Binding("k", "queue_move(-1)", "Previous", show=False, id="main.up"),
    ]
    # Under 150 columns the panes stack (queue on top, full width: at 120 columns a queue beside
    # the conversation would be narrower than at 80); from 150 they sit side by side.  Taller
    # terminals give the stacked queue more rows (issue 12 item 14).
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (150, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (32, "-tall")]

    def __init__(self, desk: Desk) -> None:
        super().__init__(id="main")
        self.desk = desk
        # The loaded rules' level and category names, for the widgets (never hard-coded there).
        self.labels = Labels.from_rules(desk.rules)

    def compose(self) -> ComposeResult:
        with Container(id="panes"):
            queue = QueueView(self.desk, self.desk.queue, labels=self.labels, id="queue")
            if isinstance(self.desk, RemoteDesk):
                queue.presence = {}  # who else views or writes each conversation
            yield queue
            with Vertical(id="detail"):
                yield ConversationView(id="conversation")
                yield SuggestionView(labels=self.labels, id="suggestion")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(QueueView).focus()
        self.app.redraw()  # type: ignore[attr-defined]

    def on_screen_suspend(self) -> None:
        # A dialog opened on top: toasts on screen would cover it; they wait for it to close.
        if self.app.dialog_open():  # type: ignore[attr-defined]
            self.app.hold_notifications()  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        self.app.release_notifications()  # type: ignore[attr-defined]

    def action_queue_move(self, delta: int) -> None:
        queue = self.query_one(QueueView)
        queue.focus()
        (queue.action_cursor_down if delta > 0 else queue.action_cursor_up)()


class DeskPalette(CommandPalette):
    """The command palette, closed by ``ctrl+g`` too, like every dialog: escape waits for the
    terminal's escape delay and is unreliable over tmux / SSH."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+g", "escape", "Close the command palette", show=False,
                id="palette.close"),
    ]


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
        # Opt-in desktop notifications next to the bell (config ``desktop_notify: true``).
        self.desktop_notify = bool(getattr(desk.config, "desktop_notify", False))
        self.desktop_sent: list[str] = []  # what was sent (tests read it)
        self.desk_server: Any = None
        # A console attached to a desk process (another process holds the data directory):
        # the desk is its replica, actions are requests, presence and alerts arrive as messages.
        self.remote: RemoteDesk | None = desk if isinstance(desk, RemoteDesk) else None
        self._presence_sent: tuple[str | None, str | None] | None = None
        self.sources = list(sources)
        self.clock = clock or desk.clock
        self.blink = blink
        self.tick_seconds = tick_seconds
        self.rules_poll_seconds = 2.0  # how often the rules file is checked for changes
        self._rules_mtime: tuple[float, int] | None = None
        self._reload_signal = False
        self.runner_options = runner_options or {}
        self.runner: Any = None
        self.seen: dict[str, int] = {}  # conv id -> seen_seq when the agent opened it
        self.filter_text = ""
        self.filter_view: Any = None
        self._before_filter: str | None = None  # the selection when the filter was set
        # The instant every countdown on screen was last computed from (set on each tick).
        self.countdown_now: datetime | None = None
        self.rings = 0  # bells rung (tests read it: the headless driver has no bell)
        self.closed = False
        self._changed: set[str] = set()
        self._redraw_scheduled = False
        self._detail_timer: Timer | None = None
        self._moved_at = float("-inf")  # time.monotonic() of the last cursor move
        # What the suggestion pane was last drawn from, besides the conversation itself (which
        # redraws it when it changes): the clock tick redraws it only when one of these did.
        self._suggested_from: tuple[Any, ...] | None = None
        self._frozen_at = 0  # desk size (mentions) at the last settle_heap freeze
        self.detail_debounce = DETAIL_DEBOUNCE
        self._arrivals: deque[tuple[float, int]] = deque()
        self.alerts = AlertBatches()
        self._alert_timers: dict[str, Timer] = {}
        # Critical conversations alerted and not opened yet: the status bar's count, which
        # includes every alert a summary toast did not name.
        self.critical_unread: set[str] = set()
        # New high-urgency conversations not opened yet (no toast for them): counted on the
        # queue's edge when they land above the rows on screen, as criticals are.
        self.high_unread: set[str] = set()
        # Toasts held back while a dialog is open (notify's keyword arguments, in order): a
        # care agent typing a reply must see all of it; they show when the dialog closes.
        self.held_notices: list[dict[str, Any]] = []
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

    # ==== the chosen theme, remembered ========================================================

    @property
    def state_path(self) -> Path | None:
        """``<data dir>/console-state.json``: what the console remembers between runs (the
        theme); None without a data directory (tests, a desk in memory)."""
        data_dir = getattr(self.desk.store, "data_dir", None)
        return Path(data_dir) / STATE_FILE if data_dir is not None else None

    def load_state(self) -> dict[str, Any]:
        path = self.state_path
        if path is None:
            return {}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or damaged: the defaults do
        return state if isinstance(state, dict) else {}

    def save_state(self, **changes: Any) -> None:
        path = self.state_path
        if path is None or getattr(self.desk.store, "read_only", False):
            return
        state = self.load_state() | changes
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a full disk must not take the console down for a theme
            log.warning("could not save %s: %s", path, exc)

    def restore_theme(self) -> None:
        """The theme chosen last time (ctrl+p → theme), else the config's ``theme:``."""
        name = self.load_state().get("theme") or getattr(self.desk.config, "theme", None)
        if isinstance(name, str) and name in self.available_themes:
            self.theme = name

    def _theme_changed(self, theme: Any) -> None:
        self.save_state(theme=theme.name)

    def unread_criticals(self) -> set[str]:
        """Open conversations of the most urgent level that need a reply and that nobody has
        opened since their last message: ``‼ N critical unread`` after a restart, when no alert
        of this run could have counted them (issue 12 item 8)."""
        return {c.id for c in self.desk.conversations.values()
                if c.status == OPEN and c.needs_reply and c.unread
                and c.triage is not None and c.triage.rank == 0}

    def action_command_palette(self) -> None:
        """The command palette (``ctrl+p``), as Textual opens it, with ``ctrl+g`` to close."""
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(DeskPalette(id="--command-palette"))

    def action_dismiss(self) -> None:
        """Dismiss every notification on screen (a click dismisses one)."""
        self.clear_notifications()

    def dialog_open(self) -> bool:
        """True when a dialog (a modal screen: an action, a prompt, the palette, help) is on
        top; a full screen (stats) shows toasts as the desk does."""
        try:
            return isinstance(self.screen, ModalScreen)
        except ScreenStackError:
            return False

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """A toast — held back while a dialog is open (it would cover half of an 80x24
        dialog for 10–30 s): counted in the status bar and shown when the dialog closes.
        Alerts still ring the bell at once (:meth:`_show_alerts`)."""
        notice = dict(message=message, title=title, severity=severity, timeout=timeout,
                      markup=markup)
        if self.dialog_open():
            self.held_notices.append(notice)
            self.redraw_status()
            return
        self.release_notifications()  # held ones first, in order
        super().notify(**notice)

    def hold_notifications(self) -> None:
        """A dialog opened: the toasts on screen wait (with the time they had left)."""
        now = time.time()
        for n in list(self._notifications):
            if n.has_expired:
                continue
            self.held_notices.append(dict(message=n.message, title=n.title,
                                          severity=n.severity, markup=n.markup,
                                          timeout=max(3.0, n.raised_at + n.timeout - now)))
        if len(self._notifications):
            self.clear_notifications()
            # the desk's own rack shows through around a small dialog: empty it too
            for rack in self.main.query("ToastRack"):
                rack.show(self._notifications)  # type: ignore[attr-defined]
        self.redraw_status()

    def release_notifications(self) -> None:
        """The desk is on top again: show what was held, oldest first."""
        held, self.held_notices = self.held_notices, []
        for notice in held:
            super().notify(**notice)
        if held:
            self.redraw_status()

    def on_mount(self) -> None:
        self.critical_unread |= self.unread_criticals()
        self.restore_theme()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.keys:
            self.set_keymap(self.keys)
        self.desk.subscribe(self._desk_changed)
        # Delivery progress (pending → sent / failed) is shown in the history as it happens.
        self.desk.outbox.listeners.append(self._delivery_changed)
        self.set_interval(self.tick_seconds, self.tick, name="desk-tick")
        self.settle_heap()
        repairs = recovery_notes(self.desk) + (self.remote.repairs if self.remote else [])
        for note in repairs:  # what a crash left behind, repaired: say so
            log.warning(note)
            self.notify(note, title="Data directory repaired", severity="warning",
                        timeout=30, markup=False)
        if self.sources:
            self.run_sources()
        if self.remote is not None:
            for note in self.remote.notes:  # e.g. the desk process runs other sources
                self.notify(note, title="Sources", severity="warning", timeout=30,
                            markup=False)
            self.remote.watchers.append(self._remote_message)
            # The first screen is drawn from the replica's first part; the rest of it (and the
            # changes meanwhile) is applied once it is on screen (on_ready), one part per turn.
        if self.serve_execute is not None and self.desk.store is not None:
            self.serve_desk()
        # Rules change without a restart: on SIGUSR1 (`mentiondesk rules reload`) and when the
        # rules file changes on disk.  A hang-up (SIGHUP: the SSH session dropped) or SIGTERM
        # quits as `q` does: the open dialog's typing is kept as the draft, the desk is
        # checkpointed and released for the next console.
        self._rules_mtime = self._rules_stamp()
        if self.remote is None:  # attached to a desk process: it holds the rules
            self.set_interval(self.rules_poll_seconds, self._watch_rules, name="rules-watch")
        try:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, lambda: self.call_later(self._on_reload_signal))
            for sig in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_stop_signal, sig)
            self._reload_signal = True
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            self._reload_signal = False  # not the main thread, or no signals on this platform

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

    # ==== attached to a desk process ===========================================================

    def on_ready(self) -> None:
        """The first frame is on the terminal (Textual's ``Ready``): apply the rest of the
        replica from now on — applying a part first delayed the first screen ~40 ms at
        100,000 conversations."""
        self._start_remote()

    def _start_remote(self) -> None:
        if self.remote is not None and not self.closed:
            loop = asyncio.get_running_loop()
            self.remote.wake = partial(loop.call_soon_threadsafe, self._pump_remote)
            self._pump_remote()

    def _pump_remote(self) -> None:
        if self.remote is not None and not self.closed:
            # One part of a loading replica per turn: keys are handled in between.
            self.remote.pump(parts=1)  # changes reach _desk_changed through desk.subscribe

    def _remote_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "presence":
            self._show_presence()
        elif kind == "sources":  # the desk process's sources: the status bar follows
            self.redraw_status()
        elif kind == "alert":
            what = str(message.get("kind") or "")
            batch = {"critical": "critical", "approval": "approval", "rejected": "rejected"
                     }.get(what, "at_risk")
            conv_id = str(message.get("conv_id") or "")
            if batch == "critical" and conv_id:
                self.critical_unread.add(conv_id)
            count = message.get("count")
            self.alert(batch, [AlertLine(one_line(message.get("message") or what, 300), "",
                                         conv_id, count if isinstance(count, int) else 1)])
        elif kind == "_loaded":  # the whole replica is here: its own counts from now on
            # At mount only the replica's first part was here (200 rows): count them all now.
            self.critical_unread |= self.unread_criticals()
            self.redraw_status()
        elif kind == "rules":
            if message.get("problems"):
                self.notify(scrub("\n".join(message["problems"]), 1200),
                            title="The desk process's rules cannot be shown here",
                            severity="error", timeout=30, markup=False)
            else:
                self.notify(scrub(str(message.get("summary") or ""), 600),
                            title="Rules reloaded by the desk process", markup=False)
            self.redraw_status()
            self.redraw_detail()
        elif kind == "_offline":
            self.redraw_status()
            self.say("desk offline — reconnecting (an open dialog keeps your text)", "warning")
        elif kind == "_online":
            self._presence_sent = None
            self.redraw_status()
            self.redraw_detail()
            pid = self.remote.server_pid if self.remote is not None else 0
            self.say(f"desk back online (desk process {pid})")

    def others_on(self, conv_id: str | None) -> list[dict[str, Any]]:
        """Presence of the other clients on ``conv_id``."""
        if self.remote is None or conv_id is None:
            return []
        return [p for p in self.remote.others() if p.get("conv") == conv_id]

    def presence_text(self, conv_id: str | None) -> str | None:
        """``kim is writing a reply · lee is viewing`` for the conversation pane."""
        words = {"writing": "is writing a reply", "noting": "is writing a note",
                 "viewing": "is viewing"}
        seen: dict[str, str] = {}
        for p in self.others_on(conv_id):
            name = str(p.get("agent"))
            doing = str(p.get("doing") or "viewing")
            if seen.get(name) != "writing":
                seen[name] = doing
        if not seen:
            return None
        return " · ".join(f"{name} {words.get(doing, 'is viewing')}"
                          for name, doing in sorted(seen.items()))

    def _show_presence(self) -> None:
        queue = self._pane(QueueView)
        if self.remote is None or queue is None or queue.presence is None:
            return
        marks: dict[str, str] = {}
        for p in self.remote.others():
            conv = p.get("conv")
            if conv is None:
                continue
            mark = "✍" if p.get("doing") in ("writing", "noting") else "◉"
            if marks.get(conv) != "✍":
                marks[str(conv)] = mark
        changed = {c for c in set(marks) | set(queue.presence)
                   if marks.get(c) != queue.presence.get(c)}
        queue.presence = marks
        if changed:
            queue.changed(changed)
            queue.apply_changes()
            queue.refresh()
        self.redraw_status()
        if self.selected in changed:
            self.redraw_detail()

    def tell_presence(self, conv_id: str | None, doing: str | None = "viewing") -> None:
        """Say what this console shows (sent only when it changed; never waited for)."""
        if self.remote is None:
            return
        state = (conv_id, doing if conv_id else None)
        if state == self._presence_sent:
            return
        self._presence_sent = state
        self.remote.tell_presence(*state)

    def others_on_desk(self) -> list[str]:
        if self.remote is None:
            return []
        return sorted({str(p.get("agent")) for p in self.remote.others()})

    # ==== rules reload ==========================================================================

    def _rules_stamp(self) -> tuple[float, int] | None:
        try:
            st = Path(self.desk.rules.path).stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def _watch_rules(self) -> None:
        stamp = self._rules_stamp()
        if stamp is None or stamp == self._rules_mtime:
            return
        self._rules_mtime = stamp  # a broken file is reported once, not every poll
        self.reload_rules()

    def _on_reload_signal(self) -> None:
        store = getattr(self.desk, "store", None)
        request = take_request(getattr(store, "data_dir", None))
        self.reload_rules(request.path, retriage=request.retriage)

    def reload_rules(self, path: str | None = None, *, retriage: bool = False) -> bool:
        """Reload the rules through the desk; a broken file is shown and the old rules stay."""
        if self.remote is not None:
            self.say("the desk process holds the rules: `mentiondesk rules reload` reloads "
                     "them there", "warning")
            return False
        try:
            result = self.desk.reload_rules(path, retriage=retriage)
        except RulesError as exc:
            problems = "\n".join(str(p) for p in exc.problems[:6])
            more = f"\n(+{len(exc.problems) - 6} more)" if len(exc.problems) > 6 else ""
            log.warning("rules not reloaded: %s", problems)
            self.notify(scrub(f"{problems}{more}\nThe desk keeps its current rules.", 1200),
                        title="Rules not reloaded", severity="error", timeout=30, markup=False)
            return False
        except OSError as exc:
            self.notify(scrub(f"rules not reloaded: {exc}", 400), severity="error",
                        markup=False)
            return False
        self._rules_mtime = self._rules_stamp()
        self.notify(scrub(result.summary, 600), title="Rules reloaded", markup=False)
        return True

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
        if self._reload_signal:
            try:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
            except (RuntimeError, ValueError):
                pass
            self._reload_signal = False
        # The desk outlives the app (tests reuse it): stop hearing from it, stop pending redraws.
        for listeners, callback in ((self.desk.listeners, self._desk_changed),
                                    (self.desk.outbox.listeners, self._delivery_changed)):
            if callback in listeners:
                listeners.remove(callback)
        self._cancel_detail()
        for timer in self._alert_timers.values():
            timer.stop()
        self._alert_timers.clear()
        self.close_desk()

    def close_desk(self) -> None:
        """Flush, snapshot and release the data directory (once)."""
        if self.closed:
            return
        self.closed = True
        if self.desk_server is not None:
            self.desk_server.close_now()
            self.desk_server = None
        if self.remote is not None:
            self.remote.close()  # the desk process goes on serving the others
            self.close_problems = []
            return
        # Never raises (a full disk must not turn quitting into a traceback); what could not
        # be saved is said on the terminal once the app has left it.
        self.close_problems = close_desk(self.desk, checkpoint=True)
        for problem in self.close_problems:
            log.error("%s", problem)

    def _on_stop_signal(self, sig: int) -> None:
        log.warning("%s: saving the draft and closing the desk", signal.Signals(sig).name)
        self.call_later(self.action_quit)

    def _save_open_drafts(self) -> None:
        """A dialog still open holds typing the draft debounce has not written down yet."""
        if not self.closed:
            for screen in self.screen_stack:
                if isinstance(screen, (screens().ActionModal, screens().NoteScreen)):
                    screen.save_draft()

    async def action_quit(self) -> None:
        if self._stop is not None:
            self._stop.set()
            # Let the runner hand over what it holds and finish posts in flight (5 s grace).
            await self.workers.wait_for_complete()
        self._save_open_drafts()
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

    def redraw_detail(self, force: bool = False, now: datetime | None = None,
                      tick: bool = False) -> None:
        """Redraw the conversation and suggestion panes now (``force``: lay them out even when
        their text did not change).  ``tick`` (the clock's second): the countdowns move, the
        suggestion is redrawn only when something it reads beyond the conversation changed
        (the next case number, the policy, the agent) — it is the costliest pane to build, and
        a change to the conversation redraws it anyway."""
        self._cancel_detail()
        conversation, suggestion = self._pane(ConversationView), self._pane(SuggestionView)
        if conversation is None or suggestion is None:
            return
        conv_id = self.selected
        if conv_id is not None and conv_id not in self.desk.conversations:
            conv_id = None
        if conv_id is not None:
            # The pane shows the whole history: what it shows counts as seen when replying.
            self.seen[conv_id] = self.desk.conversations[conv_id].last_seq
        narrow = self.main.has_class("-narrow")
        if self.remote is not None and len(self.screen_stack) == 1:
            self.tell_presence(conv_id, "viewing")
        desk = self.desk
        source = (conv_id, narrow, desk.peek_case_id(), id(desk.rules), id(desk.replies),
                  desk.agent)
        if force or not tick or source != self._suggested_from:
            self._suggested_from = source
            suggestion.show(desk, conv_id, compact=narrow, force=force)
        conversation.show(self.desk, conv_id, thread=self.thread_for(conv_id), force=force,
                          now=now or self.countdown_now, presence=self.presence_text(conv_id),
                          empty=(f"Nothing here matches {one_line(self.filter_text, 60)}; esc "
                                 "shows the whole queue." if self.filter_view is not None
                                 else None))

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
        if fetched is not None and not fetched.stale(time.monotonic()):
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
            sources=self.source_lines(), others=self.others_on_desk(),
            per_minute=per_minute, counts=self.desk.counts(now), agent=self.desk.agent,
            office_open=bool(oh.is_open(now)) if oh is not None else True,
            filter_text=self.filter_text or None, critical=self._critical_unread(),
            saving=self.desk.not_saving, held=len(self.held_notices))
        if self.filter_view is not None and not len(self.filter_view):
            self.update_empty_text()  # its counts follow the desk's
        self.signal_criticals_above()

    def signal_criticals_above(self) -> None:
        """``▲ 2 new critical · 1 new high above (n jumps)`` on the queue's edge when unread
        critical or new high-urgency items sit above the rows on screen — not only in a toast
        (issue 12 item 7; high urgency: QA item 5)."""
        queue = self._pane(QueueView)
        if queue is None:
            return
        top = round(queue.scroll_y)
        conversations = self.desk.conversations
        # pruned here, as the critical set is: only new items nobody has opened yet
        self.high_unread = {
            c for c in self.high_unread
            if (conv := conversations.get(c)) is not None and conv.status == OPEN
            and conv.unread and c not in self.critical_unread}
        critical = queue.queue.count_above(self.critical_unread, top)
        high = queue.queue.count_above(self.high_unread, top)
        counts = [f"{n} new {what}" for n, what in ((critical, "critical"), (high, "high"))
                  if n]
        text = f"▲ {' · '.join(counts)} above (n jumps)" if counts else ""
        if str(queue.border_subtitle or "") != text:
            queue.border_subtitle = text

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
        # The cursor's own frame goes out first (a few queue rows: key-to-screen stays within
        # a frame, bench/bench_console.py); after a pause the panes follow in the very next
        # frame, while moves in quick succession (a held key) only repaint queue rows and the
        # panes follow once the cursor rests.  Drawing the panes before the cursor's frame
        # made every move after a pause wait for them (issue 12, acceptance: p95 <= 16 ms).
        now = time.monotonic()
        rested = now - self._moved_at >= self.detail_debounce
        self._moved_at = now
        if rested and self._detail_timer is None:
            self.schedule_detail()  # the fallback: drawn once the cursor rests anyway
            timer = self._detail_timer
            self.call_after_refresh(self._detail_after_frame, timer)
        else:
            self.schedule_detail()

    def _detail_after_frame(self, timer: Any) -> None:
        """The panes for a move after a pause, right after the cursor's frame — unless the
        cursor moved on since (a newer move re-armed the debounce: the panes wait for it)."""
        if timer is not None and timer is self._detail_timer:
            self.redraw_detail()

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
        labels = self.main.labels if self.screen_stack else Labels.from_rules(self.desk.rules)
        self.high_unread.update(
            r.conv_id for r in results
            if r.new and r.alert != "critical" and r.triage is not None
            and r.triage.needs_reply and labels.tier(r.triage.urgency) == "high")
        if critical:
            self.critical_unread.update(r.conv_id for r in critical)
            self.alert("critical", [
                AlertLine(f"#{r.conv_id} @{one_line(r.mention.author.handle, 40)} "
                          f"({r.triage.category})", one_line(r.mention.text, 120), r.conv_id)
                for r in critical])

    def ingest(self, mentions: Iterable[Any]) -> list[Any]:
        """File mentions now (tests, pasted imports) with the same alerting as live ones."""
        results = self.desk.ingest(mentions)
        self.ingested(results)
        return results

    def settle_heap(self) -> None:
        """Once the desk holds ``FREEZE_FROM`` mentions, and again each time it doubled: collect
        garbage once, then freeze what is left (the desk's long-lived objects) so the cycle
        collector never walks it again — its full passes otherwise grow with the desk and
        stop the UI loop mid-keystroke.  Garbage is collected before freezing, so nothing
        unreachable is kept; objects freed by reference counting are freed as always."""
        size = len(self.desk.mentions)
        if size >= max(FREEZE_FROM, 2 * self._frozen_at):
            self._frozen_at = size
            gc.collect()
            gc.freeze()

    def tick(self) -> None:
        """Every second: wake snoozes, raise at-risk alerts, then redraw every countdown on
        screen — queue rows, the conversation header, the status bar — from one instant."""
        self.settle_heap()
        if self.held_notices and not self.dialog_open():
            self.release_notifications()  # the dialog closed onto a screen other than the desk
        now = self.countdown_now = self.clock()
        alerts = self.desk.tick(now)
        if alerts and self.desk_server is not None:
            # Consoles attached to this one hear its alerts too (the on-duty group).
            from ..server.server import alert_message  # (loaded: it serves)

            for a in alerts:
                self.desk_server.alert(alert_message(a), a.team)
        if alerts:
            self.alert("at_risk", [AlertLine(a.message, "", a.conv_id, a.count) for a in alerts])
        queue = self._pane(QueueView)
        if queue is not None:
            queue.refresh_countdowns(now)
        if self._detail_timer is None:  # a pending redraw (the cursor moving) draws it anyway
            try:
                self.redraw_detail(now=now, tick=True)
            except NoMatches:
                pass  # the panes are being torn down (quitting): nothing to tick
        self.redraw_status()

    def alert(self, kind: str, alerts: list[AlertLine]) -> None:
        """Toast and ring for ``alerts`` of ``kind`` ("critical", "at_risk"): at once when this
        kind was quiet for its cooldown, else together with whatever else arrives before the
        cooldown ends — one toast, one bell, every alert counted (:mod:`.alerts`)."""
        wait = self.alerts.add(kind, alerts)
        if wait <= 0:
            self._show_alerts(kind)
        elif kind not in self._alert_timers:
            self._alert_timers[kind] = self.set_timer(wait, partial(self._show_alerts, kind),
                                                      name=f"alerts-{kind}")

    def flush_alerts(self) -> None:
        """Show the alerts waiting for their cooldown now."""
        for kind in self.alerts.batches:
            self._show_alerts(kind)

    def _show_alerts(self, kind: str) -> None:
        timer = self._alert_timers.pop(kind, None)
        if timer is not None:
            timer.stop()
        toast = self.alerts.take(kind)
        if toast is None:
            return
        self.rings += 1
        self.bell()
        if self.desktop_notify:
            sequence = desktop_notification("mentiondesk", toast.message)
            self.desktop_sent.append(sequence)
            if self._driver is not None:
                self._driver.write(sequence)
        self.notify(scrub(toast.message, 600), severity=toast.severity,  # type: ignore[arg-type]
                    timeout=10, markup=False)

    # ==== commands =============================================================================

    def trigger(self, action: str) -> None:
        """Run a desk action by name (the command palette) — not under an open dialog: it would
        act on whatever the queue has selected, beneath the agent's half-done work."""
        dialogs = [s for s in self.screen_stack if not isinstance(s, (MainScreen, CommandPalette))]
        if dialogs:
            # said in the dialog itself: a toast would wait for it to close
            show = getattr(dialogs[-1], "show_errors", None)
            if show is not None:
                show(["close this dialog first: the palette's actions act on the queue"])
            else:
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
        seq = self.desk.mark_read(conv_id)
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
            self.desk.mark_read(conv_id)
        return self.seen[conv_id]

    def done(self, message: str | None) -> None:
        """A modal's result: show it and redraw."""
        if self.remote is not None:
            self.tell_presence(self.selected, "viewing")
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
        """The next conversation for me: my assigned first, then unassigned — never one
        assigned to someone else (Desk.next)."""
        conv = self.desk.next()
        if conv is None:
            self.say("nothing for you in the queue (the rest is assigned to others)"
                     if len(self.desk.queue) else "nothing in the queue")
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
            self._writing(conv_id)
            self._modal(screens().ComposerScreen, seen_seq=self.seen_seq(conv_id))

    def action_offline(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return
        self._writing(conv_id)
        conv = self.desk.conversations.get(conv_id)
        closed = self.desk.dm_closed(conv_id) if conv is not None and not conv.offline else None
        if closed is None:
            self._modal(screens().OfflineScreen, seen_seq=self.seen_seq(conv_id))
            return
        seen = self.seen_seq(conv_id)

        def answer(yes: bool | None) -> None:
            if yes:
                self._modal(screens().OfflineScreen, seen_seq=seen)

        # Asked before anything is tried: the DM would most likely be refused.
        self.push_screen(screens().ConfirmScreen(
            Content.assemble(("A direct message cannot reach this customer: ", "bold"),
                             (one_line(closed, 300), "bold $warning"),
                             ".\nTry to take it offline anyway? The DM goes first; if it is "
                             "refused, nothing is posted in public and the conversation comes "
                             "back to the queue."),
            yes="Try anyway", no="Cancel"), answer)

    def _writing(self, conv_id: str, doing: str = "writing") -> None:
        """Tell the others this agent writes on ``conv_id``; warn, naming them, when someone
        else already is (the soft lock: sending stays guarded by the desk's stale check)."""
        if self.remote is None:
            return
        writers = sorted({str(p.get("agent")) for p in self.others_on(conv_id)
                          if p.get("doing") == "writing"})
        if writers:
            self.say(f"{', '.join(writers)} {'is' if len(writers) == 1 else 'are'} already "
                     f"replying to #{conv_id}: read their reply before you send", "warning")
        self.tell_presence(conv_id, doing)

    def action_handoff(self) -> None:
        self._modal(screens().HandoffScreen)

    def action_resolve(self) -> None:
        self._modal(screens().ResolveScreen)

    def deadline_warning(self, conv_id: str) -> str | None:
        """``#12 @casey is critical, due 14m (08:14)`` when hiding ``conv_id`` would hide a
        critical or at-risk (or late) deadline; None otherwise."""
        conv = self.desk.conversations.get(conv_id)
        if conv is None or not conv.needs_reply or conv.deadline is None:
            return None
        now = self.clock()
        critical = conv.triage is not None and conv.triage.rank == 0
        at_risk = conv.risk_at is not None and conv.risk_at <= now
        if not (critical or at_risk):
            return None
        tz = getattr(self.desk.rules.office_hours, "tz", None)
        left = self.desk.time_left(conv, now)
        state = ("LATE" if conv.deadline <= now else "due") + " " + due_text(
            left, conv.deadline, tz, now)
        level = conv.urgency + (", at risk" if at_risk and conv.deadline > now else "")
        return f"#{conv_id} @{one_line(conv.handle, 40)} is {level}, {state}"

    def action_snooze(self) -> None:
        """Snooze; a critical or at-risk conversation asks first, naming its deadline — the
        clock keeps running while it is out of sight (issue 12 item 7)."""
        conv_id = self.current()
        if conv_id is None:
            return
        warning = self.deadline_warning(conv_id)
        if warning is None:
            self._modal(screens().SnoozeScreen)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._modal(screens().SnoozeScreen)

        self.push_screen(screens().ConfirmScreen(
            Content.assemble((warning, "bold"), ". Snooze it anyway? Its deadline keeps "
                             "running; you will be warned before it passes."),
            yes="Snooze anyway", no="Cancel"), answer)

    def action_ignore(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return
        conv = self.desk.conversations[conv_id]
        warning = self.deadline_warning(conv_id)
        question = Content.assemble(
            ("Mark ", ""), (f"#{conv_id} @{one_line(conv.handle, 40)}", "bold"),
            " as spam / ignore? Nothing is deleted; u undoes it.",
            ("\n" + warning + " — ignoring it closes it unanswered." if warning else "",
             "bold $error"))

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_desk(lambda: describe(self.desk.ignore(conv_id, "spam")))

        self.push_screen(screens().ConfirmScreen(question, yes="Mark spam", no="Cancel"), answer)

    def action_assign(self) -> None:
        conv_id = self.current()
        if conv_id is not None:
            self.run_desk(lambda: describe(self.desk.assign(conv_id)))

    def action_tag(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return

        def act(text: str) -> str:
            return describe(self.desk.tag(conv_id, text))

        self.push_screen(screens().PromptScreen(f"Tag #{conv_id} (-tag removes it)",
                                                placeholder="tag", act=act, blink=self.blink),
                         self.done)

    def action_note(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return

        def act(text: str) -> str:
            return describe(self.desk.note(conv_id, text))

        self.tell_presence(conv_id, "noting")
        self.push_screen(screens().NoteScreen(f"Internal note on #{conv_id} (what the next agent "
                                              "should know)", act, blink=self.blink,
                                              desk=self.desk, conv_id=conv_id), self.done)

    def action_undo(self) -> None:
        """Undo on the conversation on screen; an action elsewhere is undone only after asking,
        naming it (issue 12 item 10)."""
        def do(conv_id: str) -> str:
            return describe(self.desk.undo(conv_id=conv_id))

        here = self.selected
        try:
            if here is not None and self.desk.undoable(conv_id=here) is not None:
                self.run_desk(lambda: do(here))
                return
            elsewhere = self.desk.undoable()
        except ActionRefused as exc:  # attached to a desk process that is away
            self.refuse(exc.reasons)
            return
        if elsewhere is None:
            self.refuse(["nothing to undo (only actions of the last hour can be undone)"])
            return
        conv = self.desk.conversations.get(elsewhere.conv)
        who = f"#{elsewhere.conv}" + (f" @{one_line(conv.handle, 40)}" if conv else "")
        what = event_text(elsewhere)
        question = Content.assemble(
            "Nothing to undo on " + (f"#{here}" if here else "this screen") + ". Undo your last "
            "action on ", (who, "bold"), " instead?\n", (one_line(what, 200), "italic"))

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_desk(lambda: do(elsewhere.conv))

        self.push_screen(screens().ConfirmScreen(question, yes=f"Undo on #{elsewhere.conv}",
                                                 no="Cancel"), answer)

    def action_accept(self) -> None:
        conv_id = self.current()
        if conv_id is None:
            return
        idle = self._idle(conv_id)
        if idle is not None:  # said as the pane says it: nothing to accept, not a refusal
            self.say(f"#{conv_id}: nothing to do — {idle}")
            return

        def accept(seen: int | None) -> None:
            try:
                events = self.desk.accept(conv_id, seen_seq=seen)
            except Outgrown as exc:
                def answer(yes: bool | None) -> None:
                    if yes:
                        accept(None)

                self.push_screen(screens().ConfirmScreen(exc.question, yes="Send anyway",
                                                         no="Go back"), answer)
                return
            except ActionRefused as exc:
                self.refuse(exc.reasons)
                return
            self.done(f"{describe_all(events)} — u undoes it all")

        accept(self.seen_seq(conv_id))

    def _idle(self, conv_id: str) -> str | None:
        try:
            return self.desk.suggestion(conv_id).idle
        except KeyError:
            return None

    def action_filter(self) -> None:
        def act(text: str) -> str:
            return self.apply_filter(text)

        self.push_screen(screens().PromptScreen(
            "Filter the queue", value=self.filter_text,
            placeholder="category:refund team:refunds channel:dm urgency:high words",
            help_lines=screens().filter_help(self.desk), act=act, blink=self.blink), self.done)

    VIEWS = (("queue", "Queue: open conversations, most urgent first", ""),
             ("snoozed", "Snoozed (U un-snoozes)", "status:snoozed"),
             ("waiting", "Waiting on the customer", "status:waiting"),
             ("resolved", "Resolved (U reopens)", "status:resolved"),
             ("ignored", "Ignored / spam (U reopens)", "status:ignored"),
             ("monitor", "Monitor-only (U opens)", "status:monitor"),
             ("outbox", "Outbox: pending, sending, sent, failed", None),
             ("mine", "Assigned to me (n takes these first)", "assigned:me"))

    def action_views(self) -> None:
        def picked(view: str | None) -> None:
            for name, _label, text in self.VIEWS:
                if name == view:
                    if text is None:
                        self.action_outbox()
                    else:
                        self.run_desk(lambda t=text: self.apply_filter(t))
        self.push_screen(screens().PickScreen("Views", [(n, label) for n, label, _t in self.VIEWS]),
                         picked)

    def action_outbox(self) -> None:
        self.push_screen(screens().OutboxScreen(self.desk), lambda _r: self.done(None))

    def action_approvals(self) -> None:
        self.push_screen(screens().ApprovalsScreen(self.desk), lambda _r: self.done(None))

    def action_reopen(self) -> None:
        conv_id = self.current()
        if conv_id is not None:
            def do() -> str:
                was = self.desk.reopen(conv_id).details["was"]
                return f"reopened #{conv_id} (was {was}); u undoes it"

            self.run_desk(do)

    def jump_to(self, conv_id: str) -> str:
        """Put the cursor on ``#conv_id`` in whichever view holds it (the queue, else the view
        of its status)."""
        conv = self.desk.get(conv_id)
        if conv_id not in self.queue_view.queue:
            if conv_id in self.desk.queue:
                self.apply_filter("")
            else:
                self.apply_filter(f"status:{conv.status}")
        self.queue_view.select(conv_id)
        self.redraw()
        return f"#{conv_id} ({conv.status})"

    def apply_filter(self, text: str) -> str:
        """Show only conversations matching ``text`` (empty: the whole queue); ``#42`` jumps
        to conversation 42."""
        jump = JUMP.match(text or "")
        if jump:
            return self.jump_to(jump.group(1))
        predicate = parse_filter(text, self.desk)  # ValueError names what is wrong
        old = self.filter_view
        queue = self.queue_view
        if predicate is None:
            self.filter_view, self.filter_text = None, ""
            queue.set_queue(self.desk.queue)
            # Back on the conversation the agent was on before filtering (or the one they
            # picked inside the filter): clearing never loses the cursor (item 16).
            back = self._before_filter
            if back is not None and back in self.desk.queue and (
                    queue.selected is None or old is None or queue.selected not in old
                    or not len(old)):
                queue.select(back)
            self._before_filter = None
            message = "filter cleared"
        else:
            if self.filter_view is None:
                self._before_filter = queue.selected
            self.filter_view, self.filter_text = self.desk.view(predicate), text.strip()
            queue.set_queue(self.filter_view)
            message = f"filter: {self.filter_text} ({len(self.filter_view)} open)"
            if not len(self.filter_view):
                message = self.filter_hides()
        self.update_empty_text()
        if old is not None:
            self.desk.drop_view(old)
        self.redraw()
        return message

    def filter_hides(self) -> str:
        """What an empty filtered queue hides: ``no match for category:spam — 65 open,
        2 critical unread; esc clears`` (issue 12 item 6)."""
        counts = self.desk.counts(self.clock())
        critical = self._critical_unread()
        return (f"no match for {one_line(self.filter_text, 60)} — {counts[OPEN]} open, "
                f"{counts['breached']} breached, {critical} critical unread; esc clears")

    def update_empty_text(self) -> None:
        queue = self._pane(QueueView)
        if queue is None:
            return
        if self.filter_view is not None:
            queue.set_empty_text(self.filter_hides())
        else:
            queue.set_empty_text(EMPTY_TEXT)

    def action_clear_filter(self) -> None:
        if self.filter_view is not None:
            self.say(self.apply_filter(""))

    def action_help(self) -> None:
        self.push_screen(screens().HelpScreen(self.help_sections()))

    def help_sections(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        queue = [(b.id or "", b.key, b.description) for b in QueueView.BINDINGS
                 if isinstance(b, Binding)]
        return help_sections(self.keys, queue)

    def source_lines(self) -> list[SourceLine]:
        """Each source's name, state and last message: this console's own, or — attached to a
        desk process, which runs the sources — the desk process's (its snapshot's, then each
        ``sources`` message)."""
        if self.remote is not None:
            return [SourceLine(str(s.get("name")), str(s.get("state")),
                               str(s.get("detail") or "")) for s in self.remote.source_health]
        return [SourceLine(s.name, s.status.state, s.status.detail) for s in self.sources]

    def action_sources(self) -> None:
        """Every source by its full name, with its state and the server's last message (the
        status bar shows only a short name and a symbol when space is short)."""
        lines = []
        for src in self.source_lines():
            lines.append(assemble((one_line(src.name, 200), "bold"), "  ",
                                  (src.state, STATE_STYLE.get(src.state, ""))))
            if src.detail:
                lines.append(assemble(("  ", ""), plain(src.detail, limit=600)))
        if not lines:
            lines = [Content("no source is running (a CLI desk, or tests)")]
        self.push_screen(screens().InfoScreen("Source health", lines))

    def action_stats(self) -> None:
        from .stats_screen import StatsScreen  # (imported when first shown: metrics, charts)

        self.push_screen(StatsScreen(self.desk))


# ==== the command line =========================================================================

def attach_console(opts: Any, *, start: bool, extra: list[str] | None = None,
                   starting: Any = None) -> RemoteDesk | int | None:
    """The console's desk as a client of the desk process (``start``: start one when none
    runs, with ``extra`` options; ``starting``: the one already spawned by ``early_start``).
    None when nothing serves the data directory (and ``start`` is false, or a process that
    does not serve holds it); an exit code after printing why it could not attach."""
    from ..server.client import NotRunning
    from ..server.protocol import Refused
    from ..server.remote import open_remote
    from ..setup.boot import BootError
    from .keymap import binding_ids

    try:
        return open_remote(opts, start=start, binding_ids=binding_ids(), extra=extra,
                           starting=starting)
    except NotRunning:
        return None
    except OSError:  # the data directory cannot be made or used: opening the desk says why
        return None
    except Refused as exc:
        for reason in exc.reasons:
            print(f"mentiondesk: {reason}", file=sys.stderr)
        return 1  # tui.cli.common.REFUSED
    except RuntimeError as exc:  # StartFailed says which exit code; else LOCKED
        print(f"mentiondesk: could not start the desk process: {exc}", file=sys.stderr)
        return int(getattr(exc, "code", 3))  # tui.cli.common.LOCKED
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return exc.code


def _specs_text(specs: list[str]) -> str:
    return ", ".join(specs) if specs else "no source"


def agree_on_sources(desk: RemoteDesk, args: argparse.Namespace, opts: Any, config: Any,
                     extra: list[str]) -> RemoteDesk | int:
    """The desk process runs the sources it was started with.  When they are not the ones
    this console asks for (``--source``, else the config's, else the demo): a desk process
    that a client started and that serves nobody else is restarted with ours (it saves
    everything as it stops); otherwise an explicit ``--source`` is refused (exit 1) with what
    runs and how to change it, and a default one is noted in the console."""
    from ..server.autostart import wanted_sources
    from ..server.client import DeskClient, NotRunning
    from ..server.protocol import Refused

    welcome = desk.client.welcome if desk.client is not None else {}
    running = welcome.get("sources")
    if running is None:  # a console serving the desk: no desk process of its own sources
        return desk
    wanted = wanted_sources(args, config)
    if wanted is None:
        wanted = [getattr(s, "spec", str(s)) for s in getattr(config, "sources", None) or []]
    if sorted(running) == sorted(wanted):
        return desk
    pid = desk.server_pid
    alone = int(welcome.get("clients") or 1) <= 1 and not desk.others()
    if welcome.get("autostarted") and alone:
        try:
            with DeskClient.connect(desk.data_dir, agent=getattr(opts, "agent", None)) as c:
                c.request("stop")
        except (NotRunning, Refused, ConnectionError, OSError):
            pass
        else:
            desk.close()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process_running(pid):
                time.sleep(0.02)
            again = attach_console(opts, start=True, extra=extra)
            if again is None:
                print(f"mentiondesk: the desk process {pid} stopped but none could start",
                      file=sys.stderr)
                return 3  # tui.cli.common.LOCKED
            return again
    why = " and other clients are attached to it" if not alone else ""
    first = ", after quitting the other consoles (they would start it again)" if not alone else ""
    text = (f"the desk process (pid {pid}) serving {desk.data_dir} runs "
            f"{_specs_text(list(running))}, not {_specs_text(wanted)}: it runs the sources it "
            f"was started with{why}. Stop it (`mentiondesk server --stop --data-dir "
            f"{desk.data_dir}`; everything is saved){first} and start again, or give "
            f"--data-dir for a desk of its own")
    if getattr(args, "source", None):
        desk.close()
        print(f"mentiondesk: {text}", file=sys.stderr)
        return 1  # tui.cli.common.REFUSED
    desk.notes.append(text)
    return desk


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


class QuietFileHandler(logging.FileHandler):
    """console.log: created 0600, and a failed write (disk full) is counted, never raised or
    printed over the console (the status bar shows the full disk)."""

    failed = 0

    @classmethod
    def open(cls, path: Path) -> QuietFileHandler | None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | getattr(os, "O_NOFOLLOW", 0), 0o600)
            os.close(fd)
            return cls(path, encoding="utf-8")
        except OSError:
            return None  # no log file (read-only dir, a symlink): the console still runs

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed += 1


def run_console(args: argparse.Namespace, serve: Callable[..., Any] | None = None,
                starting: Any = None) -> int:
    """Open the desk from the command-line options and run the console until quit.

    By default the console is a client of the data directory's desk process, started in the
    background when none runs (``starting``: the one :func:`tui.server.autostart.early_start`
    already spawned) with this console's files and sources.  With
    ``MENTIONDESK_DESK_PROCESS=direct`` on a single operator's desk it holds the desk itself,
    and ``serve`` runs CLI commands sent over the data directory's socket (see
    ``DeskServer``)."""
    from ..server.autostart import console_start_args, uses_desk_process
    from ..setup.boot import (
        BootError,
        data_dir,
        load_config,
        open_desk,
        options_from,
        refuse_demo_mix,
    )
    from .keymap import binding_ids

    opts = options_from(args)
    desk: Desk | None = None
    try:
        config = load_config(opts, binding_ids())
        if uses_desk_process(config, data_dir(opts, config)):
            refuse_demo_mix(opts, config)
            extra = console_start_args(args, config)
            attached = attach_console(opts, start=True, extra=extra, starting=starting)
            starting = None
            if isinstance(attached, RemoteDesk):
                attached = agree_on_sources(attached, args, opts, config, extra)
            if isinstance(attached, int):
                return attached
            desk = attached  # None: a process that does not serve holds the data directory
        if desk is None:
            desk = open_desk(opts, binding_ids=binding_ids())
    except BootError as exc:
        if starting is not None:
            starting.abandon()
        if exc.code == 3:
            # Another process holds the desk: attach to it when it serves (a desk process or
            # a console), as a second console on the same desk.
            attached = attach_console(opts, start=False)
            if isinstance(attached, int):
                return attached
            desk = attached
        if desk is None:
            print(f"mentiondesk: {exc}", file=sys.stderr)
            if exc.code == 3:
                from ..server.autostart import long_path_hint, socket_fits

                where = data_dir(opts, config)
                if socket_fits(where):
                    print("mentiondesk: action commands (queue, show, reply, ...) work meanwhile: "
                          "they go through the process holding the desk", file=sys.stderr)
                else:
                    print(f"mentiondesk: {long_path_hint(where)}", file=sys.stderr)
            return exc.code
    if isinstance(desk, RemoteDesk):
        app = MentionDesk(desk, [])
        try:
            result = app.run()
        finally:
            desk.close()
        return int(result or 0)
    try:
        sources = build_sources(args, desk.config)
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        close_desk(desk)
        return 2  # tui.cli.common.USAGE: a bad source spec (README, "Exit codes")
    from ..setup.logs import setup_logging

    # Sources log to the rotating log file only: the console owns the terminal.
    try:
        setup_logging(getattr(args, "log_level", None), stderr=False)
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        close_desk(desk)
        return 2  # tui.cli.common.USAGE
    app = MentionDesk(desk, sources, serve=serve)
    theme = getattr(desk.config, "theme", None)
    if theme:
        app.theme = theme
    # SIGTERM (and SIGINT when it reaches us, e.g. from `kill -INT`) quit like `q`: the desk is
    # flushed and closed by close_desk below, so what was read is saved.
    import signal

    previous = {sig: signal.signal(sig, lambda *_: app.exit())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    app.close_desk()
    for problem in getattr(app, "close_problems", ()):
        print(f"mentiondesk: {problem}", file=sys.stderr)
    return int(result or 0)
