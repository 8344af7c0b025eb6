"""``mentiondesk serve``: the demo console in a browser tab (needs the ``web`` extra).

    mentiondesk serve                      # http://127.0.0.1:8000, this machine only
    mentiondesk serve --port 8080 --rate 2
    mentiondesk serve --host 0.0.0.0       # other machines too: there is no authentication

Each tab gets its own temporary demo desk, deleted when the tab closes.  ``serve`` refuses a
data directory (``--data-dir`` or ``$MENTIONDESK_DATA_DIR``) and any source but the demo: it is
a demonstration, never a way to put a real desk on the network.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .common import OK, USAGE


def add_parser(sub: Any) -> None:
    from .common import add_common

    p = sub.add_parser("serve", help="serve the demo console in a browser (each tab its own "
                                     "temporary demo desk)",
                       description="Serve the demo console in a web browser with textual-serve. "
                                   "Each tab gets its own temporary demo desk, deleted when the "
                                   "tab closes. No authentication: binds to 127.0.0.1 unless "
                                   "--host says otherwise.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_common(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from .web import is_loopback, serve

    if getattr(args, "data_dir", None) or os.environ.get("MENTIONDESK_DATA_DIR", "").strip():
        print("mentiondesk: serve runs demo desks only, each in a temporary directory of its own; "
              "it never opens a data directory (drop --data-dir / unset MENTIONDESK_DATA_DIR)",
              file=sys.stderr)
        return USAGE
    if any(spec != "demo" for spec in getattr(args, "source", None) or []):
        print("mentiondesk: serve runs the demo stream only (--source demo)", file=sys.stderr)
        return USAGE
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        print("mentiondesk: serve needs the web extra: pip install 'mentiondesk[web]' "
              "(or pipx install 'mentiondesk[web]')", file=sys.stderr)
        return USAGE
    console_args: list[str] = []
    for flag in ("rules", "replies", "config", "agent", "log_level", "seed", "rate", "speed"):
        value = getattr(args, flag, None)
        if value is not None:
            console_args += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "burst", None):
        console_args.append("--burst")
    if not is_loopback(args.host):
        print(f"mentiondesk: warning: listening on {args.host}: anyone who can reach it gets a "
              "demo console (there is no authentication)", file=sys.stderr)
    print(f"mentiondesk: serving the demo console on http://{args.host}:{args.port} "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    serve(args.host, args.port, console_args)
    return OK
