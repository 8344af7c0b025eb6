"""What every test shares: one clock and one desk factory.

Fixtures:

- ``clock``: a :class:`Clock` standing at :data:`EPOCH`; tests move it by hand.
- ``make_desk``: builds a real :class:`~tui.core.desk.Desk` from the repository's rules.yaml and
  replies.yaml on the ``clock`` fixture (see :func:`new_desk` for the arguments).
- ``desk``: ``make_desk()``: an empty desk with no store.

Helpers that build desks outside a test function (tests/shiftkit.py, module-level helpers)
import :class:`Clock`, :data:`EPOCH` and :func:`new_desk` from here.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# Every command logs to the platform log directory: keep the tests' logs out of the user's
# (child processes inherit this too).  Tests that look at the log set their own directory.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="mentiondesk-test-logs-")
# The per-user cache (bank holidays, the desk process's state images): the tests start from
# an empty one, never the user's (a 0700 directory, as the image needs).
os.environ["MENTIONDESK_CACHE_DIR"] = tempfile.mkdtemp(prefix="mentiondesk-test-cache-")

# The default (a console or an action command starts a desk process in the background, tmux
# style) is tested end to end where it is the point: tests/server/test_autostart.py and
# tests/console/test_hangup.py use the ``default_desk_process`` fixture.  Tests of what a
# command or the console *does* run with the documented opt-out (the desk in the process
# itself, as before), so each `mentiondesk queue` in a test is not a desk process left waiting
# 30 s for its next client while the test opens the store.  Child processes inherit this.
os.environ["MENTIONDESK_DESK_PROCESS"] = "direct"
# The suite starts hundreds of `mentiondesk` child processes.  With PYTHONDONTWRITEBYTECODE
# (CI sets it) each would compile the project's modules from source again (~0.3-0.5 s of CPU
# each); the children share one bytecode cache instead, in a directory of this run's own (set
# by the first process, inherited by xdist's workers and every child; never the checkout's
# __pycache__).  Removed at the end of the run by the process that made it.
if "MENTIONDESK_TEST_PYCACHE" not in os.environ:
    os.environ["MENTIONDESK_TEST_PYCACHE"] = os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(
        prefix="mentiondesk-test-pycache-")
    _OWN_PYCACHE: str | None = os.environ["MENTIONDESK_TEST_PYCACHE"]
else:
    _OWN_PYCACHE = None
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# Every process this test process starts carries this mark, so that a desk process a test
# started (directly or through a `mentiondesk` child) is found and stopped at its teardown.
os.environ["MENTIONDESK_TEST_RUN"] = f"{os.getpid()}-{os.urandom(4).hex()}"

from tui.core.desk import Desk
from tui.core.replies import Replies, load_replies
from tui.core.rules import Rules, load_rules
from tui.core.store import Store, process_running
from tui.sources.demo import generate

ROOT = Path(__file__).resolve().parents[1]
TEST_MARK = "MENTIONDESK_TEST_RUN"  # set above, before the imports

# Monday 3 March 2025, 08:00 in London (GMT, so 08:00 UTC): the office has just opened.
EPOCH = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
# Demo desks hold mentions from the half hour before EPOCH.
DEMO_START = EPOCH - timedelta(minutes=30)
# The agent every test desk acts as (the console shows it in the status bar).
AGENT = "tester"


class Clock:
    """A clock tests move by hand: call it for the time (UTC)."""

    def __init__(self, now: datetime = EPOCH) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        """Move forward by ``timedelta(**kw)``; returns the new time."""
        self.now += timedelta(**kw)
        return self.now


@functools.cache
def _loaded_policy() -> tuple[Rules, Replies]:
    replies = load_replies(ROOT / "replies.yaml")
    # Compiled here once (word lists, stems, the key-word index): each deep copy then holds
    # them, instead of every test desk compiling its own on its first triage (~0.2 s).
    rules = load_rules(ROOT / "rules.yaml", reply_keys=set(replies.keys)).compile()
    return rules, replies


def policy() -> tuple[Rules, Replies]:
    """The repository's rules.yaml and replies.yaml, checked together as the desk loads them.

    Parsed once per test process (about half a second each time) and handed out as a deep copy,
    so a test that changes its desk's rules never changes another test's.
    """
    return copy.deepcopy(_loaded_policy())


def new_desk(store: Store | None = None, clock: Callable[[], datetime] | None = None, *,
             data_dir: Path | None = None, demo: int = 0, seed: int = 7,
             agent: str = AGENT, **kw: Any) -> Desk:
    """The one test desk factory.

    ``store``: a Store to persist to, or ``data_dir``: open a Store there (not both); neither
    keeps the desk in memory.  ``clock``: default a new :class:`Clock` at :data:`EPOCH`.
    ``demo``: ingest that many demo-stream mentions (``seed``), spread over the half hour
    before EPOCH.  Other keywords go to :class:`Desk` (``undo_seconds``, ``archive_after``...).
    """
    assert store is None or data_dir is None, "give a store or a data_dir, not both"
    if data_dir is not None:
        store = Store(Path(data_dir))
    rules, replies = policy()
    desk = Desk(rules, replies, store, agent=agent, clock=clock or Clock(), **kw)
    if demo:
        desk.ingest(generate(demo, seed, rate=demo / 1800, start=DEMO_START))
    return desk


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_desk(clock: Clock) -> Callable[..., Desk]:
    """:func:`new_desk` on the test's ``clock`` unless another is given."""
    test_clock = clock

    def make(store: Store | None = None, clock: Callable[[], datetime] | None = None,
             **kw: Any) -> Desk:
        return new_desk(store, clock or test_clock, **kw)

    return make


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk()


