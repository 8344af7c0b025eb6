"""The durable store: a TinyDB snapshot of the hot tables plus an fsynced append-only journal.

TinyDB rewrites its whole file on every write and a crash mid-write leaves a file that no longer
parses, so the desk keeps its live state in memory and this module makes durability explicit:

* ``put``/``delete`` append a record to an in-memory buffer; ``flush`` writes the buffer to
  ``journal.jsonl`` with one write and one fsync.  **The promise: once ``flush()`` has returned,
  those changes survive ``kill -9`` (and power loss, as far as the disk honours fsync).**
* ``checkpoint`` writes the full hot tables as a TinyDB database to a temp file, fsyncs it, moves it
  onto ``desk.json`` with ``os.replace`` and only then empties the journal.  The snapshot records
  the journal sequence number it includes, so a crash between the replace and the truncate
  replays nothing twice.
* ``begin_checkpoint`` does the same without blocking the caller (a running desk's event loop):
  the journal is sealed (renamed ``journal-<seq>.jsonl``, a fresh ``journal.jsonl`` takes the
  next changes at once) and a thread writes the snapshot at that seq from the files — the old
  snapshot streamed a document at a time plus the sealed segments — then the archive files, then
  renames the snapshot into place; the sealed segments are deleted only after that.  Recovery
  reads the snapshot, every sealed segment, then the journal.
* ``archive`` moves handled conversations into monthly TinyDB files (``archive/2026-11.json``)
  so the hot snapshot stays small; each archive file is rewritten whole through a temp file too.
* On start the store takes an exclusive lock on the data dir, repairs what a crash can leave
  behind and says what it did in ``recovered`` (empty when the start was clean).
* ``Store(data_dir, read_only=True)`` is for reports while the console runs: no lock, never writes
  a byte; it reads the snapshot and then the journal, and reads again if a checkpoint happened in
  between (see ``_read_consistent``).  What a writer would repair is only reported.
* Reports read the archive with ``archive_parts``/``archived_tables``: each file parsed once, and
  files older than the report's window skipped (the desk files a conversation whole under the
  month of its last activity, so an older file holds nothing that happened in the window).

Journal lines are ``<crc32 hex> <json>``: the checksum makes a torn or damaged line detectable.
Snapshot and archive files are plain TinyDB JSON: ``TinyDB("desk.json").table("mentions")`` works,
each document carrying its store key in the ``_k`` field, and the ``_store`` table holding the
journal sequence number.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import gc
import itertools
import json
import os
import re
import stat
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .model import iso

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SNAPSHOT = "desk.json"
JOURNAL = "journal.jsonl"
# A sealed journal segment: ``journal.jsonl`` renamed when a background checkpoint starts, named
# by the last sequence number it can hold; dropped once a snapshot with that seq is durable.
SEGMENT = "journal-{:012d}.jsonl"
_SEGMENT = re.compile(r"journal-(\d{12})\.jsonl\Z")
LOCK = "lock"
ARCHIVE = "archive"
TMP_SUFFIX = ".tmp"
KEY_FIELD = "_k"  # the store key of a document inside a TinyDB file
META_TABLE = "_store"  # TinyDB table holding the snapshot's own record (format, journal seq)
FORMAT = 1
# Archive file meta flag: every document in the file was archived with ``month=`` (the desk's
# whole-conversation layout).  Files without it (per-document months, written before that
# layout) may hold parts of conversations whose other documents sit in other months' files.
GROUPED = "grouped"
NEWEST = "newest"  # archive file meta: the newest time any document in the file carries
# The document fields that say when something happened (for NEWEST): every field the reports
# filter a window by (mention created_at, event at, header created_at/closed_at, post times).
TIME_FIELDS = ("closed_at", "resolved_at", "updated_at", "created_at", "at", "received_at",
               "sent_at")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
READ_ATTEMPTS = 20  # read-only: re-reads when a checkpoint raced the read

AUTO_FLUSH_OPS = 512  # bounded memory when a caller forgets to flush
CHECKPOINT_BYTES = 32 * 1024 * 1024
CHECKPOINT_OPS = 200_000

# Which document field decides the month of an archived document, first present wins.
ARCHIVE_TIME_FIELDS = ("closed_at", "resolved_at", "updated_at", "created_at", "at")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_MONTH_NAME = re.compile(r"\d{4}-\d{2}\Z")

# ASCII output: files stay readable by TinyDB under any locale, lone surrogates survive.
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))
# The same encoding for journal lines, built once: ``JSONEncoder.encode`` builds a new C
# encoder (and a dict of ids for the circular-reference check) on every call, a fifth of the
# cost of a mention-sized line.  Desk documents are trees, so the check is not needed; a cycle
# still fails (RecursionError, reported like any other unencodable document).  Arguments:
# markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys,
# allow_nan (json/encoder.py, JSONEncoder.iterencode).
_JOURNAL_ENCODE = (
    c_make_encoder(None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", False, False,
                   False)
    if c_make_encoder is not None else None
)

Tables = dict[str, dict[str, dict[str, Any]]]


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""


class StoreNotSaving(StoreError):
    """A write failed (disk full, quota, I/O error, lock lost): the changes are still in memory.

    ``state`` is the one line the status bar and ``ingest`` show ("NOT SAVING — disk full (free
    3 MB)"); ``pending`` the number of changes held in memory; ``errno`` the OS error number
    (None when the lock was lost).  The store keeps the changes and writes them on the next
    ``flush`` that succeeds.
    """

    def __init__(self, state: str, detail: str, pending: int, err: int | None) -> None:
        super().__init__(f"{state}: {detail}" if detail else state)
        self.state = state
        self.pending = pending
        self.errno = err


class StoreLockLost(StoreNotSaving):
    """The lock file was deleted or replaced while this process held it: another process may
    be writing the same data directory, so this one stops writing (restart it)."""


class StoreLocked(StoreError):
    """Another process holds the data directory."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another mentiondesk ({who}) is using {data_dir}; quit it first or use --data-dir"
        )


class FileOps:
    """The few system calls the store writes through; tests inject a subclass that fails them
    (``tests/durability/test_disk_full.py``) to check that nothing acknowledged is lost."""

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        _fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)


# Disk-full errors name the free space; others their strerror.
_SPACE_ERRORS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def describe_write_error(exc: OSError, where: Path) -> str:
    """The status line for a failed write: ``NOT SAVING — disk full (free 3 MB)``."""
    if exc.errno in _SPACE_ERRORS:
        try:
            st = os.statvfs(where)
            free = f"free {st.f_bavail * st.f_frsize // (1024 * 1024)} MB"
        except OSError:
            free = "free space unknown"
        what = "quota exceeded" if exc.errno == getattr(errno, "EDQUOT", None) else "disk full"
        return f"NOT SAVING — {what} ({free})"
    return f"NOT SAVING — write error ({exc.strerror or exc})"


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk read (thread-safe, nestable).

    Parsing a 100 MB archive file makes millions of dicts, and every few thousand of them the
    collector walks everything alive: measured here, that tripled the time of JSON parsing and
    of building report records.  Parsed JSON holds no cycles (reference counting frees it), so
    nothing piles up while paused.  On leaving, what was built is frozen (``gc.freeze``): out
    of later collections, so the first one does not walk it all.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                # What was built while paused would all be the collector's youngest generation:
                # its first run after this would walk every object (seconds at 100,000
                # conversations).  Built in bulk, it is long-lived: leave it out of collections
                # (reference counting still frees it).
                gc.freeze()
                gc.enable()


def cache_root() -> Path:
    """``$MENTIONDESK_CACHE_DIR`` if set, else the platform's per-user cache directory
    (``~/.cache/mentiondesk`` on Linux, ``$XDG_CACHE_HOME`` honoured).  What is kept there
    (bank holidays, desk state images) is derived and may be deleted at any time."""
    env = os.environ.get("MENTIONDESK_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mentiondesk", appauthor=False))


