"""What a console's start does not pay for (issue 9: a first screen <= 0.5 s after start).

A fresh process that imports the console and loads the config, rules and replies as an attaching
console does (``open_desk(with_store=False)``) must not import the dialogs, the stats screen,
the metrics, the ``holidays`` library (its calendar comes from the per-user cache after the first
start), the Snowball stemmers (the rules' words are compiled on the first triage), ``regex`` or
``rapidfuzz`` (replies: graphemes and search, on first need).  Measured by
bench/bench_desk_process.py (a); this test keeps them from coming back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LAZY = ("tui.console.screens", "tui.console.stats_screen", "tui.core.metrics", "holidays",
        "snowballstemmer", "regex", "rapidfuzz")

START = """
import argparse, sys
from tui.console.app import MentionDesk
from tui.console.keymap import binding_ids
from tui.setup.boot import open_desk, options_from
opts = options_from(argparse.Namespace(data_dir=sys.argv[1]))
desk = open_desk(opts, with_store=False, binding_ids=binding_ids())
print(" ".join(m for m in sys.argv[2:] if m in sys.modules) or "-")
print(desk.replies.search("refund")[0][0], "desk.reply" in binding_ids())
print(" ".join(m for m in sys.argv[2:] if m in sys.modules) or "-")
"""


def test_a_console_start_imports_none_of_what_the_first_screen_does_not_need(
        tmp_path: Path) -> None:
    env = {**os.environ, "MENTIONDESK_CACHE_DIR": str(tmp_path / "cache"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("MENTIONDESK_CONFIG", None)
    runs = [subprocess.run([sys.executable, "-c", START, str(tmp_path / "desk"), *LAZY],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    first, again = ([line.split() for line in r.stdout.splitlines()] for r in runs)
    assert first[0] == ["holidays"], runs[0].stderr  # the first start fills the holiday cache
    assert again[0] == ["-"], runs[1].stderr
    # ... and each comes when it is needed: a reply search, a config's keys: check.
    assert again[1][1] == "True" and again[1][0]
    assert {"rapidfuzz", "tui.console.screens"} <= set(again[2])
