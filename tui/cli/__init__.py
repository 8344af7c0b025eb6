"""The ``mentiondesk`` command.

``mentiondesk`` alone opens the console (on the built-in demo stream when nothing is configured);
sub-commands validate files, dry-run the rules, run sources headless, act on the stored desk and
report on a shift.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from .common import (
    ENV_VARS,
    EXIT_CODES,
    INTERRUPTED,
    OK,
    add_common,
    add_source_options,
    merge_positions,
)

# Each sub-command family: a module with ``add_parser(subparsers)`` and ``run(args)``, imported
# when the parser is built — not at ``import tui.cli``, so that ``mentiondesk`` alone can start
# the desk process before paying for every command's imports (see ``main``).
FAMILY_NAMES = ("check", "triage", "rules", "init", "ingest", "report", "where", "completion",
                "serve", "server")


def families() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in FAMILY_NAMES)


class VersionAction(argparse.Action):
    """``--version``: print ``mentiondesk VERSION`` and exit 0 (the version is looked up only
    here, not at every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from .. import version

        print(f"mentiondesk {version()}")  # stdout, as argparse's own version action does
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentiondesk",
        description="A terminal console for social-media customer care. Without a command, "
                    "opens the console (on the built-in demo stream when no source is set).",
        epilog=main_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction,
                        help="print the version (from the package metadata) and exit")
    add_common(parser, top=True)
    add_source_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import actions

    for module in families():
        before = set(sub.choices)
        module.add_parser(sub)
        for added in set(sub.choices) - before:
            if sub.choices[added].get_default("handler") is None:
                sub.choices[added].set_defaults(handler=module.run)
    actions.add_parsers(sub)
    for name, p in sub.choices.items():
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        p.epilog = command_epilog(name)
        # Every command takes the common options after its name too (see common.py).
        if not any(a.dest == "data_dir" for a in p._actions):
            add_common(p)
        if name in SOURCE_COMMANDS and not any(a.dest == "speed" for a in p._actions):
            add_source_options(p)
    return parser


# Examples shown under each command's --help (the README has the same ones).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "check": ("mentiondesk check", "mentiondesk check --config ~/care/config.yaml"),
    "triage": ("mentiondesk triage history.jsonl | less",
               "mentiondesk triage export.csv --map id=tweet_id,author=author_id --json"),
    "ingest": ("mentiondesk ingest --source replay:history.jsonl --once",
               "mentiondesk ingest --source mastodon:https://mastodon.example --for 600",
               "mentiondesk ingest --source demo --once --data-dir /tmp/demo-desk"),
    "report": ("mentiondesk report --since 12h", "mentiondesk report --format json > shift.json"),
    "export": ("mentiondesk export --since 7d --format csv > audit.csv",),
    "review": ("mentiondesk review --since 7d",),
    "where": ("mentiondesk where", "mentiondesk --data-dir ~/desk where --json"),
    "completion": ("mentiondesk completion bash > "
                   "~/.local/share/bash-completion/completions/mentiondesk",
                   "mentiondesk completion zsh > \"${fpath[1]}/_mentiondesk\""),
    "queue": ("mentiondesk queue", "mentiondesk queue --json --limit 10 | jq .id"),
    "show": ("mentiondesk show 42", "mentiondesk show 42 --json | jq .suggestion"),
    "outbox": ("mentiondesk outbox", "mentiondesk outbox --all --json"),
    "reply": ("mentiondesk reply 42 --suggested", "mentiondesk reply 42 \"Thanks, sorted now\"",
              "mentiondesk reply 42 --key refund_assist --json"),
    "offline": ("mentiondesk offline 42", "mentiondesk offline 42 --dm \"Your booking ref?\""),
    "handoff": ("mentiondesk handoff 42 safety --note \"CCTV request\" --json",),
    "resolve": ("mentiondesk resolve 42 --close-loop-suggested",),
    "snooze": ("mentiondesk snooze 42 2h", "mentiondesk snooze 42 tomorrow"),
    "ignore": ("mentiondesk ignore 42 --reason spam",),
    "assign": ("mentiondesk assign 42", "mentiondesk assign 42 ana"),
    "tag": ("mentiondesk tag 42 vip", "mentiondesk tag 42 -vip     # removes the tag"),
    "note": ("mentiondesk note 42 \"called back, waiting for photos\"",),
    "accept": ("mentiondesk accept 42 --json",),
    "undo": ("mentiondesk undo", "mentiondesk undo 42 --json"),
    "server": ("mentiondesk server                 # start the desk process in the background",
               "mentiondesk server --foreground    # under systemd or in a terminal",
               "mentiondesk server --stop", "mentiondesk server --status"),
    "approvals": ("mentiondesk approvals --json",),
    "approve": ("mentiondesk approve ap17",),
    "reject": ("mentiondesk reject ap17 --note \"use the refunds reply\"",),
    "serve": ("mentiondesk serve                 # http://127.0.0.1:8000",
              "mentiondesk serve --port 8080 --rate 2"),
}


