"""Action commands through the desk process (issue 9): ``mentiondesk reply 42 ...`` sends the
parsed command to the desk process serving the data directory, which runs it on its desk as the
caller's agent and answers with the exit code and the output; every attached console sees the
effect at once.

When none runs, the command starts one in the background (tmux style, see
:mod:`tui.server.autostart`) — never on a directory that holds no desk: the direct path then
says "no desk" and creates nothing.  With ``MENTIONDESK_DESK_PROCESS=direct`` (a single
operator's opt-out) a command with no desk process to talk to acts on the data directory
directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..server.autostart import AUTOSTART_IDLE, passed_on, uses_desk_process
from ..server.client import DeskClient, NotRunning, connect_or_start, wait_connect
from ..server.protocol import ProtocolError, Refused
from ..setup.boot import BootError, data_dir, holds_desk, load_config, options_from
from .common import LOCKED, OK, REFUSED, USAGE

__all__ = ["AUTOSTART_IDLE", "jsonable", "passed_on", "route"]

QUEUE_FIRST = 100  # rows in the first message of a routed `queue` (the rest stream after it)

def jsonable(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for key, value in vars(args).items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


def _queue(client: DeskClient, args: argparse.Namespace) -> int:
    """``mentiondesk queue`` from the desk process's rows, printed here: the rows stream in
    chunks the desk process builds between serving its consoles (run as one command there,
    100,000 rows held every console for ~17 s), and the lines fit this terminal."""
    from .actions import print_queue

    # A small first message, the rest as the desk process builds it a slice at a time.
    try:
        snap = client.attach(limit=QUEUE_FIRST, gather=args.limit or True)
    except (ConnectionError, OSError, ProtocolError) as exc:
        print(f"mentiondesk: the desk process went away while the queue was read ({exc}); "
              "run it again", file=sys.stderr)
        return LOCKED
    rows = [row for row in snap["rows"] if row is not None]
    for row in rows:
        row.pop("approval", None)  # (the desk process's addition: not in `queue --json`)
    print_queue(rows, snap["counts"], args)
    return OK


def route(args: argparse.Namespace, *, wait: bool = False) -> int | None:
    """Run the command through the desk process; None when there is none to use (act
    directly).  ``wait``: the data directory is locked, give a starting desk process time."""
    opts = options_from(args)
    try:
        config = load_config(opts)
    except BootError:
        return None  # the direct path reports the config's problems
    where = data_dir(opts, config)
    # Start one unless opted out (a team desk never is: it knows who is who, and approvals
    # are only enforced there) — and never on a directory holding no desk: the direct path
    # says "no desk" and creates nothing.
    start = uses_desk_process(config, where) and holds_desk(where)
    try:
        if wait:
            client = wait_connect(where, agent=opts.agent)
        else:
            client = connect_or_start(where, agent=opts.agent, start=start,
                                      extra=passed_on(args), idle_seconds=AUTOSTART_IDLE)
    except (NotRunning, OSError):  # OSError: the data directory is unusable; the direct
        return None                 # path says why, in one line
    except Refused as exc:
        for reason in exc.reasons:
            print(f"mentiondesk: {reason}", file=sys.stderr)
        return REFUSED
    except RuntimeError as exc:  # StartFailed says which exit code
        print(f"mentiondesk: could not start the desk process: {exc}", file=sys.stderr)
        return int(getattr(exc, "code", LOCKED))
    for note in client.welcome.get("notes") or []:  # what the store repaired on opening
        print(f"mentiondesk: {note}", file=sys.stderr)
    with client:
        if args.command == "queue" and not getattr(args, "all", False):
            return _queue(client, args)
        try:
            result = client.request("command", name=args.command, argv=jsonable(args))
        except Refused as exc:
            for reason in exc.reasons:
                print(f"mentiondesk: refused: {reason}", file=sys.stderr)
            return USAGE if exc.kind == "usage" else REFUSED
        except ConnectionError:
            print("mentiondesk: the desk process went away before answering; check with "
                  "`mentiondesk show` whether the action was done", file=sys.stderr)
            return LOCKED
    sys.stdout.write(result.get("stdout", ""))
    sys.stderr.write(result.get("stderr", ""))
    return int(result.get("code", 0))
