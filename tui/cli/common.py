"""What every sub-command shares: the common options and the exit codes.

Common options may be given before or after the sub-command (``mentiondesk --data-dir X queue``
and ``mentiondesk queue --data-dir X`` are the same).  argparse copies a sub-parser's defaults over
the values the top-level parser already read, so the sub-parsers declare the common options with
``default=argparse.SUPPRESS`` (an option not given after the command sets nothing), and repeatable
options (``--source``) collect into a second destination that ``merge_positions`` appends to the
first.  When an option is given in both places, the one after the sub-command wins.
"""

from __future__ import annotations

import argparse
from typing import Any

# Exit codes: one table for every command and the console (README, "Exit codes"; tested by
# tests/cli/test_exit_codes.py).
OK = 0          # done
REFUSED = 1     # refused or not found: no such conversation, no desk in that directory, an
#                 action the desk refuses
USAGE = 2       # bad input or files: a bad option or value, broken rules/replies/config files,
#                 a history file or source spec that cannot be read
LOCKED = 3      # the data directory is in use by another mentiondesk (console or ingest)
SOURCE_FAILED = 4  # ingest: a source failed for good (unreachable, refused the credentials)
INTERRUPTED = 130  # Ctrl-C on a command that reads or reports (ingest and the console stop
#                    cleanly on Ctrl-C/SIGTERM instead: what they read is saved, exit 0)

EXIT_CODES: dict[int, str] = {
    OK: "done",
    REFUSED: "refused or not found (the reason is printed): no such conversation, no desk in "
             "the data directory, an action the desk refuses",
    USAGE: "bad input or files: a bad option or value, problems in the rules, replies or "
           "config (check, the console and every command), a missing or unreadable history "
           "file, a bad source spec",
    LOCKED: "the data directory is in use by another mentiondesk",
    SOURCE_FAILED: "ingest: a source failed (unreachable, credentials refused); the others' "
                   "mentions are saved",
    INTERRUPTED: "interrupted by Ctrl-C (a read or report; nothing is half-written)",
}

ENV_VARS: dict[str, str] = {
    "MENTIONDESK_DATA_DIR": "the data directory (--data-dir wins over it)",
    "MENTIONDESK_CONFIG": "the config file (--config wins over it)",
    "MENTIONDESK_MASTODON_TOKEN": "the Mastodon access token",
    "MENTIONDESK_BLUESKY_PASSWORD": "the Bluesky app password",
    "MENTIONDESK_LOG_LEVEL": "the log level (--log-level wins over it)",
    "MENTIONDESK_DESK_PROCESS": "direct: no background desk process (a single operator's "
                                "desk in the console's own process)",
}

# (flags, argparse keyword arguments) of the options every command takes.
COMMON: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--data-dir",), {"metavar": "DIR",
                       "help": "where the desk is stored (env MENTIONDESK_DATA_DIR; see "
                               "`mentiondesk where`)"}),
    (("--rules",), {"metavar": "FILE",
                    "help": "triage rules file (default: the config's, else ./rules.yaml, else "
                            "the packaged one)"}),
    (("--replies",), {"metavar": "FILE",
                      "help": "canned replies file (default: the config's, else ./replies.yaml, "
                              "else the packaged one)"}),
    (("--config",), {"metavar": "FILE", "help": "config file (env MENTIONDESK_CONFIG)"}),
    (("--agent",), {"metavar": "NAME",
                    "help": "your name on the audit trail (default: config, then $USER)"}),
    (("--log-level",), {"metavar": "LEVEL", "type": str.upper,
                        "choices": ("DEBUG", "INFO", "WARNING", "ERROR"),
                        "help": "log file detail: DEBUG, INFO (default), WARNING or ERROR "
                                "(env MENTIONDESK_LOG_LEVEL; the file: `mentiondesk where`)"}),
)

# The options that shape sources: the console, ingest and serve use them.
SOURCE_HELP = ("demo | replay:PATH | mastodon:URL | bluesky:HANDLE | feed:URL (repeatable; "
               "default: the config's sources, else demo)")
SOURCES: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--source",), {"action": "append", "metavar": "SPEC", "help": SOURCE_HELP}),
    (("--speed",), {"metavar": "N", "help": "replay speed: N times real time, or max "
                                             "(default 1; ingest --once: max)"}),
    (("--map",), {"metavar": "FIELD=COLUMN,...", "help": "CSV column mapping for replay"}),
    (("--seed",), {"type": int, "help": "demo stream seed (default 7)"}),
    (("--rate",), {"type": float, "help": "demo mentions per second (default 0.5)"}),
    (("--burst",), {"action": "store_true", "default": None,
                    "help": "demo: a brand emergency, hundreds of mentions a minute"}),
)

# Repeatable options: after the sub-command they collect here and are appended to the first.
AFTER = "_after_"


def _add(p: argparse.ArgumentParser, table: Any, top: bool) -> None:
    for flags, kwargs in table:
        kw = dict(kwargs)
        if top:
            kw.setdefault("default", None)
        else:
            kw["default"] = argparse.SUPPRESS
            if kw.get("action") == "append":
                kw["dest"] = AFTER + flags[0].lstrip("-").replace("-", "_")
        p.add_argument(*flags, **kw)


def add_common(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """The common options, on the top-level parser (``top``) or on a sub-command."""
    group = p.add_argument_group("common options (before or after the command)")
    _add(group, COMMON, top)  # type: ignore[arg-type]


def add_source_options(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    group = p.add_argument_group("sources (before or after the command)")
    _add(group, SOURCES, top)  # type: ignore[arg-type]


def merge_positions(args: argparse.Namespace) -> argparse.Namespace:
    """Append repeatable options given after the sub-command to those given before it."""
    for name in list(vars(args)):
        if name.startswith(AFTER):
            dest = name[len(AFTER):]
            setattr(args, dest, (getattr(args, dest, None) or []) + getattr(args, name))
            delattr(args, name)
    return args