def process_running(pid: int) -> bool:
    """True while process ``pid`` runs: it exists (another user's counts) and is not a zombie
    (an exited child not yet reaped; read from Linux's /proc, assumed running without it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def default_data_dir() -> Path:
    """``$MENTIONDESK_DATA_DIR`` if set, else the platform's per-user data directory."""
    env = os.environ.get("MENTIONDESK_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("mentiondesk", appauthor=False))


class Store:
    """One writer's durable view of the desk's tables (see the module docstring for the promise).

    Not for concurrent use by several threads doing independent work: calls are serialised by a
    lock so a worker thread may call ``checkpoint`` while the main thread keeps putting (the
    puts wait for the checkpoint).
    """

    def __init__(self, data_dir: Path | str, *, read_only: bool = False,
                 io: FileOps | None = None, image: dict[str, Any] | None = None) -> None:
        """``image``: the ``image_fingerprint`` a state image was written against
        (``tui.core.image``).  When the files still match it exactly (same snapshot file,
        empty journal, no sealed segment, nothing left by a crash), the snapshot is not read:
        ``from_image`` is True and the caller builds the desk from the image, or calls
        ``recover_now`` when the image turns out unusable.  Otherwise the normal recovery."""
        self.data_dir = Path(data_dir).expanduser()
        self.read_only = read_only
        self.io = io or FileOps()
        self.recovered: list[str] = []
        # Things to fix that are not damage (a data dir other users can read), with the fix.
        self.warnings: list[str] = []
        # None while writes succeed; else the NOT SAVING line (see StoreNotSaving).
        self.fault: str | None = None
        self._lock_lost: str | None = None
        self._lock_id: tuple[int, int] | None = None
        # Checked before every flush (``_check_lock``): the path is built once, not per flush.
        self._lock_file = os.fspath(self.data_dir / LOCK)
        self._tail_ok = True  # the journal ends where the last good flush ended
        # Buffered changes written (and fsynced) without waiting for flush(): bounded memory
        # when a caller forgets to flush.  A bulk caller that flushes on its own schedule may
        # raise it for a while (the archive's deletes: one fsync per half second, not per 512).
        self.auto_flush_ops = AUTO_FLUSH_OPS
        self.snapshot_at: datetime | None = None  # when the snapshot read on start was written
        self._mutex = threading.RLock()
        self._buffer: list[bytes] = []
        self._bg: _Background | None = None  # the background checkpoint running, if any
        # None, or why the last background checkpoint failed (the journal still holds it all).
        self.checkpoint_error: str | None = None
        self._closed = True
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise StoreError(f"data dir {self.data_dir} exists but is not a directory")
        self._snapshot = self.data_dir / SNAPSHOT
        self._journal = self.data_dir / JOURNAL
        self._archive = self.data_dir / ARCHIVE
        self._seq = self._snapshot_seq = self._journal_bytes = self._journal_ops = 0
        self._keys: dict[str, set[str]] = {}
        self._initial: Tables | None = None  # the recovered state, until load() takes it
        self.from_image = False  # the snapshot was not read: a state image stands for it
        if read_only:
            if self.data_dir.is_dir():
                self._check_mode()
            # No lock, no journal fd, no directory created: a missing data dir is an empty desk.
            self._lock_fd = self._jfd = self._dir_fd = -1
            self._initial = self._read_consistent()
            self._closed = False
            return
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._check_mode()
        self._lock_fd, self._dir_fd = _take_lock(self.data_dir)
        st = os.fstat(self._lock_fd)
        self._lock_id = (st.st_dev, st.st_ino)
        self._jfd = -1
        try:
            if image is not None and self._matches_image(image):
                self.from_image = True
                self._seq = self._snapshot_seq = int(image["seq"])
                self.snapshot_at = _parse_iso(image.get("at"))
            else:
                self._initial = self._recover()
            created = not self._journal.exists()
            self._jfd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if created:
                _fsync_dir(self.data_dir)
        except BaseException:
            if self._jfd >= 0:
                os.close(self._jfd)
            _release_lock(self._lock_fd)
            _release_lock(self._dir_fd)
            raise
        self._closed = False

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> Tables:
        """table -> key -> document: the snapshot with every later journal change applied."""
        with self._mutex:
            self._check_open()
            if self._initial is not None:
                # The state recovery already built; hand it over once instead of reading twice.
                tables, self._initial = self._initial, None
                return tables
            if self.read_only:
                return self._read_consistent()
            self._flush_locked()
            self._stop_background()  # its thread may be replacing desk.json
            tables, meta, _notes = _read_tinydb(self._snapshot, strict=True)
            for _last, path in self._segments():
                ops, _end, _damaged = _scan_journal(_read_bytes(path))
                _apply(tables, ops, int(meta.get("seq", 0)))
            ops, _end, _damaged = _scan_journal(_read_bytes(self._journal))
            _apply(tables, ops, int(meta.get("seq", 0)))
            return tables

    def recover_now(self) -> Tables:
        """The state from the files, after a start that trusted a state image which then
        could not be read (``from_image``): the recovery a normal start does."""
        with self._mutex:
            self._check_open()
            if not self.from_image:
                return self.load()
            self.from_image = False
            return self._recover()

    def adopt_keys(self, keys: dict[str, set[str]]) -> None:
        """The keys each table holds, from a desk built from a state image (``stats``): the
        tables named in ``keys`` are set, the others kept (an image's later part adopts its
        tables when it is read, ``Desk.load_later``)."""
        with self._mutex:
            self._keys.update(keys)

    def image_fingerprint(self) -> dict[str, Any] | None:
        """What a state image written now must find on the next start (``Store(image=...)``):
        the snapshot's seq and checkpoint time and its file's identity, size and mtime.  None
        when the files are not in that simple state (changes in the journal, sealed segments,
        a checkpoint running or left behind): then no image may be written."""
        with self._mutex:
            if self._closed or self.read_only or self._buffer or self._bg is not None:
                return None
            fp = self._quick_fingerprint()
            return fp if fp is not None and fp["seq"] == self._seq else None

    def _quick_fingerprint(self) -> dict[str, Any] | None:
        return files_fingerprint(self.data_dir)

    def _matches_image(self, image: dict[str, Any]) -> bool:
        try:
            return self._quick_fingerprint() == image
        except OSError:
            return False

    # -- writing -------------------------------------------------------------------------------

    def put(self, table: str, key: str, doc: dict[str, Any]) -> None:
        """Record ``doc`` under ``key``; durable after the next ``flush``.

        The document is serialised now, so later changes to the dict are not recorded.
        """
        self._check_writable("put")
        _check_table(table)
        _check_key(key)
        if not isinstance(doc, dict):
            raise TypeError(f"store.put({table!r}, {key!r}): document must be a dict")
        if KEY_FIELD in doc:
            raise ValueError(f"store.put({table!r}, {key!r}): field {KEY_FIELD!r} is reserved")
        self._append(table, key, {"t": table, "k": key, "d": doc})

    def delete(self, table: str, key: str) -> None:
        """Remove ``key`` from ``table``; durable after the next ``flush``."""
        self._check_writable("delete")
        _check_table(table)
        _check_key(key)
        self._append(table, key, {"t": table, "k": key, "x": 1})

    def flush(self) -> None:
        """Write the buffered changes with one write + fsync; after it they survive kill -9."""
        self._check_writable("flush")
        with self._mutex:
            self._check_open()
            self._flush_locked()

    def checkpoint(self, dump: Callable[[], Tables]) -> None:
        """Write ``dump()`` (the full hot tables, including every change put so far) as the new
        snapshot, atomically, then empty the journal.  A crash at any point loses nothing."""
        self._check_writable("checkpoint")
        self._stop_background()
        with self._mutex:
            self._check_open()
            self._flush_locked()
            tables = dump()
            _check_tables(tables)
            seq = self._seq
            self._check_lock()
            with self._writing(self._snapshot):
                _write_tinydb(self._snapshot, tables, {"format": FORMAT, "seq": seq, "at": _now()},
                              self.io)
            self._snapshot_seq = seq
            self.checkpoint_error = None
            _drop_segments(self.data_dir, self._segments(), seq)
            # Only now is the journal redundant; if we die before this line, replay skips
            # everything with seq <= the snapshot's seq.  So a failure to empty it loses
            # nothing either: the records stay, are skipped, and the next checkpoint retries.
            try:
                self.io.ftruncate(self._jfd, 0)
                self._journal_bytes = 0
                self._journal_ops = 0
                self._tail_ok = True
                self.io.fsync(self._jfd)
            except OSError:
                pass
            self._keys = {name: set(docs) for name, docs in tables.items()}

    def archive(self, tables: Tables, *, month: str | None = None) -> None:
        """Move documents out of the hot tables into monthly archive files.

        Each document goes to ``archive/YYYY-MM.json`` by ``month`` if given, else by the first of
        ``ARCHIVE_TIME_FIELDS`` it has (ISO timestamps), else the current month.  Re-archiving a
        key replaces it.  Once the archive files are safely written, the keys are deleted from
        the hot tables (journalled and flushed); the caller must drop them from the state its
        ``checkpoint`` dump returns too.

        Giving ``month`` promises what the desk does: ``tables`` holds whole conversations
        whose last activity was in that month.  Readers with a window rely on it to skip the
        files of earlier months (see ``archive_parts``); a file ever written without ``month``
        is read by every report.  Each file also records the newest time any of its documents
        carries (``TIME_FIELDS``), so a report on the last hours skips files with nothing newer.
        """
        self._check_writable("archive")
        _check_tables(tables)
        self._stop_background()  # it may be writing the same month files
        if month is not None and not _MONTH_NAME.match(month):
            raise ValueError(f"archive month must look like 2026-11, not {month!r}")
        with self._mutex:
            self._check_open()
            by_file: dict[str, Tables] = {}
            for table, docs in tables.items():
                for key, doc in docs.items():
                    m = month or _month_of(doc)
                    by_file.setdefault(m, {}).setdefault(table, {})[key] = doc
            self._flush_locked()  # a full disk refuses here, before any archive file changes
            self._check_lock()
            if by_file and not self._archive.exists():
                self._archive.mkdir(mode=0o700)
                _fsync_dir(self.data_dir)
            for m, content in sorted(by_file.items()):
                path = self._archive / f"{m}.json"
                existing, old_meta, notes = _read_tinydb(path, strict=False)
                self.recovered.extend(notes)
                # Grouped stays true only while every write to the file named its month.
                had_docs = any(existing.values())
                grouped = month is not None and (not had_docs or old_meta.get(GROUPED) is True)
                try:
                    old = (_parse_iso(old_meta.get(NEWEST)) or _newest(existing)
                           if had_docs else None)
                    newest = max(filter(None, (old, _newest(content))), default=None)
                except ValueError:
                    newest = None  # a time we cannot read: never skip this file by time
                for table, docs in content.items():
                    existing.setdefault(table, {}).update(docs)
                meta = {"format": FORMAT, "month": m, "at": _now(), GROUPED: grouped,
                        NEWEST: iso(newest)}
                with self._writing(path):
                    _write_tinydb(path, existing, meta, self.io)
            for table, docs in tables.items():
                for key in docs:
                    self._append(table, key, {"t": table, "k": key, "x": 1})
            self._flush_locked()

    def archived(self, table: str) -> Iterator[dict[str, Any]]:
        """The archived documents of ``table`` (the newest archived version of each key)."""
        yield from self.archived_tables((table,))[table].values()

    def archived_items(self, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, document) pairs from every archive file, newest month first."""
        yield from self.archived_tables((table,))[table].items()

    def archived_tables(self, tables: Iterable[str], *, since: datetime | None = None
                        ) -> Tables:
        """table -> key -> document for each of ``tables``, every archive file parsed once.

        A key archived in several months gives its newest month's document; keys come newest
        month first.  ``since``: skip the files that hold nothing that happened since then
        (see ``archive_parts``).
        """
        wanted = _wanted(tables)
        out: Tables = {t: {} for t in wanted}
        files = [p for _name, group in self._archive_plan(since) for p in group]
        for path in sorted(files, reverse=True):
            content = self._read_archive_file(path, wanted)
            for table, docs in content.items():
                merged = out[table]
                for key, doc in docs.items():
                    merged.setdefault(key, doc)
        return out

    def archive_parts(self, tables: Iterable[str], *, since: datetime | None = None
                      ) -> Iterator[tuple[str, Tables]]:
        """The archive one part at a time, oldest first: ``(month, table -> key -> document)``.

        A part is one month's file, holding whole conversations; each file is parsed once and
        the caller drops it before the next is read, so reports stream through the archive.
        Files written before the desk archived whole conversations spread a conversation over
        several months: they come first, merged into one part named ``"mixed"`` (newest file
        wins for a key).  A key archived again in a later month appears in both parts.

        ``since`` skips, without parsing them, the files that cannot hold anything that
        happened at or after it: the months before ``since``'s month (the desk archives a
        conversation in the month of its last activity) and the files whose newest document
        time is older than ``since``.
        """
        wanted = _wanted(tables)
        for name, group in self._archive_plan(since):
            if len(group) == 1:
                yield name, self._read_archive_file(group[0], wanted)
                continue
            merged: Tables = {t: {} for t in wanted}
            for path in sorted(group, reverse=True):
                for table, docs in self._read_archive_file(path, wanted).items():
                    target = merged[table]
                    for key, doc in docs.items():
                        target.setdefault(key, doc)
            yield name, merged

    def _archive_plan(self, since: datetime | None) -> Iterator[tuple[str, list[Path]]]:
        """Groups of archive files to read, oldest first (see ``archive_parts``)."""
        files = self._archive_files()
        metas = {p: _head_meta(p) for p in files}

        def before(p: Path) -> bool:  # nothing in the file happened at or after `since`
            if since is None:
                return False
            newest = _parse_iso(metas[p].get(NEWEST))
            return newest is not None and newest < since

        mixed = [p for p in files if metas[p].get(GROUPED) is not True]
        if since is not None:
            month = _as_utc(since).strftime("%Y-%m")
            # A conversation spread over these files needs all of them, unless none reaches
            # into the window.
            if all(p.stem < month or before(p) for p in mixed):
                mixed = []
        if mixed:
            yield "mixed", mixed
        for p in files:
            if metas[p].get(GROUPED) is not True or before(p):
                continue
            if since is None or p.stem >= _as_utc(since).strftime("%Y-%m"):
                yield p.stem, [p]

    def _read_archive_file(self, path: Path, wanted: tuple[str, ...]) -> Tables:
        tables, _meta, notes = _read_tinydb(
            path, strict=False, move_aside=False, only=wanted
        )
        for note in notes:
            if note not in self.recovered:
                self.recovered.append(note)
        return {t: tables.get(t, {}) for t in wanted}

    # -- background checkpoint ---------------------------------------------------------------

    def begin_checkpoint(self, archive: ArchiveJob | None = None) -> int:
        """Start a checkpoint that never blocks the caller's event loop; returns its seq.

        Here, on the caller's thread (milliseconds): flush, then seal the journal — rename
        ``journal.jsonl`` to ``journal-<seq>.jsonl`` and start a fresh ``journal.jsonl``, so
        every later ``put`` goes to the new file while the sequence keeps growing.  A thread
        then builds the snapshot at ``seq`` from the files alone (``desk.json`` + the sealed
        segments, streamed a document at a time so the GIL changes hands often), writes the
        ``archive`` job's monthly files first, fsyncs and renames the snapshot, fsyncs the
        directory, and only then deletes the sealed segments.  A crash at any moment leaves
        either the old snapshot and every segment, or the new snapshot (recovery skips the
        records it holds).  Poll with :meth:`poll_checkpoint`.

        ``archive``: month -> table -> key -> document or None (None: the document as the
        files hold it at ``seq``), written into ``archive/<month>.json`` as :meth:`archive`
        does; the documents stay in the hot tables (the caller deletes them once done).

        Raises StoreNotSaving when the flush or the journal rotation fails (nothing changed),
        StoreError when one is already running.
        """
        self._check_writable("checkpoint")
        with self._mutex:
            self._check_open()
            if self._bg is not None:
                raise StoreError("a checkpoint is already running")
            self._flush_locked()
            self._check_lock()
            seq = self._seq
            self._rotate_locked(seq)
            self._bg = _Background(self, seq, self._segments(), archive or {})
            self._bg.thread.start()
            return seq

    @property
    def checkpoint_running(self) -> bool:
        """A background checkpoint is being written (see :meth:`begin_checkpoint`)."""
        return self._bg is not None

    def poll_checkpoint(self) -> CheckpointResult | None:
        """None while the background checkpoint runs (or none was started); then its result,
        once: ``missing`` lists the archive keys the files did not hold (not archived).  A
        failed one raises StoreNotSaving (``checkpoint_error`` says why; the journal segments
        stay, so nothing is lost, and the next checkpoint tries again)."""
        bg = self._bg
        if bg is None or bg.thread.is_alive():
            return None
        bg.thread.join()
        self._bg = None
        if bg.error is not None:
            exc = bg.error
            if isinstance(exc, OSError):
                self.checkpoint_error = describe_write_error(exc, self.data_dir)
                raise StoreNotSaving(
                    self.checkpoint_error,
                    f"the snapshot was not written ({exc.strerror or exc}); every change is "
                    "in the journal, the next checkpoint tries again", 0, exc.errno) from exc
            self.checkpoint_error = f"NOT SAVING — snapshot failed ({exc})"
            raise StoreNotSaving(self.checkpoint_error, str(exc), 0, None) from exc
        self.checkpoint_error = None
        with self._mutex:
            self._snapshot_seq = max(self._snapshot_seq, bg.seq)
        return CheckpointResult(bg.seq, bg.missing)

    def _stop_background(self) -> None:
        """Cancel a running background checkpoint and wait for its thread (a chunk at most)."""
        bg = self._bg
        if bg is None:
            return
        bg.cancel.set()
        bg.thread.join()
        self._bg = None

    def _segments(self) -> list[tuple[int, Path]]:
        """The sealed journal segments, oldest first: (last seq it may hold, path)."""
        out = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.data_dir):
                m = _SEGMENT.match(entry.name)
                if m:
                    out.append((int(m[1]), Path(entry.path)))
        return sorted(out)

    def _rotate_locked(self, seq: int) -> None:
        """Seal ``journal.jsonl`` as ``journal-<seq>.jsonl`` and open a fresh one (flushed
        first by the caller).  Nothing to seal: nothing done.  Raises StoreNotSaving."""
        if self._journal_bytes == 0 and os.fstat(self._jfd).st_size == 0:
            return
        sealed = self.data_dir / SEGMENT.format(seq)
        with self._writing(sealed):
            self.io.replace(self._journal, sealed)
            try:
                fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
                             | _NOFOLLOW, 0o600)
            except OSError:
                with contextlib.suppress(OSError):
                    os.replace(sealed, self._journal)
                raise
            try:
                _fsync_dir(self.data_dir)  # the new file's name must survive before any ack
            except OSError:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(self._journal)
                    os.replace(sealed, self._journal)
                raise
        os.close(self._jfd)
        self._jfd = fd
        self._journal_bytes = self._journal_ops = 0
        self._tail_ok = True

    # -- state -------------------------------------------------------------------------------

    @property
    def needs_checkpoint(self) -> bool:
        """The journal has grown enough that start-up replay would be slow."""
        if self._bg is None and self._segments():
            return True  # sealed segments left by a failed or interrupted checkpoint
        return self._journal_bytes > CHECKPOINT_BYTES or self._journal_ops > CHECKPOINT_OPS

    def stats(self) -> dict[str, Any]:
        """Figures for the status bar and ``mentiondesk`` diagnostics."""
        with self._mutex:
            archives = self._archive_files()
            return {
                "data_dir": str(self.data_dir),
                "tables": {name: len(keys) for name, keys in sorted(self._keys.items())},
                "hot_docs": sum(len(keys) for keys in self._keys.values()),
                "snapshot_bytes": _size(self._snapshot),
                "journal_bytes": self._journal_bytes,
                "journal_ops": self._journal_ops,
                "buffered_ops": len(self._buffer),
                "archive_files": [f"{ARCHIVE}/{p.name}" for p in archives],
                "archive_bytes": sum(_size(p) for p in archives),
                "needs_checkpoint": self.needs_checkpoint,
            }

    def close(self, checkpoint: Callable[[], Tables] | None = None) -> None:
        """Flush, checkpoint with ``checkpoint`` if given, and release the data dir."""
        with self._mutex:
            if self._closed:
                return
            if self.read_only:
                self._closed = True
                self._initial = None
                if checkpoint is not None:
                    self._check_writable("checkpoint")
                return
            try:
                self._stop_background()
                self._flush_locked()
                if checkpoint is not None:
                    self.checkpoint(checkpoint)
            finally:
                self._closed = True
                os.close(self._jfd)
                _release_lock(self._lock_fd)
                _release_lock(self._dir_fd)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (the data directory is released)."""
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Store {self.data_dir} {state}>"

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store at {self.data_dir} is closed")

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise StoreError(
                f"read-only: the store at {self.data_dir} was opened for reading "
                f"(reports); it cannot {what}"
            )

    def _append(self, table: str, key: str, op: dict[str, Any]) -> None:
        with self._mutex:
            self._check_open()
            seq = self._seq + 1
            line = _encode_line({"s": seq, **op})  # raises before any change if doc is not JSON
            self._seq = seq
            self._buffer.append(line)
            if "x" in op:
                self._keys.get(table, set()).discard(key)
            else:
                self._keys.setdefault(table, set()).add(key)
            self._initial = None
            if len(self._buffer) >= self.auto_flush_ops and self.fault is None:
                with contextlib.suppress(StoreNotSaving):  # kept in memory; the fault is shown
                    self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._buffer:
            if self._lock_lost is None:
                self.fault = None  # nothing is held in memory: nothing is unsaved
            return
        self._check_lock()
        data = b"".join(self._buffer)
        try:
            if not self._tail_ok:
                # A failed write left part of a batch that could not be cut off then; the
                # journal is appended to, so cut it now or the next record would be damaged.
                self._cut_tail()
            view = memoryview(data)
            while view:
                view = view[self.io.write(self._jfd, view):]
            self.io.fsync(self._jfd)
        except OSError as exc:
            # Cut a half-written batch off again: appended after, it would become a damaged
            # line in the middle of the journal.  If even that fails, the next start cuts the
            # torn tail (it has no newline) or names the damage.
            self._tail_ok = False
            with contextlib.suppress(OSError):
                self._cut_tail()
            self.fault = describe_write_error(exc, self.data_dir)
            raise StoreNotSaving(
                self.fault,
                f"could not write {self._journal}: {exc.strerror or exc}; "
                f"{len(self._buffer)} changes are kept in memory and written as soon as "
                "a write succeeds",
                len(self._buffer), exc.errno) from exc
        self._journal_bytes += len(data)
        self._journal_ops += len(self._buffer)
        self._buffer.clear()
        self.fault = None

    def _cut_tail(self) -> None:
        """Cut the journal back to the end of the last good flush (never longer: truncating
        to a larger size would fill the gap with zeros)."""
        if os.fstat(self._jfd).st_size > self._journal_bytes:
            self.io.ftruncate(self._jfd, self._journal_bytes)
        self._tail_ok = True

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turn a failed snapshot or archive write into the NOT SAVING state."""
        try:
            yield
        except OSError as exc:
            self.fault = describe_write_error(exc, self.data_dir)
            raise StoreNotSaving(self.fault, f"could not write {path}: {exc.strerror or exc}",
                                 len(self._buffer), exc.errno) from exc

    def _check_mode(self) -> None:
        """Warn (never refuse) when other users may read or enter the data directory: it holds
        customers' messages.  The fix is given: ``chmod 700``."""
        try:
            mode = stat.S_IMODE(os.stat(self.data_dir).st_mode)
        except OSError:
            return
        if mode & 0o077:
            self.warnings.append(
                f"{self.data_dir} can be read by other users (mode {mode:04o}); it holds "
                f"customers' messages: chmod 700 {self.data_dir}")

    def _check_lock(self) -> None:
        """Before every write: the lock file must still be the one we locked (same inode).
        Deleting a "stale" lock lets a second writer in; then this process stops writing."""
        if self._lock_lost is None:
            try:
                st = os.stat(self._lock_file, follow_symlinks=False)
                same = (st.st_dev, st.st_ino) == self._lock_id
            except OSError:
                same = False
            if not same:
                self._lock_lost = (
                    f"NOT SAVING — the lock file {self.data_dir / LOCK} was deleted or replaced "
                    "while this desk held it; another mentiondesk may be writing this data "
                    "directory, so this one stopped writing: quit it (changes since then are "
                    "not saved) and start again"
                )
        if self._lock_lost is not None:
            self.fault = self._lock_lost
            raise StoreLockLost(self._lock_lost, "", len(self._buffer), None)

    @property
    def journal_ops(self) -> int:
        """Records in the journal (replayed on start; a checkpoint empties it)."""
        return self._journal_ops

    def set_aside(self, records: list[tuple[str, str, Any, str]]) -> Path | None:
        """Keep records the desk cannot use (table, key, document, why) in a side file,
        ``setaside-<UTC time>.jsonl`` in the data dir (one JSON object a line, 0600, fsynced),
        so the next snapshot does not destroy them.  Returns its path; None for a read-only
        store (it never writes) or when it cannot be written (then the records stay in place:
        the caller must not delete them)."""
        if self.read_only or not records:
            return None
        lines = []
        for table, key, doc, why in records:
            lines.append(_ENCODER.encode({"table": table, "key": key, "why": why, "doc": doc}))
        data = ("\n".join(lines) + "\n").encode("ascii")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.data_dir / f"setaside-{stamp}.jsonl"
        n = 1
        while path.exists():
            n += 1
            path = self.data_dir / f"setaside-{stamp}-{n}.jsonl"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[self.io.write(fd, view):]
                self.io.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.data_dir)
        except OSError:
            path.unlink(missing_ok=True)
            return None
        return path

    @property
    def pending(self) -> int:
        """Changes held in memory, not yet written to the journal."""
        return len(self._buffer)

    def mark(self) -> tuple[int, int]:
        """A point to ``rollback`` to: the changes buffered so far."""
        with self._mutex:
            return len(self._buffer), self._seq

    def rollback(self, mark: tuple[int, int]) -> None:
        """Forget the changes buffered since ``mark`` (an action refused because it could not
        be saved).  Only changes still in memory can be forgotten."""
        with self._mutex:
            size, seq = mark
            if len(self._buffer) < size:
                raise StoreError("store.rollback: those changes were already written")
            del self._buffer[size:]
            self._seq = seq

    def _archive_files(self) -> list[Path]:
        if not self._archive.is_dir():
            return []
        return sorted(p for p in self._archive.glob("*.json") if _MONTH_NAME.match(p.stem))

    def _read_consistent(self) -> Tables:
        """The current state, read without writing anything (the read-only store).

        The writer's checkpoint replaces ``desk.json`` and then empties the journal; between our
        read of the snapshot and our read of the journal it may have done so.  Either the
        snapshot's identity changed (we keep its file open, so its inode cannot be reused) or the
        journal starts after a gap: then we read again.  A gap that stays with the same snapshot
        is a real one and is reported as the writer would.
        """
        last_gap: tuple[Any, int] | None = None
        for _attempt in range(READ_ATTEMPTS):
            notes: list[str] = []
            try:
                fd = os.open(self._snapshot, os.O_RDONLY)
            except FileNotFoundError:
                fd = -1
            try:
                before = _identity(os.fstat(fd)) if fd >= 0 else None
                raw = _read_fd(fd) if fd >= 0 else b""
                segments = self._segments()
                sealed = [_read_bytes(path) for _last, path in segments]
                data = _read_bytes(self._journal)
                try:
                    after = _identity(os.stat(self._snapshot))
                except FileNotFoundError:
                    after = None
                segments_after = self._segments()
            finally:
                if fd >= 0:
                    os.close(fd)
            if before != after or segments != segments_after:
                continue  # a checkpoint replaced desk.json or sealed the journal while we read
            if fd >= 0:
                tables, meta, broken = _read_tinydb(
                    self._snapshot, strict=False, move_aside=False, raw=raw
                )
                notes.extend(broken)
            else:
                tables, meta = {}, {}
            snap_seq = _int(meta.get("seq"))
            self.snapshot_at = _parse_iso(meta.get("at"))
            ops, good_end, damaged = _scan_journal(data)
            sealed_ops: list[dict[str, Any]] = []
            for seg in sealed:
                seg_ops, _end, seg_damaged = _scan_journal(seg)
                sealed_ops.extend(seg_ops)
                damaged = seg_damaged + damaged
            ops = sealed_ops + ops
            later = [op for op in ops if op["s"] > snap_seq]
            if later and later[0]["s"] != snap_seq + 1 and not damaged:
                gap = (after, later[0]["s"])
                if gap != last_gap:
                    last_gap = gap
                    continue  # a race or a real gap: the next read tells
                notes.append(
                    f"journal: changes {snap_seq + 1}..{later[0]['s'] - 1} are in neither "
                    f"{SNAPSHOT} nor the journal (was a file of the data dir replaced or deleted?)"
                )
            notes.extend(self._read_only_notes(data, ops, later, good_end, damaged))
            _apply(tables, later, snap_seq)
            self.recovered = notes
            self._seq = max([snap_seq, *(op["s"] for op in ops)])
            self._snapshot_seq = snap_seq
            self._journal_bytes = good_end
            self._journal_ops = len(ops) - len(sealed_ops)
            self._keys = {name: set(docs) for name, docs in tables.items()}
            return tables
        raise StoreError(
            f"{self.data_dir} kept changing while it was read ({READ_ATTEMPTS} tries); "
            "run the command again"
        )

    def _read_only_notes(
        self,
        data: bytes,
        ops: list[dict[str, Any]],
        later: list[dict[str, Any]],
        good_end: int,
        damaged: list[tuple[int, bytes, str]],
    ) -> list[str]:
        """What a writer's recovery would have repaired, said without repairing it."""
        notes = []
        tmps = [self._snapshot.with_name(SNAPSHOT + TMP_SUFFIX)]
        if self._archive.is_dir():
            tmps += sorted(self._archive.glob("*" + TMP_SUFFIX))
        for tmp in tmps:
            if tmp.exists():
                where = tmp.name if tmp.parent == self.data_dir else f"{ARCHIVE}/{tmp.name}"
                notes.append(
                    f"{where}: a checkpoint is being written (or was cut short by a crash); ignored"
                )
        if good_end < len(data):
            tail_damage, torn = _split_tail(data, good_end)
            damaged = damaged + tail_damage
            if torn:
                notes.append(
                    f"journal: ignored {len(torn)} bytes at its end that are not a "
                    "complete record (being written right now, or left by a crash: the desk "
                    "repairs that when it starts)"
                )
        for lineno, line, why in damaged:
            notes.append(
                f"journal: line {lineno} is damaged ({why}, {len(line)} bytes) and was skipped"
            )
        if ops and not later:
            notes.append(
                f"journal: its {len(ops)} records are already in {SNAPSHOT} (a checkpoint is "
                "finishing, or was cut short by a crash); skipped"
            )
        return notes

    def _recover(self) -> Tables:
        """Repair what a crash can leave behind and build the current state."""
        note = self.recovered.append
        for tmp in [self._snapshot.with_name(SNAPSHOT + TMP_SUFFIX)]:
            if tmp.exists():
                tmp.unlink()
                note(
                    f"removed {tmp.name} left by a checkpoint interrupted by a crash "
                    "(nothing lost: the journal still holds those changes)"
                )
        if self._archive.is_dir():
            for tmp in sorted(self._archive.glob("*" + TMP_SUFFIX)):
                tmp.unlink()
                note(
                    f"removed {ARCHIVE}/{tmp.name} left by an archive write interrupted by a "
                    "crash (nothing lost: those conversations are still in the hot store)"
                )

        tables, meta, notes = _read_tinydb(self._snapshot, strict=False)
        self.recovered.extend(notes)
        snap_seq = _int(meta.get("seq"))
        self.snapshot_at = _parse_iso(meta.get("at"))
        moved_aside = bool(notes) and not self._snapshot.exists()
        if moved_aside and (tables or snap_seq):
            # Keep the part of the broken snapshot we could read: the journal only holds what
            # came after it.
            _write_tinydb(self._snapshot, tables, {**meta, "seq": snap_seq, "at": _now()})

        # Sealed segments a snapshot already holds: a checkpoint died before deleting them.
        segments = self._segments()
        stale = [(last, path) for last, path in segments if last <= snap_seq]
        if stale:
            count = sum(len(_scan_journal(_read_bytes(path))[0]) for _last, path in stale)
            note(
                f"journal: the last checkpoint was interrupted after writing {SNAPSHOT}; "
                f"its {count} journal records were already in it and were cleared "
                f"({len(stale)} sealed segment{'s' if len(stale) != 1 else ''} removed)"
            )
            _drop_segments(self.data_dir, stale, snap_seq)
        sealed_ops: list[dict[str, Any]] = []
        any_damage = False
        for _last, path in segments[len(stale):]:
            seg_ops, _end, seg_damaged = self._repair_journal_file(path)
            sealed_ops.extend(seg_ops)
            any_damage = any_damage or seg_damaged

        ops, good_end, damaged = self._repair_journal_file(self._journal)
        any_damage = any_damage or damaged
        if ops and ops[-1]["s"] <= snap_seq:
            # A checkpoint died after replacing desk.json but before emptying the journal.
            note(
                f"journal: the last checkpoint was interrupted after writing {SNAPSHOT}; "
                f"its {len(ops)} journal records were already in it and were cleared"
            )
            with open(self._journal, "r+b") as f:
                f.truncate(0)
                _fsync(f.fileno())
            ops, good_end = [], 0
        later = [op for op in sealed_ops + ops if op["s"] > snap_seq]
        if not any_damage:
            expected = snap_seq + 1
            for op in later:
                if op["s"] > expected:
                    where = SNAPSHOT if self._snapshot.exists() else f"{SNAPSHOT} (missing)"
                    note(
                        f"journal: changes {expected}..{op['s'] - 1} are in neither {where} "
                        "nor the journal (was a file of the data dir replaced or deleted?)"
                    )
                expected = max(expected, op["s"] + 1)
        _apply(tables, later, snap_seq)

        self._seq = max([snap_seq, *(op["s"] for op in sealed_ops + ops)])
        self._snapshot_seq = snap_seq
        self._journal_bytes = good_end
        self._journal_ops = len(ops)
        self._keys = {name: set(docs) for name, docs in tables.items()}
        return tables

    def _repair_journal_file(self, path: Path) -> tuple[list[dict[str, Any]], int, bool]:
        """Read one journal file (the live one or a sealed segment): its good records, the
        offset after the last good one, and whether any line was damaged.  Damaged lines are
        copied aside once and named; a torn tail is cut off (after the copy)."""
        note = self.recovered.append
        name = "journal" if path.name == JOURNAL else f"journal segment {path.name}"
        data = _read_bytes(path)
        ops, good_end, damaged = _scan_journal(data)
        tail_damage: list[tuple[int, bytes, str]] = []
        if good_end < len(data):
            tail_damage, torn = _split_tail(data, good_end)
            if torn:
                note(f"{name}: dropped a torn last record ({len(torn)} bytes, no end of line) "
                     "written during a crash")
            damaged = damaged + tail_damage
        if damaged:
            copy = b"\n".join(line for _no, line, _why in damaged) + b"\n"
            # Reported on every start until the next checkpoint; copied aside only once.
            earlier = [p for p in self.data_dir.glob(path.name + ".damaged-*") if p.is_file()]
            same = [p for p in earlier if p.stat().st_size == len(copy) and p.read_bytes() == copy]
            aside = same[0] if same else _aside(path, "damaged")
            if not same:
                fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(copy)
            for lineno, line, why in damaged:
                where = " (after the last good record; not a torn write)" if (
                    lineno, line, why) in tail_damage else ""
                note(
                    f"{name}: line {lineno} is damaged ({why}, {len(line)} bytes){where} and "
                    f"was skipped; the change it held is lost (its bytes are kept in "
                    f"{aside.name})"
                )
        if good_end < len(data):
            # Only after the bytes are safe in the side file.
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                _fsync(f.fileno())
        return ops, good_end, bool(damaged)


