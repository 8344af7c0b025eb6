"""The read-only store: reports read the desk while the console holds it, and never write."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from deskkit import files_of

from tui.core import store as store_mod
from tui.core.store import SNAPSHOT, Store, StoreError, StoreLocked

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
sys.path.insert(0, str(HELPERS))
import store_child as child  # noqa: E402


def doc(n: int, **extra: object) -> dict:
    return {"id": str(n), "text": f"train {n} late — Ω", **extra}


def written(data_dir: Path) -> dict:
    """A desk with a snapshot, journal records after it, and two archive months."""
    with Store(data_dir) as s:
        for i in range(5):
            s.put("mentions", f"demo|{i}", doc(i))
        s.archive({"conversations": {"c1": {"id": "c1"}}}, month="2026-10")
        state = s.load()
        s.checkpoint(lambda: state)
        s.put("mentions", "demo|9", doc(9))
        s.delete("mentions", "demo|0")
        s.flush()
    return {"mentions": {**{f"demo|{i}": doc(i) for i in range(1, 5)}, "demo|9": doc(9)}}


def test_reads_snapshot_and_journal_while_the_writer_holds_the_lock(tmp_path: Path) -> None:
    expected = written(tmp_path)
    with Store(tmp_path) as writer:
        with pytest.raises(StoreLocked):
            Store(tmp_path)
        reader = Store(tmp_path, read_only=True)
        assert reader.recovered == []
        assert reader.load() == expected
        assert dict(reader.archived_items("conversations")) == {"c1": {"id": "c1"}}
        # It sees what the writer flushed since, on the next load.
        writer.put("mentions", "demo|10", doc(10))
        writer.flush()
        assert reader.load()["mentions"]["demo|10"] == doc(10)
        reader.close()


@pytest.mark.parametrize("op", ["put", "delete", "flush", "checkpoint", "archive"])
def test_every_write_is_refused(tmp_path: Path, op: str) -> None:
    written(tmp_path)
    before = files_of(tmp_path)
    s = Store(tmp_path, read_only=True)
    call = {
        "put": lambda: s.put("mentions", "demo|1", doc(1)),
        "delete": lambda: s.delete("mentions", "demo|1"),
        "flush": s.flush,
        "checkpoint": lambda: s.checkpoint(dict),
        "archive": lambda: s.archive({"conversations": {"c2": {}}}, month="2026-11"),
    }[op]
    with pytest.raises(StoreError, match="read-only"):
        call()
    s.close()
    assert files_of(tmp_path) == before


def test_what_a_writer_would_repair_is_only_reported(tmp_path: Path) -> None:
    written(tmp_path)
    journal = tmp_path / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    # A damaged line in the middle, a torn tail, leftovers of interrupted writes.
    journal.write_bytes(lines[0] + b"0badc0de {}\n" + lines[1] + b'0000 {"s": 99, "t"')
    (tmp_path / (SNAPSHOT + ".tmp")).write_bytes(b'{"half')
    (tmp_path / "archive" / "2026-10.json.tmp").write_bytes(b"{")
    before = files_of(tmp_path)
    s = Store(tmp_path, read_only=True)
    state = s.load()
    s.close()
    assert files_of(tmp_path) == before  # bytes and mtimes: nothing truncated, moved, removed
    assert state["mentions"].get("demo|9") == doc(9)
    notes = "\n".join(s.recovered)
    assert "journal: line 2 is damaged (bad checksum" in notes
    assert "ignored 18 bytes at its end" in notes
    assert f"{SNAPSHOT}.tmp: a checkpoint is being written" in notes
    assert "archive/2026-10.json.tmp" in notes
    # The writer, later, repairs exactly that.
    with Store(tmp_path) as w:
        assert w.load() == state
        assert any("torn last record" in n for n in w.recovered)


def test_a_broken_snapshot_is_read_as_far_as_possible_and_left_in_place(tmp_path: Path) -> None:
    expected = written(tmp_path)
    snap = tmp_path / SNAPSHOT
    snap.write_bytes(snap.read_bytes() + b'}{"extra": 1}')  # TinyDB's own crash leftover
    before = files_of(tmp_path)
    s = Store(tmp_path, read_only=True)
    assert s.load() == expected
    assert any("did not parse" in n and "left in place" in n for n in s.recovered)
    s.close()
    assert files_of(tmp_path) == before


def test_a_missing_data_dir_is_an_empty_desk_and_is_not_created(tmp_path: Path) -> None:
    s = Store(tmp_path / "nothing", read_only=True)
    assert s.load() == {} and list(s.archived("mentions")) == []
    s.close()
    assert not (tmp_path / "nothing").exists()


def test_reads_stay_consistent_while_a_writer_checkpoints(tmp_path: Path) -> None:
    """A real writer process applies numbered ops, flushes, acknowledges and checkpoints at
    random; every read-only load must equal the state after exactly ops 0..N, for an N no lower
    than the last op acknowledged before the read began."""
    proc = subprocess.Popen(
        [sys.executable, str(HELPERS / "store_child.py"), "churn", str(tmp_path), "0", "11", "-"],
        stdout=subprocess.PIPE, text=True)
    acks: queue.Queue[int] = queue.Queue()
    checkpoints = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ack "):
                acks.put(int(line.split()[1]))
            elif line.startswith("ckpt"):
                checkpoints.append(1)

    threading.Thread(target=pump, daemon=True).start()
    try:
        last = acks.get(timeout=30)
        while last < child.PRELOAD + 500:
            last = acks.get(timeout=30)
        state: dict = {}
        applied = -1  # ops 0..applied are in `state`
        reads = 0
        while reads < 100 or (len(checkpoints) < 5 and reads < 1000):
            while not acks.empty():
                last = acks.get_nowait()
            with Store(tmp_path, read_only=True) as s:
                got = s.load()
            # Every op the doc carries was applied; deletes may follow the last of them.
            newest = max(d["n"] for docs in got.values() for d in docs.values())
            while applied < max(last, newest):
                applied += 1
                child.apply(state, applied)
            limit = applied + 2 * child.MAX_BATCH
            while state != got and applied < limit:
                applied += 1
                child.apply(state, applied)
            assert state == got, f"a read after op {last} matches no state up to op {limit}"
            reads += 1
        assert len(checkpoints) >= 5
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("then_write", [False, True], ids=["checkpoint", "checkpoint+writes"])
def test_a_checkpoint_between_snapshot_and_journal_reads_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then_write: bool
) -> None:
    """Deterministically: the reader has read the old snapshot; before it reads the journal a
    writer checkpoints (replacing the snapshot, emptying the journal) and maybe writes more.
    Read alone, old snapshot + new journal would lose changes; the reader must read again."""
    written(tmp_path)
    real = store_mod._read_bytes
    raced = []

    def racing_read(path: Path) -> bytes:
        if path.name == "journal.jsonl" and not raced:
            raced.append(1)
            with Store(tmp_path) as w:  # the reader holds no lock: a writer can run now
                for i in range(20, 25):
                    w.put("mentions", f"demo|{i}", doc(i))
                state = w.load()
                w.checkpoint(lambda: state)
                if then_write:
                    w.put("mentions", "demo|30", doc(30))
                    w.delete("mentions", "demo|1")
                    w.flush()
        return real(path)

    monkeypatch.setattr(store_mod, "_read_bytes", racing_read)
    s = Store(tmp_path, read_only=True)
    got = s.load()
    s.close()
    monkeypatch.setattr(store_mod, "_read_bytes", real)
    assert raced
    with Store(tmp_path) as w:
        assert got == w.load()
    assert "demo|24" in got["mentions"]
    assert ("demo|30" in got["mentions"]) is then_write
