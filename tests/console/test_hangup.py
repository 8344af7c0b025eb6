"""A console whose terminal hangs up (SIGHUP: the SSH session dropped) or that is sent SIGTERM
quits as ``q`` does: the typing in the open composer is kept as the draft, the desk is saved and
released for the next console.  A real console process on a real pseudo-terminal."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, new_desk
from serverkit import cli, holder_pid

from tui.core.store import Store


def read_until(fd: int, needle: bytes, seconds: float = 60.0) -> bytes:
    seen = b""
    end = time.monotonic() + seconds
    while needle not in seen:
        left = end - time.monotonic()
        assert left > 0, f"never saw {needle!r}; got {seen[-400:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def drain(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


@pytest.mark.parametrize(("sig", "mode"), [
    pytest.param(signal.SIGHUP, "default", id="SIGHUP-default"),
    pytest.param(signal.SIGTERM, "default", id="SIGTERM-default"),
    pytest.param(signal.SIGHUP, "direct", id="SIGHUP-direct"),
])
def test_a_hang_up_keeps_the_draft_and_frees_the_desk(sig: int, mode: str,
                                                      desk_dir: Path) -> None:
    """``default``: the console started the desk process and is its client — the draft is the
    desk process's, saved before the console exits; ``direct`` (MENTIONDESK_DESK_PROCESS=direct):
    the console held the desk itself and released it."""
    data = desk_dir / "desk"
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color",
           "COLUMNS": "100", "LINES": "30"}
    if mode == "default":
        env.pop("MENTIONDESK_DESK_PROCESS", None)
    else:
        env["MENTIONDESK_DESK_PROCESS"] = "direct"
    child = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--data-dir", str(data), "--rules",
         str(ROOT / "rules.yaml"), "--replies", str(ROOT / "replies.yaml")],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        seen = read_until(master, b"Reply")  # the queue and its key bar are on screen
        if b"@" not in seen:  # the demo's first batch is in: a customer's @handle in a row
            read_until(master, b"@")
        os.write(master, b"r")
        read_until(master, b"ctrl+s send")
        os.write(master, b" -- half a sentence typed when the line dropped")
        # The console has read every key once it draws the last word; the signal then comes
        # at once, inside the composer's 0.5 s draft debounce (nothing saved the draft yet).
        # (A signal before the keys were even read from the terminal would lose them: that
        # is the "last half-second of typing" a killed console may lose.)
        read_until(master, b"dropped")
        child.send_signal(sig)
        if sig == signal.SIGHUP:
            os.close(master)  # the terminal really is gone
            master = -1
        else:  # the terminal is still there and reads what the console draws as it closes
            threading.Thread(target=drain, args=(master,), daemon=True).start()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        if master >= 0:
            os.close(master)
    if mode == "default":
        # The desk process the console started waits for its next client; stop it (flush,
        # snapshot, exit) and read what it saved.
        assert holder_pid(data) not in (None, child.pid)
        stop = cli(data, "server", "--stop")
        assert stop.returncode == 0, stop.stderr
    store = Store(data)  # the lock is free: the next console can open the desk
    try:
        drafts = [d["text"] for d in new_desk(store).drafts.values()]
    finally:
        store.close()
    assert any(t.endswith("half a sentence typed when the line dropped") for t in drafts), drafts
