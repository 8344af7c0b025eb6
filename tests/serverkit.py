"""Shared helpers for the desk-process tests: a short data directory (Unix socket paths are
limited to 107 bytes), seeding a desk, starting and stopping real desk processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import new_desk
from deskkit import mention

from tui.core.store import Store
from tui.server.client import DeskClient, NotRunning

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "helpers"


def holder_pid(data_dir: Path) -> int | None:
    """The pid in the store's lock file (the desk process holding the data directory)."""
    try:
        text = (data_dir / "lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def is_desk_process(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is a ``mentiondesk server`` for ``data_dir`` (never this test)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return pid != os.getpid() and b"server" in argv and os.fsencode(data_dir) in argv


def stop_desk(data_dir: Path) -> None:
    """Stop the desk process of ``data_dir`` (gracefully, else SIGKILL by its pid)."""
    pid = holder_pid(data_dir)
    with contextlib.suppress(NotRunning, ConnectionError, OSError):
        with DeskClient.connect(data_dir, timeout=10) as client:
            pid = client.server_pid
            client.request("stop")
    if pid is None or not is_desk_process(pid, data_dir):
        return
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def short_desk_dir() -> Iterator[Path]:
    """A fresh data directory under /tmp; its desk process is stopped at the end (the
    ``desk_dir`` fixture in conftest.py)."""
    path = Path(tempfile.mkdtemp(prefix="md", dir="/tmp"))
    try:
        yield path
    finally:
        stop_desk(path)
        shutil.rmtree(path, ignore_errors=True)


def seed(data_dir: Path, texts: list[str], *, handles: list[str] | None = None) -> list[str]:
    """File one mention per text (each from its own customer); returns the conversation ids."""
    store = Store(data_dir)
    desk = new_desk(store)
    handles = handles or [f"cust{i}" for i in range(len(texts))]
    done = desk.ingest([mention(t, h) for t, h in zip(texts, handles, strict=True)])
    desk.flush()
    store.close()
    return [d.conv_id for d in done]


def cli(data_dir: Path, *args: str, env: dict[str, str | None] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mentiondesk ARGS --data-dir DIR`` as a real process (``env``: variables to set,
    or to remove when None)."""
    full = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    full.pop("MENTIONDESK_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "tui.cli", *args, "--data-dir", str(data_dir)],
                          cwd=ROOT, capture_output=True, text=True, env=full, input=input,
                          timeout=120)
