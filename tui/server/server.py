"""The desk process: one per data directory; it owns the store, the sources, the outbox and the
maintenance, and serves consoles and CLI commands over ``desk.sock`` (see ``protocol``).

Started explicitly (``mentiondesk server [--foreground]``), or tmux-style by the first client that
finds none running (``client.start_server``): the child writes one handshake line on an inherited
pipe (``ready PID`` once it listens, ``locked PID`` when another desk process holds the data
directory, ``error MESSAGE``) — the store's lock decides which of two racing starters wins, and
the loser attaches to the winner.

Fan-out: every desk change is coalesced within one event-loop turn into one ``change`` message,
encoded once and queued to each attached client.  Each client has a send budget
(``SEND_BUDGET`` bytes queued, beyond the kernel's socket buffer): a client that stops reading
(a frozen SSH session) never stalls the desk or the other clients — once over budget its backlog
is dropped and, when it reads again, it gets a fresh snapshot (``"resync": true``).  Results of
its own requests are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import io
import itertools
import json
import logging
import os
import signal
import socket
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.api import ActionRefused, AlreadyAnswered, AlreadyAnswering, NotSaving, Outgrown
from ..core.desk import Alert, Desk
from ..core.model import parse_time
from ..core.replies import ReplyRefused
from ..core.rows import conversation_row
from .identity import (
    LEAD,
    Identity,
    PeerCred,
    identify,
    needs_approval,
    on_duty_for,
    peer_credentials,
)
from .protocol import (
    MAX_LINE,
    MAX_SUN_PATH,
    VERSION,
    ProtocolError,
    Refused,
    decode,
    encode,
    socket_path,
    version_mismatch,
)

log = logging.getLogger("mentiondesk.server")

SEND_BUDGET = 4 * 1024 * 1024  # bytes queued per client before its backlog is dropped
# Rows at most in one snapshot message, asked for or not (each ~0.1-0.2 ms of the loop at
# 100,000 conversations: the others follow as "rows" messages built a slice at a time).
SNAPSHOT_ROWS = 500
ROWS_CHUNK = 250  # rows at most per "rows" message after a limited snapshot
ROWS_SLICE = 0.005  # seconds of the loop one "rows" message may take to build (a row of a
# 100,000-conversation desk: ~0.1-0.2 ms; a `queue` of all of it no longer holds the consoles)
STATE_CHUNK = 64  # conversations per "state" message of a replica's snapshot: each is built
# when the client's sender gets to it (a few ms of the desk's loop) and applied by the console
# in one turn of its loop (~10-20 ms: keys are handled between two)
FIRST_SCREEN = 200  # queue rows a replica's first "state" message holds when it asks no limit
# Characters of a CLI command's output per message (JSON escaping at most 6 bytes each: under
# the protocol's MAX_LINE of 8 MB).
OUTPUT_CHUNK = 1_000_000
SEND_BATCH = 256 * 1024  # bytes of queued messages joined into one socket write
HELLO_TIMEOUT = 10.0  # seconds a new connection has to say hello
HOOK_TIMEOUT = 10.0  # seconds the on_alert command may run before it is killed
# A command executed for a CLI client: (desk, name, argv) -> (exit code, stdout, stderr).
Execute = Callable[[Desk, str, dict[str, Any]], tuple[int, str, str]]
# Typed desk operations a client may request, and the keyword arguments each accepts.
DESK_OPS: dict[str, tuple[str, ...]] = {
    "reply": ("conv_id", "text", "reply_key", "seen_seq", "again"),
    "take_offline": ("conv_id", "public_text", "dm_text", "seen_seq", "again"),
    "handoff": ("conv_id", "team", "note"),
    "resolve": ("conv_id", "close_loop"),
    "ignore": ("conv_id", "reason"),
    "assign": ("conv_id", "to"),
    "tag": ("conv_id", "tag"),
    "note": ("conv_id", "text"),
    "accept": ("conv_id", "seen_seq"),
    "undo": ("conv_id",),
    "snooze": ("conv_id", "until"),  # until: ISO 8601 UTC
    "reopen": ("conv_id",),
    "mark_read": ("conv_id",),
    "save_draft": ("conv_id", "text", "reply_key", "audience"),
    "save_note_draft": ("conv_id", "kind", "text", "team"),
}
# Operations that record no agent (the desk's methods take no ``agent=``).  Saving a draft
# is attributed: a draft belongs to the client's agent (``Desk.save_draft``).
UNATTRIBUTED_OPS = ("mark_read",)
ANSWER_OPS = ("reply", "take_offline", "accept")
ANSWER_COMMANDS = ("reply", "offline", "accept")


@dataclass(eq=False)
class Client:
    """One connection.  ``out`` holds (bytes, droppable) waiting for the socket;
    ``out_bytes`` counts the droppable ones (the change stream), which the budget bounds."""

    id: int
    writer: asyncio.StreamWriter
    cred: PeerCred
    identity: Identity | None = None
    kind: str = "cli"
    attached: bool = False
    out: deque[tuple[bytes, bool]] = field(default_factory=deque)
    out_bytes: int = 0
    held_bytes: int = 0  # bytes of its answers (never dropped) not written yet
    resync: bool = False
    resyncs: int = 0
    dropped: int = 0  # messages dropped from its backlog
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    limit: int | None = None  # rows in its snapshots; the rest follow as "rows" messages
    rest: list[str] = field(default_factory=list)  # ids still to send after a snapshot
    focus: str | None = None  # conversation on screen
    doing: str | None = None  # "viewing" | "writing" | "noting"
    replica: bool = False  # a console holding a replica: snapshots and changes carry documents
    # A replica's load: first the queue walked by position (``state_at``, most urgent first),
    # then a sweep of every conversation not sent by then (``state_ids``, built when the walk
    # ends; ``state_at`` is then the next of them); the ids already sent in "state" messages.
    state_ids: list[str] = field(default_factory=list)
    state_swept: bool = False
    state_at: int = 0
    state_sent: set[str] = field(default_factory=set)
    state_due: bool = False  # "state" messages still to send (the last one says "more": 0)
    answering: Any = None  # the id of the request being answered

    def send(self, data: bytes, *, droppable: bool = True, budget: int = SEND_BUDGET) -> None:
        if self.closed:
            return
        if droppable:
            if self.resync:
                self.dropped += 1
                return  # a fresh snapshot replaces everything it missed
            if self.out_bytes + len(data) > budget:
                kept = deque(item for item in self.out if not item[1])
                self.dropped += len(self.out) - len(kept) + 1
                self.out = kept
                self.out_bytes = 0
                self.resync = True
                self.resyncs += 1
                self.wake.set()
                return
        self.out.append((data, droppable))
        if droppable:  # the budget bounds the stream; a client's own answers always go
            self.out_bytes += len(data)
        else:
            self.held_bytes += len(data)
        self.wake.set()


class DeskServer:
    """Serves one open ``Desk`` on ``data_dir/desk.sock`` from the running event loop.

    ``execute`` runs CLI commands (given by ``tui.cli``); ``health`` returns the sources'
    health rows for a snapshot.  Call ``start`` then ``close``.
    """

    def __init__(self, desk: Desk, data_dir: Path | str, *, config: Any = None,
                 execute: Execute | None = None, health: Callable[[], list[dict]] | None = None,
                 send_budget: int = SEND_BUDGET, default_agent: str | None = None,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.desk = desk
        self.data_dir = Path(data_dir)
        self.path = socket_path(self.data_dir)
        self.config = config
        self.execute = execute
        self.health = health or (lambda: [])
        self._told_health: list[dict[str, Any]] | None = None  # what clients were last sent
        self.send_budget = send_budget
        self.default_agent = default_agent or desk.agent
        self.on_stop = on_stop
        # The source specs this process runs (``demo``, ``replay:PATH``...), in the welcome so
        # that a console asking for others is told; None when not known (a console serving).
        self.source_specs: list[str] | None = None
        self.autostarted = False  # started by a client; stops by itself when idle
        # What the store repaired or warns about on opening (``boot.recovery_notes``): told to
        # the first client that says hello, as a console or command opening the desk would.
        self.untold_notes: list[str] = []
        self.clients: dict[int, Client] = {}
        self.seq = 0  # change sequence number, per desk process
        self._pending: set[str] = set()
        self._scheduled = False
        self._next_id = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.last_client_at = time.monotonic()
        self.stats = {"changes": 0, "requests": 0}
        # The rules file this process reloaded (``rules reload``), sent to every console so its
        # replica labels, levels and canned replies follow: {"path", "text"}; None until then
        # (consoles read the same files at start).
        self.rules_text: dict[str, str] | None = None

    # ==== life cycle ============================================================================

    async def start(self) -> None:
        """Bind the socket (replacing a stale one: the caller holds the store lock) and listen.
        Raises ``OSError`` with a clear message when the path is too long for a socket."""
        path = self.path
        if len(os.fsencode(path)) > MAX_SUN_PATH:
            raise OSError(f"the socket path {path} is longer than {MAX_SUN_PATH} bytes; "
                          "use a shorter --data-dir")
        secure_data_dir(self.data_dir, getattr(self.config, "group", None))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        group = getattr(self.config, "group", None)
        os.chmod(path, 0o660 if group else 0o600)
        if group:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        self._server = await asyncio.start_unix_server(self._connected, sock=sock,
                                                       limit=MAX_LINE)
        self.desk.subscribe(self._changed)
        self.desk.outbox.listeners.append(self._delivery_changed)

    def close_now(self) -> None:
        """Stop listening and drop every client at once (from synchronous code: a console
        quitting); ``close`` also waits for the senders."""
        if self._changed in self.desk.listeners:
            self.desk.listeners.remove(self._changed)
        if self._delivery_changed in self.desk.outbox.listeners:
            self.desk.outbox.listeners.remove(self._delivery_changed)
        if self._server is not None:
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for client in list(self.clients.values()):
            client.closed = True
            client.writer.close()
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        self.close_now()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()

    # ==== the change stream =====================================================================

    def _changed(self, conv_ids: set[str]) -> None:
        self._pending |= conv_ids
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._fan_out)

    def _delivery_changed(self, item: dict[str, Any]) -> None:
        self._changed({str(item.get("conv_id"))})

    def _fan_out(self) -> None:
        self._scheduled = False
        ids, self._pending = self._pending, set()
        if not ids:
            return
        self.seq += 1
        now = self.desk.clock()
        rows = {cid: self.row(cid, now) for cid in ids}
        message = {"type": "change", "seq": self.seq, "t": time.time(), "rows": rows,
                   "counts": self.desk.counts(now)}
        data = encode(message)
        replicas = [c for c in self.clients.values() if c.attached and c.replica]
        full = (encode({**message, "docs": self.desk.conversation_docs(ids)})
                if replicas else data)
        self.stats["changes"] += 1
        for client in self.clients.values():
            if client.attached:
                client.send(full if client.replica else data, budget=self.send_budget)

    def row(self, conv_id: str, now: Any = None) -> dict[str, Any] | None:
        conv = self.desk.conversations.get(conv_id)
        if conv is None:
            return None
        row = conversation_row(self.desk, conv, now or self.desk.clock())
        row["approval"] = self.desk.waiting_approval(conv_id)
        return row

    def snapshot(self, *, resync: bool = False, limit: int | None = None,
                 client: Client | None = None) -> dict[str, Any]:
        """What a client needs to draw: the open queue's rows (most urgent first; the first
        ``limit`` when given, never more than ``SNAPSHOT_ROWS``; ``more`` says how many follow
        as ``rows`` messages, queued on ``client``), counts, sources' health, presence,
        approvals waiting.  A replica's has no rows (it builds them from the documents of its
        "state" messages)."""
        now = self.desk.clock()
        if client is not None and client.replica:
            first, rest = [], []  # (not the queue's ids: 100,000 of them cost ~20 ms)
        else:
            ids = list(self.desk.queue)
            # At most SNAPSHOT_ROWS in this one line, asked for or not: building them holds
            # the loop (and 100,000 would pass MAX_LINE); "more" says what follows.
            cap = SNAPSHOT_ROWS if limit is None else min(limit, SNAPSHOT_ROWS)
            first, rest = ids[:cap], ids[cap:]
        if client is not None:
            client.rest = rest
        rows = [self.row(cid, now) for cid in first]
        snap = {"type": "snapshot", "seq": self.seq, "resync": resync, "rows": rows,
                "more": len(rest), "counts": self.desk.counts(now), "sources": self.health(),
                "presence": self.presence(), "approvals": self.desk.approvals_waiting()}
        if self.rules_text is not None:
            snap["rules"] = self.rules_text
        return snap

    def tell_health(self) -> None:
        """Send every client the sources' health when it changed since they were last told
        (a source connecting, failing and retrying, back): the status bar of a console
        attached to this desk process follows it (the ticker calls this once a second)."""
        rows = self.health()
        if self._told_health is None:
            self._told_health = rows  # what every snapshot carries until it changes
            return
        if rows != self._told_health:
            self._told_health = rows
            self._broadcast({"type": "sources", "sources": rows})

    def rules_reloaded(self, path: str, text: str) -> None:
        """Tell every client the rules this process now runs (after ``rules reload``): a
        console's replica reloads the same text, so what it shows follows at once."""
        self.rules_text = {"path": path, "text": text}
        self._broadcast({"type": "rules", **self.rules_text})

    def snapshot_parts(self, *, resync: bool = False, client: Client) -> list[bytes]:
        """A client's snapshot as lines to send at once, in order.  A replica's is followed by
        its first ``state`` message: the documents of the conversations its first screen needs
        (the first ``limit`` of the queue, ``FIRST_SCREEN`` when none is given), of those
        assigned to its agent and of those waiting for a lead's approval, with each of their
        customers' other conversations, and the desk's counters.  The others follow in
        ``state`` messages of ``STATE_CHUNK`` conversations, most urgent first, built when the
        client's sender gets to them (see :meth:`state_chunk`); the last one says ``"more":
        0``."""
        snap = self.snapshot(resync=resync, limit=client.limit, client=client)
        if not client.replica:
            return [encode(snap)]
        desk = self.desk
        # Only what the first screen needs is looked up here: listing the whole load (the
        # queue's 100,000 ids and those not queued) cost ~60 ms of a first screen at 100,000
        # in the desk process; state_chunk walks the queue a chunk at a time.
        client.state_ids, client.state_swept = [], False
        client.state_at = 0
        client.state_sent = set()
        client.state_due = True
        limit = FIRST_SCREEN if client.limit is None else client.limit
        agent = client.identity.agent if client.identity is not None else None
        first = list(itertools.islice(desk.queue, limit))
        if agent is not None:  # its "assigned to me" view and ``n`` need them at once
            first += desk.assigned_to(agent)
        first += [str(item.get("conv_id")) for item in desk.approvals_waiting()]
        tables = self._state_tables(client, first)
        tables["meta"] = {"counters": dict(desk.meta), "last_action": dict(desk.last_action)}
        snap["state"] = True
        snap["conversations"] = len(desk.conversations)
        more = max(0, len(desk.conversations) - len(client.state_sent))
        part = {"type": "state", "tables": tables, "more": more}
        if not more:
            client.state_ids, client.state_sent = [], set()
            client.state_due = False
        return [encode(snap), encode(part)]

    def _state_tables(self, client: Client, conv_ids: Iterable[str]) -> dict[str, Any]:
        """The documents of ``conv_ids`` and of their customers' other conversations that
        ``client`` was not sent yet (a customer's history arrives whole)."""
        desk = self.desk
        sent = client.state_sent
        take: list[str] = []
        for cid in conv_ids:
            if cid in sent:
                continue
            conv = desk.conversations.get(cid)
            if conv is None:
                continue  # archived meanwhile
            sent.add(cid)
            take.append(cid)
            for other in desk.customers.get(conv.customer, {}).get("conversations", ()):
                if other not in sent and other in desk.conversations:
                    sent.add(other)
                    take.append(other)
        return desk.conversation_docs(take)

    def state_chunk(self, client: Client, size: int | None = None) -> bytes:
        """A replica's next ``state`` message: the next ``size`` (``STATE_CHUNK``) conversations
        not sent yet, as they are now — sent after every change queued before it, so it is
        never older than a change the client already has."""
        size = STATE_CHUNK if size is None else size
        desk = self.desk
        sent = client.state_sent
        chunk: list[str] = []
        while len(chunk) < size:
            if not client.state_swept:
                # The queue by position (O(log n) a slice): a conversation that moves up past
                # the walk meanwhile is caught by the sweep, one sent twice is skipped.
                if client.state_at >= len(desk.queue):
                    self._sweep(client, chunk)
                    continue
                want = size - len(chunk)
                chunk += [c for c in desk.queue.slice(client.state_at, client.state_at + want)
                          if c not in sent]
                client.state_at += want
            elif client.state_at < len(client.state_ids):
                cid = client.state_ids[client.state_at]
                client.state_at += 1
                if cid not in sent:  # (sent already: with an earlier one of its customer)
                    chunk.append(cid)
            else:
                break
        tables = self._state_tables(client, chunk)
        if not client.state_swept and client.state_at >= len(desk.queue):
            self._sweep(client, ())
        ids = client.state_ids
        while client.state_swept and client.state_at < len(ids) and ids[client.state_at] in sent:
            client.state_at += 1  # (sent with a customer's other ones)
        # Exact while every conversation sent is still on the desk (one archived meanwhile
        # makes it an estimate: only the end of the sweep ends the load).
        more = (0 if client.state_swept and client.state_at >= len(ids)
                else max(1, len(desk.conversations) - len(sent)))
        if not more:
            client.state_due = False
            client.state_ids, client.state_sent = [], set()
        return encode({"type": "state", "tables": tables, "more": more})

    def _sweep(self, client: Client, taken: Iterable[str]) -> None:
        """The end of a replica's walk of the queue: every conversation not sent yet (nor in
        ``taken``, the chunk being built) is listed for the rest of its load."""
        skip = client.state_sent.union(taken)
        client.state_ids = [c for c in self.desk.conversations if c not in skip]
        client.state_swept, client.state_at = True, 0

    def rows_chunk(self, client: Client, size: int = ROWS_CHUNK) -> bytes:
        """The next rows after a limited snapshot (at most ``size``, and no more than
        ``ROWS_SLICE`` seconds of building: the loop serves the others between two), as they
        are now (a row sent later than a change of the same conversation is fresher than it:
        the stream stays consistent)."""
        now = self.desk.clock()
        rest = client.rest
        rows: dict[str, Any] = {}
        until = time.perf_counter() + ROWS_SLICE
        taken = 0
        while taken < min(size, len(rest)):
            cid = rest[taken]
            rows[cid] = self.row(cid, now)
            taken += 1
            if not taken % 8 and time.perf_counter() >= until:
                break
        del rest[:taken]
        return encode({"type": "rows", "rows": rows, "more": len(rest)})

    def _take_notes(self) -> list[str]:
        notes, self.untold_notes = self.untold_notes, []
        return notes

    def presence(self) -> list[dict[str, Any]]:
        return [{"client": c.id, "agent": c.identity.agent, "os_user": c.identity.os_user,
                 "role": c.identity.role, "kind": c.kind, "conv": c.focus, "doing": c.doing}
                for c in self.clients.values() if c.attached and c.identity is not None]

    def _broadcast(self, message: dict[str, Any], *, to: Iterable[Client] | None = None) -> None:
        data = encode(message)
        for client in (self.clients.values() if to is None else to):
            if client.attached:
                client.send(data, budget=self.send_budget)

    def alert(self, alert: dict[str, Any], team: str | None = None, *,
              to: Iterable[Client] | None = None) -> None:
        """Send an alert (``kind``, ``conv_id``, ``message``) to the on-duty group: every
        attached client of the team the conversation is routed to and every lead (``to``
        overrides), whether or not they are active; then run the config's ``on_alert`` hook."""
        message = {"type": "alert", **alert, "team": team}
        if to is None:
            to = [c for c in self.clients.values()
                  if c.identity is not None and on_duty_for(c.identity, team)]
        self._broadcast(message, to=to)
        hook = list(getattr(self.config, "on_alert", None) or [])
        if hook:
            task = asyncio.get_running_loop().create_task(run_hook(hook, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def ingested(self, results: list[Any]) -> None:
        """New critical mentions filed by the sources: alerts to the on-duty group (by name up
        to ``ALERT_BURST`` a batch, the others counted: ``Desk.critical_alerts``)."""
        for alert in self.desk.critical_alerts(results):
            self.alert(alert_message(alert), alert.team)

    # ==== connections ===========================================================================

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            cred = peer_credentials(sock)
        except OSError:
            writer.close()
            return
        self._next_id += 1
        client = Client(self._next_id, writer, cred)
        self.clients[client.id] = client
        self.last_client_at = time.monotonic()
        sender = asyncio.create_task(self._sender(client))
        self._tasks.add(sender)
        sender.add_done_callback(self._tasks.discard)
        try:
            await self._session(client, reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except ProtocolError as exc:
            client.send(encode({"type": "refused", "kind": "protocol", "reasons": [str(exc)]}),
                        droppable=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("client %d", client.id)
        finally:
            self.clients.pop(client.id, None)
            self.last_client_at = time.monotonic()
            if client.attached and client.identity is not None:
                self._broadcast({"type": "presence", "presence": self.presence()})
            # Let the sender flush a refusal, then close.
            client.out.append((b"", False))
            client.wake.set()
            if not sender.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError,
                                         Exception):
                    await asyncio.wait_for(asyncio.shield(sender), 2.0)
            client.closed = True
            sender.cancel()
            writer.close()

    async def _sender(self, client: Client) -> None:
        """Writes what is queued for ``client``: everything queued joined into one write (up to
        ``SEND_BATCH`` bytes), then — when nothing is queued — the next part of a resync, of a
        replica's load or of a limited snapshot's rows.  Only this client waits for its
        socket."""
        writer = client.writer
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                while client.out or client.resync or client.state_due or client.rest:
                    if client.out:
                        batch: list[bytes] = []
                        size = 0
                        end = False
                        while client.out and size < SEND_BATCH:
                            data, droppable = client.out.popleft()
                            if droppable:
                                client.out_bytes -= len(data)
                            else:
                                client.held_bytes -= len(data)
                            if not data:
                                end = True
                                break
                            batch.append(data)
                            size += len(data)
                        if batch:
                            writer.write(b"".join(batch))
                        await writer.drain()
                        if end:
                            return  # end of session
                        continue
                    if client.resync:
                        client.resync = False
                        parts = self.snapshot_parts(resync=True, client=client)
                        data = b"".join(parts)
                    elif client.state_due:
                        data = self.state_chunk(client)
                    else:
                        data = self.rows_chunk(client)
                    writer.write(data)
                    await writer.drain()
                    await asyncio.sleep(0)  # the rest of the desk goes on between chunks
        except (ConnectionError, OSError):
            client.closed = True

    async def _session(self, client: Client, reader: asyncio.StreamReader) -> None:
        line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT)
        if not line:
            return
        hello = decode(line)
        if hello.get("type") != "hello":
            raise ProtocolError("say hello first")
        if hello.get("protocol") != VERSION:
            refusal = version_mismatch(hello.get("protocol"))
            client.send(encode({"type": "refused", **refusal.to_dict()}), droppable=False)
            return
        try:
            requested = hello.get("agent")
            client.identity = identify(client.cred, requested if isinstance(requested, str)
                                       else None, self.config, default_agent=self.default_agent)
        except Refused as refusal:
            log.warning("refused uid %d: %s", client.cred.uid, refusal)
            client.send(encode({"type": "refused", **refusal.to_dict()}), droppable=False)
            return
        client.kind = str(hello.get("client") or "cli")[:20]
        ident = client.identity
        client.send(encode({"type": "welcome", "protocol": VERSION, "agent": ident.agent,
                            "role": ident.role, "os_user": ident.os_user,
                            "server_pid": os.getpid(), "client_id": client.id,
                            # who holds the desk: a console serving others, or a desk process
                            "holder": "console" if self.on_stop is None else "desk process",
                            "sources": self.source_specs, "autostarted": self.autostarted,
                            "notes": self._take_notes(),
                            # connections open now, this one included (scripts too)
                            "clients": len(self.clients)}),
                    droppable=False)
        while True:
            line = await reader.readline()
            if not line:
                return
            if not line.endswith(b"\n"):
                raise ProtocolError("a message longer than the line limit")
            message = decode(line)
            kind = message["type"]
            if kind == "attach":
                client.attached = True
                client.replica = bool(message.get("replica"))
                limit = message.get("limit")
                client.limit = limit if isinstance(limit, int) and limit >= 0 else None
                for part in self.snapshot_parts(client=client):
                    client.send(part, droppable=False)
                self._broadcast({"type": "presence", "presence": self.presence()})
            elif kind == "request":
                answer = self._answer(client, message)
                if self._pending:
                    # The change goes out before the result: a client sees its own action in
                    # its replica by the time it hears the action was done.
                    self._fan_out()
                client.send(encode(answer), droppable=False)
                # The others get the loop between one client's pipelined requests (readline
                # returns at once while its buffer holds more); and a client leaving its
                # answers unread has no more of its requests read until they are written
                # (answers are never dropped: the desk would hold every one).
                await asyncio.sleep(0)
                while client.held_bytes > SEND_BUDGET and not client.closed:
                    await asyncio.sleep(0.01)
            else:
                raise ProtocolError(f"unknown message type {kind!r}")

    # ==== requests ==============================================================================

    def _answer(self, client: Client, message: dict[str, Any]) -> dict[str, Any]:
        rid = message.get("id")
        op = message.get("op")
        args = message.get("args") or {}
        client.answering = rid
        self.stats["requests"] += 1
        try:
            if not isinstance(op, str) or not isinstance(args, dict):
                raise Refused("usage", "a request needs an \"op\" and an \"args\" object")
            value = self._do(client, op, args)
            return {"type": "result", "id": rid, "ok": True, "value": value}
        except Refused as refusal:
            return {"type": "result", "id": rid, "ok": False, "refusal": refusal.to_dict()}
        except ProtocolError:
            raise
        except Exception as exc:  # a bug, or arguments no handler expected: say so, go on
            log.exception("request %r (%s) failed", op, type(exc).__name__)
            refusal = Refused("error", f"the desk process could not do {op!r}: "
                                       f"{type(exc).__name__}: {exc} (see server.log)")
            return {"type": "result", "id": rid, "ok": False, "refusal": refusal.to_dict()}

    def _do(self, client: Client, op: str, args: dict[str, Any]) -> Any:
        ident = client.identity
        assert ident is not None
        if op == "ping":
            return {"pid": os.getpid(), "seq": self.seq}
        if op == "stop":
            if self.on_stop is None:
                raise Refused("refused", f"a console (pid {os.getpid()}) holds this desk: "
                                         "quit it there")
            if ident.role != LEAD and ident.uid != os.getuid():
                raise Refused("forbidden", "only a lead or the desk's owner stops the desk")
            asyncio.get_running_loop().call_soon(self.stop)
            return {"stopping": os.getpid()}
        if op == "presence":
            conv = args.get("conv")
            doing = args.get("doing")
            if doing not in (None, "viewing", "writing", "noting"):
                raise Refused("usage", "doing is viewing, writing, noting or null")
            client.focus = str(conv) if conv is not None else None
            client.doing = doing if conv is not None else None
            self._broadcast({"type": "presence", "presence": self.presence()})
            others = [p for p in self.presence() if p["client"] != client.id
                      and p["conv"] == client.focus and p["doing"] == "writing"]
            return {"writing": [p["agent"] for p in others]}
        if op == "snapshot":  # (``limit``: rows wanted; ``server --status`` wants none)
            limit = args.get("limit")
            return self.snapshot(limit=limit if isinstance(limit, int) and limit >= 0 else None)
        if op == "docs":
            # A replica still loading asks for a conversation it does not hold yet.
            ids = args.get("conv_ids")
            if not isinstance(ids, list) or len(ids) > 100:
                raise Refused("usage", "docs takes conv_ids: a list of at most 100 ids")
            return {"docs": self.desk.conversation_docs(str(c) for c in ids)}
        if op == "next":
            conv = self.desk.next(ident.agent, others=bool(args.get("others")))
            return {"conv_id": conv.id if conv is not None else None}
        if op in ("outbox_resend", "outbox_cancel"):
            # The console's outbox view: try a failed post again, cancel a pending one.
            item_id = str(args.get("item_id") or "")
            with self.acting_as(ident), refusals():
                if op == "outbox_resend":
                    done = self.desk.outbox.resend(item_id)
                else:
                    done = self.desk.outbox.cancel(item_id, args.get("reason"))
                    self.desk.flush()
            return {"done": bool(done)}
        if op == "undoable":
            conv_id = args.get("conv_id")
            ev = self.desk.undoable(agent=ident.agent,
                                    conv_id=str(conv_id) if conv_id is not None else None)
            return ev.to_dict() if ev is not None else None
        if op == "command":
            value = self._command(ident, str(args.get("name")), dict(args.get("argv") or {}))
            return self._stream_output(client, args, value)
        if op in ("approve", "reject"):
            return self._approval(ident, op, args)
        if op in DESK_OPS:
            return self._desk_op(ident, op, args)
        raise Refused("usage", f"unknown request {op!r}")

    @contextlib.contextmanager
    def acting_as(self, ident: Identity):  # type: ignore[no-untyped-def]
        desk = self.desk
        before = desk.agent, desk.os_user
        desk.agent, desk.os_user = ident.agent, ident.os_user
        try:
            yield
        finally:
            desk.agent, desk.os_user = before

    def _desk_op(self, ident: Identity, op: str, args: dict[str, Any]) -> Any:
        allowed = DESK_OPS[op]
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise Refused("usage", f"{op} takes {', '.join(allowed)}, not {', '.join(unknown)}")
        conv_id = args.get("conv_id")
        if op in ANSWER_OPS and conv_id is not None:
            held = self._hold_for_approval(ident, str(conv_id), op, args)
            if held is not None:
                return held
        kwargs = {k: v for k, v in args.items() if k != "conv_id"}
        method = getattr(self.desk, op)
        with self.acting_as(ident), refusals():
            if op == "snooze":
                kwargs["until"] = parse_time(str(kwargs.get("until")))
            if op == "undo":
                result = method(agent=ident.agent, conv_id=conv_id)
            elif op in UNATTRIBUTED_OPS:
                result = method(str(conv_id), **kwargs)
            else:
                result = method(str(conv_id), agent=ident.agent, **kwargs)
        if result is None or isinstance(result, int):
            return {"events": [], "value": result}
        events = result if isinstance(result, list) else [result]
        return {"events": [e.to_dict() for e in events]}

    def _command(self, ident: Identity, name: str, argv: dict[str, Any]) -> Any:
        if self.execute is None:
            raise Refused("usage", "this desk process runs no CLI commands")
        if name in ANSWER_COMMANDS and argv.get("id") is not None:
            held = self._hold_for_approval(ident, str(argv["id"]), "command",
                                           {"name": name, "argv": self._words_now(name, argv)})
            if held is not None:
                return {"code": 0, "stdout": f"#{argv['id']}: waiting for a lead's approval "
                                             f"({held['approval']})\n", "stderr": ""}
        if name in ("approve", "reject"):
            with refusals():
                value = self._approval(ident, name, {"id": argv.get("approval"),
                                                     "note": argv.get("note") or ""})
            return {"code": 0, "stdout": value["message"] + "\n", "stderr": ""}
        with self.acting_as(ident):
            code, out, err = self.execute(self.desk, name, argv)
        return {"code": code, "stdout": out, "stderr": err}

    def _stream_output(self, client: Client, args: dict[str, Any],
                       value: dict[str, Any]) -> dict[str, Any]:
        """A command's output longer than ``OUTPUT_CHUNK`` characters (``queue`` or ``export``
        of a 100,000-conversation desk: 10 MB and more, past the protocol's line limit) goes
        first as ``output`` messages of the request (``{"id", "stream", "text"}``), in order,
        the result holding the last piece — to a client that said it reads them
        (``"chunked": true``); another is refused with the reason."""
        pieces: list[tuple[str, str]] = []
        for stream in ("stdout", "stderr"):
            text = str(value.get(stream) or "")
            if len(text) <= OUTPUT_CHUNK:
                continue
            if not args.get("chunked"):
                raise Refused("usage", f"the output of this command ({len(text):,} characters) "
                                       "is longer than this client reads in one message: run "
                                       "the same mentiondesk version as the desk process")
            cut = (len(text) - 1) // OUTPUT_CHUNK * OUTPUT_CHUNK  # the rest: in the result
            pieces += [(stream, text[i:i + OUTPUT_CHUNK]) for i in range(0, cut, OUTPUT_CHUNK)]
            value[stream] = text[cut:]
        rid = client.answering
        for stream, text in pieces:
            client.send(encode({"type": "output", "id": rid, "stream": stream, "text": text}),
                        droppable=False)
        return value

    # ==== approvals =============================================================================

    def _words_now(self, name: str, argv: dict[str, Any]) -> dict[str, Any]:
        """A reply asked for as ``--suggested`` or ``--key KEY``, with its words rendered now:
        the lead approves the words the customer will get, not "the suggestion" as it may be
        by then."""
        if name != "reply" or argv.get("text"):
            return argv
        conv_id = str(argv.get("id"))
        with refusals():
            key = argv.get("key")
            if key:
                text = self.desk.render_reply(conv_id, str(key))
            elif argv.get("suggested"):
                suggestion = self.desk.suggestion(conv_id)
                text, key = suggestion.text, suggestion.reply_key
            else:
                return argv
        # (the key stays: the reply records which canned reply it was)
        return {**argv, "text": text, "suggested": False, "key": key} if text else argv

    def _hold_for_approval(self, ident: Identity, conv_id: str, op: str,
                           args: dict[str, Any]) -> dict[str, Any] | None:
        conv = self.desk.conversations.get(conv_id)
        if conv is None or not needs_approval(ident, conv.category, self.config):
            return None
        with refusals():
            item = self.desk.request_approval(conv_id, op, args, agent=ident.agent,
                                              os_user=ident.os_user)
        self.alert({"kind": "approval", "conv_id": conv_id,
                    "message": f"{ident.agent} asks approval for a reply on #{conv_id}",
                    "approval": item["id"]}, conv.team or (conv.triage.team if conv.triage
                                                          else None),
                   to=[c for c in self.clients.values()
                       if c.identity is not None and c.identity.role == LEAD])
        return {"approval": item["id"], "waiting": True}

    def _approval(self, ident: Identity, op: str, args: dict[str, Any]) -> dict[str, Any]:
        if ident.role != LEAD:
            raise Refused("forbidden", f"only a lead may {op} a reply ({ident.agent} is "
                                       f"{ident.role})")
        aid = str(args.get("id") or "")
        with refusals():
            item = self.desk.approval(aid)
            if op == "reject":
                item = self.desk.decide_approval(aid, approved=False, lead=ident.agent,
                                                 note=str(args.get("note") or ""))
                message = f"returned {aid} on #{item['conv_id']} to {item['agent']}"
                author = [c for c in self.clients.values()
                          if c.identity is not None and c.identity.agent == item["agent"]]
                self._broadcast({"type": "alert", "kind": "rejected",
                                 "conv_id": item["conv_id"], "approval": aid,
                                 "message": f"{ident.agent} returned your reply on "
                                            f"#{item['conv_id']}: {item['note']}"}, to=author)
                return {"message": message, "approval": item}
            author = Identity(item["agent"], "agent", item.get("os_user") or "", -1)
            if item["op"] == "command":
                if self.execute is None:
                    raise Refused("usage", "this desk process runs no CLI commands")
                with self.acting_as(author):
                    code, _out, err = self.execute(self.desk, item["args"]["name"],
                                                  item["args"]["argv"])
                if code != 0:
                    raise Refused("refused", err.strip().splitlines() or ["refused"])
            else:
                kwargs = {k: v for k, v in item["args"].items() if k != "conv_id"}
                with self.acting_as(author):
                    getattr(self.desk, item["op"])(item["conv_id"], agent=author.agent,
                                                   **kwargs)
            item = self.desk.decide_approval(aid, approved=True, lead=ident.agent)
        return {"message": f"approved {aid}: {item['agent']}'s reply on #{item['conv_id']} "
                           "goes out through the outbox", "approval": item}


@contextlib.contextmanager
def refusals():  # type: ignore[no-untyped-def]
    """The desk's exceptions as typed refusals."""
    try:
        yield
    except AlreadyAnswered as exc:
        raise Refused("changed", exc.reasons, error="AlreadyAnswered",
                      data={"by": exc.by, "kind": exc.kind}) from exc
    except Outgrown as exc:
        raise Refused("changed", exc.reasons, error="Outgrown",
                      data={"count": exc.count, "changes": exc.changes}) from exc
    except AlreadyAnswering as exc:
        raise Refused("refused", exc.reasons, error="AlreadyAnswering",
                      data={"item": exc.item}) from exc
    except NotSaving as exc:
        raise Refused("refused", exc.reasons, error="NotSaving",
                      data={"state": exc.state}) from exc
    except ActionRefused as exc:
        raise Refused("refused", exc.reasons) from exc
    except ReplyRefused as exc:
        raise Refused("refused", str(exc)) from exc
    except KeyError as exc:
        raise Refused("not_found", str(exc.args[0] if exc.args else exc)) from exc
    except (TypeError, ValueError) as exc:
        raise Refused("usage", str(exc)) from exc


def secure_data_dir(data_dir: Path, group: str | None) -> None:
    """The data directory private to its owner (0700), or to the desk's group (2770: new files
    inherit the group).  Raises ``KeyError`` for an unknown group."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if group:
        gid = grp.getgrnam(group).gr_gid
        os.chown(data_dir, -1, gid)
        os.chmod(data_dir, 0o2770)
    else:
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        if mode & 0o077:
            os.chmod(data_dir, 0o700)


# ==== the process ===============================================================================


def serve(desk: Desk, data_dir: Path, *, config: Any = None, sources: Iterable[Any] = (),
          execute: Execute | None = None, ready: Callable[[str], None] | None = None,
          idle_seconds: float | None = None, runner_options: dict[str, Any] | None = None,
          send_budget: int = SEND_BUDGET, source_specs: list[str] | None = None,
          image: str | None = None) -> int:
    """Run the desk process until stopped (SIGTERM/SIGINT, a ``stop`` request, or
    ``idle_seconds`` with no client and nothing in the outbox).  ``source_specs``: the specs
    ``sources`` were made from (told to every client in the welcome).  ``image``: write the
    state image on the clean close (``close_desk``'s ``image``).  Returns the exit code."""
    return asyncio.run(_serve(desk, data_dir, config=config, sources=list(sources),
                              execute=execute, ready=ready, idle_seconds=idle_seconds,
                              runner_options=runner_options or {}, send_budget=send_budget,
                              source_specs=source_specs, image=image))


async def _serve(desk: Desk, data_dir: Path, *, config: Any, sources: list[Any],
                 execute: Execute | None, ready: Callable[[str], None] | None,
                 idle_seconds: float | None, runner_options: dict[str, Any],
                 send_budget: int, source_specs: list[str] | None = None,
                 image: str | None = None) -> int:
    from ..setup.boot import close_desk
    from ..sources.runner import Runner

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    # `mentiondesk rules reload` signals the data directory's lock holder: here, this process.
    server_box: list[DeskServer] = []
    loop.add_signal_handler(signal.SIGUSR1, lambda: reload_rules(
        desk, data_dir, server_box[0] if server_box else None))

    def ingested(results: list[Any]) -> None:
        if server_box:
            server_box[0].ingested(results)

    runner = Runner(desk, sources, on_ingested=ingested, **runner_options)

    def health() -> list[dict[str, Any]]:
        return [{"name": s.name, "state": s.status.state, "detail": s.status.detail}
                for s in runner.sources.values()]

    server = DeskServer(desk, data_dir, config=config, execute=execute, health=health,
                        send_budget=send_budget, on_stop=stop.set)
    server.source_specs = list(source_specs) if source_specs is not None else None
    server.autostarted = idle_seconds is not None
    from ..setup.boot import recovery_notes

    server.untold_notes = recovery_notes(desk)
    server_box.append(server)
    await server.start()
    if ready is not None:
        ready(f"ready {os.getpid()}")
    log.info("desk process %d serving %s", os.getpid(), server.path)
    tasks: list[asyncio.Task[None]] = []
    broken = False
    try:
        try:
            await _load_later(desk, stop)
        except Exception:
            # The desk in memory is not whole: a checkpoint would write it over the snapshot.
            # The snapshot and the journal stay the record; the next start reads them.
            log.exception("desk process %d: the rest of the state image could not be read, "
                          "nor the store instead; stopping without a checkpoint",
                          os.getpid())
            broken = True
        else:
            tasks = [asyncio.create_task(_idle_watch(server, stop, idle_seconds)),
                     asyncio.create_task(_ticker(server))]
            await runner.run(until=stop)
    finally:
        for task in tasks:
            task.cancel()
        await server.close()
        for problem in close_desk(desk, checkpoint=not broken, maintain=not broken,
                                  image=None if broken else image):
            log.error("%s", problem)
    log.info("desk process %d stopped", os.getpid())
    return 1 if broken else 0


async def _load_later(desk: Desk, stop: asyncio.Event) -> None:
    """Read what the state image left for later (``Desk.load_later``) a frame at a time, the
    clients served in between, before the sources and the tick start (issue 9: cold start;
    an action that needs it first reads the rest at once)."""
    if not desk.reading_image:
        return
    started = time.monotonic()
    while not stop.is_set() and desk.load_later():
        await asyncio.sleep(0)
    desk.finish_start()
    log.info("desk process %d: the rest of the state image read in %.2f s", os.getpid(),
             time.monotonic() - started)


def reload_rules(desk: Desk, data_dir: Path, server: DeskServer | None = None) -> None:
    """Apply a ``rules reload`` request (file, re-triage) to the served desk and tell every
    attached console (``DeskServer.rules_reloaded``); a broken file is logged with its problems
    and the desk keeps its rules."""
    from ..core.rules import RulesError
    from ..setup.reload import take_request

    request = take_request(data_dir)
    target = Path(request.path) if request.path else Path(desk.rules.path)
    try:
        text = target.read_text(encoding="utf-8")
        result = desk.reload_rules(target, retriage=request.retriage, text=text)
    except RulesError as exc:
        log.error("rules not reloaded: %s", "; ".join(str(p) for p in exc.problems[:6]))
        return
    except (OSError, UnicodeDecodeError) as exc:
        log.error("rules not reloaded: %s", exc)
        return
    log.info("%s", result.summary)
    if server is not None:
        server.rules_reloaded(str(target), text)


def alert_message(alert: Alert) -> dict[str, Any]:
    """An alert as clients and the ``on_alert`` hook receive it (``count``: the conversations
    it stands for — more than one when it counts those beyond ``ALERT_BURST``)."""
    return {"kind": alert.kind, "conv_id": alert.conv_id, "message": alert.message,
            "count": alert.count}


async def _ticker(server: DeskServer) -> None:
    """Once a second: the desk's clocks (snooze wake-ups, at-risk and critical alerts) — alerts
    go to every attached console, not only the one that saw them."""
    while True:
        await asyncio.sleep(1.0)
        try:
            for alert in server.desk.tick():
                server.alert(alert_message(alert), alert.team)
            server.tell_health()
        except Exception:
            log.exception("desk tick")


async def _idle_watch(server: DeskServer, stop: asyncio.Event,
                      idle_seconds: float | None) -> None:
    if idle_seconds is None:
        return
    from ..core.outbox import SENDING

    while not stop.is_set():
        await asyncio.sleep(min(1.0, idle_seconds))
        # Posts on their way out finish first; pending ones wait for the next desk process
        # (as they wait for the next console today).
        busy = server.clients or any(i["status"] == SENDING
                                     for i in server.desk.outbox.items.values())
        if busy:
            server.last_client_at = time.monotonic()
        elif time.monotonic() - server.last_client_at >= idle_seconds:
            log.info("no client for %.0f s: stopping", idle_seconds)
            stop.set()


async def run_hook(command: list[str], alert: dict[str, Any],
                   timeout: float = HOOK_TIMEOUT) -> int | None:
    """Run the config's ``on_alert`` command with the alert as one JSON object on stdin, killed
    after ``timeout`` seconds (a hung pager never piles up).  Returns its exit code, None when
    it could not start or was killed; failures are logged, never raised."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        log.warning("on_alert %s could not start: %s", command[0], exc)
        return None
    try:
        await asyncio.wait_for(proc.communicate(json.dumps(alert).encode()), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("on_alert %s ran over %.0f s: killed", command[0], timeout)
        return None
    if proc.returncode:
        log.warning("on_alert %s exited %d", command[0], proc.returncode)
    return proc.returncode


def captured(fn: Callable[[], int]) -> tuple[int, str, str]:
    """Run ``fn`` with stdout/stderr captured (the desk process is single-threaded)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fn()
    return code, out.getvalue(), err.getvalue()
