"""``mentiondesk ingest``: run sources headless into the stored desk, one JSON line per mention.

    mentiondesk ingest --source mastodon:https://mastodon.northline.example --once
    mentiondesk ingest --for 600            # the config file's sources, for ten minutes

Each triaged mention prints as one JSON object (key, conversation, category, urgency, deadline,
action, team, offline, why) so that scripts and cron jobs can watch the queue without the console.
Due outbox items are delivered too, unless ``--no-deliver``.  Source health goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from ..core.model import iso


def add_parser(subparsers: Any) -> None:
    from ..sources.registry import add_source_arguments
    from .common import add_common

    p = subparsers.add_parser(
        "ingest", help="run sources headless into the desk, printing each triaged mention",
        description="Run sources without the console: mentions are triaged and stored, due "
                    "replies are delivered, and each mention prints as one JSON line.")
    add_common(p)
    p.add_argument("--source", action="append", metavar="SPEC",
                   help="demo | replay:PATH | mastodon:URL | bluesky:HANDLE | feed:URL "
                        "(repeatable; default: the config file's sources)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true",
                      help="one REST pass / poll per source, then stop")
    when.add_argument("--for", dest="duration", type=float, metavar="SECONDS",
                      help="run this many seconds, then stop (default: until Ctrl-C)")
    p.add_argument("--no-deliver", action="store_true", help="do not send due outbox items")
    add_source_arguments(p)
    p.set_defaults(handler=run)


def line_for(result: Any) -> dict[str, Any]:
    t = result.triage
    return {
        "mention": result.mention.key, "conv": result.conv_id, "new": result.new,
        "category": t.category, "urgency": t.urgency, "deadline": iso(t.deadline),
        "action": t.action, "team": t.team, "offline": t.offline, "why": t.why,
    }


def run(args: argparse.Namespace) -> int:
    from ..setup.boot import BootError, close_desk, open_desk, options_from, recovery_notes
    from .common import USAGE

    try:
        desk = open_desk(options_from(args))
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return exc.code
    for note in recovery_notes(desk):
        print(f"mentiondesk: {note}", file=sys.stderr)
    try:
        code = _run(desk, args)
    finally:
        problems = close_desk(desk)
        for problem in problems:
            print(f"mentiondesk: {problem}", file=sys.stderr)
    return USAGE if problems else code


def _run(desk: Any, args: argparse.Namespace) -> int:
    from ..sources.registry import make_source, source_options
    from ..sources.runner import Runner

    config = getattr(desk, "config", None)
    specs = args.source or (config.specs if config is not None else [])
    if not specs:
        print("mentiondesk: no source: give --source SPEC or list sources in the config "
              "file", file=sys.stderr)
        return 2
    try:
        sources = [make_source(spec, config, options=source_options(spec, args))
                   for spec in specs]
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return 2

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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
                pass
        await runner.run(until=stop, duration=args.duration, once=args.once)

    asyncio.run(main())
    failed = 0
    for source in sources:
        s = source.status
        state, detail = runner.final.get(source.name, (s.state, s.detail))
        print(f"{source.name}: {state} ({detail}); {s.received} received, "
              f"{s.skipped} skipped", file=sys.stderr)
        failed += state == "failed"
    return 1 if failed else 0
