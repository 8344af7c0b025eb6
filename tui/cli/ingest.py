"""``mentiondesk ingest``: run sources headless into the stored desk, one JSON line per mention.

    mentiondesk ingest --source mastodon:https://mastodon.northline.example --once
    mentiondesk ingest --for 600            # the config file's sources, for ten minutes

Each triaged mention prints as one JSON object (key, conversation, category, urgency, deadline,
action, team, offline, why) so that scripts and cron jobs can watch the queue without the console.
Due outbox items are delivered too, unless ``--no-deliver``.  Source health goes to stderr.
Ctrl-C or SIGTERM stops it cleanly at any time (``--once`` too): what was read is saved and the
closing summary printed, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from ..core.model import iso
from .common import OK, SOURCE_FAILED, USAGE


def add_parser(subparsers: Any) -> None:
    from .common import add_common, add_source_options

    p = subparsers.add_parser(
        "ingest", help="run sources headless into the desk, printing each triaged mention",
        description="Run sources without the console: mentions are triaged and stored, due "
                    "replies are delivered, and each mention prints as one JSON line.")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true",
                      help="what is there now, as fast as possible, then stop: one REST pass / "
                           "poll per source, a replay at max speed, the demo's current batch")
    when.add_argument("--for", dest="duration", type=float, metavar="SECONDS",
                      help="run this many seconds, then stop (default: until Ctrl-C)")
    p.add_argument("--no-deliver", action="store_true", help="do not send due outbox items")
    add_common(p)
    add_source_options(p)
    p.set_defaults(handler=run)


def line_for(result: Any) -> dict[str, Any]:
    t = result.triage
    return {
        "mention": result.mention.key, "conv": result.conv_id, "new": result.new,
        "category": t.category, "urgency": t.urgency, "deadline": iso(t.deadline),
        "action": t.action, "team": t.team, "offline": t.offline, "why": t.why,
    }


def desk_process_hint(args: argparse.Namespace) -> str:
    """When a desk process holds the data directory (the one consoles and commands share,
    started by the first of them): how to free it for ``ingest``.  Empty otherwise."""
    from ..server.client import DeskClient, NotRunning
    from ..server.protocol import Refused
    from ..setup.boot import BootError, data_dir, load_config, options_from

    opts = options_from(args)
    try:
        where = data_dir(opts, load_config(opts))
        with DeskClient.connect(where, agent=opts.agent, timeout=5) as client:
            pid, holder = client.server_pid, client.holder
            autostarted = bool(client.welcome.get("autostarted"))
    except (BootError, NotRunning, Refused, OSError):
        return ""
    if holder != "desk process":
        return ""
    from ..server.autostart import AUTOSTART_IDLE

    when = (f" (it stops by itself {AUTOSTART_IDLE:g} s after its last client)" if autostarted
            else "")
    return (f"mentiondesk: the desk process {pid} holds it{when}; `mentiondesk server --stop` "
            f"stops it now (everything is saved), then run ingest again\n")


def run(args: argparse.Namespace) -> int:
    from ..setup.boot import BootError, close_desk, open_desk, options_from, recovery_notes
    from .common import LOCKED, USAGE

    try:
        desk = open_desk(options_from(args))
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        if exc.code == LOCKED:
            print(desk_process_hint(args), file=sys.stderr, end="")
        return exc.code
    for note in recovery_notes(desk):
        print(f"mentiondesk: {note}", file=sys.stderr)
    stopper = Stopper()
    try:
        try:
            code = _run(desk, args, stopper)
        finally:
            problems = close_desk(desk)
            for problem in problems:
                print(f"mentiondesk: {problem}", file=sys.stderr)
    finally:
        stopper.restore()
    return USAGE if problems else code


class Stopper:
    """SIGINT/SIGTERM set ``event`` on the running loop, from the start of the run until the desk
    is closed and the summary printed.

    A process-wide Python handler rather than ``loop.add_signal_handler``: asyncio puts the default
    action (die at once) back when its loop closes, so a SIGTERM arriving while the desk was being
    closed or the summary printed ended the process with -15 instead of a clean exit 0.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event = asyncio.Event()
        self._previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: the caller handles signals
                pass

    def _handle(self, signum: int, frame: Any) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.event.set)

    def restore(self) -> None:
        """Put back the handlers found at the start (for callers in this same process)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def _run(desk: Any, args: argparse.Namespace, stopper: Stopper) -> int:
    from ..sources.registry import make_source, source_options
    from ..sources.runner import Runner

    config = getattr(desk, "config", None)
    specs = args.source or (config.specs if config is not None else [])
    if not specs:
        print("mentiondesk: no source: give --source SPEC or list sources in the config "
              "file", file=sys.stderr)
        return USAGE
    try:
        sources = [make_source(spec, config, options=source_options(spec, args,
                                                                    fastest=args.once))
                   for spec in specs]
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return USAGE

    def printed(results: list[Any]) -> None:
        for result in results:
            print(json.dumps(line_for(result), ensure_ascii=False), flush=True)

    runner = Runner(desk, sources, on_ingested=printed, deliver=not args.no_deliver)

    def saving(state: str | None) -> None:  # once per change, not once per mention
        if state is not None:
            print(f"mentiondesk: {state}; mentions are held in memory and printed once "
                  "saved; retrying", file=sys.stderr, flush=True)
        else:
            print("mentiondesk: saving again; everything held in memory is written",
                  file=sys.stderr, flush=True)

    runner.on_saving = saving

    async def main() -> None:
        stopper.loop = asyncio.get_running_loop()
        await runner.run(until=stopper.event, duration=args.duration, once=args.once)

    asyncio.run(main())
    return summary(sources, runner)


def summary(sources: list[Any], runner: Any) -> int:
    """Print each source's closing line to stderr; the exit code (SOURCE_FAILED if one failed)."""
    failed = 0
    for source in sources:
        s = source.status
        state, detail = runner.final.get(source.name, (s.state, s.detail))
        print(f"{source.name}: {state} ({detail}); {s.received} received, "
              f"{s.skipped} skipped", file=sys.stderr)
        failed += state == "failed"
    return SOURCE_FAILED if failed else OK
