"""The desk's state image: the folded desk written on a clean close, read on the next start.

Opening a desk from its TinyDB snapshot parses every document, rebuilds every object and folds
every timeline again (about 9 s at 100,000 open conversations).  On a clean close the desk
process writes what that work built — conversations already folded, mentions, triages, events,
customers, drafts, approvals, the outbox, the counters — as one pickle (protocol 5) next to a
small header, and the next start uses it when it still describes the data directory exactly.

The image is only a cache: the snapshot and the journal stay the record, nothing is ever only in
the image, and any doubt sends the start down the TinyDB path.  It is used only when (see
``Header.problem``):

* its format, the package version and the layout of the pickled classes are ours;
* it was written for this data directory, and the store's snapshot is the very file it was
  written against (seq, checkpoint time, size, inode, mtime) with an empty journal and no sealed
  segment (``Store`` checks that: any change since, a checkpoint included, makes it stale);
* the fold's inputs from rules.yaml are the same (levels: rank, target, calendar — deadlines
  and 75 % times are folded with them; replies.yaml folds nothing);
* it is complete: written to a temp file, fsynced and renamed; its length and CRC-32 are checked
  before a byte is unpickled, so a torn or damaged file is ignored with a log line.

Pickle runs code when it loads, and a team desk's data directory is group-writable: the image
lives in the desk process's own per-user cache directory (``image_dir``: mode 0700, named by a
hash of the data directory's real path), and one whose file or directories are not owned by this
process's effective user, or are writable by group or others, is refused before it is read.
"""

from __future__ import annotations

import contextlib
import copyreg
import hashlib
import io
import logging
import mmap
import os
import pickle
import stat
import struct
import sys
import time
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sortedcontainers import SortedList

from .conversation import Conversation, Event
from .model import Author, Mention, Triage
from .store import _fsync_dir, cache_root, paused_gc, process_running

log = logging.getLogger(__name__)

IMAGE = "desk.image"
FORMAT = 2  # 2: the body in frames, some read later (``Image.body``)
MAGIC = b"MENTIONDESK-IMAGE\n"
_LEN = struct.Struct(">QQI")  # header length, body length, body CRC-32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# The classes whose instances the body holds: their fields are part of the image's format.
_CLASSES = (Mention, Author, Triage, Conversation, Event)


def data_dir_id(data_dir: Path | str) -> str:
    """The data directory's real path, as the image records it."""
    return os.path.realpath(os.fspath(data_dir))


def image_dir(data_dir: Path | str) -> Path:
    """Where the image of ``data_dir`` lives: ``cache_root()/<sha256 of its real path>[:24]``."""
    digest = hashlib.sha256(data_dir_id(data_dir).encode("utf-8", "surrogatepass")).hexdigest()
    return cache_root() / digest[:24]


def image_path(data_dir: Path | str) -> Path:
    return image_dir(data_dir) / IMAGE


def layout() -> list[tuple[str, tuple[str, ...]]]:
    """The pickled classes and their fields, in order (a changed class makes old images stale),
    and the sortedcontainers version (its lists are pickled by their parts, see ``_dumps``)."""
    import sortedcontainers

    return [(cls.__qualname__, tuple(cls.__slots__)) for cls in _CLASSES] + [
        ("sortedcontainers", (sortedcontainers.__version__,))]


def fold_signature(rules: Any) -> str:
    """What of the rules the folded state depends on: each level's name, rank, target and
    calendar (``Fold.mention`` computes 75 % times with them).  A SHA-256 hex digest."""
    parts = []
    for name, level in sorted(rules.levels.items()):
        cal = level.calendar
        if hasattr(cal, "timezone"):
            hol = getattr(cal, "calendar", None)
            cal_desc: Any = (cal.timezone, sorted(cal.days), cal.open.isoformat(),
                             cal.close.isoformat(), sorted(d.isoformat() for d in cal.holidays),
                             None if hol is None else _calendar_id(hol))
        else:
            cal_desc = repr(cal)
        target = None if level.target is None else level.target.total_seconds()
        parts.append((name, level.rank, target, cal_desc))
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _calendar_id(calendar: Any) -> tuple[Any, ...]:
    """A bank-holiday calendar by what chooses its days (the ``holidays`` library's country,
    subdivision, observed rule, categories): its repr lists the days computed so far, which
    grows as the desk asks about new years."""
    return (type(calendar).__module__, type(calendar).__qualname__,
            *(_stable_repr(getattr(calendar, name, None)) for name in (
                "country", "subdiv", "observed", "categories", "market")))


