"""The log file: one rotating log in the platform's user log directory, for every command.

``~/.local/state/mentiondesk/log/mentiondesk.log`` on Linux (``platformdirs.user_log_dir``),
rotated at 1 MB with 5 old files kept, so a desk that runs for months never fills the disk.
The level is ``--log-level``, else ``$MENTIONDESK_LOG_LEVEL``, else INFO.  The console owns the
terminal, so it logs only to the file; the other commands also print warnings on stderr.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOG_ENV = "MENTIONDESK_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_BYTES = 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a caller that swaps stderr,
    as pytest does, never leaves the handler writing to a closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _QuietRotatingFile(logging.handlers.RotatingFileHandler):
    """The log file: a failed write (disk full) is counted, never raised or printed over the
    console (the status bar shows a full disk)."""

    failed = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed += 1


def log_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("mentiondesk", appauthor=False)) / "mentiondesk.log"


def log_level(given: str | None = None) -> str:
    """``given``, else ``$MENTIONDESK_LOG_LEVEL``, else INFO.  ValueError for an unknown name."""
    level = (given or os.environ.get(LOG_ENV, "") or "INFO").strip().upper()
    if level not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)} "
                         f"(--log-level or ${LOG_ENV})")
    return level


def setup_logging(level: str | None = None, *, stderr: bool = True,
                  max_bytes: int = MAX_BYTES) -> Path | None:
    """Log to the rotating file (and warnings to stderr when ``stderr``).  Returns the file, or
    None when its directory cannot be written (then only stderr is used: never a crash)."""
    root = logging.getLogger()
    root.setLevel(log_level(level))
    for handler in list(root.handlers):
        if getattr(handler, "_mentiondesk", False):
            root.removeHandler(handler)
            handler.close()
    path: Path | None = log_file()
    try:
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # private: 0600
        os.close(fd)
        handler: logging.Handler = _QuietRotatingFile(
            path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._mentiondesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    except OSError:
        path = None
    if stderr:
        err = _CurrentStderr()
        err.setLevel(logging.WARNING)
        err.setFormatter(logging.Formatter("mentiondesk: %(levelname)s: %(message)s"))
        err._mentiondesk = True  # type: ignore[attr-defined]
        root.addHandler(err)
    return path
