"""A console's desk when a desk process holds the data directory: ``RemoteDesk``.

It *is* a core :class:`~tui.core.desk.Desk` — a replica without a store — so the console reads
it exactly as it reads a desk it owns (queue, conversations, suggestion, counts, history, time
left, drafts, ``subscribe``): no round trip per keypress.  The replica starts from the desk
process's hot tables (the ``snapshot`` of a ``replica`` attach) and is kept current by the
``docs`` of every ``change`` message (``Desk.replace_conversations``).

Progressive attach: :meth:`RemoteDesk.connect` loads only the desk process's first ``state``
message — the conversations the first screen shows (the most urgent ``FIRST_SCREEN`` of the
queue), those assigned to this agent and those waiting for a lead, each with its customer's other
conversations — so the console draws at once, whatever the desk's size.  The rest arrive in
``state`` messages of a few hundred conversations, most urgent first, which :meth:`pump` applies
one per turn of the console's loop (keys stay responsive; the queue fills in).  Until the last
one (``loading`` false) the status bar's counts are the desk process's (the snapshot's, then each
change's); a conversation not loaded yet is fetched from the desk process when asked for
(:meth:`get`), and ``next`` asks the desk process unless this agent's own assigned conversation
(all loaded in the first part) answers it.  Nothing is ever done on missing data: every action
is the desk process's anyway.

Actions (reply, take offline, hand off, resolve, snooze, ignore, reopen, assign, tag, note,
accept, undo, mark read, save draft) are requests to the desk process, made as the agent the
desk process named from the socket's peer credentials.  Its refusals come back as the desk's own
exceptions (``Outgrown``, ``AlreadyAnswered``, ``AlreadyAnswering``, ``NotSaving``,
``ActionRefused``, ``KeyError`` for not found, ``ValueError`` for bad input), so the console has
one code path.  A request's changes arrive before its result and are applied before it returns:
the console sees its own action at once.

Threads: one reader thread per connection reads the socket and never touches the replica; it
queues messages and wakes the console's event loop (``call_soon_threadsafe``), where
:meth:`RemoteDesk.pump` applies them.  When the desk process dies the reader says so (``online``
False: "desk offline — reconnecting"), retries with back-off — starting the desk process again
as the next client would — and re-attaches; drafts saved meanwhile are kept locally and sent
once it is back.  Nothing is lost that the desk process acknowledged: it answers only after its
journal is fsynced.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.api import (
    ActionRefused,
    AlreadyAnswered,
    AlreadyAnswering,
    NotSaving,
    Outgrown,
    WaitsForApproval,
)
from ..core.conversation import Event
from ..core.desk import Desk
from ..core.model import PUBLIC, iso
from .client import DeskClient, NotRunning, Starting, connect_or_start
from .protocol import ProtocolError, Refused

log = logging.getLogger("mentiondesk.remote")

REQUEST_TIMEOUT = 30.0  # seconds an action may take in the desk process before we give up
FIRST_SCREEN = 200  # queue rows in the first part of the replica (more than a screen shows)
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)  # seconds between reconnection attempts (last repeats)
OFFLINE = "desk offline — reconnecting"


class DeskOffline(ActionRefused):
    """The desk process is not reachable right now; nothing was done."""

    def __init__(self) -> None:
        super().__init__(f"{OFFLINE}: nothing was done (your draft is kept); try again in a "
                         "moment")


def as_desk_error(refusal: Refused) -> Exception:
    """The desk's own exception for a refusal from the desk process."""
    data, reasons = refusal.data, refusal.reasons
    exc: Exception
    if refusal.error == "Outgrown":
        exc = Outgrown(int(data.get("count", 0)),
                       [str(change) for change in data.get("changes") or ()])
    elif refusal.error == "AlreadyAnswered":
        exc = AlreadyAnswered(str(data.get("by")), "answered", str(data.get("kind")))
    elif refusal.error == "AlreadyAnswering":
        exc = AlreadyAnswering(dict(data.get("item") or {}))
    elif refusal.error == "NotSaving":
        exc = NotSaving(str(data.get("state")), "")
    elif refusal.kind == "not_found":
        return KeyError(reasons[0] if reasons else "not found")
    elif refusal.kind == "usage":
        return ValueError("; ".join(reasons))
    else:
        exc = ActionRefused(reasons)
    exc.reasons = list(reasons)  # type: ignore[attr-defined]  # the desk process's words
    exc.args = ("; ".join(reasons),)
    return exc


