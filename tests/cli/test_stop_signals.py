"""``ingest --once`` is "what is there now, as fast as possible", and every long command stops
cleanly on SIGINT/SIGTERM with what it read saved (issue 13, item 5).  Real child processes and
real signals; a real HTTP server on 127.0.0.1 for a feed that never ends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, new_desk

from tui.core.store import Store

FILES = ["--rules", str(ROOT / "rules.yaml"), "--replies", str(ROOT / "replies.yaml")]


def start(data_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tui.cli", "ingest", "--no-deliver",
                             "--data-dir", str(data_dir), *FILES, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def stored_keys(data_dir: Path) -> set[str]:
    store = Store(data_dir)  # takes the lock: the child has let go of it
    try:
        return set(new_desk(store).mentions)
    finally:
        store.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_running_ingest_stops_on_a_signal_with_what_it_read_saved(sig, tmp_path: Path) -> None:
    child = start(tmp_path / "d", "--source", "demo", "--rate", "20")
    assert child.stdout is not None
    printed = [json.loads(child.stdout.readline())["mention"] for _ in range(5)]
    child.send_signal(sig)
    out, err = child.communicate(timeout=30)
    printed += [json.loads(line)["mention"] for line in out.splitlines()]
    assert child.returncode == 0, err
    assert "Traceback" not in err and "demo:" in err  # the usual closing summary
    assert set(printed) <= stored_keys(tmp_path / "d")


class EndlessFeed:
    """An ndjson feed on 127.0.0.1 that sends two mentions and then never ends."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.recv(65536)
            lines = "".join(json.dumps({
                "id": f"t{i}", "text": f"my refund {i} never arrived",
                "author": {"handle": f"cust{i}"}, "created_at": "2026-11-30T01:00:00Z",
            }) + "\n" for i in range(2)).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         + f"{len(lines):x}\r\n".encode() + lines + b"\r\n")

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def endless_feed() -> Iterator[EndlessFeed]:
    feed = EndlessFeed()
    yield feed
    feed.close()


def test_once_on_a_feed_that_never_ends_stops_on_sigterm(endless_feed, tmp_path: Path) -> None:
    child = start(tmp_path / "d", "--once", "--source",
                  f"feed:http://127.0.0.1:{endless_feed.port}/mentions")
    assert child.stdout is not None
    began = time.monotonic()
    first = json.loads(child.stdout.readline())["mention"]
    # printed as it arrived, long before the pass could end on the stream's 60 s silence: the
    # SIGTERM below really lands in the middle of the pass
    assert time.monotonic() - began < 30
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert "live" in err  # the closing summary
    keys = {first, *(json.loads(line)["mention"] for line in out.splitlines())}
    assert keys <= stored_keys(tmp_path / "d")


def test_once_on_the_demo_emits_its_current_batch_and_ends(tmp_path: Path) -> None:
    child = start(tmp_path / "d", "--once", "--source", "demo", "--rate", "0.5")
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert len(out.splitlines()) == 30  # one minute at 0.5/s
    assert "30 received" in err


def test_once_replays_at_maximum_speed_whatever_the_speed(tmp_path: Path) -> None:
    # The history spans months: at real time (the default --speed 1) this would never end.
    history = ROOT / "tests" / "data" / "history.jsonl"
    child = start(tmp_path / "d", "--once", "--source", f"replay:{history}", "--speed", "1")
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert len(out.splitlines()) >= 5 and "replay finished" in err


def test_the_console_stops_on_sigterm_with_what_it_read_saved(tmp_path: Path) -> None:
    import pty
    import select

    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color",
           "COLUMNS": "100", "LINES": "30"}
    child = subprocess.Popen([sys.executable, "-m", "tui.cli", "--data-dir",
                              str(tmp_path / "d"), *FILES, "--source", "demo", "--rate", "20"],
                             stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                             start_new_session=True)
    os.close(terminal)
    journal = tmp_path / "d" / "journal.jsonl"
    try:
        screen = b""
        # Wait until the console has drawn its status bar and stored some mentions.
        while b"open" not in screen or not (journal.exists() and journal.stat().st_size):
            ready, _, _ = select.select([controller], [], [], 30)
            assert ready, "the console drew nothing for 30 s"
            screen += os.read(controller, 65536)
        child.send_signal(signal.SIGTERM)
        while child.poll() is None:  # keep reading so the console never blocks on output
            ready, _, _ = select.select([controller], [], [], 30)
            if ready:
                try:
                    os.read(controller, 65536)
                except OSError:
                    break
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        os.close(controller)
    assert stored_keys(tmp_path / "d")