def _stable_repr(value: Any) -> str:
    if isinstance(value, (set, frozenset)):  # a set's order changes with the hash seed
        return repr(sorted(map(repr, value)))
    return repr(value)


def package_version() -> str:
    from .. import version

    return version()


@dataclass
class Header:
    """The image's first part: what it was written for."""

    format: int
    version: str
    layout: list[tuple[str, tuple[str, ...]]]
    data_dir: str
    fingerprint: dict[str, Any]  # ``Store.image_fingerprint()`` when it was written
    fold: str  # ``fold_signature`` of the desk's rules
    python: tuple[int, int]

    def problem(self, data_dir: Path | str, rules: Any) -> str | None:
        """Why this image cannot be used for ``data_dir`` with ``rules``, or None.  The store's
        files are checked by ``Store`` against ``fingerprint``."""
        if self.format != FORMAT:
            return f"image format {self.format}, this version reads {FORMAT}"
        if self.version != package_version():
            return f"written by mentiondesk {self.version}, this is {package_version()}"
        if self.python != tuple(sys.version_info[:2]):
            return "written by another Python version"
        if [(n, tuple(f)) for n, f in self.layout] != layout():
            return "written for other object fields"
        if self.data_dir != data_dir_id(data_dir):
            return f"written for {self.data_dir}"
        if self.fold != fold_signature(rules):
            return "the response-time levels of rules.yaml changed since"
        return None


def write(path: Path, header: Header, body: dict[str, Any], *,
          write_bytes: Callable[[int, bytes | memoryview], int] = os.write,
          still_valid: Callable[[], bool] | None = None, later: tuple[str, ...] = ()) -> bool:
    """Write the image atomically: temp file (0600, in a 0700 directory), fsync, rename, fsync
    the directory.  ``write_bytes``: ``os.write`` (a test cuts it short to kill the writer
    half-way).  ``still_valid``: asked just before the rename; False (the data directory
    changed while this was pickled: a newer desk process ran) drops the file and returns
    False, so a slow writer never replaces a newer image with a stale one.  ``later``: names
    of ``body`` the next start may read after it starts serving (``Image.body``).  Raises
    OSError; a failed write leaves the previous image or none."""
    d = path.parent
    d.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    _remove_temps(d)  # a writer killed half-way left its temp file
    # The temp file first: a start meanwhile sees a live writer and waits for the image
    # (``wait_for_writer``) rather than read the snapshot while this pickles.
    tmp = d / f"{IMAGE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    try:
        head = pickle.dumps(header, protocol=5)
        data = _dumps(body, later)
        for chunk in (MAGIC, _LEN.pack(len(head), len(data), zlib.crc32(data)), head):
            _write_all(fd, chunk, write_bytes)
        _write_all(fd, data, write_bytes)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    if still_valid is not None and not still_valid():
        os.unlink(tmp)
        return False
    try:
        os.replace(tmp, path)
    except BaseException:  # e.g. a directory in the image's place: no temp file left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(d)
    return True


def _by_fields(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    fields: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]

    def reduce(obj: Any) -> tuple[Any, ...]:
        return cls, tuple([getattr(obj, f) for f in fields])

    return reduce


def _sorted_list_parts(sl: SortedList) -> tuple[Any, ...]:
    return _sorted_list, (sl._lists, sl._maxes, sl._load)


