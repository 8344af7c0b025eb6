"""The ``mentiondesk`` command.

``mentiondesk`` alone opens the console (on the built-in demo stream when nothing is configured);
sub-commands validate files, dry-run the rules, run sources headless, act on the stored desk and
report on a shift.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..sources.registry import add_source_arguments
from . import actions, check, ingest, report, server, triage
from .common import add_common

# Each sub-command family: a module with ``add_parser(subparsers)`` and ``run(args)``.
FAMILIES = (check, triage, ingest, report, server)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentiondesk",
        description="A terminal console for social-media customer care. Without a command, "
                    "opens the console (on the built-in demo stream when no source is set).",
    )
    add_common(parser)
    parser.add_argument("--source", action="append", metavar="SPEC",
                        help="demo | replay:PATH | mastodon:URL | bluesky:HANDLE | feed:URL "
                             "(repeatable; default: the config's sources, else demo)")
    add_source_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in FAMILIES:
        before = set(sub.choices)
        module.add_parser(sub)
        for added in set(sub.choices) - before:
            if sub.choices[added].get_default("handler") is None:
                sub.choices[added].set_defaults(handler=module.run)
    actions.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from ..console.app import run_console

        return run_console(args, serve=actions.execute)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
