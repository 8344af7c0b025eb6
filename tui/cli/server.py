"""``mentiondesk server``: the desk process for one data directory (issue 9).

    mentiondesk server               # start it in the background (if not running) and return
    mentiondesk server --foreground  # run it here (systemd, a terminal); Ctrl-C stops it
    mentiondesk server --stop        # stop the running one cleanly (flush, snapshot, exit)
    mentiondesk server --status      # is one running, which pid, who is attached
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from ..core.store import process_running
from ..server.autostart import passed_on, source_args
from ..server.client import DeskClient, NotRunning, start_server
from ..server.protocol import Refused, socket_path
from ..server.server import SEND_BUDGET
from ..setup.boot import BootError, close_desk, data_dir, load_config, open_desk, options_from
from .common import LOCKED, OK, REFUSED, USAGE, add_common

STOP_WAIT = 30.0  # seconds to wait for the desk process to finish its snapshot and exit


def add_parser(sub: Any) -> None:
    p = sub.add_parser("server", help="the desk process: one per data directory, serving "
                                      "consoles and CLI commands over a Unix socket",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.add_argument("--foreground", action="store_true", help="run here instead of detaching")
    p.add_argument("--stop", action="store_true", help="stop the running desk process")
    p.add_argument("--status", action="store_true", help="say whether one runs")
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--idle-exit", type=float, help=argparse.SUPPRESS)
    p.add_argument("--send-budget", type=int, default=SEND_BUDGET,
                   help="bytes queued per client before a slow client is resynchronised")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    opts = options_from(args)
    try:
        config = load_config(opts)
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return exc.code
    where = data_dir(opts, config)
    if args.stop or args.status:
        return _stop(where, opts.agent) if args.stop else _status(where, opts.agent)
    if args.foreground:
        return _foreground(args, config, where)
    try:
        with DeskClient.connect(where, agent=opts.agent) as client:
            if client.holder == "console":
                print(f"a console (pid {client.server_pid}) holds {where} and serves scripts "
                      "and other consoles itself: no desk process to start")
            else:
                print(f"the desk process {client.server_pid} already serves {where}")
            return OK
    except NotRunning:
        pass
    except Refused as exc:
        print("mentiondesk: " + "\n".join(exc.reasons), file=sys.stderr)
        return REFUSED
    extra = passed_on(args) + source_args(args)
    if args.send_budget != SEND_BUDGET:
        extra += ["--send-budget", str(args.send_budget)]
    try:
        pid = start_server(where, extra)
    except RuntimeError as exc:  # StartFailed says which exit code
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return int(getattr(exc, "code", LOCKED))
    print(f"desk process {pid or '(already starting)'} serves {socket_path(where)}")
    return OK


def _status(where: Any, agent: str | None) -> int:
    try:
        with DeskClient.connect(where, agent=agent) as client:
            snap = client.request("snapshot", limit=0)  # counts and presence: no rows
    except NotRunning:
        print(f"no desk process serves {where}")
        return REFUSED
    except Refused as exc:
        print("mentiondesk: " + "\n".join(exc.reasons), file=sys.stderr)
        return REFUSED
    people = ", ".join(sorted({f"{p['agent']} ({p['kind']})" for p in snap["presence"]}))
    holder = (f"a console (pid {client.server_pid})" if client.holder == "console"
              else f"desk process {client.server_pid}")
    print(f"{holder} serves {where}: {snap['counts']['open']} open; "
          f"attached{' besides it' if client.holder == 'console' else ''}: "
          f"{people or 'nobody'}")
    return OK


def _stop(where: Any, agent: str | None) -> int:
    try:
        client = DeskClient.connect(where, agent=agent)
    except NotRunning:
        print(f"no desk process serves {where}")
        return OK
    except Refused as exc:
        print("mentiondesk: " + "\n".join(exc.reasons), file=sys.stderr)
        return REFUSED
    with client:
        pid = client.server_pid
        others = client.connections - 1
        try:
            client.request("stop")
        except Refused as exc:
            print("mentiondesk: " + "\n".join(exc.reasons), file=sys.stderr)
            return REFUSED
        except (NotRunning, ConnectionError, OSError):
            # It was serving a moment ago: it died before it said the stop was done.
            print(f"the desk process {pid} went away before it confirmed the stop (killed?); "
                  "what it had acknowledged is on disk, and the next start recovers the rest",
                  file=sys.stderr)
            return OK
        try:  # the desk closes every connection when it is done
            while True:
                client.read(STOP_WAIT)
        except (ConnectionError, OSError):
            pass
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline and process_running(pid):
        time.sleep(0.05)
    print(f"stopped the desk process {pid}")
    if others > 0:
        print(f"mentiondesk: {others} other client(s) were attached: a console reconnects and "
              "starts a desk process again — quit the consoles first to keep the desk stopped",
              file=sys.stderr)
    return OK


def _foreground(args: argparse.Namespace, config: Any, where: Any) -> int:
    from ..server.server import serve
    from ..sources.registry import make_source, source_options
    from .actions import execute

    ready_fd = args.ready_fd

    def say(line: str) -> None:
        """The handshake on --ready-fd: "ready PID", "locked MESSAGE" or "error CODE MESSAGE"
        (CODE: the exit code the starter should give, README "Exit codes")."""
        nonlocal ready_fd
        if ready_fd is not None:
            try:
                os.write(ready_fd, (line + "\n").encode())
            except OSError:  # the starter gave up waiting (it stops by itself when idle)
                pass
            os.close(ready_fd)
            ready_fd = None

    # The log file as every command, and the desk process's own story on stderr at INFO (the
    # journal under systemd, server.log in the data directory when started in the background).
    from ..setup.logs import setup_logging

    setup_logging(getattr(args, "log_level", None), stderr=False)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.INFO)
    err.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    err._mentiondesk = True  # type: ignore[attr-defined]  # the next setup_logging removes it
    logging.getLogger().addHandler(err)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    try:
        desk = open_desk(options_from(args), finish=False)  # the rest read while serving
    except BootError as exc:
        holder = str(exc)
        say(("locked " if exc.code == LOCKED else f"error {exc.code} ") + holder.replace("\n", " "))
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return exc.code
    specs = list(args.source or []) or [s.spec for s in getattr(config, "sources", None) or []]
    try:
        sources = [make_source(spec, config, options=source_options(spec, args))
                   for spec in specs]
    except (ValueError, AttributeError) as exc:
        say(f"error {USAGE} {exc}")
        print(f"mentiondesk: {exc}", file=sys.stderr)
        close_desk(desk)
        return USAGE
    try:
        return serve(desk, where, config=config, sources=sources, execute=execute, ready=say,
                     idle_seconds=args.idle_exit, send_budget=args.send_budget,
                     source_specs=specs,
                     # Started in the background by a client: the image is pickled by a
                     # child as this process exits.  In the foreground (systemd, a terminal)
                     # before it exits: a service manager stops every process of the unit.
                     image="detached" if args.ready_fd is not None else "inline")
    except OSError as exc:
        say(f"error {LOCKED} {exc}")
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return LOCKED
