"""Asking a running desk to reload its rules: ``mentiondesk rules reload`` → the console.

The CLI validates the rules file first (a broken file is refused there, with file:line, and the
running desk is never disturbed), writes a small request file into the data directory (the path
and whether to re-triage open conversations) and sends SIGUSR1 to the process holding the data
directory's lock.  The console answers SIGUSR1 by calling :meth:`Desk.reload_rules` with the
request (or, without one, the file it started with); the same call runs when it notices that the
rules file changed on disk.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from ..core.store import lock_holder

REQUEST = "reload-request.json"


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    path: str | None  # None: the rules file the desk started with
    retriage: bool


def send_reload(data_dir: Path, *, path: str | None, retriage: bool) -> int | None:
    """Signal the desk running on ``data_dir``; returns its pid, or None when none runs (then
    nothing is written and the rules are simply used at the next start)."""
    pid = lock_holder(data_dir)
    if pid is None:
        return None
    request = Path(data_dir) / REQUEST
    tmp = request.with_suffix(".tmp")
    tmp.write_text(json.dumps({"path": path, "retriage": retriage}), encoding="utf-8")
    os.replace(tmp, request)
    os.kill(pid, signal.SIGUSR1)
    return pid


def take_request(data_dir: Path | None) -> ReloadRequest:
    """The pending request (removed once read); a bare SIGUSR1 means: reload the same file."""
    if data_dir is None:
        return ReloadRequest(None, False)
    request = Path(data_dir) / REQUEST
    try:
        data = json.loads(request.read_text(encoding="utf-8"))
        request.unlink(missing_ok=True)
    except (OSError, ValueError):
        return ReloadRequest(None, False)
    path = data.get("path") if isinstance(data, dict) else None
    return ReloadRequest(path if isinstance(path, str) else None,
                         bool(isinstance(data, dict) and data.get("retriage")))