# -- journal lines ---------------------------------------------------------------------------


def _encode_line(op: dict[str, Any]) -> bytes:
    try:
        if _JOURNAL_ENCODE is not None:
            payload = "".join(_JOURNAL_ENCODE(op, 0)).encode("ascii")
        else:
            payload = _ENCODER.encode(op).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"store: {op['t']}/{op['k']} is not plain JSON data: {exc}") from None
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def _decode_line(line: bytes) -> tuple[dict[str, Any] | None, str]:
    if len(line) < 10 or line[8:9] != b" ":
        return None, "no checksum"
    payload = line[9:]
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None, "no checksum"
    if zlib.crc32(payload) != crc:
        return None, "bad checksum"
    try:
        op = json.loads(payload)
    except ValueError:
        return None, "not JSON"
    ok = (
        isinstance(op, dict)
        and type(op.get("s")) is int
        and isinstance(op.get("t"), str)
        and isinstance(op.get("k"), str)
        and (op.get("x") == 1 or isinstance(op.get("d"), dict))
    )
    return (op, "") if ok else (None, "not a journal record")


def _scan_journal(data: bytes) -> tuple[list[dict[str, Any]], int, list[tuple[int, bytes, str]]]:
    """Good ops, the offset after the last good line, and damaged lines before it.

    Unreadable lines after the last good one are a torn tail (a write cut short by a crash):
    the caller cuts them off.  Unreadable lines followed by good ones are damage in the middle.
    """
    ops: list[dict[str, Any]] = []
    bad: list[tuple[int, int, bytes, str]] = []
    good_end = 0
    pos = 0
    lineno = 0
    while pos < len(data):
        lineno += 1
        nl = data.find(b"\n", pos)
        if nl < 0:
            break  # no newline: torn, whatever it holds
        line = data[pos:nl]
        op, why = _decode_line(line)
        if op is None:
            bad.append((lineno, pos, line, why))
        else:
            ops.append(op)
            good_end = nl + 1
        pos = nl + 1
    damaged = [(no, line, why) for no, start, line, why in bad if start < good_end]
    return ops, good_end, damaged


