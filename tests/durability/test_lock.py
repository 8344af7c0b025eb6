"""The data directory lock survives the common habit of deleting a "stale" lock file, and a
symlinked lock file never makes the store write through the link."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Clock
from conftest import new_desk as make_desk

from tests.deskkit import mention
from tui.cli import main
from tui.core.desk import NotSaving
from tui.core.store import Store, StoreError, StoreLocked, StoreLockLost
from tui.setup.boot import close_desk

CHILD = ROOT / "tests" / "helpers" / "lock_child.py"


class Child:
    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(CHILD), str(data_dir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.first = self.proc.stdout.readline().strip()

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> str:
        out, _err = self.proc.communicate(timeout=30)
        return out


def test_a_deleted_lock_lets_no_second_writer_in_and_stops_the_first(tmp_path: Path) -> None:
    data = tmp_path / "desk"
    first = Child(data)
    assert first.first.startswith("locked ")
    assert first.ask("put a") == "ok a"
    (data / "lock").unlink()  # "it looked stale"
    second = Child(data)
    assert second.first.startswith("refused another mentiondesk"), second.first
    second.close()
    # The first process notices before its next write and stops with a clear message.
    answer = first.ask("put b")
    assert answer.startswith("error NOT SAVING — the lock file") and "deleted or replaced" in answer
    assert first.ask("checkpoint").startswith("error NOT SAVING — the lock file")
    first.close()
    with Store(data) as store:  # after both are gone: exactly what was acknowledged
        assert set(store.load()["notes"]) == {"a"}


def test_a_replaced_lock_file_stops_writes_and_refuses_actions(tmp_path: Path) -> None:
    store = Store(tmp_path)
    desk = make_desk(store, Clock())
    conv = desk.ingest([mention("@northline refund please, cancelled train", "amy")])[0].conv_id
    (tmp_path / "lock").unlink()
    (tmp_path / "lock").write_text("12345\n")  # another process's lock, a new inode
    store.put("notes", "x", {})
    with pytest.raises(StoreLockLost):
        store.flush()
    with pytest.raises(NotSaving, match="deleted or replaced"):
        desk.note(conv, "are we there yet")
    with pytest.raises(StoreLockLost):
        desk.checkpoint()
    assert "the lock file" in desk.not_saving
    assert desk.ingest([mention("@northline hello again", "bob")])[0].saved is False
    problems = close_desk(desk, checkpoint=True)
    assert len(problems) == 1 and "deleted or replaced" in problems[0]
    assert (tmp_path / "lock").read_text() == "12345\n"  # never touched the other's lock


def test_a_symlinked_lock_never_overwrites_its_target(tmp_path: Path, capsys) -> None:
    data = tmp_path / "desk"
    Store(data).close()  # a real desk (commands refuse a directory that holds none)
    (data / "lock").unlink(missing_ok=True)
    target = tmp_path / "precious.txt"
    target.write_text("do not touch\n")
    (data / "lock").symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        Store(data)
    assert target.read_text() == "do not touch\n"
    code = main(["queue", "--data-dir", str(data)])
    _out, err = capsys.readouterr()
    assert code == 2 and "symbolic link" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert target.read_text() == "do not touch\n"


def test_the_lock_still_refuses_a_second_writer_in_process(tmp_path: Path) -> None:
    with Store(tmp_path), pytest.raises(StoreLocked):
        Store(tmp_path)
