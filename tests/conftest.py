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

import copy
import functools
import os
import tempfile
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

from tui.core.desk import Desk
from tui.core.replies import Replies, load_replies
from tui.core.rules import Rules, load_rules
from tui.core.store import Store
from tui.sources.demo import generate

ROOT = Path(__file__).resolve().parents[1]

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