@pytest.fixture
def desk_dir() -> Any:
    """A short data directory for a real desk process (Unix socket paths are limited to 107
    bytes); its desk process is stopped afterwards (tests/serverkit.py)."""
    from serverkit import short_desk_dir

    yield from short_desk_dir()


# ==== no desk process outlives its test =========================================================

def _pids() -> set[str]:
    return {name for name in os.listdir("/proc") if name.isdigit()}


def _marked_desk_processes(pids: set[str] | None = None) -> dict[int, Path | None]:
    """The desk processes (``mentiondesk server``) started from this test process, by pid, with
    their data directory (from their command line) when it shows; among ``pids`` when given."""
    mark = f"{TEST_MARK}={os.environ[TEST_MARK]}".encode()
    found: dict[int, Path | None] = {}
    for name in _pids() if pids is None else pids:
        if int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if b"server" not in argv:
                continue
            with open(f"/proc/{name}/environ", "rb") as f:
                if mark not in f.read().split(b"\0"):
                    continue
        except OSError:
            continue
        data = argv[argv.index(b"--data-dir") + 1] if b"--data-dir" in argv[:-1] else None
        found[int(name)] = Path(os.fsdecode(data)) if data else None
    return found


def stop_desk_processes(pids: dict[int, Path | None], wait: float = 15.0) -> None:
    """Stop these desk processes cleanly (a ``stop`` request: flush, snapshot, exit), else
    SIGTERM, and SIGKILL whatever still runs after ``wait`` seconds."""
    import signal

    from tui.server.client import DeskClient, NotRunning

    for pid, data in pids.items():
        asked = False
        if data is not None:
            try:
                with DeskClient.connect(data, timeout=5) as client:
                    if client.server_pid == pid:
                        client.request("stop")
                        asked = True
            except (NotRunning, ConnectionError, OSError, Exception):
                asked = False
        if not asked:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    for pid in pids:
        while process_running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if process_running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def no_leftover_desk_process() -> Any:
    """Any desk process that appeared during the test is stopped at its teardown (SIGKILL
    when it does not stop): tests never leak ``mentiondesk server`` processes."""
    before = _pids()  # cheap: only the processes that appear meanwhile are looked at
    yield
    left = _marked_desk_processes(_pids() - before)
    if left:
        stop_desk_processes(left)


@pytest.fixture(autouse=True, scope="session")
def no_leftover_desk_process_at_all() -> Any:
    yield
    left = _marked_desk_processes()
    if left:
        stop_desk_processes(left)


@pytest.fixture
def default_desk_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: consoles and action commands start a desk process when none runs (no
    ``MENTIONDESK_DESK_PROCESS=direct``, which the other tests run with)."""
    monkeypatch.delenv("MENTIONDESK_DESK_PROCESS", raising=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's bytecode cache for child processes (top of this file) goes with the run."""
    if _OWN_PYCACHE is not None:
        import shutil

        shutil.rmtree(_OWN_PYCACHE, ignore_errors=True)