def exit_code_lines() -> list[str]:
    return [f"  {code:<4} {text}" for code, text in EXIT_CODES.items()]


def main_epilog() -> str:
    from ..setup.config import default_config_path
    from ..setup.logs import log_file

    lines = ["examples:",
             "  mentiondesk                          the console (the demo stream without a "
             "config)",
             "  mentiondesk --source replay:history.jsonl --speed 10",
             "  mentiondesk queue --json             the queue, one JSON object per line",
             "  mentiondesk reply 42 --suggested --json",
             "  mentiondesk where                    the data directory and files in effect",
             "", "environment:"]
    lines += [f"  {name:<30} {text}" for name, text in ENV_VARS.items()]
    lines += ["", f"config file: --config, else $MENTIONDESK_CONFIG, else {default_config_path()}",
              f"log file:    {log_file()} (rotated at 1 MB, 5 kept)",
              "", "exit codes:", *exit_code_lines(),
              "", "Common options go before or after the command. "
                  "Shell completion: mentiondesk completion bash|zsh|tcsh"]
    return "\n".join(lines)


def command_epilog(name: str) -> str:
    lines = ["examples:", *(f"  {e}" for e in EXAMPLES.get(name, ()))] if name in EXAMPLES \
        else []
    codes = ", ".join(f"{c} {t.split(':')[0].split(' (')[0]}" for c, t in EXIT_CODES.items())
    lines += ["", f"exit codes: {codes} (mentiondesk --help has the full table)"]
    return "\n".join(lines).lstrip("\n")


# The commands that run sources (the console, without a command, runs them too).
SOURCE_COMMANDS = ("ingest", "serve", "server")


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


def console_first(argv: Sequence[str] | None) -> Any:
    """``mentiondesk`` alone (the console, options only): spawn the desk process now, before
    the commands' and the console's imports, so it boots meanwhile (``early_start``).  Returns
    what it spawned, or None — also whenever the command line is anything else or unclear (a
    value that may be a command name, ``--help``): the full parse then decides, and the console
    starts the desk process itself if it still needs one."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_common(pre, top=True)
    add_source_options(pre, top=True)
    try:
        args, extras = pre.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit):
        return None
    if extras:
        return None
    # `--data-dir queue`: a forgotten value took the command's name (the full parse says so);
    # never create that directory.
    value = args.data_dir
    if value is not None and (not value or (value.isalpha() and not os.path.exists(value))):
        return None
    from ..server.autostart import early_start

    return early_start(args)


def main(argv: Sequence[str] | None = None) -> int:
    starting = console_first(argv)
    try:
        return _main(argv, starting)
    finally:
        if starting is not None:
            starting.abandon()  # closes the handshake pipe if the console never attached


def _main(argv: Sequence[str] | None, starting: Any) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    commands = {n for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                for n in a.choices}
    for name in ("data_dir", "rules", "replies", "config", "agent"):
        value = getattr(args, name, None)
        flag = "--" + name.replace("_", "-")
        if value == "":
            parser.error(f"{flag} was given an empty value")
        if args.command is None and value in commands:
            # `mentiondesk --data-dir queue`: the value was forgotten and the command taken for
            # it; starting the console on a directory named "queue" is never what was meant.
            parser.error(f"{flag} {value}: '{value}' is a command — give {flag} a value "
                         f"(mentiondesk {flag} DIR {value})")
    if args.command is not None and args.command not in SOURCE_COMMANDS:
        given = [f"--{n}" for n in ("source", "speed", "seed", "rate", "burst")
                 if getattr(args, n, None) is not None]
        if args.command != "triage" and getattr(args, "map", None) is not None:
            given.append("--map")
        if given:
            parser.error(f"{', '.join(given)}: only the console and "
                         f"{', '.join(SOURCE_COMMANDS)} run sources; {args.command} does not")
    from ..setup.logs import setup_logging

    if args.command is not None:
        try:
            setup_logging(getattr(args, "log_level", None))
        except ValueError as exc:
            parser.error(str(exc))
    if args.command is None:
        from ..console.app import run_console
        from .actions import execute

        # The desk process spawned by console_first boots (store, sources) while this process
        # imported the console and read the rules; run_console attaches once both are ready.
        try:
            return run_console(args, serve=execute, starting=starting)
        except KeyboardInterrupt:  # Ctrl-C while the desk process starts: no traceback
            print("mentiondesk: interrupted", file=sys.stderr)
            return INTERRUPTED
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