class RemoteDesk(Desk):
    """A replica of the desk held by the desk process of ``data_dir`` (see the module doc).

    ``agent``: the name asked for (``--agent``; the desk process decides).  ``extra``: options
    a desk process started from here needs (``--rules``, ``--config`` ...).  Raises
    ``Refused`` (identity, protocol) or ``RuntimeError`` (could not start one) from
    :meth:`connect`."""

    def __init__(self, rules: Any, replies: Any, data_dir: Path | str, *,
                 agent: str | None = None, extra: Sequence[str] = (),
                 idle_seconds: float | None = 30.0, start: bool = True,
                 clock: Callable[[], datetime] | None = None, undo_seconds: float = 10.0) -> None:
        kwargs: dict[str, Any] = {"undo_seconds": undo_seconds}
        if clock is not None:
            kwargs["clock"] = clock
        super().__init__(rules, replies, None, agent=agent or "agent", **kwargs)
        self.data_dir = Path(data_dir)
        self.asked_agent = agent
        self.extra = list(extra)
        self.idle_seconds = idle_seconds
        self.start = start
        self.role = "agent"
        self.os_user = None
        self.server_pid = 0
        self.online = False
        self.closing = False
        self.presence: list[dict[str, Any]] = []  # who is attached, on what, doing what
        self._rules_text: str | None = None  # the reloaded rules text followed, if any
        self.source_health: list[dict[str, Any]] = []
        self.notes: list[str] = []  # what the console should tell the agent on opening
        self.repairs: list[str] = []  # recovery notes from the desk process (boot.recovery_notes)
        self.client: DeskClient | None = None
        self.inbox: deque[dict[str, Any]] = deque()  # filled by the reader thread
        # Alerts skip the line: they name a conversation but change nothing in the replica,
        # and behind a loading replica's parts (1,500 at 100,000) they would wait many seconds.
        self.urgent: deque[dict[str, Any]] = deque()
        self.wake: Callable[[], None] | None = None  # thread-safe: schedules pump()
        # Called on the console's loop: (message) for presence, alert, online/offline.
        self.watchers: list[Callable[[dict[str, Any]], None]] = []
        self._send_lock = threading.Lock()
        self._results: dict[int, dict[str, Any]] = {}
        self._waiting: dict[int, threading.Event] = {}
        self._next_id = 0
        self._unsent_drafts: dict[str, tuple[str, str | None, str]] = {}
        # (conv id, kind) -> (text, team): note drafts not yet in the desk process
        self._unsent_note_drafts: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._reader: threading.Thread | None = None
        self.reconnects = 0
        # Progressive load: True until the desk process's last "state" message is applied.
        self.loading = False
        self.to_load = 0  # conversations still to come (the desk process's count)
        self.server_counts: dict[str, int] = {}  # its counts, shown while loading
        self._base_due = False  # the next "state" message replaces the replica (a resync)
        self._queued = 0  # messages the reader queued, ever (read by the loop)
        self._applied = 0  # messages pump applied, ever
        self._arrived = threading.Event()  # set by the reader on each message it queues
        # The outbox view's two actions happen in the desk process too (the replica's outbox
        # is only ever changed by the change stream).
        self.outbox.resend = self._outbox_resend  # type: ignore[method-assign]
        self.outbox.cancel = self._outbox_cancel  # type: ignore[method-assign]

    def _outbox_resend(self, item_id: str) -> bool:
        return bool(self._request("outbox_resend", item_id=item_id).get("done"))

    def _outbox_cancel(self, item_id: str, reason: str | None = None) -> bool:
        return bool(self._request("outbox_cancel", item_id=item_id, reason=reason).get("done"))

    # ==== connection ===========================================================================

    def connect(self, starting: Starting | None = None) -> None:
        """Attach (starting the desk process when none runs; ``starting``: the one this
        console already spawned) and load the first part of the replica now — the first screen
        is drawn from it.  Then the reader thread takes over; the rest of the replica arrives
        through :meth:`pump` (see the module doc)."""
        client, snapshot = self._attach(self.start, starting)
        self._apply(snapshot)
        self._adopt(client)
        self._reader = threading.Thread(target=self._read_loop, name="desk-reader",
                                         daemon=True)
        self._reader.start()

    def _attach(self, start: bool, starting: Starting | None = None
                ) -> tuple[DeskClient, dict[str, Any]]:
        client = connect_or_start(self.data_dir, agent=self.asked_agent, client="console",
                                  start=start, extra=self.extra,
                                  idle_seconds=self.idle_seconds, starting=starting)
        try:
            client.send({"type": "attach", "replica": True, "limit": FIRST_SCREEN})
            while True:
                message = client.read(REQUEST_TIMEOUT)
                if message.get("type") == "snapshot":
                    break
            # The first part of the desk's tables follows at once; the rest as the reader
            # thread reads it.
            part = client.read(REQUEST_TIMEOUT)
            if part.get("type") != "state":
                raise ConnectionError(f"expected the desk's state, got {part.get('type')!r}")
            message["tables"] = part.get("tables") or {}
            message["to_load"] = int(part.get("more") or 0)
            return client, message
        except BaseException:
            client.close()
            raise

    def _adopt(self, client: DeskClient) -> None:
        # What the store repaired when the desk process opened it, if nobody was told yet.
        self.repairs.extend(str(n) for n in client.welcome.get("notes") or [])
        self.client = client
        self.agent = client.agent or self.agent
        self.role = client.role or "agent"
        self.os_user = client.welcome.get("os_user")
        self.server_pid = client.server_pid
        client.sock.settimeout(None)
        self.online = True

    def close(self) -> None:
        """Detach (the desk process goes on serving the others)."""
        self.closing = True
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.sock.shutdown(2)
            client.close()

    def _read_loop(self) -> None:
        while not self.closing:
            client = self.client
            try:
                assert client is not None
                while True:
                    message = client.read()
                    if message.get("type") == "result":
                        rid = message.get("id")
                        waiter = self._waiting.pop(rid, None)
                        if waiter is not None:
                            # what came before it in the stream: pump applies it first
                            message["_after"] = self._queued
                            self._results[rid] = message
                            waiter.set()
                        # else: a presence answer, nobody waits for it
                    else:
                        self._arrive(message)
            except (ConnectionError, OSError, ValueError, AssertionError,
                    ProtocolError) as exc:
                if self.closing:
                    return
                log.warning("desk process %s went away: %s", self.server_pid, exc)
            self.online = False
            for rid in list(self._waiting):  # their outcome is unknown: they must not wait
                self._results[rid] = {"type": "result", "id": rid, "lost": True}
                self._waiting.pop(rid).set()
            self._queue({"type": "_offline"})
            self._reconnect()

    def _reconnect(self) -> None:
        attempt = 0
        while not self.closing:
            time.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1
            try:
                # As the next client would: start the desk process when none runs.
                client, snapshot = self._attach(True)
            except (NotRunning, ConnectionError, OSError, RuntimeError, TimeoutError,
                    ProtocolError) as exc:
                log.info("reconnecting to %s: %s", self.data_dir, exc)
                continue
            except Refused as exc:
                log.warning("the desk process refused us: %s", exc)
                continue
            if self.closing:
                client.close()
                return
            self._adopt(client)
            self.reconnects += 1
            self._queue(snapshot)
            self._queue({"type": "_online"})
            return

    def _arrive(self, message: dict[str, Any]) -> None:
        """A message from the stream, for the console's loop: in order, but an alert ahead of
        everything (``urgent``)."""
        if message.get("type") == "alert":
            self.urgent.append(message)
            self._wake()
        else:
            self._queue(message)

    def _queue(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        self._queued += 1
        self._wake()

    def _wake(self) -> None:
        self._arrived.set()
        wake = self.wake
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # the console's loop has closed
                wake()

    # ==== applying the stream (on the console's loop) =========================================

    def pump(self, parts: int | None = None, *, upto: int | None = None) -> int:
        """Apply the messages the reader queued, in order (alerts first); returns how many.
        ``parts``: stop
        after that many ``state`` messages (the console's loop applies one per turn, so keys
        are handled between them; the rest is scheduled again).  ``upto``: stop once this many
        messages were ever applied (what came before a request's result)."""
        n = 0
        loads = 0
        while self.urgent:
            self._tell(self.urgent.popleft())
            n += 1
        while self.inbox and (upto is None or self._applied < upto):
            if parts is not None and loads >= parts and self.inbox[0].get("type") == "state":
                wake = self.wake
                if wake is not None:
                    with contextlib.suppress(RuntimeError):
                        wake()
                break
            message = self.inbox.popleft()
            self._applied += 1
            loads += message.get("type") == "state"
            self._apply(message)
            n += 1
        return n

    def _apply(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "change":
            docs = message.get("docs")
            if isinstance(message.get("counts"), dict):
                self.server_counts = message["counts"]
            if docs is not None:
                self.replace_conversations(message.get("rows") or {}, docs)
            return
        if kind == "state":
            self._load_part(message.get("tables") or {}, int(message.get("more") or 0))
            return
        if kind == "snapshot":
            self.server_counts = dict(message.get("counts") or {})
            if "tables" in message:  # connect, reconnect: the first part came with it
                self.loading = True
                self._base_due = True
                self._load_part(message["tables"], int(message.get("to_load") or 0))
            elif message.get("state"):  # a resync: the first part follows
                self.loading = True
                self._base_due = True
            if message.get("rules"):  # the desk process runs reloaded rules: follow them
                self._follow_rules(message["rules"], tell=False)
            self.presence = list(message.get("presence") or [])
            self.source_health = list(message.get("sources") or [])
            self._tell({"type": "presence", "presence": self.presence})
            return
        if kind == "presence":
            self.presence = list(message.get("presence") or [])
        elif kind == "sources":  # the desk process's sources' health changed
            self.source_health = list(message.get("sources") or [])
        elif kind == "rules":
            self._follow_rules(message, tell=True)
            return
        elif kind == "_online":
            self.online = True
            self._send_unsent_drafts()
        elif kind == "_offline":
            self.online = False
        self._tell(message)

    def _load_part(self, tables: dict[str, Any], more: int) -> None:
        """One ``state`` message: the first replaces the replica, the next add to it."""
        if self._base_due:
            self._base_due = False
            self.replace_all(tables)
        else:
            self.replace_conversations(tables.get("conversations") or {}, tables)
        self.to_load = more
        if not more and self.loading:
            self.loading = False
            self._tell({"type": "_loaded"})

    def wait_loaded(self, timeout: float = REQUEST_TIMEOUT) -> bool:
        """Apply the rest of the replica as it arrives, until all of it is here (or the desk
        process went away, or ``timeout`` seconds).  Returns whether it is whole."""
        deadline = time.monotonic() + timeout
        while self.loading and self.online and time.monotonic() < deadline:
            self._arrived.clear()
            if self.inbox:
                self.pump()
            else:
                self._arrived.wait(0.05)
        return not self.loading

    def counts(self, now: datetime | None = None) -> dict[str, int]:
        """The replica's counts (``Desk.counts``); while it loads, the desk process's."""
        if self.loading and self.server_counts:
            return dict(self.server_counts)
        return super().counts(now)

    def get(self, conv_id: str) -> Any:
        """As ``Desk.get``; a conversation not loaded yet is fetched from the desk process."""
        conv = self.conversations.get(str(conv_id))
        if conv is None and self.loading and self.online:
            with contextlib.suppress(ActionRefused, KeyError, ValueError):
                self._request("docs", conv_ids=[str(conv_id)])
        return super().get(conv_id)

    def next(self, agent: str | None = None, *, others: bool = False) -> Any:
        """As ``Desk.next``.  While the replica loads, the conversations assigned to this
        agent are all here (the first part holds them), so one of them answers; otherwise the
        desk process, which holds the whole queue, names the next one."""
        mine = agent or self.agent
        conv = super().next(agent, others=others)
        if not self.loading or (conv is not None and conv.assigned == mine):
            return conv
        try:
            value = self._request("next", others=others)
        except ActionRefused:
            self.wait_loaded()
            return super().next(agent, others=others)
        conv_id = (value or {}).get("conv_id")
        return self.get(conv_id) if conv_id is not None else None

    def _follow_rules(self, message: dict[str, Any], *, tell: bool) -> None:
        """Load the rules text the desk process runs (after its ``rules reload``), so labels,
        levels and canned replies here are the same as there; the triage itself comes with the
        documents.  Tells the console (``{"type": "rules", "summary"|"problems"}``) when
        ``tell``; a text this side cannot load keeps the current rules and says so."""
        from ..core.rules import RulesError

        path, text = str(message.get("path") or self.rules.path), message.get("text")
        if not isinstance(text, str):
            return
        if text == self._rules_text:
            return  # already following it (a resync's snapshot repeats it)
        try:
            result = Desk.reload_rules(self, path, text=text)
        except RulesError as exc:
            self._tell({"type": "rules", "problems": [str(p) for p in exc.problems[:6]]})
            return
        self._rules_text = text
        if tell:
            self._tell({"type": "rules", "summary": result.summary})
        self._notify(set(self.conversations))

    def _tell(self, message: dict[str, Any]) -> None:
        for watcher in list(self.watchers):
            watcher(message)

    # ==== who else is here =====================================================================

    def others(self) -> list[dict[str, Any]]:
        """Presence entries of the other attached clients (not this console)."""
        me = self.client.welcome.get("client_id") if self.client is not None else None
        return [p for p in self.presence if p.get("client") != me]

    def tell_presence(self, conv_id: str | None, doing: str | None = "viewing") -> None:
        """Tell the others what this console shows (``doing``: viewing, writing, noting):
        sent, never waited for (the answer is dropped), so moving the cursor costs no round
        trip.  Quiet when offline (a reconnect tells it again)."""
        client = self.client
        if not self.online or client is None:
            return
        with self._send_lock:
            self._next_id += 1
            try:
                client.send({"type": "request", "id": self._next_id, "op": "presence",
                             "args": {"conv": conv_id, "doing": doing if conv_id else None}})
            except OSError:
                pass  # the reader thread notices the loss

    # ==== requests =============================================================================

    def _request(self, op: str, **args: Any) -> Any:
        client = self.client
        if not self.online or client is None:
            raise DeskOffline()
        with self._send_lock:
            self._next_id += 1
            rid = self._next_id
            done = threading.Event()
            self._waiting[rid] = done
            try:
                client.send({"type": "request", "id": rid, "op": op, "args": args})
            except OSError:
                self._waiting.pop(rid, None)
                raise DeskOffline() from None
        if not done.wait(REQUEST_TIMEOUT):
            self._waiting.pop(rid, None)
            raise ActionRefused(f"the desk process did not answer {op} within "
                                f"{REQUEST_TIMEOUT:g} s; check whether it was done")
        result = self._results.pop(rid)
        # The changes it made came first: the replica shows them now.
        self.pump(upto=result.get("_after"))
        if result.get("ok") and op == "docs":  # as fresh as the stream up to here
            docs = (result.get("value") or {}).get("docs") or {}
            self.replace_conversations(docs.get("conversations") or {}, docs)
        self.pump()
        if result.get("lost"):
            raise ActionRefused(f"the desk process went away before answering {op}: look at "
                                "the conversation once it is back to see whether it was done")
        if result.get("ok"):
            return result.get("value")
        raise as_desk_error(Refused.from_dict(result.get("refusal") or {}))

    def approve(self, aid: str) -> str:
        """A lead approves the reply ``aid``: the desk process sends it through the outbox.
        Returns what was done; raises ``ActionRefused`` (not a lead, decided already...)."""
        return str((self._request("approve", id=aid) or {}).get("message") or "approved")

    def reject(self, aid: str, note: str) -> str:
        """A lead returns the reply ``aid`` to its author with ``note`` (required)."""
        return str((self._request("reject", id=aid, note=note) or {}).get("message")
                   or "returned")

    def _events(self, op: str, **args: Any) -> list[Event]:
        value = self._request(op, **args)
        return [Event.from_dict(e) for e in (value or {}).get("events", [])]

    def _one(self, op: str, **args: Any) -> Event:
        events = self._events(op, **args)
        if not events:
            raise ActionRefused(f"the desk process did nothing for {op}")
        return events[0]

    # ==== the desk's actions, in the desk process =============================================

    def reply(self, conv_id: str, text: str, *, agent: str | None = None,
              reply_key: str | None = None, seen_seq: int | None = None,
              group: str | None = None, again: bool = False) -> Event:
        value = self._request("reply", conv_id=conv_id, text=text, reply_key=reply_key,
                              seen_seq=seen_seq, again=again)
        return self._held_or_event(conv_id, value)

    def take_offline(self, conv_id: str, public_text: str | None, dm_text: str, *,
                     agent: str | None = None, seen_seq: int | None = None,
                     group: str | None = None, again: bool = False) -> Event:
        value = self._request("take_offline", conv_id=conv_id, public_text=public_text,
                              dm_text=dm_text, seen_seq=seen_seq, again=again)
        return self._held_or_event(conv_id, value)

    def _held_or_event(self, conv_id: str, value: dict[str, Any]) -> Event:
        if value.get("waiting"):
            # The config asks a lead to approve this agent's replies: nothing went out yet.
            raise WaitsForApproval(conv_id, str(value.get("approval")))
        return Event.from_dict(value["events"][0])

    def handoff(self, conv_id: str, team: str, note: str = "", *, agent: str | None = None,
                case_id: str | None = None, group: str | None = None) -> Event:
        event = self._one("handoff", conv_id=conv_id, team=team, note=note)
        self._forget_note_draft(conv_id, "handoff")  # the desk process dropped it too
        return event

    def resolve(self, conv_id: str, close_loop: str | None = None, *,
                agent: str | None = None, group: str | None = None) -> Event:
        return self._one("resolve", conv_id=conv_id, close_loop=close_loop)

    def snooze(self, conv_id: str, until: datetime, *, agent: str | None = None,
               group: str | None = None) -> Event:
        return self._one("snooze", conv_id=conv_id, until=iso(until))

    def ignore(self, conv_id: str, reason: str = "spam", *, agent: str | None = None,
               group: str | None = None) -> Event:
        return self._one("ignore", conv_id=conv_id, reason=reason)

    def reopen(self, conv_id: str, *, agent: str | None = None) -> Event:
        return self._one("reopen", conv_id=conv_id)

    def assign(self, conv_id: str, to: str | None = None, *, agent: str | None = None) -> Event:
        return self._one("assign", conv_id=conv_id, to=to)

    def tag(self, conv_id: str, tag: str, *, agent: str | None = None) -> Event:
        return self._one("tag", conv_id=conv_id, tag=tag)

    def note(self, conv_id: str, text: str, *, agent: str | None = None) -> Event:
        event = self._one("note", conv_id=conv_id, text=text)
        self._forget_note_draft(conv_id, "note")
        return event

    def _forget_note_draft(self, conv_id: str, kind: str) -> None:
        self._drop_note_draft(conv_id, kind)  # this agent's (no store here)
        self._unsent_note_drafts.pop((conv_id, kind), None)

    def save_note_draft(self, conv_id: str, kind: str, text: str, *,
                        team: str | None = None, agent: str | None = None) -> None:
        """Kept here at once and in the desk process when it is reachable (offline: sent once
        it is back), as :meth:`save_draft`; arguments and errors as ``Desk.save_note_draft``."""
        Desk.save_note_draft(self, conv_id, kind, text, team=team,
                             agent=self.agent)  # checks; no store here
        self._unsent_note_drafts[(conv_id, kind)] = (text, team)
        self._send_unsent_drafts()

    def accept(self, conv_id: str, *, agent: str | None = None,
               seen_seq: int | None = None) -> list[Event]:
        value = self._request("accept", conv_id=conv_id, seen_seq=seen_seq)
        if value.get("waiting"):
            raise WaitsForApproval(conv_id, str(value.get("approval")))
        return [Event.from_dict(e) for e in value.get("events", [])]

    def undo(self, *, agent: str | None = None, conv_id: str | None = None) -> Event:
        return self._one("undo", conv_id=conv_id)

    def undoable(self, *, agent: str | None = None, conv_id: str | None = None) -> Event | None:
        """Asked of the desk process (it knows this agent's last actions in order)."""
        value = self._request("undoable", conv_id=conv_id)
        return Event.from_dict(value) if value else None

    def mark_read(self, conv_id: str) -> int:
        conv = self.get(conv_id)
        if conv.read_seq >= conv.last_mention_seq or not self.online:
            return conv.last_seq  # nothing new to tell the desk process
        try:
            value = self._request("mark_read", conv_id=conv_id)
        except ActionRefused:  # gone meanwhile: reading is no action, the next open tells it
            return conv.last_seq
        return int(value.get("value") or conv.last_seq)

    def save_draft(self, conv_id: str, text: str, reply_key: str | None = None,
                   audience: str = PUBLIC, *, agent: str | None = None) -> None:
        """Kept here at once (the open dialog and a reconnect keep it) and in the desk process
        when it is reachable; offline, sent once it is back.  ``audience`` as in
        ``Desk.save_draft``."""
        # The core's rule (this agent's draft, never another's); no store here.
        Desk.save_draft(self, conv_id, text, reply_key, audience, agent=self.agent)
        self._unsent_drafts[conv_id] = (text, reply_key, audience)
        self._send_unsent_drafts()

    def _send_unsent_drafts(self) -> None:
        if not self.online:
            return
        for conv_id, (text, key, audience) in list(self._unsent_drafts.items()):
            try:
                self._request("save_draft", conv_id=conv_id, text=text, reply_key=key,
                              audience=audience)
            except DeskOffline:
                return
            except (ActionRefused, KeyError, ValueError) as exc:
                log.warning("draft on #%s not saved: %s", conv_id, exc)
            self._unsent_drafts.pop(conv_id, None)
        for (conv_id, kind), (text, team) in list(self._unsent_note_drafts.items()):
            try:
                self._request("save_note_draft", conv_id=conv_id, kind=kind, text=text,
                              team=team)
            except DeskOffline:
                return
            except (ActionRefused, KeyError, ValueError) as exc:
                log.warning("%s draft on #%s not saved: %s", kind, conv_id, exc)
            self._unsent_note_drafts.pop((conv_id, kind), None)

    # ==== the desk process does these ==========================================================

    def tick(self, now: datetime | None = None) -> list[Any]:
        """Snoozes wake and alerts are raised in the desk process (its alerts reach every
        console of the on-duty team as ``alert`` messages)."""
        return []

    def ingest(self, mentions: Any) -> list[Any]:
        raise ActionRefused("this console is attached to a desk process: its sources file "
                            "mentions")

    def reload_rules(self, path: str | Path | None = None, *, retriage: bool = False) -> Any:
        raise ActionRefused("the desk process holds the rules: `mentiondesk rules reload` "
                            "reloads them there")

    def maintain(self, now: datetime | None = None) -> int | None:
        return None

    def checkpoint(self) -> int:
        return 0

    def flush(self) -> None:
        return None

    @property
    def not_saving(self) -> str | None:  # type: ignore[override]
        return None if self.online else OFFLINE


def open_remote(opts: Any, *, start: bool, binding_ids: frozenset[str] | None = None,
                idle_seconds: float | None = 30.0, extra: Sequence[str] | None = None,
                starting: Starting | None = None) -> RemoteDesk:
    """A :class:`RemoteDesk` on the desk process of the options' data directory, attached
    (``start``: start one when none runs, with ``extra`` options — default the options' rules,
    replies and config files; ``starting``: one already spawned, waited for first).  The rules
    and replies are read here too (the console's suggestions and checks); the desk process uses
    its own.  Raises ``NotRunning``, ``Refused``, ``RuntimeError`` (could not start),
    ``BootError`` (bad files)."""
    import os

    from ..setup.boot import data_dir, open_desk

    base = open_desk(opts, with_store=False, binding_ids=binding_ids)
    if extra is None:
        extra = []
        for name in ("rules", "replies", "config"):
            value = getattr(opts, name, None)
            if value:
                extra += [f"--{name}", os.path.abspath(value)]
    desk = RemoteDesk(base.rules, base.replies, data_dir(opts, base.config),
                      agent=getattr(opts, "agent", None), extra=extra,
                      idle_seconds=idle_seconds, start=start, undo_seconds=base.undo_seconds)
    desk.config = base.config
    desk.connect(starting)
    return desk
