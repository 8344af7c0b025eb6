"""Action commands through the desk process (issue 9): ``mentiondesk reply 42 ...`` sends the
parsed command to the desk process serving the data directory, which runs it on its desk as the
caller's agent and answers with the exit code and the output; every attached console sees the
effect at once.

When none runs, a team desk (``agents:`` in the config) starts one in the background
(tmux-style; it stops by itself after ``AUTOSTART_IDLE`` seconds without clients); so does
``MENTIONDESK_DESK_PROCESS=start``.  Otherwise (a single operator, the default ``direct``) the
command acts on the data directory directly, as a single operator's script always did.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..server.client import NotRunning, connect_or_start, wait_connect
from ..server.protocol import Refused
from ..setup.boot import BootError, data_dir, load_config, options_from
from .common import LOCKED, REFUSED, USAGE

MODE_ENV = "MENTIONDESK_DESK_PROCESS"
AUTOSTART_IDLE = 30.0  # seconds an auto-started desk process waits for a client before stopping


def passed_on(args: argparse.Namespace) -> list[str]:
    """The options a started desk process needs to open the same desk."""
    extra: list[str] = []
    for name in ("rules", "replies", "config"):
        value = getattr(args, name, None)
        if value:
            extra += [f"--{name}", os.path.abspath(value)]
    return extra


def jsonable(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for key, value in vars(args).items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


def route(args: argparse.Namespace, *, wait: bool = False) -> int | None:
    """Run the command through the desk process; None when there is none to use (act
    directly).  ``wait``: the data directory is locked, give a starting desk process time."""
    opts = options_from(args)
    try:
        config = load_config(opts)
    except BootError:
        return None  # the direct path reports the config's problems
    where = data_dir(opts, config)
    # A team desk (agents: in the config) always runs a desk process: it knows who is who,
    # and approvals are only enforced there.
    start = (os.environ.get(MODE_ENV, "direct").strip().lower() == "start"
             or bool(getattr(config, "agents", None)))
    try:
        if wait:
            client = wait_connect(where, agent=opts.agent)
        else:
            client = connect_or_start(where, agent=opts.agent, start=start,
                                      extra=passed_on(args), idle_seconds=AUTOSTART_IDLE)
    except NotRunning:
        return None
    except Refused as exc:
        for reason in exc.reasons:
            print(f"mentiondesk: {reason}", file=sys.stderr)
        return REFUSED
    except RuntimeError as exc:
        print(f"mentiondesk: could not start the desk process: {exc}", file=sys.stderr)
        return LOCKED
    with client:
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
