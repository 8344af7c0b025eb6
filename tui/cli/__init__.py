"""The ``mentiondesk`` command.

``mentiondesk`` alone opens the console (on the built-in demo stream when nothing is configured);
sub-commands validate files, dry-run the rules, run sources headless, act on the stored desk and
report on a shift.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from . import actions, check, ingest, report, triage, where
from .common import INTERRUPTED, OK, add_common, add_source_options, merge_positions

# Each sub-command family: a module with ``add_parser(subparsers)`` and ``run(args)``.
FAMILIES = (check, triage, ingest, report, where)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentiondesk",
        description="A terminal console for social-media customer care. Without a command, "
                    "opens the console (on the built-in demo stream when no source is set).",
    )
    parser.add_argument("--version", action="version", version=f"mentiondesk {__version__}",
                        help="print the version (from the package metadata) and exit")
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


# Commands whose last positional is free text or a tag that may start with "-": ``tag 5 -vip``
# removes the tag, ``note 5 -1 star`` would be read as an unknown option by argparse otherwise.
DASH_VALUES = {"tag": "tag", "note": "text", "reply": "text"}


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; a lone unknown ``-word`` fills the free-text positional of ``tag``,
    ``note`` and ``reply`` when it is still empty (``--`` works too: ``tag 5 -- -vip``)."""
    args, extras = parser.parse_known_args(argv)
    field = DASH_VALUES.get(args.command or "")
    if field and len(extras) == 1 and extras[0].startswith("-") and \
            getattr(args, field, None) is None:
        setattr(args, field, extras.pop())
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return merge_positions(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
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
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
        return code
    except BrokenPipeError:  # `mentiondesk show 5 | head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit flush stays quiet
        return OK
    except KeyboardInterrupt:  # Ctrl-C on a long read (export of a year): no traceback
        print("mentiondesk: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
