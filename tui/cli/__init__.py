"""The ``mentiondesk`` command.

``mentiondesk`` alone opens the console (on the built-in demo stream when nothing is configured);
sub-commands validate files, dry-run the rules, run sources headless, act on the stored desk and
report on a shift.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import actions, check, ingest, report, triage, where
from .common import add_common, add_source_options, merge_positions

# Each sub-command family: a module with ``add_parser(subparsers)`` and ``run(args)``.
FAMILIES = (check, triage, ingest, report, where)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentiondesk",
        description="A terminal console for social-media customer care. Without a command, "
                    "opens the console (on the built-in demo stream when no source is set).",
    )
    add_common(parser, top=True)
    add_source_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in FAMILIES:
        before = set(sub.choices)
        module.add_parser(sub)
        for added in set(sub.choices) - before:
            if sub.choices[added].get_default("handler") is None:
                sub.choices[added].set_defaults(handler=module.run)
    actions.add_parsers(sub)
    for name, p in sub.choices.items():
        # Every command takes the common options after its name too (see common.py).
        if not any(a.dest == "data_dir" for a in p._actions):
            add_common(p)
        if name in SOURCE_COMMANDS and not any(a.dest == "speed" for a in p._actions):
            add_source_options(p)
    return parser


# The commands that run sources (the console, without a command, runs them too).
SOURCE_COMMANDS = ("ingest",)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = merge_positions(parser.parse_args(argv))
    if args.command is not None and args.command not in SOURCE_COMMANDS:
        given = [f"--{n}" for n in ("source", "speed", "seed", "rate", "burst")
                 if getattr(args, n, None) is not None]
        if args.command != "triage" and getattr(args, "map", None) is not None:
            given.append("--map")
        if given:
            parser.error(f"{', '.join(given)}: only the console and "
                         f"{', '.join(SOURCE_COMMANDS)} run sources; {args.command} does not")
    if args.command is None:
        from ..console.app import run_console

        return run_console(args)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