def _split_tail(data: bytes, good_end: int) -> tuple[list[tuple[int, bytes, str]], bytes]:
    """What follows the last good journal line: (damaged records, torn bytes).

    A torn write (a crash in the middle of the one ``write`` of a batch) leaves at most one
    partial line with no end of line: that is torn.  A complete line that fails its checksum
    (a flipped bit), or bytes zeroed by the disk, are damage, named and counted line by line.
    """
    tail = data[good_end:]
    lineno = data.count(b"\n", 0, good_end)
    pieces = tail.split(b"\n")
    partial = pieces.pop()  # b"" when the tail ends with a newline
    damaged = []
    for piece in pieces:
        lineno += 1
        if piece.strip(b"\0") == b"":
            why = "zeroed" if piece else "empty line"
        else:
            why = _decode_line(piece)[1] or "out of place"
        damaged.append((lineno, piece, why))
    torn = b""
    if partial:
        if b"\0" in partial:
            damaged.append((lineno + 1, partial, "zeroed"))
        else:
            torn = partial
    return damaged, torn


def _apply(tables: Tables, ops: list[dict[str, Any]], after_seq: int) -> None:
    for op in ops:
        if op["s"] <= after_seq:
            continue
        if op.get("x") == 1:
            tables.get(op["t"], {}).pop(op["k"], None)
        else:
            tables.setdefault(op["t"], {})[op["k"]] = op["d"]


