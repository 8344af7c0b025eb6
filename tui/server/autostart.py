"""Starting the desk process tmux style (issue 9): the first ``mentiondesk`` on a data
directory — the console or an action command — starts it in the background when none runs;
later ones attach.  An auto-started desk process stops by itself ``AUTOSTART_IDLE`` seconds
after its last client left.

``MENTIONDESK_DESK_PROCESS=direct`` is a single operator's opt-out (the console holds the desk
in its own process, a command acts on the data directory directly); a team desk (``agents:``
in the config) always goes through a desk process.

What the first client was given and that shapes the desk reaches the desk process it starts:
the rules, replies and config files, the log level and — from the console — the sources and
their options (the data directory is in ``server_command``; the environment is inherited).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..setup.boot import BootError, data_dir, load_config, options_from, refuse_demo_mix
from .client import Starting, listening, spawn_server
from .protocol import MAX_SUN_PATH, socket_fits, socket_path

MODE_ENV = "MENTIONDESK_DESK_PROCESS"
DIRECT = "direct"  # the opt-out value of MODE_ENV
AUTOSTART_IDLE = 30.0  # seconds an auto-started desk process waits for a client before stopping
# The source options a desk process is started with (besides --source), as the console got them.
SOURCE_FLAGS = ("speed", "map", "seed", "rate")


def uses_desk_process(config: Any, where: Path | None = None) -> bool:
    """True when consoles and commands go through a desk process (starting one when none
    runs): the default, and always on a team desk; False with ``MENTIONDESK_DESK_PROCESS=direct``
    on a single operator's desk, and on a single operator's data directory ``where`` whose
    path is too long for a Unix socket (the desk then stays in the console's process, as
    before)."""
    if getattr(config, "agents", None):
        return True
    if where is not None and not socket_fits(where):
        return False
    return os.environ.get(MODE_ENV, "").strip().lower() != DIRECT


def long_path_hint(where: Path) -> str:
    """Why nothing can reach the process holding ``where`` (its socket path does not fit), and
    the fix."""
    path = socket_path(where)
    return (f"commands cannot reach the process holding it: its socket path {path} is "
            f"{len(os.fsencode(path))} bytes, over the {MAX_SUN_PATH} a Unix socket allows; use "
            "a shorter --data-dir (or a symlink with a short path to it) so that commands and "
            "other consoles work while a console runs")


def passed_on(args: argparse.Namespace) -> list[str]:
    """The options a started desk process needs to open the same desk: the rules, replies and
    config files (absolute, as the desk process may resolve paths differently) and the log
    level.  The data directory is given by ``server_command``; the environment is inherited."""
    extra: list[str] = []
    for name in ("rules", "replies", "config"):
        value = getattr(args, name, None)
        if value:
            extra += [f"--{name}", os.path.abspath(os.path.expanduser(value))]
    level = getattr(args, "log_level", None)
    if level:
        extra += ["--log-level", str(level)]
    return extra


def wanted_sources(args: argparse.Namespace, config: Any) -> list[str] | None:
    """The source specs a console asks its desk process to run: ``--source`` as given, else
    None when the config file lists sources (the desk process reads the same config), else the
    demo stream (``mentiondesk`` alone shows the demo)."""
    given = list(getattr(args, "source", None) or [])
    if given:
        return given
    if getattr(config, "sources", None):
        return None
    return ["demo"]


def source_args(args: argparse.Namespace, specs: list[str] | None = None) -> list[str]:
    """``--source`` for each of ``specs`` (default: the ``--source`` given) and the source
    options given (``--speed``, ``--map``, ``--seed``, ``--rate``, ``--burst``)."""
    if specs is None:
        specs = list(getattr(args, "source", None) or [])
    out = [a for spec in specs for a in ("--source", spec)]
    for name in SOURCE_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            out += [f"--{name}", str(value)]
    if getattr(args, "burst", None):
        out.append("--burst")
    return out


def console_start_args(args: argparse.Namespace, config: Any) -> list[str]:
    """Everything a desk process started by the console needs: its files and its sources."""
    return passed_on(args) + source_args(args, wanted_sources(args, config) or [])


def early_start(args: argparse.Namespace) -> Starting | None:
    """The console's first step (before it imports textual): spawn the desk process of the
    data directory when it will need one and none listens, so that the desk process opens the
    store while the console prepares its screen.  None when nothing was spawned (a desk
    process or console already serves, ``MENTIONDESK_DESK_PROCESS=direct``, a bad config —
    the console reports it); the console then attaches or opens the desk as before."""
    opts = options_from(args)
    try:
        config = load_config(opts)
    except BootError:
        return None
    where = data_dir(opts, config)
    if not uses_desk_process(config, where):
        return None
    try:
        refuse_demo_mix(opts, config)
    except BootError:
        return None
    try:
        if listening(where):
            return None
        return spawn_server(where, console_start_args(args, config), idle_seconds=AUTOSTART_IDLE)
    except OSError:
        return None  # an unusable data directory: the console's own open says why


