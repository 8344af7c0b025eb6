"""The default, tmux style (issue 9 item 1): the first ``mentiondesk`` on a data directory — the
console or an action command — starts the desk process in the background, later ones attach,
``mentiondesk server --stop`` stops it cleanly, and what the first client was given (files,
sources) reaches the desk process it starts.  Real consoles on pseudo-terminals, real
``mentiondesk`` processes, real desk processes (stopped at each test's teardown by conftest's
``no_leftover_desk_process``).  These tests run without ``MENTIONDESK_DESK_PROCESS=direct``
(the ``default_desk_process`` fixture); how fast the first screen shows is measured by
``bench/bench_desk_process.py --only first``."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, new_desk
from serverkit import alive, cli, holder_pid, seed

from tui.core.store import Store, lock_holder
from tui.server.client import DeskClient

pytestmark = pytest.mark.usefixtures("default_desk_process")

HISTORY = ROOT / "tests" / "data" / "history.jsonl"
STATUS = re.compile(rb"\d+ open \xc2\xb7")  # the status bar's "N open ·": the first screen
CSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")  # terminal control sequences


class Console:
    """``mentiondesk ARGS`` on a pseudo-terminal of 100x30."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color",
               "COLUMNS": "100", "LINES": "30"}
        env.pop("MENTIONDESK_CONFIG", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "tui", *args], cwd=ROOT,
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.fd = master
        self.seen = b""

    def read_until(self, pattern: bytes | re.Pattern[bytes], seconds: float = 60.0, *,
                   fresh: bool = True) -> None:
        """Read the screen until ``pattern`` shows (``fresh``: in what was read since this
        call began, else in all that was read)."""
        start = len(self.seen) if fresh else 0
        end = time.monotonic() + seconds

        def found() -> bool:
            tail = self.seen[start:]
            return (pattern in tail) if isinstance(pattern, bytes) else bool(
                pattern.search(tail))

        while not found():
            left = end - time.monotonic()
            assert left > 0, f"never saw {pattern!r}; got {self.seen[-600:]!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    raise AssertionError(f"the console ended: {self.seen[-600:]!r}") from None

    def read_until_words(self, words: str, seconds: float = 60.0) -> None:
        """Read until ``words`` show, wherever the screen wraps them (escape sequences and
        white space are ignored)."""
        want = re.sub(rb"\s+", b"", words.encode())
        end = time.monotonic() + seconds
        while want not in re.sub(rb"\s+", b"", CSI.sub(b"", self.seen)):
            left = end - time.monotonic()
            assert left > 0, f"never saw {words!r}; got {self.seen[-600:]!r}"
            if select.select([self.fd], [], [], min(left, 0.2))[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    raise AssertionError(f"the console ended: {self.seen[-600:]!r}") from None

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def quit(self) -> int:
        """``q``, as an agent quits; the exit code."""
        self.type(b"q")
        end = time.monotonic() + 30
        while self.proc.poll() is None and time.monotonic() < end:
            with contextlib.suppress(OSError):
                if select.select([self.fd], [], [], 0.05)[0]:
                    self.seen += os.read(self.fd, 65536)
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def argv_of(pid: int) -> list[str]:
    return [os.fsdecode(a) for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]


def welcome(data: Path) -> dict:
    with DeskClient.connect(data) as client:
        return client.welcome


def stored(data: Path) -> dict:
    store = Store(data, read_only=True)
    try:
        return store.load()
    finally:
        store.close()


def test_the_first_console_starts_the_desk_process_and_the_next_finds_its_state(
        desk_dir: Path) -> None:
    data = desk_dir / "demo"
    first = Console("--data-dir", str(data))
    try:
        first.read_until(STATUS)  # `mentiondesk` alone: the demo, on screen
        first.read_until(re.compile(rb"@\w+"), fresh=False)
        server = holder_pid(data)
        assert server is not None and server != first.proc.pid and alive(server)
        argv = argv_of(server)
        assert "server" in argv and argv[argv.index("--source") + 1] == "demo"
        assert welcome(data)["autostarted"] is True
        # Commands work meanwhile: through the desk process (never "in use", never direct).
        rows = [json.loads(line) for line in
                cli(data, "queue", "--json").stdout.splitlines() if line.strip()]
        assert rows, "the demo's first conversations are on the desk"
        conv = rows[0]["id"]
        noted = cli(data, "note", conv, "noted by a script while the console runs")
        assert noted.returncode == 0, noted.stderr
        # A reply half written, the composer closed (the draft is kept), then `q`.
        first.type(b"r")
        first.read_until(b"ctrl+s send")
        first.type(b" -- words typed before quitting")
        first.read_until(b"quitting")
        first.type(b"\x1b")
        first.read_until(STATUS)
        time.sleep(0.3)  # let the console draw the closed composer before q (keys, not data)
        assert first.quit() == 0
    finally:
        first.close()
    assert alive(server), "an auto-started desk process waits for the next client"
    # The next `mentiondesk` attaches to it: the same desk process, the same desk.
    second = Console("--data-dir", str(data))
    try:
        second.read_until(STATUS)
        assert holder_pid(data) == server
        assert second.quit() == 0
    finally:
        second.close()
    stop = cli(data, "server", "--stop")
    assert stop.returncode == 0 and f"stopped the desk process {server}" in stop.stdout
    assert not alive(server) and not (data / "desk.sock").exists()
    state = stored(data)  # everything was flushed: the note, the draft, the conversations
    notes = [e for e in state["events"].values() if e["kind"] == "note"]
    assert [str(n["conv"]) for n in notes] == [conv]
    store = Store(data)
    try:
        drafts = [d["text"] for d in new_desk(store).drafts.values()]
    finally:
        store.close()
    assert any(t.endswith("words typed before quitting") for t in drafts), drafts


def test_the_console_passes_its_sources_on_and_says_when_another_runs(desk_dir: Path) -> None:
    data = desk_dir / "replay"
    spec = f"replay:{HISTORY}"
    first = Console("--data-dir", str(data), "--source", spec, "--speed", "max")
    try:
        first.read_until(STATUS)
        server = holder_pid(data)
        assert server is not None
        argv = argv_of(server)
        assert argv[argv.index("--source") + 1] == spec
        assert argv[argv.index("--speed") + 1] == "max"
        assert welcome(data)["sources"] == [spec]
        # Another console asking for other sources while this one works: told, not ignored.
        other = subprocess.run([sys.executable, "-m", "tui", "--data-dir", str(data),
                                "--source", "demo"], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
        assert other.returncode == 1
        assert f"runs {spec}, not demo" in other.stderr and "server --stop" in other.stderr
        assert holder_pid(data) == server
        assert first.quit() == 0
    finally:
        first.close()
    # Alone and auto-started, the desk process gives way to the sources asked for.
    demo = Console("--data-dir", str(data), "--source", "demo")
    try:
        demo.read_until(STATUS)
        now = holder_pid(data)
        assert now is not None and now != server and not alive(server)
        assert welcome(data)["sources"] == ["demo"]
        assert demo.quit() == 0
    finally:
        demo.close()


def test_a_bad_source_spec_is_a_usage_error_from_the_desk_process(desk_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tui", "--data-dir", str(desk_dir / "x"),
                           "--source", "nosuchnetwork:abc"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "nosuchnetwork" in done.stderr
    assert lock_holder(desk_dir / "x") is None  # the failed desk process is gone


def test_a_command_starts_one_the_next_attaches_and_server_stop_ends_it(
        desk_dir: Path) -> None:
    [a] = seed(desk_dir, ["my train was cancelled"])
    done = cli(desk_dir, "note", a, "first")
    assert done.returncode == 0, done.stderr
    server = holder_pid(desk_dir)
    assert server is not None and alive(server) and "--idle-exit" in argv_of(server)
    again = cli(desk_dir, "show", a)
    assert again.returncode == 0 and "first" in again.stdout
    assert holder_pid(desk_dir) == server  # attached, not a second one
    status = cli(desk_dir, "server", "--status")
    assert f"desk process {server}" in status.stdout
    # ingest needs the directory to itself: told which process holds it and how to free it.
    ingest = cli(desk_dir, "ingest", "--source", "demo", "--once")
    assert ingest.returncode == 3
    assert f"the desk process {server} holds it (it stops by itself 30 s" in ingest.stderr
    assert "`mentiondesk server --stop`" in ingest.stderr
    assert cli(desk_dir, "server", "--stop").returncode == 0
    assert not alive(server)
    assert [e["kind"] for e in stored(desk_dir)["events"].values()].count("note") == 1


def test_no_desk_no_desk_process_and_nothing_created(desk_dir: Path) -> None:
    missing = desk_dir / "typo"
    done = cli(missing, "queue")
    assert done.returncode == 1 and "no desk in" in done.stderr
    assert not missing.exists()


def test_direct_is_the_single_operators_opt_out(desk_dir: Path) -> None:
    [a] = seed(desk_dir, ["my train was cancelled"])
    done = cli(desk_dir, "note", a, "in process", env={"MENTIONDESK_DESK_PROCESS": "direct"})
    assert done.returncode == 0, done.stderr
    assert lock_holder(desk_dir) is None  # done in the command's own process, lock released
    assert not (desk_dir / "desk.sock").exists()


def test_a_data_directory_too_long_for_a_socket_keeps_the_desk_in_process(
        tmp_path: Path) -> None:
    data = tmp_path / ("d" * 100)  # its desk.sock would not fit a Unix socket address
    [a] = seed(data, ["my train was cancelled"])
    done = cli(data, "note", a, "no desk process can serve this one")
    assert done.returncode == 0, done.stderr
    assert lock_holder(data) is None and not (data / "server.log").exists()
    assert [e["kind"] for e in stored(data)["events"].values()].count("note") == 1


def test_a_data_directory_too_long_for_a_socket_says_why_commands_wait(tmp_path: Path) -> None:
    """While something holds such a desk (a console in process), a command cannot go through
    it: the refusal names the socket path's length and the fix, never "they go through the
    process holding the desk"."""
    from tui.core.store import Store

    data = tmp_path / ("d" * 100)
    seed(data, ["my train was cancelled"])
    with Store(data):  # the lock, as a console holding the desk in process
        done = cli(data, "queue")
    assert done.returncode == 3, done.stderr
    assert "is using" in done.stderr
    assert "over the 107 a Unix socket allows" in done.stderr
    assert "shorter --data-dir" in done.stderr


def test_stopping_a_desk_process_others_are_attached_to_says_they_restart_it(
        desk_dir: Path) -> None:
    """`server --stop` with a console attached: it stops, and says that a console reconnects
    and starts one again unless it is quit first (a refusal's "stop it and start again" would
    otherwise never hold)."""
    from tui.server.client import DeskClient, start_server

    seed(desk_dir, ["my train was cancelled"])
    start_server(desk_dir)
    with DeskClient.connect(desk_dir, client="console") as watcher:
        watcher.attach()
        done = cli(desk_dir, "server", "--stop")
    assert done.returncode == 0, done.stderr
    assert "stopped the desk process" in done.stdout
    assert "1 other client(s) were attached" in done.stderr
    assert "quit the consoles first" in done.stderr


def test_a_desk_process_dying_during_its_stop_is_not_called_absent(desk_dir: Path) -> None:
    """kill -9 a moment after `server --stop` reached it: the command said "no desk process
    serves" the directory it had just been serving.  A stand-in desk process (a real socket)
    welcomes the stop, then its connection drops."""
    import socket
    import threading

    from tui.server.protocol import VERSION, decode, encode, socket_path

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path(desk_dir)))
    listener.listen(1)

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            f = conn.makefile("rb")
            assert decode(f.readline())["type"] == "hello"
            conn.sendall(encode({"type": "welcome", "protocol": VERSION, "agent": "sam",
                                 "role": "lead", "os_user": "sam", "server_pid": 4242,
                                 "clients": 1}))
            assert decode(f.readline())["type"] == "request"  # the stop: then it "dies"

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        done = cli(desk_dir, "server", "--stop")
    finally:
        thread.join(10)
        listener.close()
    assert done.returncode == 0, done.stderr
    assert "no desk process serves" not in done.stdout
    assert "went away before it confirmed the stop" in done.stderr


def test_an_unusable_data_directory_is_said_in_one_line(desk_dir: Path) -> None:
    afile = desk_dir / "a-file"
    afile.write_text("not a directory\n")
    done = subprocess.run([sys.executable, "-m", "tui", "--data-dir", str(afile)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "is not a directory" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_console_on_a_desk_process_running_other_sources_says_so(desk_dir: Path) -> None:
    seed(desk_dir, ["my train was cancelled"])
    started = cli(desk_dir, "server")  # explicit: runs until stopped, here with no source
    assert started.returncode == 0, started.stderr
    server = holder_pid(desk_dir)
    console = Console("--data-dir", str(desk_dir))  # asks for the demo, by default
    try:
        console.read_until(STATUS)
        console.read_until_words("runs no source, not demo")
        assert holder_pid(desk_dir) == server  # attached: not restarted under someone's feet
        assert console.quit() == 0
    finally:
        console.close()
    assert alive(server)


def test_what_the_store_repaired_is_told_by_the_desk_process_it_started(desk_dir: Path) -> None:
    seed(desk_dir, ["my train was cancelled"])
    with (desk_dir / "journal.jsonl").open("ab") as f:
        f.write(b'deadbeef {"s": 99, "t": "mentions", "k": "torn')  # a crash mid-write
    first = cli(desk_dir, "queue")
    assert first.returncode == 0 and "@cust0" in first.stdout
    assert "recovered:" in first.stderr and "torn" in first.stderr
    assert holder_pid(desk_dir) is not None and "server" in argv_of(holder_pid(desk_dir))
    again = cli(desk_dir, "queue")
    assert again.returncode == 0 and "recovered:" not in again.stderr  # told once