# -- TinyDB files ----------------------------------------------------------------------------


def _read_tinydb(
    path: Path,
    *,
    strict: bool,
    move_aside: bool = True,
    only: tuple[str, ...] | None = None,
    raw: bytes | None = None,
) -> tuple[Tables, dict[str, Any], list[str]]:
    """Tables, the ``_store`` record and notes about repairs from a TinyDB file we wrote.

    A file that does not parse is moved aside (``strict=False``) and the first JSON document in
    it recovered, which is what TinyDB's own crash leaves ("Extra data").  ``only``: the tables
    wanted (the others are parsed, as JSON must be, but not unpacked).  ``raw``: the file's
    bytes, already read.
    """
    name = path.name if path.parent.name != ARCHIVE else f"{ARCHIVE}/{path.name}"
    if raw is None:
        raw = _read_bytes(path)
        if not raw and not path.exists():
            return {}, {}, []
    text: str | bytes = raw
    data = _fast_decode(raw)
    problem = None
    if data is not _UNDECODED:
        raw = b""
    else:
        try:
            # Decoded as json.loads would, then the bytes let go: a 100 MB file is not held
            # twice while its documents are built.
            text = raw.decode(json.detect_encoding(raw), "surrogatepass")
            raw = b""
            with paused_gc():
                data = json.loads(text)
        except ValueError as exc:  # includes UnicodeDecodeError
            if strict:
                raise StoreError(f"{path} does not parse: {exc}") from None
            data, problem = None, str(exc).splitlines()[0]
    notes: list[str] = []
    if problem is not None:
        good, used = _first_document(text)
        if move_aside:
            aside = _aside(path, "broken")
            os.replace(path, aside)
            _fsync_dir(path.parent)
            kept = f"moved to {aside.name}"
        else:
            kept = "left in place"
        salvaged = 0
        if good is None:
            good, salvaged = _salvage(text)
        if good is not None and salvaged:
            data = good
            notes.append(
                f"{name} did not parse ({problem}); {kept}; recovered the {salvaged:,} "
                "intact documents before the damage"
                + (" and replayed the journal on top" if path.name == SNAPSHOT else ""))
        elif good is not None:
            data = good
            notes.append(
                f"{name} did not parse ({problem}); {kept}; recovered its first "
                f"{used:,} bytes and replayed the journal on top"
                if path.name == SNAPSHOT
                else f"{name} did not parse ({problem}); {kept}; recovered its first {used:,} bytes"
            )
        else:
            notes.append(
                f"{name} could not be read ({problem}); {kept}; "
                + (
                    "state rebuilt from the journal alone"
                    if path.name == SNAPSHOT
                    else "its documents are not available"
                )
            )
            return {}, {}, notes
    if not isinstance(data, dict):
        if strict:
            raise StoreError(f"{path} is not a TinyDB database")
        notes.append(f"{name} is not a TinyDB database; ignored")
        return {}, {}, notes
    meta: dict[str, Any] = {}
    tables: Tables = {}
    for table, docs in data.items():
        if not isinstance(docs, dict):
            notes.append(f"{name}: table {table!r} is not a TinyDB table; ignored")
            continue
        if table == META_TABLE:
            for doc in docs.values():
                if isinstance(doc, dict):
                    meta.update(doc)
            continue
        if table.startswith("_") or (only is not None and table not in only):
            continue  # TinyDB's _default and other tables that are not ours, or not wanted
        out: dict[str, dict[str, Any]] = {}
        for doc_id, doc in docs.items():
            key = doc.pop(KEY_FIELD, None) if isinstance(doc, dict) else None
            if not isinstance(key, str):
                notes.append(f"{name}: {table} document {doc_id} has no store key; ignored")
                continue
            out[key] = doc
        tables[table] = out
    return tables, meta, notes


