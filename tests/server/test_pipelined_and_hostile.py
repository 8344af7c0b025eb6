"""Hostile and careless clients of the desk process (found by attacking it, each failed
before its fix): one that pipelines requests and reads nothing, one whose commands carry
arguments of the wrong type, and the CLI's streamed `queue` when the desk process dies."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from deskkit import mention
from serverkit import ROOT

from tui.cli.actions import execute
from tui.server import server as server_module
from tui.server.client import DeskClient
from tui.server.protocol import decode, encode, hello


def _raw(desk_dir: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(desk_dir / "desk.sock"))
    s.sendall(encode(hello(None, "cli")))
    buf = b""
    while b"\n" not in buf:
        buf += s.recv(65536)
    return s


def snapshots(requests: int) -> bytes:
    """``requests`` pipelined ``snapshot`` requests in one write (read by the desk at once)."""
    return b"".join(encode({"type": "request", "id": i, "op": "snapshot", "args": {}})
                    for i in range(requests))


async def test_a_client_that_never_reads_its_answers_cannot_grow_the_desk_process_without_bound(
        desk_dir: Path, make_desk: Any) -> None:
    """Results are never dropped (droppable=False) and the session reads the next request
    without waiting for the last answers to leave: a client that pipelines requests and reads
    nothing makes the desk process hold every answer (attack 1: +48 MB per 200 unread
    'snapshot' answers at 3,000 conversations, 358 MB after 1,200, and on).  The desk process
    should stop reading such a client's requests while its unsent answers pass a bound."""
    desk = make_desk()
    desk.ingest([mention(f"my parcel {i} never arrived, order {i:06d}", f"cust{i}")
                 for i in range(600)])
    server = server_module.DeskServer(desk, desk_dir, execute=execute)
    await server.start()
    requests = 300
    try:
        def flood_then_ping() -> None:
            hostile = _raw(desk_dir)
            hostile.sendall(snapshots(requests))
            with DeskClient.connect(desk_dir) as other:
                other.request("ping")
            # (hostile stays open, reading nothing, until the end of the test)
            flood_then_ping.hostile = hostile  # type: ignore[attr-defined]

        await asyncio.to_thread(flood_then_ping)
        await asyncio.sleep(0)
        one = len(encode({"type": "result", "id": 0, "ok": True,
                          "value": server.snapshot()}))
        queued = max(sum(len(data) for data, _ in c.out) for c in server.clients.values())
        # 300 answers of ~`one` bytes each are more than 16 MB; a bounded desk process holds
        # a few budgets' worth at most.
        assert requests * one > 4 * server_module.SEND_BUDGET
        assert queued <= 4 * server_module.SEND_BUDGET, (
            f"{queued:,} bytes of unread answers held for one client "
            f"({server.stats['requests']} requests answered)")
        flood_then_ping.hostile.close()  # type: ignore[attr-defined]
    finally:
        await server.close()


async def test_another_client_is_served_between_one_clients_pipelined_requests(
        desk_dir: Path, make_desk: Any) -> None:
    """The session loop answers every request already in its reader's buffer without giving
    the loop a turn (StreamReader.readline returns at once): one client's pipelined commands
    hold every console and CLI (attack 1: 100 pipelined `queue --all` at 3,000 conversations,
    no other client answered for 50 s; `ping` after the hostile one closed: 22.8 s)."""
    desk = make_desk()
    desk.ingest([mention(f"my parcel {i} never arrived", f"cust{i}") for i in range(300)])
    server = server_module.DeskServer(desk, desk_dir, execute=execute)
    await server.start()
    requests = 400
    try:
        def flood_then_ping() -> int:
            hostile = _raw(desk_dir)
            with DeskClient.connect(desk_dir) as other:  # connected before the flood
                hostile.sendall(snapshots(requests))
                other.request("ping")
                answered = server.stats["requests"] - 1  # (the ping itself)
            hostile.close()
            return answered

        answered = await asyncio.to_thread(flood_then_ping)
        assert answered < requests, "the other client waited for all of the flood"
    finally:
        await server.close()


def test_queue_says_so_when_the_desk_process_dies_while_rows_stream(desk_dir: Path) -> None:
    """`mentiondesk queue` through the desk process: the desk process goes away after the
    snapshot, before the rows that follow — the CLI must say so in a line, not a
    ConnectionError traceback (attack 2: kill -9 of a real desk process 0.3 s into a streamed
    queue of 10,000 gave the traceback; here a socket that sends the snapshot then closes)."""
    data = desk_dir  # (a short path for the socket; removed afterwards)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(data / "desk.sock"))
    listener.listen(1)

    def fake_desk_process() -> None:
        conn, _ = listener.accept()
        f = conn.makefile("rb")
        decode(f.readline())  # hello
        conn.sendall(encode({"type": "welcome", "protocol": 2, "agent": "amy", "role": "agent",
                             "os_user": "root", "server_pid": os.getpid(), "client_id": 1}))
        decode(f.readline())  # attach
        conn.sendall(encode({"type": "snapshot", "seq": 0, "rows": [], "more": 5000,
                             "counts": {"open": 5000}, "sources": [], "presence": [],
                             "approvals": []}))
        conn.close()  # died (SIGKILL) while the rows stream

    t = threading.Thread(target=fake_desk_process, daemon=True)
    t.start()
    env = {k: v for k, v in os.environ.items() if k != "MENTIONDESK_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "tui.cli", "queue", "--data-dir", str(data)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    t.join(5)
    listener.close()
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0 and "desk process" in done.stderr


async def test_a_command_with_malformed_arguments_gets_a_refusal_not_a_dropped_connection(
        desk_dir: Path, make_desk: Any) -> None:
    """`command` with argv values of the wrong type (another version's CLI, a script): the
    command raises inside the desk process (AttributeError/TypeError), the connection is
    closed with no answer and a traceback goes to server.log; the client is left guessing
    whether its action was done.  It should get a typed refusal (kind "usage" or "error")."""
    desk = make_desk()
    desk.ingest([mention("my parcel never arrived", "cust1")])
    server = server_module.DeskServer(desk, desk_dir, execute=execute)
    await server.start()
    try:
        def ask() -> list[dict[str, Any]]:
            s = _raw(desk_dir)
            s.sendall(encode({"type": "request", "id": 8, "op": "command",
                              "args": {"name": "queue", "argv": {"limit": "lots"}}}))
            s.settimeout(30)
            buf = b""
            while chunk := s.recv(65536):
                buf += chunk
                if b"\n" in buf:
                    break
            s.close()
            return [decode(line) for line in buf.split(b"\n") if line]

        answers = await asyncio.to_thread(ask)
        assert answers and answers[0]["type"] == "result" and answers[0]["id"] == 8, answers
        assert not answers[0]["ok"]
    finally:
        await server.close()