def _sorted_list(lists: list[list[Any]], maxes: list[Any], load: int) -> SortedList:
    """A SortedList from its sublists as they were, without sorting again (SortedList's own
    pickling sorts every value on load; its positional index is rebuilt when first needed)."""
    sl = SortedList()
    sl._lists, sl._maxes, sl._load = lists, maxes, load
    sl._len = sum(map(len, lists))
    return sl


# Items per frame of a part loaded later: ~4 ms of unpickling each at 100,000 conversations
# (p90; the longest ~25 ms, measured under load 2.4).
# A client's request waits for the frame being read at each turn of the desk process's event
# loop (an attach takes a dozen turns): 5,000 a frame made a first screen 0.45 s slower.
CHUNK = 1000


_FRAME = struct.Struct(">Q")  # each frame of the body: its length, then one pickle


def _pickle(value: Any) -> bytes:
    """``value`` pickled with our classes rebuilt by their constructor from their fields in
    order: half the load time of pickle's default (a dict of the fields per object, then an
    attribute set each), measured at 100,000 conversations.  ``layout`` guards the order."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.dispatch_table = {**copyreg.dispatch_table,
                              **{cls: _by_fields(cls) for cls in _CLASSES},
                              SortedList: _sorted_list_parts}
    pickler.dump(value)
    return out.getvalue()


def _dumps(body: dict[str, Any], later: tuple[str, ...] = ()) -> bytes:
    """The body as frames, each one pickle after its length: first ``(dict of every name not
    in later, later)``, then, for each name in ``later``, its value in frames of at most
    ``CHUNK`` items (``_dump_part``), which :func:`_load_part` reads one frame a step.  Frames
    share no pickle memo: one memo for millions of objects takes a quarter of a second to free
    at 100,000 conversations, in one go.  What the later parts hold (ids, numbers, times,
    customer records) is referred to by nothing else, so equal copies lose nothing."""
    later = tuple(name for name in later if name in body)
    frames: list[bytes] = []
    frames.append(_pickle(({k: v for k, v in body.items() if k not in later}, later)))
    for name in later:
        _dump_part(frames.append, body[name])
    out = io.BytesIO()
    for frame in frames:
        out.write(_FRAME.pack(len(frame)))
        out.write(frame)
    return out.getvalue()


def _dump_part(put: Callable[[bytes], Any], value: Any) -> None:
    """``value`` as frames: a head ``(kind, ...)`` then its pieces.  Large dicts, sets and
    lists go ``CHUNK`` items a frame, a SortedList by its parts, a ``DeadlineIndex`` attribute
    by attribute; anything else whole."""
    from .indexes import DeadlineIndex

    kind = type(value)
    if kind in (dict, set, list) and len(value) > CHUNK:
        items = list(value.items()) if kind is dict else list(value)
        pieces = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
        put(_pickle((kind.__name__, len(pieces))))
        for piece in pieces:
            put(_pickle(piece))
    elif kind is SortedList:
        put(_pickle(("sortedlist", value._load)))
        _dump_part(put, value._maxes)
        step = max(1, CHUNK // max(1, value._load))  # its sublists hold ~_load items each
        groups = [value._lists[i:i + step] for i in range(0, len(value._lists), step)]
        put(_pickle(("groups", len(groups))))
        for group in groups:
            put(_pickle(group))
    elif kind is DeadlineIndex:
        names = list(vars(value))
        put(_pickle(("object", kind, names)))
        for name in names:
            _dump_part(put, getattr(value, name))
    else:
        put(_pickle(("whole", value)))


class _Frames:
    """The body's frames, read in order from a buffer (the mapped file)."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._pos = 0

    def load(self) -> Any:
        if self._pos + _FRAME.size > len(self._view):
            raise ValueError("cut short")
        (n,) = _FRAME.unpack_from(self._view, self._pos)
        start = self._pos + _FRAME.size
        if start + n > len(self._view):
            raise ValueError("cut short")
        self._pos = start + n
        return pickle.loads(self._view[start:start + n])


