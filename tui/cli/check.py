"""``mentiondesk check``: validate rules.yaml, replies.yaml (and the config file) before going live.

Every problem is printed as ``file:line: message`` (editors and CI understand that form); the exit
status is 1 when there is any problem, 0 otherwise.  Replies are loaded first so that every
``reply:`` in the rules can be checked against the keys that really exist.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.replies import RepliesError, load_replies
from ..core.rules import RulesError, load_rules
from ..core.yamlfile import Problem
from ..setup.boot import default_file
from ..setup.config import validate as validate_config


def check_files(rules_path: Path | str, replies_path: Path | str,
                config_path: Path | str | None = None) -> list[Problem]:
    """Every problem in the given files; an empty list means they are ready to use."""
    problems: list[Problem] = []
    reply_keys: list[str] | None = None
    try:
        replies = load_replies(replies_path)
        reply_keys = replies.keys
    except RepliesError as exc:
        problems.extend(exc.problems)
    try:
        load_rules(rules_path, reply_keys=reply_keys)
    except RulesError as exc:
        problems.extend(exc.problems)
    if config_path is not None:
        problems.extend(validate_config(Path(config_path)))
    return problems


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check`` on an ``argparse`` sub-parsers object."""
    parser = subparsers.add_parser(
        "check", help="validate rules.yaml, replies.yaml and the config file",
        description="Validate the triage rules, the canned replies and (optionally) the config "
                    "file.  Problems are printed as file:line: message; exit status 1 if any.")
    _arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", type=Path, default=None,
                        help="rules file (default: ./rules.yaml, else the shipped one)")
    parser.add_argument("--replies", type=Path, default=None,
                        help="replies file (default: ./replies.yaml, else the shipped one)")
    parser.add_argument("--config", type=Path, default=None, help="config file to validate too")


def run(args: argparse.Namespace) -> int:
    rules_path = args.rules or default_file("rules.yaml")
    replies_path = args.replies or default_file("replies.yaml")
    problems = check_files(rules_path, replies_path, getattr(args, "config", None))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        count = len(problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return 1
    rules = load_rules(rules_path)
    replies = load_replies(replies_path)
    print(f"ok: {len(rules.categories)} categories, {len(replies.keys)} replies")
    return 0
