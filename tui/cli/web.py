"""The demo console in a browser (``mentiondesk serve``), with textual-serve (the ``web`` extra).

textual-serve starts one console process per browser tab (per websocket).  Each process is a
*session*: ``python -m tui.cli.web SESSIONS_ROOT [console options]`` makes its own temporary
demo desk inside ``SESSIONS_ROOT``, runs the console on the demo stream there, and deletes the
desk when the tab closes (textual-serve asks the app to quit; the app returns; the directory
goes).  So two tabs never share a desk (one desk per data directory: a second tab on the same
directory would wait on the lock), and nothing a visitor does outlives the tab.  The server
deletes ``SESSIONS_ROOT`` itself when it stops, which also covers a session that was killed.

There is no authentication: the server binds to 127.0.0.1 unless ``--host`` says otherwise, and
it never opens a real data directory.
"""

from __future__ import annotations

import ipaddress
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

SESSION_PREFIX = "tab-"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_command(root: Path, console_args: Sequence[str]) -> str:
    """The shell command textual-serve runs for each tab."""
    return " ".join(shlex.quote(part) for part in
                    [sys.executable, "-m", "tui.cli.web", str(root), *console_args])


def serve(host: str, port: int, console_args: Sequence[str] = (),
          title: str = "mentiondesk demo") -> None:
    """Serve demo consoles on ``host:port`` until Ctrl-C / SIGTERM.  Raises ImportError when
    textual-serve is not installed (``pip install 'mentiondesk[web]'``)."""
    from textual_serve.server import Server

    root = Path(tempfile.mkdtemp(prefix="mentiondesk-serve-"))
    try:
        server = Server(session_command(root, console_args), host=host, port=port, title=title)
        server.serve()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def session(root: Path, console_args: Sequence[str]) -> int:
    """One browser tab: a fresh demo desk in ``root``, the console on it, the desk deleted."""
    from . import main

    desk = Path(tempfile.mkdtemp(prefix=SESSION_PREFIX, dir=root))
    try:
        return main(["--data-dir", str(desk), "--source", "demo", *console_args])
    finally:
        shutil.rmtree(desk, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(session(Path(sys.argv[1]), sys.argv[2:]))
