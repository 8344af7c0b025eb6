"""kill -9 while the desk ingests and acts: every acknowledged mention and action survives."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tui.core.store import Store

CHILD = Path(__file__).resolve().parents[1] / "helpers" / "desk_child.py"


def run_and_kill(data_dir: Path, start: int, acks_before_kill: int) -> tuple[set[str], dict]:
    proc = subprocess.Popen([sys.executable, str(CHILD), str(data_dir), str(start)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    mentions: set[str] = set()
    events: dict[str, tuple[str, str]] = {}
    acks = 0
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while acks < acks_before_kill and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 5)
            if not ready:
                continue
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"child died: {proc.stderr.read() if proc.stderr else ''}")
            kind, *rest = line.split()
            if kind == "M":
                mentions.update(rest)
                acks += 1
            elif kind == "E":
                events[rest[0]] = (rest[1], rest[2])
                acks += 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # Acknowledgements already in the pipe when the kill landed count too.
    for line in proc.stdout.read().splitlines():
        kind, *rest = line.split() or ["?"]
        if kind == "M":
            mentions.update(rest)
        elif kind == "E":
            events[rest[0]] = (rest[1], rest[2])
    assert proc.returncode == -signal.SIGKILL
    return mentions, events


def test_sigkill_while_ingesting_and_acting_loses_nothing_acknowledged(make_desk,
                                                                       tmp_path: Path) -> None:
    rng = random.Random(1234)
    acked_mentions: set[str] = set()
    acked_events: dict[str, tuple[str, str]] = {}
    start = 0
    for _round in range(5):
        mentions, events = run_and_kill(tmp_path, start, rng.randint(5, 60))
        acked_mentions |= mentions
        acked_events.update(events)
        start += 10_000  # fresh mention ids for the next run
        store = Store(tmp_path)
        desk = make_desk(store)
        missing = [k for k in acked_mentions if k not in desk.mentions]
        assert not missing, f"lost {len(missing)} acknowledged mentions, e.g. {missing[:3]}"
        for eid, (conv, kind) in acked_events.items():
            assert eid in desk.events, f"lost acknowledged {kind} {eid}"
            assert desk.events[eid].conv == conv and desk.events[eid].kind == kind
            assert not desk.events[eid].undone
        # Folded state agrees with the events: every handed-off conversation has its case.
        for eid, (conv, kind) in acked_events.items():
            if kind == "handoff" and desk.events[eid].seq == max(
                    e.seq for e in desk.events.values() if e.conv == conv and e.kind == "handoff"):
                assert desk.conversations[conv].case_id == desk.events[eid].details["case_id"]
        store.close()
    # The child acknowledged work across the kills, so the checks above had something to check.
    assert acked_mentions and acked_events, (len(acked_mentions), len(acked_events))
    assert len(acked_mentions) > 50 and len(acked_events) > 10
