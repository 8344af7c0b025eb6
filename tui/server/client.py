"""Clients of the desk process: connect (starting it tmux-style when asked), say hello, send
requests, read the change stream.

``DeskClient`` is a small blocking client (the CLI, tests, benchmarks, headless consoles).
``start_server`` starts a desk process in the background for a data directory and waits for its
handshake; two starters racing each other both end up attached to the one process that won the
store's lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .protocol import (
    MAX_LINE,
    ProtocolError,
    Refused,
    decode,
    encode,
    hello,
    socket_fits,
    socket_path,
)

START_TIMEOUT = 60.0  # seconds a started desk process has to open a large desk and listen
ATTACH_WAIT = 5.0  # seconds to wait for a desk process that holds the lock to listen


class NotRunning(Exception):
    """No desk process listens on this data directory."""


class StartFailed(RuntimeError):
    """A started desk process could not open the desk; ``code``: the exit code to give (2: bad
    files or a bad source spec, 1: refused, 3: the data directory is unusable or in use)."""

    def __init__(self, message: str, code: int = 3) -> None:
        super().__init__(message)
        self.code = code


class DeskClient:
    """A blocking connection to the desk process.  Raises ``Refused`` (identity, protocol) from
    ``connect``, ``Refused`` from ``request`` for typed refusals, ``ConnectionError`` when the
    desk process goes away."""

    def __init__(self, sock: socket.socket, welcome: dict[str, Any]) -> None:
        self.sock = sock
        self.welcome = welcome
        self.agent: str = welcome.get("agent", "")
        self.role: str = welcome.get("role", "")
        self.server_pid: int = int(welcome.get("server_pid", 0))
        self.holder: str = str(welcome.get("holder") or "desk process")  # or "console"
        self.connections: int = int(welcome.get("clients") or 0)  # open there, this one included
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no newline
        self._next = 0
        self.inbox: deque[dict[str, Any]] = deque()  # stream messages read while waiting

    @classmethod
    def connect(cls, data_dir: Path | str, *, agent: str | None = None, client: str = "cli",
                timeout: float | None = 30.0) -> DeskClient:
        """Connect and say hello.  ``NotRunning`` when nothing listens."""
        path = socket_path(data_dir)
        if not socket_fits(data_dir):
            raise NotRunning(f"{path} is too long for a socket: no desk process can serve it")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise NotRunning(str(path)) from exc
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK):
                raise NotRunning(str(path)) from exc
            raise
        self = cls(sock, {})
        try:
            self.send(hello(agent, client))
            reply = self.read()
        except (ConnectionError, TimeoutError) as exc:
            sock.close()  # it died (or hangs) between accepting and answering
            raise NotRunning(f"{path}: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        if reply.get("type") == "refused":
            sock.close()
            raise Refused(reply.get("kind", "protocol"), reply.get("reasons") or ["refused"])
        if reply.get("type") != "welcome":
            sock.close()
            raise ProtocolError(f"expected a welcome, got {reply.get('type')!r}")
        self.welcome = reply
        self.agent = reply.get("agent", "")
        self.role = reply.get("role", "")
        self.server_pid = int(reply.get("server_pid", 0))
        self.holder = str(reply.get("holder") or "desk process")
        self.connections = int(reply.get("clients") or 0)
        return self

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode(message))

    def read(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message (``TimeoutError`` after ``timeout`` seconds when given)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while (end := self._buf.find(b"\n", self._scanned)) < 0:
            self._scanned = len(self._buf)
            if self._scanned > MAX_LINE:
                raise ProtocolError("a message longer than the line limit")
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                raise ConnectionError("the desk process closed the connection")
            self._buf += chunk
        line = bytes(self._buf[:end])
        del self._buf[:end + 1]
        self._scanned = 0
        return decode(line)

    def request(self, op: str, **args: Any) -> Any:
        """Send a request and wait for its result; stream messages read meanwhile go to
        ``inbox``."""
        self._next += 1
        rid = self._next
        if op == "command":
            args = {**args, "chunked": True}  # a long output comes as "output" messages first
        self.send({"type": "request", "id": rid, "op": op, "args": args})
        pieces: dict[str, list[str]] = {"stdout": [], "stderr": []}
        while True:
            message = self.read()
            kind, mid = message.get("type"), message.get("id")
            if kind == "output" and mid == rid and message.get("stream") in pieces:
                pieces[message["stream"]].append(str(message.get("text") or ""))
                continue
            if kind == "result" and mid == rid:
                if message.get("ok"):
                    value = message.get("value")
                    for stream, parts in pieces.items():
                        if parts and isinstance(value, dict):
                            value[stream] = "".join(parts) + str(value.get(stream) or "")
                    return value
                refusal = message.get("refusal") or {}
                raise Refused.from_dict(refusal)
            self.inbox.append(message)

    def attach(self, limit: int | None = None, *,
               gather: int | bool = False) -> dict[str, Any]:
        """Ask for the change stream; returns the initial snapshot.  With ``limit``, its first
        ``limit`` rows (the ``more`` others follow as ``rows`` messages for the caller to
        read); without, every row of the queue, most urgent first — gathered here from the
        snapshot and the ``rows`` messages after it (one message holds at most the server's
        ``SNAPSHOT_ROWS``).  ``gather`` with a ``limit``: every row gathered so all the same
        (True), or the first ``gather`` (the others are not read).  Changes that arrive
        meanwhile wait in ``inbox``."""
        self.send({"type": "attach"} if limit is None else {"type": "attach", "limit": limit})
        while True:
            message = self.read()
            if message.get("type") == "snapshot":
                break
            self.inbox.append(message)
        if limit is not None and gather is False:
            return message
        want = None if gather is True or gather is False else int(gather)
        rows = message["rows"]
        more = int(message.get("more") or 0)
        while more and (want is None or len(rows) < want):
            part = self.read()
            if part.get("type") != "rows":
                self.inbox.append(part)
                continue
            rows.extend(row for row in part["rows"].values() if row is not None)
            more = int(part.get("more") or 0)
        if want is not None:
            del rows[want:]
        message["more"] = 0
        return message

    def messages(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        while True:
            if self.inbox:
                yield self.inbox.popleft()
            else:
                yield self.read(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> DeskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def server_command(data_dir: Path | str, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "server", "--foreground", "--data-dir",
            str(data_dir), *extra]


class Starting:
    """A desk process spawned in the background, not yet known to be listening: the console
    spawns it first thing and does its own start-up work (imports, rules) while it boots, then
    calls :meth:`wait`.  ``pid``: the spawned process."""

    def __init__(self, data_dir: Path, proc: subprocess.Popen[bytes], read_fd: int) -> None:
        self.data_dir = data_dir
        self.proc = proc
        self.pid = proc.pid
        self._read_fd: int | None = read_fd
        self._result: tuple[str, str] | None = None

    def wait(self, timeout: float = START_TIMEOUT) -> int | None:
        """Wait for the handshake.  Returns the pid, or None when another desk process holds
        the data directory (attach to that one).  Raises ``RuntimeError`` with the desk's
        message when it could not start.  Safe to call twice."""
        if self._result is None:
            assert self._read_fd is not None
            try:
                line = _read_line(self._read_fd, timeout)
            finally:
                os.close(self._read_fd)
                self._read_fd = None
            word, _, rest = line.strip().partition(" ")
            self._result = (word, rest)
        word, rest = self._result
        if word == "ready":
            return self.pid
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if word == "locked":
            return None
        code, _, message = rest.partition(" ")
        if word == "error" and code.isdigit():
            raise StartFailed(message, int(code))
        raise StartFailed(rest or f"the desk process exited (code {self.proc.poll()}); see "
                                  f"{self.data_dir / 'server.log'}")

    def abandon(self) -> None:
        """The starter gave up before attaching (bad files, Ctrl-C): let the desk process go on
        (it stops by itself when idle) but close our end of the handshake."""
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None


def spawn_server(data_dir: Path | str, extra: Sequence[str] = (), *,
                 idle_seconds: float | None = None) -> Starting:
    """Spawn a desk process for ``data_dir`` in its own session (it outlives this process)
    without waiting for it: :meth:`Starting.wait` waits for its handshake."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    read_fd, write_fd = os.pipe()
    args = [*extra, "--ready-fd", str(write_fd)]
    if idle_seconds is not None:
        args += ["--idle-exit", str(idle_seconds)]
    log = open(data_dir / "server.log", "ab")
    try:
        proc = subprocess.Popen(server_command(data_dir, args), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, pass_fds=(write_fd,),
                                start_new_session=True, close_fds=True)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
        log.close()
    return Starting(data_dir, proc, read_fd)