def files_fingerprint(data_dir: Path) -> dict[str, Any] | None:
    """The data directory's files as a state image records them (``Store.image_fingerprint``):
    the snapshot's seq, checkpoint time, inode, size, mtime and ctime (an edit in place that
    keeps the size and puts the mtime back still moves the ctime, which no call can set);
    None unless the journal is empty and nothing else is there (sealed segments, temp files a
    crash left)."""
    snapshot, journal, archive = data_dir / SNAPSHOT, data_dir / JOURNAL, data_dir / ARCHIVE
    try:
        if any(_SEGMENT.match(name) for name in os.listdir(data_dir)):
            return None
        if snapshot.with_name(SNAPSHOT + TMP_SUFFIX).exists():
            return None
        if archive.is_dir() and any(archive.glob("*" + TMP_SUFFIX)):
            return None
        if os.stat(journal).st_size:
            return None
        st = os.stat(snapshot)
    except OSError:
        return None
    meta = _head_meta(snapshot)
    if "seq" not in meta:
        return None
    return {"seq": _int(meta.get("seq")), "at": meta.get("at"), "size": st.st_size,
            "ino": st.st_ino, "dev": st.st_dev, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}


_UNDECODED = object()


def _fast_decode(raw: bytes) -> Any:
    """``raw`` parsed by msgspec (2.5 times json.loads on a 126 MB snapshot, measured here,
    and straight from the bytes), or ``_UNDECODED`` when it cannot: no msgspec, or anything it
    refuses that json may still read (a lone surrogate escape, a number out of its range, a
    damaged file), which then takes the ``json`` path with its salvage and its messages."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover - a dependency; the json path still works
        return _UNDECODED
    try:
        with paused_gc():
            return msgspec.json.decode(raw)
    except msgspec.MsgspecError:
        return _UNDECODED


_HEAD = b'{"' + META_TABLE.encode("ascii") + b'":{"1":'


def _head_meta(path: Path) -> dict[str, Any]:
    """The ``_store`` record of a file we wrote, from its first bytes (we write it first), so
    deciding whether to read a 100 MB archive file does not cost parsing it.  {} if unknown."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return {}
    if not head.startswith(_HEAD):
        return {}
    try:
        meta, _end = json.JSONDecoder().raw_decode(head.decode("ascii", "replace"), len(_HEAD))
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _wanted(tables: Iterable[str]) -> tuple[str, ...]:
    wanted = (tables,) if isinstance(tables, str) else tuple(dict.fromkeys(tables))
    for table in wanted:
        _check_table(table)
    return wanted


def _first_document(raw: bytes | str) -> tuple[dict[str, Any] | None, int]:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip())
    try:
        data, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None, 0
    return (data, end) if isinstance(data, dict) else (None, 0)


_KEY = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*:\s*')


def _salvage(raw: bytes | str) -> tuple[dict[str, Any] | None, int]:
    """The intact documents of a TinyDB file cut short or damaged part-way (``{table: {id:
    doc}}``): each table's documents are decoded one by one until the first that does not
    parse, so a truncated snapshot keeps everything before the cut.  Returns the tables (None
    when not even one document could be read) and how many documents were recovered."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    tables: dict[str, Any] = {}
    count = 0
    i = text.find("{")
    if i < 0:
        return None, 0
    i += 1
    while True:  # the tables: "name": { "id": {doc}, ... }
        m = _KEY.match(text, i)
        if m is None:
            break
        table = json.loads(f'"{m.group(1)}"')
        i = m.end()
        if text[i:i + 1] != "{":
            break
        i += 1
        docs: dict[str, Any] = {}
        tables[table] = docs
        complete = False
        while True:
            k = _KEY.match(text, i)
            if k is None:
                complete = text[i:].lstrip().startswith("}")
                break
            try:
                doc, end = decoder.raw_decode(text, k.end())
            except ValueError:
                break
            docs[json.loads(f'"{k.group(1)}"')] = doc
            count += 1
            i = end
            rest = text[i:].lstrip()
            if rest.startswith(","):
                i = len(text) - len(rest) + 1
                continue
            complete = rest.startswith("}")
            break
        if not complete:
            break
        rest = text[i:].lstrip()[1:]  # past this table's "}"
        i = len(text) - len(rest)
        rest = rest.lstrip()
        if not rest.startswith(","):
            break
        i = len(text) - len(rest) + 1
    return (tables, count) if count else (None, 0)


class _Chunks:
    """Buffered writes of ASCII text through a ``FileOps`` (1 MB at a time)."""

    def __init__(self, fd: int, io: FileOps) -> None:
        self.fd, self.io, self.size = fd, io, 0
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        view = memoryview("".join(self.parts).encode("ascii"))
        self.parts, self.size = [], 0
        while view:
            view = view[self.io.write(self.fd, view):]


def _write_tinydb(path: Path, tables: Tables, meta: dict[str, Any],
                  io: FileOps | None = None) -> None:
    """Write ``tables`` as a TinyDB file: temp file, fsync, ``os.replace``, fsync the dir.

    Streamed document by document (``_write_stream``) so a big snapshot is never one giant
    string in memory.  Raises OSError (the temp file removed, the old file untouched) when a
    write fails.
    """
    io = io or FileOps()
    streamed = ((table, ((key, None, doc) for key, doc in docs.items()))
                for table, docs in tables.items())
    tmp = _write_stream(path, meta, streamed, io, None)
    try:
        io.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# -- the background checkpoint ---------------------------------------------------------------

# month -> table -> key -> document, or None for "the document as the files hold it".
ArchiveJob = dict[str, dict[str, dict[str, dict[str, Any] | None]]]


class CheckpointResult:
    """What a finished background checkpoint did: the ``seq`` its snapshot holds, and
    ``missing``: (table, key) of the archive job the files did not hold (not archived)."""

    def __init__(self, seq: int, missing: set[tuple[str, str]]) -> None:
        self.seq = seq
        self.missing = missing

    def __repr__(self) -> str:
        return f"<CheckpointResult seq={self.seq} missing={len(self.missing)}>"


class _Cancelled(Exception):
    pass


class _Unstreamable(ValueError):
    pass


YIELD_EVERY = 256  # documents between cancellation checks (and explicit GIL hand-overs)
SWITCH_INTERVAL = 0.001  # seconds: the GIL hand-over interval while a checkpoint thread runs


class _Background:
    """One background checkpoint's thread and its outcome (see ``Store.begin_checkpoint``)."""

    def __init__(self, store: Store, seq: int, segments: list[tuple[int, Path]],
                 archive: ArchiveJob) -> None:
        self.seq = seq
        self.segments = segments
        self.archive = archive
        self.data_dir = store.data_dir
        self.io = store.io
        self.cancel = threading.Event()
        self.error: BaseException | None = None
        self.missing: set[tuple[str, str]] = set()
        self.thread = threading.Thread(target=self._run, name="mentiondesk-checkpoint",
                                       daemon=True)

    def _run(self) -> None:
        segments = [p for _s, p in self.segments]
        # While this thread works, the event loop's thread waits at most 1 ms (not 5) for the
        # GIL when it wakes up.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
        try:
            self._work(segments)
        finally:
            sys.setswitchinterval(interval)

    def _work(self, segments: list[Path]) -> None:
        try:
            try:
                self.missing = _compact(self.data_dir, self.seq, segments, self.archive,
                                        self.io, self.cancel)
            except _Unstreamable:
                self.missing = _compact(self.data_dir, self.seq, segments, self.archive,
                                        self.io, self.cancel, whole=True)
        except _Cancelled:
            self.error = StoreError("cancelled")
        except BaseException as exc:  # reported by poll_checkpoint on the caller's thread
            self.error = exc


