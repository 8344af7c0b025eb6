"""``mentiondesk where``: which data directory, config, rules and replies a command would use.

Every command (the console included) finds its files by the same rules (``tui.setup.boot``), so
this answer holds for all of them given the same options and environment:

    $ mentiondesk where
    data directory  /home/sam/.local/share/mentiondesk/demo  (the demo desk ...)  holds a desk
    config          none (/home/sam/.config/mentiondesk/config.yaml does not exist)
    ...
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import OK, USAGE


def add_parser(sub: Any) -> None:
    from .common import add_common

    p = sub.add_parser(
        "where", help="the data directory, config, rules and replies in effect",
        description="Print the data directory, config file, rules and replies that the console "
                    "and every command use with these options and this environment, and why.")
    add_common(p)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(handler=run)


def locate(args: argparse.Namespace) -> dict[str, Any]:
    """``{"data_dir": {...}, "config": {...}, "rules": {...}, "replies": {...}}``, each with
    ``path`` and ``why``; raises ``BootError`` when the config file is broken."""
    from ..setup.boot import (
        config_path,
        data_dir_and_why,
        holds_desk,
        load_config,
        options_from,
        policy_paths,
    )

    opts = options_from(args)
    cpath, cwhy = config_path(opts)
    config = load_config(opts)
    path, why = data_dir_and_why(opts, config)
    out: dict[str, Any] = {
        "data_dir": {"path": str(path), "why": why, "holds_desk": holds_desk(path)},
        "config": {"path": str(cpath) if cpath else None, "why": cwhy},
    }
    for name, (p, w) in policy_paths(opts, config).items():
        out[name] = {"path": str(p), "why": w}
    from ..setup.logs import log_file

    out["log"] = {"path": str(log_file()), "why": "the user log directory"}
    return out


def run(args: argparse.Namespace) -> int:
    from ..setup.boot import BootError

    try:
        found = locate(args)
    except BootError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return USAGE
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return OK
    d = found["data_dir"]
    state = "holds a desk" if d["holds_desk"] else "no desk yet"
    print(f"data directory  {d['path']}  ({d['why']}; {state})")
    c = found["config"]
    print(f"config          {c['path'] + '  (' + c['why'] + ')' if c['path'] else c['why']}")
    for name in ("rules", "replies"):
        print(f"{name:<15} {found[name]['path']}  ({found[name]['why']})")
    print(f"log file        {found['log']['path']}")
    return OK
