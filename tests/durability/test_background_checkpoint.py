"""The background checkpoint (issue 9): the journal is sealed into a segment, a thread writes the
snapshot (and the archive files) from the files, the desk keeps journaling meanwhile.

* What it writes is exactly what recovery would build from the files at the sealed seq; what
  was put meanwhile stays in the live journal; reopening gives every change.
* A data directory of the previous layout (one journal file) reads as before; sealed segments
  are read in order after the snapshot; segments a snapshot already holds are removed.
* A failed background write (EIO, full disk on the snapshot only) is reported, the desk keeps
  journaling, nothing is lost, and the next checkpoint succeeds.
* kill -9 (real child processes) at several moments of a background checkpoint, acks going on:
  nothing acknowledged is lost.
* The desk archives in the background: what changed while the thread wrote stays hot.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Clock
from conftest import new_desk as make_desk
from tinydb import TinyDB

from tests.deskkit import mention
from tui.core.store import KEY_FIELD, FileOps, Store, StoreNotSaving

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def _load(name: str, path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


child = _load("store_child", HELPERS / "store_child.py")
durability = _load("store_durability", Path(__file__).with_name("test_store_durability.py"))


def finish(store: Store):  # type: ignore[no-untyped-def]
    store._bg.thread.join()  # type: ignore[union-attr]
    return store.poll_checkpoint()


def segments(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.glob("journal-*.jsonl"))


def test_the_snapshot_is_the_files_at_the_sealed_seq_and_later_puts_stay_in_the_journal(
        tmp_path: Path) -> None:
    rng = random.Random(5)
    expected: dict = {}
    with Store(tmp_path) as store:
        for n in range(600):
            child.apply(expected, n)
            table, key, doc = child.op(n)
            store.delete(table, key) if doc is None else store.put(table, key, doc)
        store.checkpoint(lambda: expected)  # an ordinary snapshot to compact onto
        for n in range(600, 3600):
            child.apply(expected, n)
            table, key, doc = child.op(n)
            store.delete(table, key) if doc is None else store.put(table, key, doc)
            if rng.random() < 0.01:
                store.flush()
        sealed = store.begin_checkpoint()
        assert segments(tmp_path) == [f"journal-{sealed:012d}.jsonl"]
        at_seal = json.loads(json.dumps(expected))
        for n in range(3600, 3900):  # acknowledged while the thread writes
            child.apply(expected, n)
            table, key, doc = child.op(n)
            store.delete(table, key) if doc is None else store.put(table, key, doc)
        store.flush()
        result = finish(store)
        assert result is not None and result.seq == sealed and not result.missing
        assert segments(tmp_path) == []
        assert store.checkpoint_error is None
    # The snapshot alone is the state at the sealed seq (a plain TinyDB file).
    db = TinyDB(tmp_path / "desk.json")
    assert db.table("_store").all()[0]["seq"] == sealed
    in_file = {name: {d[KEY_FIELD]: {k: v for k, v in d.items() if k != KEY_FIELD}
                      for d in db.table(name).all()} for name in at_seal}
    db.close()
    assert durability.nonempty(in_file) == durability.nonempty(at_seal)
    with Store(tmp_path) as store:
        assert store.recovered == []
        assert durability.nonempty(store.load()) == durability.nonempty(expected)


def test_sealed_segments_replay_in_order_and_those_a_snapshot_holds_are_removed(
        tmp_path: Path) -> None:
    # A previous version's data directory: one journal, no segment.
    with Store(tmp_path) as store:
        store.put("mentions", "a", {"v": 1})
        store.checkpoint(lambda: {"mentions": {"a": {"v": 1}}})
        store.put("mentions", "b", {"v": 2})
        store.put("mentions", "a", {"v": 3})
    with Store(tmp_path) as store:
        assert store.load() == {"mentions": {"a": {"v": 3}, "b": {"v": 2}}}
        assert store.recovered == []
    # A checkpoint killed after sealing, twice (two segments), then more puts.
    with Store(tmp_path) as store:
        store.put("mentions", "c", {"v": 4})
        store.flush()
        store._rotate_locked(store._seq)
        store.delete("mentions", "b")
        store.flush()
        store._rotate_locked(store._seq)
        store.put("mentions", "b", {"v": 5})
    assert len(segments(tmp_path)) == 2
    with Store(tmp_path) as store:
        assert store.load() == {"mentions": {"a": {"v": 3}, "c": {"v": 4}, "b": {"v": 5}}}
        assert store.recovered == []
        assert store.needs_checkpoint  # sealed segments wait for a snapshot
        store.checkpoint(lambda: store.load())
        assert segments(tmp_path) == []
    # A segment the snapshot already holds (killed before deleting it): removed on start.
    with Store(tmp_path) as store:
        store.put("mentions", "d", {"v": 6})
        store.flush()
        seq = store._seq
        store._rotate_locked(seq)
        store.checkpoint(lambda: {"mentions": {"a": {"v": 3}, "c": {"v": 4}, "b": {"v": 5},
                                               "d": {"v": 6}}})
        store.put("mentions", "e", {"v": 7})
    stale = tmp_path / f"journal-{seq:012d}.jsonl"
    stale.write_bytes((tmp_path / "journal.jsonl").read_bytes())  # a copy: records <= seq + 1
    with Store(tmp_path) as store:
        assert store.load()["mentions"]["e"] == {"v": 7}
    # The read-only store (reports) reads segments too, writing nothing.
    with Store(tmp_path) as store:
        store.put("mentions", "f", {"v": 8})
        store.flush()
        store._rotate_locked(store._seq)
        store.put("mentions", "g", {"v": 9})
        store.flush()
        reader = Store(tmp_path, read_only=True)
        assert set(reader.load()["mentions"]) == {"a", "b", "c", "d", "e", "f", "g"}
        reader.close()


class SnapshotFails(FileOps):
    """Writes to the snapshot's (or an archive file's) temp file fail with ``err``; the
    journal is written normally."""

    def __init__(self, err: int) -> None:
        self.err = err
        self.failing = True

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self.failing and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(self.err, os.strerror(self.err))
        return super().write(fd, data)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC])
def test_a_failed_background_write_is_reported_journaling_goes_on_and_it_retries(
        tmp_path: Path, err: int) -> None:
    io = SnapshotFails(err)
    with Store(tmp_path, io=io) as store:
        for i in range(50):
            store.put("mentions", f"k{i}", {"v": i})
        store.flush()
        store.begin_checkpoint()
        store.put("mentions", "during", {"v": "x"})
        store.flush()  # the journal still takes writes
        with pytest.raises(StoreNotSaving) as failed:
            finish(store)
        assert failed.value.errno == err
        assert store.checkpoint_error is not None
        assert store.checkpoint_error.startswith("NOT SAVING")
        assert store.fault is None  # the journal saves: actions are not refused
        assert not (tmp_path / "desk.json.tmp").exists()
        assert len(segments(tmp_path)) == 1 and store.needs_checkpoint
        store.put("mentions", "after", {"v": "y"})
        store.flush()
        store.begin_checkpoint()  # a second failure seals a second segment
        with pytest.raises(StoreNotSaving):
            finish(store)
        assert len(segments(tmp_path)) == 2
    with Store(tmp_path) as store:  # nothing lost
        docs = store.load()["mentions"]
        assert len(docs) == 52 and docs["after"] == {"v": "y"}
    io.failing = False
    with Store(tmp_path, io=io) as store:
        store.load()
        store.begin_checkpoint()
        assert finish(store) is not None
        assert store.checkpoint_error is None and segments(tmp_path) == []
    with Store(tmp_path) as store:
        assert len(store.load()["mentions"]) == 52


BG_ROUNDS = ["bg-acks", "bg-start", "bg-replace", "bg-drop", "bg-acks", "bg-replace",
             "bg-start", "bg-drop"]
HARMLESS = durability.HARMLESS


@pytest.mark.timeout(120)
def test_kill_9_at_any_moment_of_a_background_checkpoint_loses_nothing_acknowledged(
        tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    expected: dict = {}
    done = -1
    for i, mode in enumerate(BG_ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, str(HELPERS / "store_child.py"), "churn", str(data_dir),
             str(done + 1), str(rng.randrange(1 << 30)), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        last_ack, parked, after = -1, False, 0
        kill_after = rng.randint(1, 6)
        acks = 0
        while True:
            line = proc.stdout.readline().strip()
            assert line, f"seed {seed}: child exited early with {proc.wait()}"
            if line.startswith("ack "):
                last_ack = int(line.split()[1])
                acks += 1
                after += parked
                if (mode == "bg-acks" and acks >= 3 * kill_after) or (parked and
                                                                        after >= kill_after):
                    break
            elif line.startswith("at-bg-"):
                parked = True
        proc.kill()
        proc.wait()
        for rest in proc.stdout:
            if rest.startswith("ack "):
                last_ack = int(rest.split()[1])
        proc.stdout.close()
        assert proc.stdin is not None
        proc.stdin.close()
        with Store(data_dir) as store:
            notes = store.recovered
            actual = durability.nonempty(store.load())
            held = store._snapshot_seq
        unexpected = [n for n in notes if not n.startswith(HARMLESS)]
        assert not unexpected, f"seed {seed}, round {i} ({mode}): {unexpected}"
        if mode == "bg-drop":  # the snapshot was in place: its segments were removed now
            assert any(n.startswith(HARMLESS[1]) for n in notes), notes
        # Segments left are the ones no snapshot holds yet (the next checkpoint's work).
        assert all(int(name[8:20]) > held for name in segments(data_dir)), (seed, mode)
        p = durability.find_prefix(actual, expected, done, last_ack, seed)
        for n in range(done + 1, p + 1):
            child.apply(expected, n)
        done = p


def test_the_desk_archives_in_the_background_and_keeps_what_changed_meanwhile(
        tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path)
    desk = make_desk(store, clock)
    convs = [desk.ingest([mention("@northline refund please", handle=f"c{i}",
                                  at=clock.now)])[0].conv_id for i in range(6)]
    for cid in convs[:4]:
        desk.resolve(cid)
    open_ids = set(convs[4:])
    clock.advance(days=2)
    assert desk.maintain_in_background() is None
    assert desk.checkpoint_running
    while not store.checkpoint_running and desk.checkpoint_running:
        desk.poll_checkpoint()  # the desk's slices, up to the store's thread
    # While the thread writes: a note on one of the conversations being archived.
    desk.note(convs[0], "customer called back about this")
    archived = None
    while desk.checkpoint_running:
        store._bg and store._bg.thread.join()  # type: ignore[func-returns-value]
        archived = desk.poll_checkpoint()
    assert archived == 3
    assert set(desk.conversations) == open_ids | {convs[0]}
    assert all(desk.knows(k) for k in desk.archived_keys)
    store.close()
    with Store(tmp_path) as again:
        tables = again.load()
        assert set(tables["conversations"]) == open_ids | {convs[0]}
        archive = again.archived_tables(["conversations"])["conversations"]
        assert set(archive) == set(convs[:4])  # convs[0]: an older copy, replaced next time
        assert archive[convs[1]]["status"] == "resolved"
        desk2 = make_desk(again, clock)
        assert set(desk2.conversations) == open_ids | {convs[0]}
        assert any(ev.kind == "note" for ev in desk2.events.values())


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_the_desk_keeps_working_through_a_failed_background_checkpoint_and_retries(
        tmp_path: Path) -> None:
    clock = Clock()
    io = SnapshotFails(errno.ENOSPC)
    store = Store(tmp_path, io=io)
    desk = make_desk(store, clock)
    done = desk.ingest([mention("@northline refund please", handle="old", at=clock.now)])
    desk.resolve(done[0].conv_id)
    clock.advance(days=2)

    def run() -> int | None:
        result = desk.maintain_in_background()
        while desk.checkpoint_running:
            if store._bg is not None:
                store._bg.thread.join()
            result = desk.poll_checkpoint()
        return result

    with pytest.raises(StoreNotSaving):
        run()
    assert store.checkpoint_error and "disk full" in store.checkpoint_error
    # The desk goes on: new mentions are saved, actions work, nothing was archived or lost.
    new = desk.ingest([mention("@northline where is my train", handle="new", at=clock.now)])
    desk.note(new[0].conv_id, "checking with control")
    assert done[0].conv_id in desk.conversations
    assert store.needs_checkpoint  # the sealed segment waits: due again at the next maintain
    io.failing = False  # space freed: the next maintain does it
    assert run() == 1
    assert store.checkpoint_error is None and not segments(tmp_path)
    store.close()
    with Store(tmp_path) as again:
        desk2 = make_desk(again, clock)
        assert set(desk2.conversations) == {new[0].conv_id}
        assert done[0].conv_id in again.archived_tables(["conversations"])["conversations"]
        assert len(desk2.archived_keys) == 1  # the archived mention is still known (no re-ingest)
