"""The durable store: journal, snapshot, recovery from what crashes leave behind, archive, lock."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import platformdirs
import pytest
from tinydb import TinyDB

from tui.core import store as store_mod
from tui.core.store import KEY_FIELD, Store, StoreError, StoreLocked, default_data_dir

HELPER = Path(__file__).resolve().parents[1] / "helpers" / "store_child.py"


def doc(n: int, **extra: object) -> dict:
    return {"id": str(n), "text": f"train {n} late — Ω \u202e", **extra}


def journal_lines(data_dir: Path) -> list[bytes]:
    return (data_dir / "journal.jsonl").read_bytes().splitlines(keepends=True)


def fill(data_dir: Path, n: int) -> dict:
    """Put mentions m0..m{n-1}, flush, close; return what load() should give."""
    with Store(data_dir) as s:
        for i in range(n):
            s.put("mentions", f"demo|{i}", doc(i))
        s.flush()
    return {"mentions": {f"demo|{i}": doc(i) for i in range(n)}}


# -- journal round trip ----------------------------------------------------------------------


def test_put_delete_load_round_trip_across_reopen(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        assert s.recovered == []
        assert s.load() == {}
        s.put("mentions", "demo|1", doc(1))
        s.put("mentions", "demo|2", doc(2))
        s.put("triage", "demo|1", {"category": "refund", "urgency": "high"})
        s.put("mentions", "demo|1", doc(1, edited=True))
        s.delete("mentions", "demo|2")
        s.delete("mentions", "never-there")
        s.flush()
        assert s.stats()["tables"] == {"mentions": 1, "triage": 1}
    with Store(tmp_path) as s:
        assert s.recovered == []
        assert s.load() == {
            "mentions": {"demo|1": doc(1, edited=True)},
            "triage": {"demo|1": {"category": "refund", "urgency": "high"}},
        }
        # A later load (after more changes) reads the files again.
        s.put("mentions", "demo|3", doc(3))
        assert s.load()["mentions"] == {"demo|1": doc(1, edited=True), "demo|3": doc(3)}


def test_put_is_buffered_until_flush_then_one_checksummed_line_per_op(tmp_path: Path) -> None:
    s = Store(tmp_path)
    try:
        s.put("mentions", "demo|1", doc(1))
        s.delete("mentions", "demo|0")
        assert (tmp_path / "journal.jsonl").read_bytes() == b""
        assert s.stats()["buffered_ops"] == 2
        s.flush()
        lines = journal_lines(tmp_path)
        assert len(lines) == 2
        for line in lines:
            crc, payload = line.rstrip(b"\n").split(b" ", 1)
            assert int(crc, 16) == zlib.crc32(payload)
        assert json.loads(lines[0].split(b" ", 1)[1]) == {
            "s": 1,
            "t": "mentions",
            "k": "demo|1",
            "d": doc(1),
        }
        assert json.loads(lines[1].split(b" ", 1)[1]) == {
            "s": 2,
            "t": "mentions",
            "k": "demo|0",
            "x": 1,
        }
    finally:
        s.close()


def test_put_records_the_document_as_it_was(tmp_path: Path) -> None:
    d = doc(1)
    with Store(tmp_path) as s:
        s.put("mentions", "demo|1", d)
        d["text"] = "changed after put"
    with Store(tmp_path) as s:
        assert s.load()["mentions"]["demo|1"] == doc(1)


def test_auto_flush_bounds_the_buffer(tmp_path: Path) -> None:
    s = Store(tmp_path)
    try:
        for i in range(store_mod.AUTO_FLUSH_OPS):
            s.put("events", f"e{i}", {"n": i})
        assert s.stats()["buffered_ops"] == 0
        assert len(journal_lines(tmp_path)) == store_mod.AUTO_FLUSH_OPS
    finally:
        s.close()


def test_bad_documents_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        with pytest.raises(TypeError, match=re.escape("mentions/demo|1 is not plain JSON")):
            s.put("mentions", "demo|1", {"tags": {"a", "b"}})
        with pytest.raises(TypeError, match="not plain JSON"):
            s.put("mentions", "demo|1", {"score": float("nan")})
        with pytest.raises(ValueError, match="reserved"):
            s.put("mentions", "demo|1", {KEY_FIELD: "x"})
        with pytest.raises(ValueError, match="reserved"):
            s.put("_store", "x", {})
        with pytest.raises(TypeError, match="keys are strings"):
            s.put("mentions", 1, {})  # type: ignore[arg-type]
        s.put("mentions", "demo|1", doc(1))
    with Store(tmp_path) as s:
        assert s.recovered == []
        assert s.load() == {"mentions": {"demo|1": doc(1)}}
        assert json.loads(journal_lines(tmp_path)[0].split(b" ", 1)[1])["s"] == 1


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.close()
    s.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        s.put("mentions", "demo|1", doc(1))


# -- checkpoint ------------------------------------------------------------------------------


def test_checkpoint_writes_a_tinydb_snapshot_and_empties_the_journal(tmp_path: Path) -> None:
    state = fill(tmp_path, 5)
    with Store(tmp_path) as s:
        state["conversations"] = {"c1": {"status": "open"}}
        s.put("conversations", "c1", {"status": "open"})
        s.checkpoint(lambda: state)
        assert (tmp_path / "journal.jsonl").read_bytes() == b""
        assert s.stats()["journal_ops"] == 0
        s.put("mentions", "demo|9", doc(9))
        s.delete("mentions", "demo|0")
    with Store(tmp_path) as s:
        assert s.recovered == []
        loaded = s.load()
    expected = {k: dict(v) for k, v in state.items()}
    expected["mentions"]["demo|9"] = doc(9)
    del expected["mentions"]["demo|0"]
    assert loaded == expected
    # Only the two post-checkpoint ops are in the journal, numbered after the snapshot's seq.
    seqs = [json.loads(line.split(b" ", 1)[1])["s"] for line in journal_lines(tmp_path)]
    assert seqs == [7, 8]
    db = TinyDB(tmp_path / "desk.json")
    try:
        assert db.table("_store").all()[0]["seq"] == 6
        rows = db.table("mentions").all()
        assert {r[KEY_FIELD] for r in rows} == {f"demo|{i}" for i in range(5)}
        assert db.table("conversations").all() == [{KEY_FIELD: "c1", "status": "open"}]
    finally:
        db.close()


def test_close_can_checkpoint(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.put("mentions", "demo|1", doc(1))
    s.close(checkpoint=lambda: {"mentions": {"demo|1": doc(1)}})
    assert (tmp_path / "journal.jsonl").read_bytes() == b""
    with Store(tmp_path) as s:
        assert s.load() == {"mentions": {"demo|1": doc(1)}}


def test_crash_between_replace_and_truncate_replays_nothing_twice(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.put("mentions", "demo|1", doc(1, v=1))
        s.flush()
        old_journal = (tmp_path / "journal.jsonl").read_bytes()
        s.put("mentions", "demo|1", doc(1, v=2))
        s.checkpoint(lambda: {"mentions": {"demo|1": doc(1, v=2)}})
    # The state a crash right after os.replace leaves: new snapshot (seq 2), old journal (seq 1).
    # Replaying seq 1 on top would bring v=1 back.
    (tmp_path / "journal.jsonl").write_bytes(old_journal)
    with Store(tmp_path) as s:
        assert s.load() == {"mentions": {"demo|1": doc(1, v=2)}}
        assert len(s.recovered) == 1
        assert "checkpoint was interrupted" in s.recovered[0]
        assert (tmp_path / "journal.jsonl").read_bytes() == b""
        s.put("mentions", "demo|2", doc(2))
    with Store(tmp_path) as s:
        assert s.recovered == []
        assert s.load() == {"mentions": {"demo|1": doc(1, v=2), "demo|2": doc(2)}}
        assert json.loads(journal_lines(tmp_path)[0].split(b" ", 1)[1])["s"] == 3


def test_leftover_temp_files_are_removed_and_reported(tmp_path: Path) -> None:
    state = fill(tmp_path, 3)
    (tmp_path / "desk.json.tmp").write_text('{"_store": {"1": {"seq": 99}}, "ment')
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "2026-11.json.tmp").write_text("{")
    with Store(tmp_path) as s:
        assert s.load() == state
        assert len(s.recovered) == 2
        assert s.recovered[0].startswith("removed desk.json.tmp left by a checkpoint")
        assert s.recovered[1].startswith("removed archive/2026-11.json.tmp")
    assert not (tmp_path / "desk.json.tmp").exists()
    assert not (tmp_path / "archive" / "2026-11.json.tmp").exists()


# -- a damaged journal -----------------------------------------------------------------------


def test_torn_last_line_is_cut_off_and_reported(tmp_path: Path) -> None:
    fill(tmp_path, 3)
    path = tmp_path / "journal.jsonl"
    lines = journal_lines(tmp_path)
    good = b"".join(lines[:2])
    path.write_bytes(good + lines[2][:37])  # a write cut short by a crash
    with Store(tmp_path) as s:
        assert s.recovered == [
            "journal: dropped a torn last record (37 bytes, no end of line) written during a "
            "crash"
        ]
        assert set(s.load()["mentions"]) == {"demo|0", "demo|1"}
        assert path.read_bytes() == good
        s.put("mentions", "demo|7", doc(7))
    with Store(tmp_path) as s:
        assert s.recovered == []
        assert set(s.load()["mentions"]) == {"demo|0", "demo|1", "demo|7"}


def test_a_zeroed_record_at_the_end_is_damage_and_only_the_partial_line_is_torn(
        tmp_path: Path) -> None:
    fill(tmp_path, 2)
    path = tmp_path / "journal.jsonl"
    good = path.read_bytes()
    path.write_bytes(good + b"\x00" * 20 + b"\n" + b"0000 {half")
    with Store(tmp_path) as s:
        assert s.recovered[0] == (
            "journal: dropped a torn last record (10 bytes, no end of line) written during a "
            "crash")
        assert s.recovered[1].startswith("journal: line 3 is damaged (zeroed, 20 bytes) "
                                         "(after the last good record; not a torn write)")
        assert len(s.recovered) == 2
        assert set(s.load()["mentions"]) == {"demo|0", "demo|1"}
    assert path.read_bytes() == good


def test_damaged_middle_line_is_reported_skipped_and_kept_aside(tmp_path: Path) -> None:
    fill(tmp_path, 3)
    lines = journal_lines(tmp_path)
    damaged = lines[1].replace(b"train 1", b"train X")
    (tmp_path / "journal.jsonl").write_bytes(lines[0] + damaged + lines[2])
    for _ in range(2):  # reported on every start until a checkpoint, never silently
        with Store(tmp_path) as s:
            assert set(s.load()["mentions"]) == {"demo|0", "demo|2"}
            assert len(s.recovered) == 1
            note = s.recovered[0]
            assert note.startswith("journal: line 2 is damaged (bad checksum")
            assert "the change it held is lost" in note
    asides = list(tmp_path.glob("journal.jsonl.damaged-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == damaged
    assert asides[0].name in note


# -- a broken snapshot -----------------------------------------------------------------------


def test_snapshot_with_extra_data_is_moved_aside_and_recovered(tmp_path: Path) -> None:
    state = fill(tmp_path, 4)
    with Store(tmp_path) as s:
        s.checkpoint(lambda: state)
        s.put("mentions", "demo|8", doc(8))
    snap = tmp_path / "desk.json"
    good = snap.read_bytes()
    # What TinyDB's own write leaves when it dies before truncate: a shorter document written
    # over a longer one.
    snap.write_bytes(good + b'0"}}, "mentions": {"12": {"_k": "demo|12"}}}')
    with pytest.raises(ValueError, match="Extra data"):
        json.loads(snap.read_bytes())
    with Store(tmp_path) as s:
        assert len(s.recovered) == 1
        note = s.recovered[0]
        assert note.startswith("desk.json did not parse (Extra data")
        assert f"recovered its first {len(good):,} bytes" in note
        assert "replayed the journal on top" in note
        assert s.load() == {"mentions": {**state["mentions"], "demo|8": doc(8)}}
    broken = list(tmp_path.glob("desk.json.broken-*"))
    assert len(broken) == 1 and broken[0].name in note
    assert json.loads(snap.read_bytes())  # the good part was written back as a proper snapshot
    with Store(tmp_path) as s:
        assert s.recovered == []
        assert s.load() == {"mentions": {**state["mentions"], "demo|8": doc(8)}}


def test_unreadable_snapshot_falls_back_to_the_journal(tmp_path: Path) -> None:
    fill(tmp_path, 2)
    (tmp_path / "desk.json").write_bytes(b"\x00\x00garbage")
    with Store(tmp_path) as s:
        assert len(s.recovered) == 1
        assert s.recovered[0].startswith("desk.json could not be read")
        assert "state rebuilt from the journal alone" in s.recovered[0]
        assert set(s.load()["mentions"]) == {"demo|0", "demo|1"}


def test_missing_snapshot_with_a_later_journal_is_reported(tmp_path: Path) -> None:
    state = fill(tmp_path, 2)
    with Store(tmp_path) as s:
        s.checkpoint(lambda: state)
        s.put("mentions", "demo|5", doc(5))
    (tmp_path / "desk.json").unlink()
    with Store(tmp_path) as s:
        assert s.load() == {"mentions": {"demo|5": doc(5)}}
        assert s.recovered == [
            "journal: changes 1..2 are in neither desk.json (missing) nor the journal "
            "(was a file of the data dir replaced or deleted?)"
        ]


# -- archive ---------------------------------------------------------------------------------


def test_archive_moves_documents_by_month_and_is_idempotent(tmp_path: Path) -> None:
    nov = {"status": "resolved", "closed_at": "2026-11-02T10:00:00Z"}
    dec = {"status": "resolved", "closed_at": "2026-12-24T08:00:00Z"}
    with Store(tmp_path) as s:
        s.put("conversations", "c1", nov)
        s.put("conversations", "c2", dec)
        s.put("conversations", "c3", {"status": "open"})
        s.put("mentions", "demo|1", doc(1, created_at="2026-11-01T09:00:00Z"))
        s.archive(
            {
                "conversations": {"c1": nov, "c2": dec},
                "mentions": {"demo|1": doc(1, created_at="2026-11-01T09:00:00Z")},
            }
        )
        assert s.stats()["archive_files"] == ["archive/2026-11.json", "archive/2026-12.json"]
        assert s.stats()["tables"] == {"conversations": 1, "mentions": 0}
        # Re-archiving replaces, in place.
        s.archive({"conversations": {"c1": {**nov, "note": "again"}}})
        s.archive({"events": {"e1": {"kind": "resolve"}}}, month="2025-01")
    with Store(tmp_path) as s:
        assert s.load() == {"conversations": {"c3": {"status": "open"}}, "mentions": {}}
        convs = dict(s.archived_items("conversations"))
        assert convs == {"c1": {**nov, "note": "again"}, "c2": dec}
        assert list(s.archived("mentions")) == [doc(1, created_at="2026-11-01T09:00:00Z")]
        assert list(s.archived("events")) == [{"kind": "resolve"}]
        assert list(s.archived("drafts")) == []
        with pytest.raises(ValueError, match="2026-11"):
            s.archive({"events": {}}, month="November")
    db = TinyDB(tmp_path / "archive" / "2026-11.json")
    try:
        assert len(db.table("conversations").all()) == 1
    finally:
        db.close()


def test_archived_prefers_the_newest_month_for_a_key(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.archive({"conversations": {"c1": {"v": "old"}}}, month="2026-10")
        s.archive({"conversations": {"c1": {"v": "new"}}}, month="2026-11")
        assert list(s.archived("conversations")) == [{"v": "new"}]


def test_broken_archive_file_is_repaired_on_the_next_archive(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.archive({"conversations": {"c1": {"v": 1}}}, month="2026-11")
    path = tmp_path / "archive" / "2026-11.json"
    path.write_bytes(path.read_bytes() + b"}garbage")
    with Store(tmp_path) as s:
        assert list(s.archived("conversations")) == [{"v": 1}]
        assert any("archive/2026-11.json did not parse" in n for n in s.recovered)
        s.archive({"conversations": {"c2": {"v": 2}}}, month="2026-11")
        assert dict(s.archived_items("conversations")) == {"c1": {"v": 1}, "c2": {"v": 2}}
    assert len(list((tmp_path / "archive").glob("2026-11.json.broken-*"))) == 1


# -- stats, needs_checkpoint, default dir ------------------------------------------------------


def test_stats_and_needs_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "CHECKPOINT_OPS", 3)
    with Store(tmp_path) as s:
        for i in range(3):
            s.put("mentions", f"demo|{i}", doc(i))
        s.flush()
        assert not s.needs_checkpoint
        s.put("mentions", "demo|3", doc(3))
        s.flush()
        st = s.stats()
        assert s.needs_checkpoint and st["needs_checkpoint"]
        assert st["tables"] == {"mentions": 4}
        assert st["journal_ops"] == 4
        assert st["journal_bytes"] == (tmp_path / "journal.jsonl").stat().st_size
        assert st["data_dir"] == str(tmp_path)
        s.checkpoint(s.load)
        assert not s.needs_checkpoint
        assert s.stats()["snapshot_bytes"] == (tmp_path / "desk.json").stat().st_size


def test_default_data_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTIONDESK_DATA_DIR", str(tmp_path / "desk"))
    assert default_data_dir() == tmp_path / "desk"
    monkeypatch.setenv("MENTIONDESK_DATA_DIR", "")
    assert default_data_dir() == Path(platformdirs.user_data_dir("mentiondesk", appauthor=False))
    monkeypatch.delenv("MENTIONDESK_DATA_DIR")
    assert default_data_dir().name == "mentiondesk"


def test_data_dir_that_is_a_file_gets_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is not a directory"):
        Store(tmp_path / "file")


# -- the lock --------------------------------------------------------------------------------


def hold_lock(data_dir: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), "hold", str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["locked"], f"child failed: {proc.wait()}"
    return proc, int(line[1])


@pytest.mark.timeout(30)
def test_second_process_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    proc, pid = hold_lock(tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        with pytest.raises(StoreLocked) as info:
            Store(tmp_path)
        assert str(info.value) == (
            f"another mentiondesk (pid {pid}) is using {tmp_path}; quit it first or use --data-dir"
        )
        assert info.value.pid == pid
        proc.stdin.write("close\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "closed"
        with Store(tmp_path) as s:  # the child is still running: close() released the lock
            assert s.recovered == []
            assert (tmp_path / "lock").read_text().strip() == str(os.getpid())
    finally:
        proc.stdin.close()
        proc.wait()
        proc.stdout.close()


@pytest.mark.timeout(30)
def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    proc, _pid = hold_lock(tmp_path)
    with pytest.raises(StoreLocked):
        Store(tmp_path)
    proc.kill()
    proc.wait()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.stdout.close()
    with Store(tmp_path) as s:
        assert s.load() == {}


def test_second_store_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path):
        with pytest.raises(StoreLocked, match="quit it first"):
            Store(tmp_path)
    Store(tmp_path).close()


def previous_line(op: dict) -> bytes:
    """A journal line exactly as the store wrote it before issue 8 (json.JSONEncoder.encode)."""
    payload = json.JSONEncoder(ensure_ascii=True, allow_nan=False,
                               separators=(",", ":")).encode(op).encode("ascii")
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


ODD_DOCS = [
    {"text": "caf\u00e9 \U0001f600 \u202e \x00 \ud800 \"quoted\" \\ back", "n": -0.0},
    {"score": 1e-300, "big": 10**30, "f": 3.14159, "t": True, "none": None},
    {"nested": {"a": [1, [2, {"b": []}], {}], "": ""}, "list": list(range(5))},
    {"author": {"handle": "amy", "followers": 0}, "contacts": ["2025-03-04T09:00:00Z"]},
]


def test_journal_lines_are_byte_equal_to_the_previous_encoding(tmp_path: Path) -> None:
    """The journal encoder was made cheaper (issue 8): the bytes written must not change, so
    data dirs written before and after read the same."""
    with Store(tmp_path) as s:
        for i, d in enumerate(ODD_DOCS):
            s.put("mentions", f"demo|{i}", d)
        s.delete("mentions", "demo|3")
        s.flush()
    expected = [previous_line({"s": i + 1, "t": "mentions", "k": f"demo|{i}", "d": d})
                for i, d in enumerate(ODD_DOCS)]
    expected.append(previous_line({"s": 5, "t": "mentions", "k": "demo|3", "x": 1}))
    assert journal_lines(tmp_path) == expected


def test_a_journal_written_by_the_previous_version_loads(tmp_path: Path) -> None:
    with Store(tmp_path) as s:  # the empty data dir layout of this version
        pass
    (tmp_path / "journal.jsonl").write_bytes(b"".join(
        previous_line({"s": i + 1, "t": "mentions", "k": f"demo|{i}", "d": d})
        for i, d in enumerate(ODD_DOCS)))
    with Store(tmp_path) as s:
        assert s.load()["mentions"] == {f"demo|{i}": d for i, d in enumerate(ODD_DOCS)}
        s.put("mentions", "demo|9", {"n": 9})  # and appends after it
        s.flush()
    with Store(tmp_path) as s:
        assert s.load()["mentions"]["demo|9"] == {"n": 9}


def test_a_document_that_contains_itself_is_refused(tmp_path: Path) -> None:
    loop: dict = {"n": 1}
    loop["self"] = loop
    with Store(tmp_path) as s:
        with pytest.raises(TypeError, match=re.escape("mentions/demo|1 is not plain JSON")):
            s.put("mentions", "demo|1", {"a": [loop]})
        s.put("mentions", "demo|2", {"n": 2})  # nothing half-written before it
        s.flush()
    assert len(journal_lines(tmp_path)) == 1