def release_piecewise(nest: Any, levels: int, every: int = YIELD_EVERY) -> Iterator[None]:
    """Empty ``nest`` a little at a time, yielding after every ``every`` items freed.

    ``nest`` is a list, or dicts nested ``levels`` deep above the items (an archive job is
    month -> table -> key -> document: 3).  Dropping the last reference to a big structure
    frees all of it in one go, holding the GIL throughout: at 100,000 conversations the
    archive's copies freed at once stalled the event loop for 500 ms (bench_desk_process.py
    --only archive).  Emptied piecewise, each step frees a few thousand objects.
    """
    n = 0
    stack = [(nest, levels)]
    while stack:
        node, depth = stack[-1]
        if not node:
            stack.pop()
            continue
        item = node.popitem()[1] if isinstance(node, dict) else node.pop()
        if depth > 1 and isinstance(item, (dict, list)):
            stack.append((item, depth - 1))
            continue
        del item
        n += 1
        if n % every == 0:
            yield


def _pace(n: int, cancel: threading.Event | None) -> None:
    if n % YIELD_EVERY == 0:
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        time.sleep(0)  # hand the GIL to the event loop's thread now, not at the next switch


class _Reader:
    """A TinyDB file we wrote, read a document at a time: ``{"table": {"id": {doc}, ...}}``.

    The file is read and decoded in 1 MB pieces and each document decoded alone, so a
    100 MB snapshot never holds the GIL for longer than one document (``json.loads`` of the
    whole file would hold it for seconds).  Anything unexpected raises ``_Unstreamable``.
    """

    CHUNK = 1 << 20

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")  # closed by close()
        self.dec = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        self.buf = ""
        self.i = 0
        self.eof = False
        self.json = json.JSONDecoder()

    def close(self) -> None:
        self.f.close()

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(self.CHUNK)
        if not chunk:
            self.eof = True
            self.buf = self.buf[self.i:] + self.dec.decode(b"", final=True)
            self.i = 0
            return False
        self.buf = self.buf[self.i:] + self.dec.decode(chunk)
        self.i = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            n = len(self.buf)
            i = self.i
            while i < n and self.buf[i] in " \t\r\n":
                i += 1
            self.i = i
            if i < n:
                return self.buf[i]
            if not self._more():
                return ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise _Unstreamable(f"expected {ch!r}")
        self.i += 1

    def key(self) -> str:
        while True:
            m = _KEY.match(self.buf, self.i)
            if m is not None and m.end() < len(self.buf):
                self.i = m.end()
                return json.loads(f'"{m.group(1)}"')
            if not self._more():
                raise _Unstreamable("expected a key")

    def document(self) -> tuple[str, Any]:
        """(its text, its value): the next JSON object."""
        if self.peek() != "{":
            raise _Unstreamable("expected a document")
        while True:
            try:
                doc, end = self.json.raw_decode(self.buf, self.i)
            except ValueError:
                if not self._more():
                    raise _Unstreamable("a document does not parse") from None
                continue
            text = self.buf[self.i:end]
            self.i = end
            return text, doc

    def tables(self, cancel: threading.Event | None = None
               ) -> Iterator[tuple[str, Iterator[tuple[str, Any]]]]:
        """(table, its documents as (text, value)) in file order; ``_store`` included."""
        self.expect("{")
        n = 0
        if self.peek() == "}":
            return
        while True:
            table = self.key()
            self.expect("{")

            def docs() -> Iterator[tuple[str, Any]]:
                nonlocal n
                if self.peek() == "}":
                    self.i += 1
                    return
                while True:
                    self.key()  # TinyDB's document id: renumbered on write
                    yield self.document()
                    n += 1
                    _pace(n, cancel)
                    c = self.peek()
                    self.i += 1
                    if c == "}":
                        return
                    if c != ",":
                        raise _Unstreamable("expected , or }")

            it = docs()
            yield table, it
            for _ in it:  # the caller may stop early: skip the rest of the table
                pass
            c = self.peek()
            self.i += 1
            if c == "}":
                return
            if c != ",":
                raise _Unstreamable("expected , or }")


Streamed = Iterator[tuple[str, str, str | None, dict[str, Any]]]


def _stream_file(path: Path, cancel: threading.Event | None, *, aside: bool = False
                 ) -> tuple[dict[str, Any], Streamed]:
    """(meta, documents): each document as (table, key, its text with the key or None, the
    document without the key), in file order.  A file that cannot be streamed (not one we
    wrote, or damaged) is read whole the careful way (``_read_tinydb``, nothing moved)."""
    if not path.exists():
        return {}, iter(())
    reader = _Reader(path)
    try:
        tables = reader.tables(cancel)
        first = next(tables, None)
        if first is None:
            reader.close()
            return {}, iter(())
        name, docs = first
        meta: dict[str, Any] = {}
        if name == META_TABLE:
            for _text, doc in docs:
                if isinstance(doc, dict):
                    meta.update(doc)
        else:
            raise _Unstreamable("no _store table first")
    except _Unstreamable:
        reader.close()
        return _stream_whole(path, aside)

    def rest() -> Streamed:
        try:
            for table, table_docs in tables:
                if table.startswith("_"):
                    continue
                for text, doc in table_docs:
                    key = doc.pop(KEY_FIELD, None) if isinstance(doc, dict) else None
                    if isinstance(key, str):
                        # Ours start with the key; others are encoded again.
                        yield table, key, text if text.startswith('{"_k":') else None, doc
        finally:
            reader.close()

    return meta, rest()


def _stream_whole(path: Path, aside: bool) -> tuple[dict[str, Any], Streamed]:
    """A file that is not ours or is damaged, read whole (rare: it holds the GIL while it
    parses); ``aside``: a damaged one is moved aside first, as ``Store.archive`` does."""
    tables, meta, _notes = _read_tinydb(path, strict=False, move_aside=aside)
    return meta, ((t, k, None, d) for t, docs in tables.items() for k, d in docs.items())


def _compact(data_dir: Path, seq: int, segments: list[Path], archive: ArchiveJob,
             io: FileOps, cancel: threading.Event | None, *, whole: bool = False
             ) -> set[tuple[str, str]]:
    """The background checkpoint's work (see ``Store.begin_checkpoint``); returns the archive
    keys the files did not hold.  Raises OSError (temp files removed), _Cancelled, or
    _Unstreamable (``desk.json`` damaged part-way: call again with ``whole``)."""
    snapshot = data_dir / SNAPSHOT
    meta, old_docs = (_stream_whole(snapshot, False) if whole
                      else _stream_file(snapshot, cancel))
    snap_seq = _int(meta.get("seq"))
    # What changed since the snapshot: the segments' records in order, as recovery applies
    # them (a key deleted and put again goes last).
    changes: dict[str, dict[str, dict[str, Any] | None]] = {}
    moved: set[tuple[str, str]] = set()
    n = 0
    for path in segments:
        ops, _end, _damaged = _scan_journal(_read_bytes(path))
        for op in ops:
            n += 1
            _pace(n, cancel)
            if op["s"] <= snap_seq or op["s"] > seq:
                continue
            table, key = op["t"], op["k"]
            change = changes.setdefault(table, {})
            if op.get("x") == 1:
                change.pop(key, None)
                change[key] = None
                moved.add((table, key))
            else:
                if key in change and change[key] is None:
                    del change[key]
                change[key] = op["d"]
    wanted: dict[tuple[str, str], str] = {}
    found: dict[str, Tables] = {m: {} for m in archive}
    for month, tables in archive.items():
        for table, docs in tables.items():
            for key, given in docs.items():
                if given is None:
                    wanted[(table, key)] = month
                else:
                    found[month].setdefault(table, {})[key] = given

    def keep(table: str, key: str, doc: dict[str, Any]) -> None:
        month = wanted.pop((table, key), None) if wanted else None
        if month is not None:
            found[month].setdefault(table, {})[key] = doc

    def table_docs(table: str, group: Iterable[tuple[str, str, str | None, dict[str, Any]]]
                   ) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
        change = changes.get(table, {})
        done = set()
        for _t, key, text, doc in group:
            if key in change:
                new = change[key]
                if new is None or (table, key) in moved:
                    continue  # deleted (put again after a delete: it comes last)
                done.add(key)
                text, doc = None, new
            keep(table, key, doc)
            yield key, text, doc
        for key, new in change.items():
            if new is not None and key not in done:
                keep(table, key, new)
                yield key, None, new

    tmp = _write_stream(snapshot, {"format": FORMAT, "seq": seq, "at": _now()},
                        _per_table(old_docs, changes, table_docs), io, cancel)
    # The archive files first: once the new snapshot is in place its caller deletes the
    # archived documents from the hot tables.
    try:
        for month in sorted(found):
            if found[month]:
                _write_archive_month(data_dir / ARCHIVE, month, found[month], io, cancel)
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        io.replace(tmp, snapshot)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(data_dir)
    _drop_segments(data_dir, [(int(m[1]), p) for p in segments
                              if (m := _SEGMENT.match(p.name))], seq)
    missing = set(wanted)
    # Freed piecewise, handing the GIL over between pieces (see release_piecewise).
    for part, levels in ((found, 3), (changes, 2)):
        for _ in release_piecewise(part, levels):
            time.sleep(0)
    return missing



_Doc = tuple[str, str | None, dict[str, Any]]  # key, its stored JSON text (or None), document


