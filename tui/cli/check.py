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
from ..setup.config import validate as validate_config

_PACKAGE_DATA = Path(__file__).resolve().parent.parent / "data"


def default_path(name: str) -> Path:
    """``./name`` when it exists (a team's own copy), else the copy shipped in tui/data/."""
    local = Path.cwd() / name
    if local.exists():
        return Path(name)
    return _PACKAGE_DATA / name


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
    from .common import add_common

    add_common(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    rules_path = args.rules or default_path("rules.yaml")
    replies_path = args.replies or default_path("replies.yaml")
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
