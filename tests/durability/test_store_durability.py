"""The durability promise, tested with real kill -9: every flushed (acknowledged) change survives.

A child process churns through deterministic ops, flushing and acknowledging each batch and
checkpointing often; the parent SIGKILLs it at random moments and at chosen points inside a
checkpoint, reopens the store, and checks the state is exactly "all ops up to P" with P at least
the last acknowledged op (a prefix: an unacknowledged batch may or may not have made it).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from tinydb import TinyDB

from tui.core.store import KEY_FIELD, Store

HELPER = Path(__file__).resolve().parents[1] / "helpers" / "store_child.py"
_spec = importlib.util.spec_from_file_location("store_child", HELPER)
assert _spec and _spec.loader
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)

# Each round: how the child is killed.  "acks" = after a random number of acknowledgements
# (often mid-checkpoint too: the child checkpoints after ~30% of its batches); "ckpt" = as soon
# as it announces a checkpoint; "before-replace" / "before-truncate" = parked at that exact step.
ROUNDS = [
    "acks",
    "before-replace",
    "acks",
    "before-truncate",
    "ckpt",
    "acks",
    "ckpt",
    "before-replace",
    "before-truncate",
    "acks",
]

# What a kill -9 may legitimately leave for recovery to tidy up; anything else is corruption.
HARMLESS = (
    "removed desk.json.tmp left by a checkpoint interrupted by a crash",
    "journal: the last checkpoint was interrupted after writing desk.json",
    "journal: dropped a torn last record",
)


def nonempty(tables: dict) -> dict:
    return {name: docs for name, docs in tables.items() if docs}


def run_child(data_dir: Path, start: int, seed: int, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HELPER), "churn", str(data_dir), str(start), str(seed), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def churn_and_kill(proc: subprocess.Popen, mode: str, rng: random.Random) -> tuple[int, str]:
    """Read the child's lines until the kill point; kill -9; return (last ack, last line)."""
    assert proc.stdout is not None
    last_ack = -1
    kill_after = rng.randint(1, 25)
    acks = 0
    line = ""
    while True:
        line = proc.stdout.readline().strip()
        assert line, f"child exited early with {proc.wait()}"
        if line.startswith("ack "):
            last_ack = int(line.split()[1])
            acks += 1
            if mode == "acks" and acks >= kill_after:
                break
        elif line == "ckpt" and mode == "ckpt" and acks:
            break
        elif line in ("at-replace", "at-truncate"):
            break
    proc.kill()
    proc.wait()
    # Acks the child wrote before dying are still in the pipe: they count too.
    for rest in proc.stdout:
        if rest.startswith("ack "):
            last_ack = int(rest.split()[1])
    proc.stdout.close()
    if proc.stdin:
        proc.stdin.close()
    return last_ack, line


def find_prefix(actual: dict, expected: dict, done: int, acked: int, seed: int) -> int:
    """The P with actual == ops 0..P applied, P >= acked; ``expected`` holds ops 0..done."""
    state = copy.deepcopy(expected)
    for n in range(done + 1, acked + 1):
        child.apply(state, n)
    for p in range(acked, acked + child.MAX_BATCH + 1):
        if p > acked:
            child.apply(state, p)
        if nonempty(state) == actual:
            return p
    missing = {t: len(state.get(t, {})) for t in state}
    got = {t: len(actual.get(t, {})) for t in actual}
    pytest.fail(
        f"seed {seed}: store does not hold every acknowledged op up to {acked} "
        f"(expected sizes {missing}, got {got})"
    )


@pytest.mark.timeout(60)
def test_acknowledged_ops_survive_kill_9(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    expected: dict = {}
    done = -1  # expected == ops 0..done applied
    for i, mode in enumerate(ROUNDS):
        proc = run_child(data_dir, done + 1, rng.randrange(1 << 30), mode)
        acked, where = churn_and_kill(proc, mode, rng)
        assert acked >= done, f"seed {seed}: round {i} acknowledged nothing"
        with Store(data_dir) as store:
            notes = store.recovered
            actual = nonempty(store.load())
        unexpected = [n for n in notes if not n.startswith(HARMLESS)]
        assert not unexpected, f"seed {seed}, round {i} ({mode}): {unexpected}"
        if where == "at-replace":
            assert any(n.startswith(HARMLESS[0]) for n in notes), notes
        if where == "at-truncate":
            assert any(n.startswith(HARMLESS[1]) for n in notes), notes
        p = find_prefix(actual, expected, done, acked, seed)
        for n in range(done + 1, p + 1):
            child.apply(expected, n)
        done = p

    # Recovery left a clean data dir: a plain reopen has nothing to report, and the snapshot is a
    # TinyDB database that TinyDB itself reads.
    with Store(data_dir) as store:
        assert store.recovered == []
        final = nonempty(store.load())
        store.checkpoint(lambda: final)
    assert final == nonempty(expected)
    db = TinyDB(data_dir / "desk.json")
    try:
        rows = db.table("mentions").all()
        mentions = {d[KEY_FIELD]: {k: v for k, v in d.items() if k != KEY_FIELD} for d in rows}
    finally:
        db.close()
    assert mentions == final["mentions"]
    assert done > child.PRELOAD, "the run was too short to exercise the churn"
