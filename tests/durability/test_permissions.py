"""Permissions: a read-only journal, an unreadable lock, a data directory the user cannot
write give one clear line and exit code 2 (tui/cli/common.py), never a traceback; files are
created 0600 and directories 0700; a data directory other users can read gets a warning with
the chmod fix.

Root ignores permission bits, so as root (CI: .ci/run) the command runs as another uid (65534)
with ``setpriv``; as an ordinary user the bits already apply and it runs as that user.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Clock, new_desk

from tests.deskkit import mention
from tui.cli import main
from tui.core.store import Store

ROOTED = os.geteuid() == 0
OTHER = 65534 if ROOTED else os.getuid()


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory the other uid can reach (pytest's tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="md-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_other(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tui.cli", *args]
    if ROOTED:
        cmd = ["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": "/nonexistent"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def make_dir(data: Path) -> str:
    desk = new_desk(Store(data), Clock())
    conv = desk.ingest([mention("@northline refund please, train cancelled", "amy")])[0]
    desk.store.close()
    for p in [data, *data.rglob("*")]:
        os.chown(p, OTHER, OTHER)
    return conv.conv_id


def one_clear_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mentiondesk: ")
    for word in words:
        assert word in lines[0], lines[0]


def test_a_read_only_journal_is_one_line_exit_2(base: Path) -> None:
    data = base / "d"
    conv = make_dir(data)
    (data / "journal.jsonl").chmod(0o400)
    done = as_other("note", conv, "hello", "--data-dir", str(data))
    one_clear_line(done, "journal.jsonl", "Permission denied", "chmod 700")


def test_an_unreadable_lock_is_one_line_exit_2(base: Path) -> None:
    data = base / "d"
    make_dir(data)
    lock = data / "lock"
    lock.write_text("")
    os.chown(lock, 0 if ROOTED else OTHER, 0 if ROOTED else OTHER)
    lock.chmod(0o000)
    done = as_other("queue", "--data-dir", str(data))
    one_clear_line(done, "lock", "Permission denied")


def test_a_data_dir_without_write_permission_is_one_line_exit_2(base: Path) -> None:
    data = base / "d"
    make_dir(data)
    (data / "lock").unlink(missing_ok=True)
    data.chmod(0o500)
    done = as_other("queue", "--data-dir", str(data))
    one_clear_line(done, "Permission denied")
    # A report only reads (no lock): it still works there.
    report = as_other("report", "--since", "5000d", "--data-dir", str(data))
    assert report.returncode == 0, report.stderr


def test_a_missing_data_dir_under_a_read_only_parent_is_one_line(base: Path) -> None:
    parent = base / "ro"
    parent.mkdir(mode=0o555)
    # ingest starts a desk (reads never create one: they say "no desk" and exit 1)
    done = as_other("ingest", "--source", "demo", "--once", "--data-dir", str(parent / "d"))
    one_clear_line(done, "Permission denied")


def test_files_are_created_0600_and_directories_0700(tmp_path: Path, capsys) -> None:
    from tui.console.app import QuietFileHandler

    old = os.umask(0o022)
    try:
        data = tmp_path / "fresh" / "d"
        desk = new_desk(Store(data), Clock())
        conv = desk.ingest([mention("@northline refund please", "amy")])[0].conv_id
        desk.resolve(conv)
        desk.checkpoint()
        desk.store.archive({"conversations": {"x": {"closed_at": "2025-03-01T00:00:00Z"}}},
                           month="2025-03")
        desk.store.close()
        handler = QuietFileHandler.open(data / "console.log")
        handler.close()
    finally:
        os.umask(old)
    for p in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        want = 0o700 if p.is_dir() else 0o600
        assert mode == want, (p.name, oct(mode))


def test_a_group_readable_data_dir_gets_a_warning_with_the_fix(tmp_path: Path,
                                                               capsys) -> None:
    data = tmp_path / "d"
    data.mkdir()
    Store(data).close()  # a desk: reads never create one
    data.chmod(0o755)
    assert main(["queue", "--data-dir", str(data)]) == 0
    _out, err = capsys.readouterr()
    assert f"warning: {data} can be read by other users (mode 0755)" in err
    assert f"chmod 700 {data}" in err
    data.chmod(0o700)
    main(["queue", "--data-dir", str(data)])
    assert "warning" not in capsys.readouterr()[1]


def test_a_mocked_permission_error_on_open_is_one_line(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    """Where switching users is impossible the same path is taken by a PermissionError."""
    data = tmp_path / "d"
    Store(data).close()
    real_open = os.open

    def refusing(path, flags, *a, **kw):
        if str(path).endswith("journal.jsonl") and flags & os.O_WRONLY:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", refusing)
    code = main(["queue", "--data-dir", str(data)])
    _out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "Permission denied" in err
