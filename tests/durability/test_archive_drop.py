"""Archiving in the background, the last phase: the archived conversations leave the hot tables
in small steps, their deletes written every half second (not an fsync per step), and what held
them is freed piecewise (``release_piecewise``) so no step holds the loop for long.

* kill -9 in the middle of that phase (a real child process): nothing is lost — every
  archived conversation is in the archive, those whose deletes were not written are hot again,
  none is both gone from the hot tables and missing from the archive; the next checkpoint
  archives the rest and the archive holds each once.
* ``release_piecewise`` empties nested dicts and lists, yielding every ``every`` items.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Clock
from conftest import new_desk as make_desk

from tui.core.store import Store, release_piecewise

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def test_kill_9_while_archived_conversations_leave_the_hot_tables_loses_nothing(
        tmp_path: Path) -> None:
    n = 24
    proc = subprocess.Popen([sys.executable, str(HELPERS / "archive_child.py"),
                             str(tmp_path), str(n)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    proc.kill()
    proc.wait()
    proc.stdout.close()
    assert line and line[0] == "dropping", line
    dropped_in_memory = int(line[1])
    assert 0 < dropped_in_memory < n
    clock = Clock()
    store = Store(tmp_path)
    desk = make_desk(store, clock)
    archive = set(store.archived_tables(["conversations"])["conversations"])
    resolved_hot = {c.id for c in desk.conversations.values() if c.status == "resolved"}
    still_open = {c.id for c in desk.conversations.values() if c.status == "open"}
    # All n were in the archive before any left the hot tables; the deletes not yet written
    # leave some hot again — never one gone from both.
    assert len(archive) == n
    assert resolved_hot <= archive
    assert len(resolved_hot) >= n - dropped_in_memory
    assert len(still_open) == 1 and not still_open & archive
    store.close()
    clock.advance(days=3)
    store = Store(tmp_path)
    desk = make_desk(store, clock)
    desk.maintain_in_background()
    while desk.checkpoint_running:
        if store.checkpoint_running:
            store._bg.thread.join()  # type: ignore[union-attr]
        desk.poll_checkpoint()
    assert [c.status for c in desk.conversations.values()] == ["open"]
    store.close()
    with Store(tmp_path) as again:
        assert set(again.load()["conversations"]) == still_open
        assert len(again.archived_tables(["conversations"])["conversations"]) == n


def test_release_piecewise_empties_nested_tables_a_piece_at_a_time() -> None:
    job = {m: {t: {f"{m}{t}{i}": {"id": i, "tags": [i]} for i in range(10)}
               for t in ("mentions", "events")} for m in ("2025-01", "2025-02")}
    steps = list(release_piecewise(job, 3, every=7))
    assert len(steps) == 40 // 7  # a yield after every 7 documents freed
    assert job == {}
    items = [object() for _ in range(5)]
    assert len(list(release_piecewise(items, 1, every=2))) == 2 and items == []
