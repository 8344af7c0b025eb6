"""``mentiondesk check``: validate the files in effect before going live.

Checks exactly the files the console would load with the same options and environment: the config
file (``--config``, else ``$MENTIONDESK_CONFIG``, else ``config.yaml`` in the user config
directory), and the rules and replies (``--rules``/``--replies``, else the config's, else
``./rules.yaml``, else the packaged copies).  It prints each file's path and why it is the one in
effect, then every problem as ``file:line: message`` (editors and CI understand that form) on
stderr.  Exit status (README, "Exit codes"): 0 ready, 2 any problem.  Replies are loaded first so
that every ``reply:`` in the rules is checked against the keys that really exist; ``keys:`` in the
config are checked against the console's binding ids.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..core.replies import RepliesError, load_replies
from ..core.rules import RulesError, load_rules
from ..core.yamlfile import Problem
from ..setup.config import validate as validate_config
from .common import OK, USAGE


def check_files(rules_path: Path | str, replies_path: Path | str,
                config_path: Path | str | None = None,
                binding_ids: frozenset[str] | None = None) -> list[Problem]:
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
        problems.extend(validate_config(Path(config_path), binding_ids))
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
    from ..console.keymap import binding_ids
    from ..setup.boot import BootError, config_path, load_config, options_from, policy_paths

    opts = options_from(args)
    ids = binding_ids()
    cpath, cwhy = config_path(opts)
    problems: list[Problem] = []
    config = None
    if cpath is not None:
        if not cpath.is_file():
            problems.append(Problem(str(cpath), 0, f"no such config file ({cwhy})"))
        else:
            try:
                config = load_config(opts, ids)
            except BootError:
                problems.extend(validate_config(cpath, ids))
    paths = policy_paths(opts, config)
    print(f"config   {cpath}  ({cwhy})" if cpath else f"config   {cwhy}")
    for name, (path, why) in paths.items():
        print(f"{name:<8} {path}  ({why})")
    problems.extend(check_files(paths["rules"][0], paths["replies"][0]))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        count = len(problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return USAGE
    rules = load_rules(paths["rules"][0]).compile()  # every word list compiled, as triage will
    replies = load_replies(paths["replies"][0])
    source = paths["rules"][0]
    if config is not None and config.office_hours is not None:
        rules.set_office_hours(config.office_hours)
        source = config.path
    for warning in calendar_warnings(rules.office_hours, source):
        print(warning, file=sys.stderr)
    print(f"ok: {len(rules.categories)} categories, {len(replies.keys)} replies")
    if config is not None:
        from ..sources.registry import describe_intake

        for source in config.sources:  # what each source reads (types, filtered, DMs)
            print(describe_intake(source.spec, source.options))
    return OK


CALENDAR_NOTICE_DAYS = 365  # warn a year ahead: time to add next year's dates


def calendar_warnings(office_hours: Any, source: Any, today: date | None = None) -> list[str]:
    """A warning when the office's holiday calendar ends within a year (or has ended): after
    that day deadlines count holidays as working days."""
    ends = office_hours.calendar_ends() if office_hours is not None else None
    today = today or datetime.now(UTC).date()
    if ends is None or ends > today + timedelta(days=CALENDAR_NOTICE_DAYS):
        return []
    when = "ended" if ends < today else "ends"
    return [f"warning: {source}: the office_hours holidays calendar {when} on {ends}: after "
            f"that, deadlines count holidays as working days. Use holidays: {{country: GB, "
            f"subdiv: ENG}} (the holidays library, kept up to date) or list the next year's "
            f"dates"]