def start_server(data_dir: Path | str, extra: Sequence[str] = (), *,
                 idle_seconds: float | None = None,
                 timeout: float = START_TIMEOUT) -> int | None:
    """Start a desk process for ``data_dir`` in its own session (it outlives this process) and
    wait for its handshake.  Returns its pid, or None when another desk process holds the data
    directory (attach to that one).  Raises ``RuntimeError`` with the desk's message when it
    could not start."""
    return spawn_server(data_dir, extra, idle_seconds=idle_seconds).wait(timeout)


def listening(data_dir: Path | str) -> bool:
    """True when something accepts connections on the data directory's socket (a desk process,
    or a console serving it) — a cheap check before spawning one."""
    path = socket_path(data_dir)
    if not socket_fits(data_dir):
        return False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _read_line(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"the desk process did not start within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def connect_or_start(data_dir: Path | str, *, agent: str | None = None, client: str = "cli",
                     start: bool = True, extra: Sequence[str] = (),
                     idle_seconds: float | None = None,
                     attach_wait: float = ATTACH_WAIT,
                     starting: Starting | None = None) -> DeskClient:
    """Attach to the desk process of ``data_dir``, starting one first when none runs and
    ``start`` is true.  ``starting``: one this client already spawned (waited for first).
    Raises ``NotRunning`` (none runs and ``start`` is false, or the winner of a start race never
    listened), ``Refused``, ``RuntimeError`` (could not start)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if starting is None:
            with contextlib.suppress(NotRunning):
                return DeskClient.connect(data_dir, agent=agent, client=client)
            if not start or time.monotonic() > deadline:
                raise NotRunning(str(socket_path(data_dir)))
            pid = start_server(data_dir, extra, idle_seconds=idle_seconds)
        else:
            pid, starting = starting.wait(), None
        # The winner of a start race may still be opening a large desk: give it the start
        # time.  If it died before listening (killed), start again.
        # A process that is not a desk process (``ingest``) holds the lock: it will not listen.
        slow = pid is None and _holder_may_listen(Path(data_dir))
        with contextlib.suppress(NotRunning):
            return wait_connect(data_dir, agent=agent, client=client,
                                wait=START_TIMEOUT if slow else attach_wait)
        if pid is None and not slow:
            raise NotRunning(str(socket_path(data_dir)))


def _holder_may_listen(data_dir: Path) -> bool:
    """False when the process in the data directory's lock file is known not to be a desk
    process (a console listens at once, ``ingest`` never): no use waiting; True when unsure."""
    pid = _lock_pid(data_dir)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True
    return b"server" in argv


def _lock_pid(data_dir: Path) -> int | None:
    """The pid in the data directory's lock file (the holder, or the last one), if any."""
    try:
        return int((data_dir / "lock").read_text().strip())
    except (OSError, ValueError):
        return None


def _gone(pid: int | None) -> bool:
    """True when ``pid`` has exited (or is a zombie nobody collected yet)."""
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def wait_connect(data_dir: Path | str, *, agent: str | None = None, client: str = "cli",
                 wait: float = ATTACH_WAIT) -> DeskClient:
    """Connect, retrying for ``wait`` seconds (a desk process that holds the lock is still
    opening the desk) — not once the lock's holder has exited without listening (a desk
    process that was stopping: the caller starts the next one at once instead of waiting out
    ``wait``)."""
    deadline = time.monotonic() + wait
    holder = _lock_pid(Path(data_dir))
    delay = 0.01
    while True:
        try:
            return DeskClient.connect(data_dir, agent=agent, client=client)
        except NotRunning:
            if time.monotonic() >= deadline or _gone(holder):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