def _per_table(old_docs: Iterable[tuple[str, str, str | None, dict[str, Any]]],
               new_tables: Iterable[str],
               docs: Callable[[str, Iterable[tuple[str, str, str | None, dict[str, Any]]]],
                              Iterator[_Doc]],
               ) -> Iterator[tuple[str, Iterator[_Doc]]]:
    """The tables of a streamed rewrite, in file order: each table of ``old_docs`` (documents
    of one table are adjacent: a file's order) with ``docs(table, its old documents)``, then
    each table of ``new_tables`` the old file did not have, with ``docs(table, ())``."""
    seen = set()
    for table, group in itertools.groupby(old_docs, key=lambda d: d[0]):
        seen.add(table)
        yield table, docs(table, group)
    for table in new_tables:
        if table not in seen:
            yield table, docs(table, ())

def _write_stream(path: Path, meta: dict[str, Any],
                  tables: Iterable[tuple[str, Iterable[tuple[str, str | None, dict[str, Any]]]]],
                  io: FileOps, cancel: threading.Event | None) -> Path:
    """Write a TinyDB file from streamed documents ((key, text with the key or None,
    document)) into ``path`` + ``.tmp``, fsynced; returns the temp file (the caller renames
    it).  Raises OSError or _Cancelled, the temp file removed."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    enc = _ENCODER.encode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    try:
        try:
            out = _Chunks(fd, io)
            out.write(f'{{"{META_TABLE}":{{"1":{enc(meta)}}}')
            n = 0
            for table, docs in tables:
                out.write(f",{enc(table)}:{{")
                doc_id = 0
                for key, text, doc in docs:
                    doc_id += 1
                    n += 1
                    _pace(n, cancel)
                    if text is None or not text.isascii():
                        if KEY_FIELD in doc:
                            raise ValueError(f"{table}/{key}: field {KEY_FIELD!r} is reserved")
                        text = enc({KEY_FIELD: key, **doc})
                    out.write(f'{"," if doc_id > 1 else ""}"{doc_id}":{text}')
                out.write("}")
            out.write("}")
            out.flush()
            io.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _write_archive_month(archive_dir: Path, month: str, content: Tables, io: FileOps,
                         cancel: threading.Event | None) -> None:
    """Merge ``content`` (whole conversations of ``month``) into ``archive/<month>.json`` as
    ``Store.archive`` does, streaming the existing file; durable when it returns."""
    if not archive_dir.exists():
        archive_dir.mkdir(mode=0o700)
        _fsync_dir(archive_dir.parent)
    path = archive_dir / f"{month}.json"
    try:
        _merge_archive_month(path, content, io, cancel, whole=False)
    except _Unstreamable:  # damaged part-way: read it whole, the damaged file moved aside
        _merge_archive_month(path, content, io, cancel, whole=True)
    _fsync_dir(archive_dir)


def _merge_archive_month(path: Path, content: Tables, io: FileOps,
                         cancel: threading.Event | None, *, whole: bool) -> None:
    old_meta = _head_meta(path) if path.exists() else {}
    known = _parse_iso(old_meta.get(NEWEST))
    unreadable = False
    try:
        fresh = _newest(content)
    except ValueError:
        fresh, unreadable = None, True
    old_docs: Iterable[tuple[str, str, str | None, dict[str, Any]]]
    if path.exists() and (whole or old_meta.get(GROUPED) is not True or known is None):
        # Not a file this version wrote (or damaged): read whole, to learn what the record at
        # its head would have said (rare; it holds the GIL while it parses).
        old_meta, stream = (_stream_whole(path, True) if whole
                            else _stream_file(path, cancel, aside=True))
        old_docs = list(stream)
        had_docs = bool(old_docs)
        if old_meta.get(GROUPED) is not True or known is None:
            try:
                known = _newest({"all": {str(i): d for i, (_t, _k, _x, d)
                                         in enumerate(old_docs)}}) if old_docs else None
            except ValueError:
                unreadable = True
    else:
        _meta, old_docs = _stream_file(path, cancel, aside=True)
        had_docs = path.exists()
    grouped = not had_docs or old_meta.get(GROUPED) is True
    best = None if unreadable else max(filter(None, (known, fresh)), default=None)
    meta = {"format": FORMAT, "month": path.stem, "at": _now(), GROUPED: grouped,
            NEWEST: iso(best)}

    def existing(table: str, group: Iterable[tuple[str, str, str | None, dict[str, Any]]]
                 ) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
        new = content.get(table, {})
        for _t, key, text, doc in group:
            if key not in new:
                yield key, text, doc
        for key, doc in new.items():  # re-archived keys are replaced, at the end
            yield key, None, doc

    tmp = _write_stream(path, meta, _per_table(old_docs, content, existing), io, cancel)
    try:
        io.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _drop_segments(data_dir: Path, segments: list[tuple[int, Path]], seq: int) -> None:
    """Delete the sealed segments a durable snapshot at ``seq`` holds (failures are harmless:
    recovery skips records the snapshot holds and deletes the files)."""
    dropped = False
    for last, path in segments:
        if last <= seq:
            with contextlib.suppress(OSError):
                path.unlink()
                dropped = True
    if dropped:
        with contextlib.suppress(OSError):
            _fsync_dir(data_dir)


# -- small helpers ---------------------------------------------------------------------------


def _take_lock(data_dir: Path) -> tuple[int, int]:
    """(lock file fd, data dir fd), both flocked; raises StoreLocked or StoreError."""
    if fcntl is None:  # pragma: no cover - Windows
        raise StoreError("the data dir lock needs fcntl (Linux, macOS, BSD)")
    # The directory itself is locked first: deleting the lock file (a common habit with "stale"
    # locks) cannot let a second writer in while this one runs.
    dir_fd = _lock_dir(data_dir)
    try:
        fd = _lock_file(data_dir)
    except BaseException:
        os.close(dir_fd)
        raise
    return fd, dir_fd


def _lock_dir(data_dir: Path) -> int:
    dir_fd = os.open(data_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(dir_fd)
        if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise StoreError(f"cannot lock {data_dir}: {exc.strerror or exc}") from None
        try:
            text = (data_dir / LOCK).read_text("ascii", errors="replace").strip()
        except OSError:
            text = ""
        raise StoreLocked(data_dir, int(text) if text.isdigit() else None) from None
    return dir_fd


def _lock_file(data_dir: Path) -> int:
    path = data_dir / LOCK
    try:
        # O_NOFOLLOW: a symlinked lock file must never make us truncate what it points to.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise StoreError(
                f"{path} is a symbolic link; the lock file must be a plain file "
                f"(remove the link: rm {path})") from None
        raise StoreError(f"cannot open the lock file {path}: {exc.strerror or exc}"
                         + _permission_hint(path, exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(f"{path} is not a plain file; remove it and start again")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        try:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise StoreError(f"cannot lock {data_dir}: {exc.strerror or exc}") from None
            text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
        finally:
            os.close(fd)
        raise StoreLocked(data_dir, int(text) if text.isdigit() else None) from None
    with contextlib.suppress(OSError):  # the pid is for messages; a full disk may refuse it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the process holding ``data_dir``'s lock (a running desk), or None when no
    process holds it.  Never takes the lock for longer than the test; never creates the file."""
    path = Path(data_dir) / LOCK
    if fcntl is None or not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
            text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _permission_hint(path: Path, exc: OSError) -> str:
    if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ""
    if exc.errno == errno.EROFS:
        return " (the file system is read-only)"
    return (f" (this process runs as uid {os.getuid()}; fix the owner or mode, e.g. "
            f"chown -R $USER {path.parent} && chmod 700 {path.parent})")


def _release_lock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fsync(fd: int) -> None:
    # On macOS fsync does not reach the platter; F_FULLFSYNC does.
    if fcntl is not None and hasattr(fcntl, "F_FULLFSYNC"):
        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_fd(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 24):
        chunks.append(chunk)
    return b"".join(chunks)


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes when a file is replaced or rewritten (inode, size, times)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _aside(path: Path, why: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    return aside


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _int(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0


def _month_of(doc: dict[str, Any]) -> str:
    for field in ARCHIVE_TIME_FIELDS:
        value = doc.get(field)
        if isinstance(value, str) and (m := _MONTH.match(value)) and 1 <= int(m[2]) <= 12:
            return f"{m[1]}-{m[2]}"
    return time.strftime("%Y-%m", time.gmtime())


def _parse_iso(value: object) -> datetime | None:
    """An ISO timestamp we wrote (``Z`` or an offset) as an aware datetime; None if not one."""
    if not isinstance(value, str):
        return None
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _newest(tables: Tables) -> datetime | None:
    """The newest time any document of ``tables`` carries (see ``TIME_FIELDS``); None when
    none has one.  Raises ValueError for a time that is not ISO 8601: unknown, not old."""
    seen: set[str] = set()
    for docs in tables.values():
        for doc in docs.values():
            for field in TIME_FIELDS:
                value = doc.get(field)
                if isinstance(value, str):
                    seen.add(value)
                elif value is not None:
                    raise ValueError(f"not an ISO time: {value!r}")
    newest = None
    for value in seen:
        t = _parse_iso(value)
        if t is None:
            raise ValueError(f"not an ISO time: {value!r}")
        if newest is None or t > newest:
            newest = t
    return newest


def _check_table(table: object) -> None:
    if not isinstance(table, str) or not table or table.startswith("_"):
        raise ValueError(f"store: bad table name {table!r} (names starting with _ are reserved)")


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"store: keys are strings, not {type(key).__name__}")


def _check_tables(tables: object) -> None:
    if not isinstance(tables, dict):
        raise TypeError("store: expected table -> key -> document")
    for table, docs in tables.items():
        _check_table(table)
        if not isinstance(docs, dict):
            raise TypeError(f"store: table {table!r} must map keys to documents")