def _load_part(frames: _Frames) -> Generator[None, None, Any]:
    """Read back one ``_dump_part``, yielding after each frame it reads (the caller's event
    loop runs in between); returns the value."""
    head = frames.load()
    kind = head[0]
    yield None
    if kind == "whole":
        return head[1]
    if kind in ("dict", "set", "list"):
        out: Any = {"dict": dict, "set": set, "list": list}[kind]()
        for _ in range(head[1]):
            piece = frames.load()
            if kind == "list":
                out.extend(piece)
            else:
                out.update(piece)
            yield None
        return out
    if kind == "sortedlist":
        maxes = yield from _load_part(frames)
        groups = frames.load()
        if groups[0] != "groups":
            raise ValueError("damaged sorted list")
        lists: list[list[Any]] = []
        for _ in range(groups[1]):
            lists.extend(frames.load())
            yield None
        return _sorted_list(lists, maxes, head[1])
    if kind == "object":
        obj = head[1].__new__(head[1])
        for name in head[2]:
            setattr(obj, name, (yield from _load_part(frames)))
        return obj
    raise ValueError(f"unknown part {kind!r}")


def _write_all(fd: int, data: bytes, write_bytes: Callable[[int, bytes | memoryview], int]
               ) -> None:
    view = memoryview(data)
    while view:
        n = write_bytes(fd, view[:1 << 24])
        view = view[n:]


class Image:
    """An image file opened and checked (owner, mode, magic, lengths); the body is read only
    by :meth:`body` (CRC-32 checked first)."""

    def __init__(self, path: Path, header: Header, fd: int, body_len: int, crc: int) -> None:
        self.path = path
        self.header = header
        self._fd = fd
        self._body_len = body_len
        self._crc = crc

    def body(self) -> dict[str, Any] | None:
        """The desk state the image holds, or None (logged) when it is damaged.

        The names written as ``later`` are not in it yet: ``body["later"]`` is a generator that
        reads them a frame (at most ``CHUNK`` items, ~4 ms at 100,000 conversations) per step,
        yielding None after each frame and ``(name, value)`` as each part is complete, in the order
        they were written, so a desk process can serve while it finishes loading
        (``Desk.load_later``).  The file is mapped, not copied (0.2 s saved at 100 MB), and checked
        whole (length, CRC-32) before anything is unpickled.  From before the CRC-32 touches the
        first mapped page until the last part is read, a marker ``desk.image.<pid>.loading``
        (``_put_marker``) sits beside it: a start that died reading it (a crash in the loader, a
        bus error on a failing disk) leaves the marker, and the next start does not use that
        image again (``open_image``).  A later part that cannot be read removes the image."""
        marker = self.path.with_name(f"{IMAGE}.{os.getpid()}.loading")
        try:
            st = os.fstat(self._fd)
            size = st.st_size
            start = size - self._body_len
            if start < 0:
                raise OSError("cut short")
            # Before the first mapped page is touched (the CRC-32 reads them all: a bus error
            # on a failing disk or a file cut short meanwhile kills the process right there).
            _put_marker(marker)
            mapped = mmap.mmap(self._fd, size, prot=mmap.PROT_READ)
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                os.unlink(marker)
            log.warning("state image %s not used: %s", self.path, exc)
            return None
        finally:
            self.close()
        view = memoryview(mapped)[start:]

        def release() -> None:
            with contextlib.suppress(OSError):
                os.unlink(marker)
            with contextlib.suppress(BufferError):  # a view still held: closed when freed
                view.release()
                mapped.close()

        if zlib.crc32(view) != self._crc:
            release()
            log.warning("state image %s not used: damaged (checksum)", self.path)
            return None
        try:
            frames = _Frames(view)
            with paused_gc():  # millions of acyclic objects: the collector would only walk them
                first = frames.load()
            eager, later = first
            if not isinstance(eager, dict) or not isinstance(later, tuple):
                raise ValueError("not a desk state")
        except Exception as exc:  # a damaged pickle can raise almost anything
            release()
            log.warning("state image %s not used: %s", self.path, exc)
            return None
        if not later:
            release()
            eager["later"] = None
            return eager

        def rest() -> Generator[tuple[str, Any] | None, None, None]:
            try:
                for name in later:
                    part = _load_part(frames)
                    while True:
                        with paused_gc():
                            try:
                                next(part)
                            except StopIteration as done:
                                value = done.value
                                break
                        yield None
                    yield name, value
            except Exception:  # it passed the CRC-32: a bug or a forged file; never again
                self._drop(st)
                raise
            finally:
                release()

        eager["later"] = rest()
        return eager

    def _drop(self, st: os.stat_result) -> None:
        """Remove the image file read (``st``: its stat), so no later start reads it again;
        a newer file in its place is left alone."""
        with contextlib.suppress(OSError):
            now = os.stat(self.path, follow_symlinks=False)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(self.path)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# How long a start waits for the image the desk process that just stopped is still writing (its
