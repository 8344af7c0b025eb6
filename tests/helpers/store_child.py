"""A child process for the store's lock and kill -9 tests (run with sys.executable).

    store_child.py hold DATA_DIR
        open the Store, print "locked <pid>", close it when a line arrives on stdin, print "closed",
        exit at the next line / end of input.

    store_child.py churn DATA_DIR START SEED MODE
        open the Store, then forever: apply a batch of the deterministic ops START, START+1, ...
        (see ``op``), flush, print "ack <last op number>"; after some batches checkpoint with the
        in-memory state (printing "ckpt" first).  MODE "before-replace" / "before-truncate" make
        the checkpoint stop just before ``os.replace`` / the journal truncate, print
        "at-replace" / "at-truncate" and wait there to be killed.  MODE "bg-..." checkpoints in
        the background instead (``begin_checkpoint``, polled after every batch, acks going on
        meanwhile): "bg-acks" only that; "bg-start" / "bg-replace" / "bg-drop" park the
        checkpoint's thread as it starts / just before desk.json is replaced / just before the
        sealed segments are deleted, print "at-bg-start" / "at-bg-replace" / "at-bg-drop", and
        keep acknowledging batches until killed.

The parent imports ``op`` and ``apply`` from this file to compute the state it expects.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

TABLES = ("mentions", "events")
KEYS = 400
PRELOAD = 3000  # the first ops fill "conversations" so a checkpoint takes a little while
MAX_BATCH = 200  # below the store's auto-flush size: an ack covers exactly one flush


def op(n: int) -> tuple[str, str, dict[str, Any] | None]:
    """Op number ``n``: (table, key, document), document None for a delete."""
    rng = random.Random(n)
    if n < PRELOAD:
        return "conversations", f"c{n}", {"n": n, "note": "Ω " + "c" * rng.randrange(300)}
    table = TABLES[n % 2]
    key = f"k{rng.randrange(KEYS)}"
    if n % 5 == 0:
        return table, key, None
    return table, key, {"n": n, "text": "Northline ✓ " + "x" * rng.randrange(200)}


def apply(state: dict[str, dict[str, dict[str, Any]]], n: int) -> None:
    table, key, doc = op(n)
    if doc is None:
        state.get(table, {}).pop(key, None)
    else:
        state.setdefault(table, {})[key] = doc


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def hold(data_dir: Path) -> None:
    from tui.core.store import Store

    store = Store(data_dir)
    say(f"locked {os.getpid()}")
    sys.stdin.readline()
    store.close()
    say("closed")
    sys.stdin.readline()


def stop_here(marker: str, real):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        say(marker)
        sys.stdin.readline()  # the parent never writes: we wait for SIGKILL
        return real(*args, **kwargs)

    return wrapper


def park(marker: str, real):  # type: ignore[no-untyped-def]
    """``real`` for the main thread; the checkpoint thread prints ``marker`` and waits forever."""
    import threading

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread() is not threading.main_thread():
            say(marker)
            threading.Event().wait()
        return real(*args, **kwargs)

    return wrapper


def churn(data_dir: Path, start: int, seed: int, mode: str) -> None:
    from tui.core import store as store_module
    from tui.core.store import Store

    store = Store(data_dir)
    state = store.load()
    if mode.startswith("bg-"):
        if mode == "bg-start":
            store_module._compact = park("at-bg-start", store_module._compact)
        elif mode == "bg-replace":
            store.io.replace = park("at-bg-replace", store.io.replace)  # type: ignore[method-assign]
        elif mode == "bg-drop":
            store_module._drop_segments = park("at-bg-drop", store_module._drop_segments)
        say("ready")
        background(store, state, start, seed)
        return
    if mode == "before-replace":
        os.replace = stop_here("at-replace", os.replace)
    elif mode == "before-truncate":
        os.ftruncate = stop_here("at-truncate", os.ftruncate)
    say("ready")
    rng = random.Random(seed)
    n = start
    while True:
        for _ in range(rng.randint(1, MAX_BATCH)):
            table, key, doc = op(n)
            if doc is None:
                store.delete(table, key)
            else:
                store.put(table, key, doc)
            apply(state, n)
            n += 1
        store.flush()
        say(f"ack {n - 1}")
        if rng.random() < 0.3:
            say("ckpt")
            store.checkpoint(lambda: state)


def background(store, state, start: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    n = start
    while True:
        for _ in range(rng.randint(1, MAX_BATCH)):
            table, key, doc = op(n)
            if doc is None:
                store.delete(table, key)
            else:
                store.put(table, key, doc)
            apply(state, n)
            n += 1
        store.flush()
        say(f"ack {n - 1}")
        if store.checkpoint_running:
            if store.poll_checkpoint() is not None:
                say("bg-done")
        elif rng.random() < 0.3:
            say("ckpt")
            store.begin_checkpoint()


def main(argv: list[str]) -> None:
    if argv[0] == "hold":
        hold(Path(argv[1]))
    elif argv[0] == "churn":
        churn(Path(argv[1]), int(argv[2]), int(argv[3]), argv[4])
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
