"""``mentiondesk init --preset SECTOR [--dir DIR]``: a starting rules.yaml and replies.yaml.

Presets (packaged under tui/presets/): transit (the shipped default policy), airline, telecom,
retail, software.  Each passes ``mentiondesk check``; the README says how to adapt one.  Existing
files are never overwritten unless ``--force``.

Exit codes: 0 written; 1 a file exists (nothing written); 2 unknown preset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from ..presets import PRESETS, preset_files
from .common import OK, REFUSED, USAGE


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("init", help="write a starting rules.yaml and replies.yaml for a "
                                           "kind of brand",
                              description="Write a starting rules.yaml and replies.yaml for a "
                                          "kind of brand (each passes `mentiondesk check`).")
    p.add_argument("--preset", required=True, choices=PRESETS,
                   help="transit (default policy), airline, telecom, retail, software")
    p.add_argument("--dir", default=".", help="where to write them (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        files = preset_files(args.preset)
    except KeyError:
        print(f"mentiondesk init: unknown preset {args.preset!r}: {', '.join(PRESETS)}", file=err)
        return USAGE
    target = Path(args.dir)
    existing = [target / name for name in files if (target / name).exists()]
    if existing and not args.force:
        print(f"mentiondesk init: {', '.join(map(str, existing))} already exist; nothing written "
              "(use --force to overwrite)", file=err)
        return REFUSED
    target.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (target / name).write_bytes(source.read_bytes())
        print(f"wrote {target / name} ({args.preset})", file=out)
    print(f"next: edit them, then `mentiondesk check --rules {target / 'rules.yaml'} --replies "
          f"{target / 'replies.yaml'}`", file=out)
    return OK