# forked writer pickles 3-8 s at 100,000 open conversations; a start without the image reads the
# snapshot in 7-8 s).  Past it, the start reads the snapshot (never wrong, only slower).
WRITER_WAIT = 15.0


def wait_for_writer(data_dir: Path | str, timeout: float = WRITER_WAIT) -> float:
    """Wait while another live process writes the image of ``data_dir`` (its temp file
    ``desk.image.<pid>.tmp``: created before it pickles), at most ``timeout`` seconds.
    Returns the seconds waited."""
    d = image_dir(data_dir)
    started = time.monotonic()
    while _live_writer(d) is not None and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started


def _side_files(d: Path, suffix: str) -> list[tuple[os.DirEntry[str], str]]:
    """The files ``desk.image.<pid><suffix>`` in ``d`` (writers' ``.tmp``, readers'
    ``.loading``) with the pid part of their names (not checked to be digits)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(d):
            name = entry.name
            if name.startswith(IMAGE + ".") and name.endswith(suffix):
                found.append((entry, name[len(IMAGE) + 1:-len(suffix)]))
    return found


def _live_writer(d: Path) -> int | None:
    """The pid of a live process (not this one) writing an image in ``d``, or None."""
    for entry, pid in _side_files(d, ".tmp"):
        if _writer_alive(entry, pid):
            return int(pid)
    return None


def open_image(data_dir: Path | str, rules: Any) -> Image | None:
    """The image of ``data_dir`` if there is one this process may trust and that fits
    ``rules``; else None, with the reason logged (nothing there is not worth a line).  A
    writer still at work on it (the desk process that just stopped) is waited for first
    (``wait_for_writer``)."""
    path = image_path(data_dir)
    writer = _live_writer(path.parent)
    if writer is not None:
        waited = wait_for_writer(data_dir)
        log.info("state image %s: waited %.1f s for its writer (pid %d)%s", path, waited, writer,
                 "" if _live_writer(path.parent) is None else ", still writing: not used")
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None  # none, or in a directory that is not ours (another user's cache)
    except OSError as exc:
        log.warning("state image %s not used: %s", path, exc)
        return None
    stale = False  # a mismatch is only logged at INFO: expected after an upgrade
    try:
        problem = _trust_problem(path, os.fstat(fd)) or _died_loading(path)
        header = None
        if problem is None:
            head = _read_exact(fd, len(MAGIC) + _LEN.size)
            if head[:len(MAGIC)] != MAGIC or len(head) != len(MAGIC) + _LEN.size:
                problem = "not a state image (or cut short)"
            else:
                head_len, body_len, crc = _LEN.unpack(head[len(MAGIC):])
                raw = _read_exact(fd, head_len)
                try:
                    header = pickle.loads(raw) if len(raw) == head_len else None
                except Exception:
                    header = None
                if not isinstance(header, Header):
                    problem = "its header is damaged"
                else:
                    problem = header.problem(data_dir, rules)
                    stale = problem is not None
    except OSError as exc:
        problem = str(exc)
    if problem is not None or header is None:
        os.close(fd)
        (log.info if stale else log.warning)("state image %s not used: %s", path, problem)
        return None
    return Image(path, header, fd, body_len, crc)


def _start_ticks(pid: int) -> str | None:
    """Process ``pid``'s start time: clock ticks since boot, field 22 of ``/proc/<pid>/stat``
    (man 5 proc); None when that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _process_identity(pid: int) -> str:
    """What tells process ``pid`` from a later one given the same pid (a restarted container's
    desk process is pid 1 again): Linux's boot id and the process's start time
    (``_start_ticks``).  "" when that cannot be read."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return ""
    started = _start_ticks(pid)
    return "" if started is None else f"{boot} {started}"


def _put_marker(marker: Path) -> None:
    """The ``.loading`` marker of this process: its name holds the pid, its text
    ``_process_identity`` (raises OSError: then the image is not read, since a crash while
    reading it would leave nothing to stop the next start from reading it again)."""
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    try:
        _write_all(fd, _process_identity(os.getpid()).encode(), os.write)
    finally:
        os.close(fd)


def _marker_alive(entry: os.DirEntry[str], pid: str) -> bool:
    """True when the process that wrote the ``.loading`` marker ``entry`` still runs (the
    pid runs, and it is the same process: a pid reused since, ours included, is not)."""
    if not pid.isdigit():
        return False
    try:
        with open(entry.path, "rb") as f:
            written = f.read(200).decode("ascii", "replace").strip()
    except OSError:
        written = ""
    if written:
        return written == _process_identity(int(pid))
    # An empty marker (a start killed before it wrote it, or no /proc): the pid alone, and
    # never ours (this process has not started reading yet).
    return int(pid) != os.getpid() and process_running(int(pid))


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (UTC POSIX seconds, to a clock tick: Linux's /proc boot
    time plus ``_start_ticks``), or None when that cannot be read."""
    ticks = _start_ticks(pid)
    try:
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
        return None if ticks is None else boot + int(ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def _writer_alive(entry: os.DirEntry[str], pid: str) -> bool:
    """True when the process that names the temp file ``entry`` (``desk.image.<pid>.tmp``)
    may still be writing it: that pid runs, is not this process, and started before the file
    was last written (a pid reused since, by a process started later, is not its writer)."""
    if not pid.isdigit() or int(pid) == os.getpid() or not process_running(int(pid)):
        return False
    started = _started_at(int(pid))
    try:
        written = entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    return started is None or started <= written + 1.0  # 1 s: the boot time's rounding


def _died_loading(path: Path) -> str | None:
    """Why the image at ``path`` must not be read again: a start died reading it (its
    ``.loading`` marker is left and its process is gone, or its pid now belongs to another
    process).  The image and the marker go."""
    dead = [entry.path for entry, pid in _side_files(path.parent, ".loading")
            if not _marker_alive(entry, pid)]
    if not dead:
        return None
    for name in (*dead, str(path)):
        with contextlib.suppress(OSError):
            os.unlink(name)
    return "a start died while reading it (removed; this start reads the snapshot)"


def _trust_problem(path: Path, st: os.stat_result) -> str | None:
    """Why a file at ``path`` with stat ``st`` must not be unpickled by this process."""
    me = os.geteuid()
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    for what, s in ((path.name, st), (str(path.parent), os.stat(path.parent)),
                    (str(path.parent.parent), os.stat(path.parent.parent))):
        if s.st_uid != me:
            return f"{what} is owned by uid {s.st_uid}, not by this process's user ({me})"
        if s.st_mode & 0o022:
            return f"{what} is writable by group or others (mode {stat.S_IMODE(s.st_mode):o})"
    return None


def _read_exact(fd: int, n: int) -> bytes:
    parts = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 24))
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def remove(data_dir: Path | str) -> None:
    """Delete the image of ``data_dir`` and temp files a killed writer left (never raises)."""
    d = image_dir(data_dir)
    with contextlib.suppress(OSError):
        os.unlink(d / IMAGE)
    _remove_temps(d)


def _remove_temps(d: Path) -> None:
    """Temp files of writers that are gone (killed half-way); a live writer's is left alone."""
    for entry, pid in _side_files(d, ".tmp"):
        if not _writer_alive(entry, pid):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)

