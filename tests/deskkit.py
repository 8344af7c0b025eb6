"""Shared helpers for tests that drive a real Desk: real rules.yaml/replies.yaml, a settable
clock, and a terse way to write mentions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tui.core.desk import Desk
from tui.core.model import Mention
from tui.core.replies import load_replies
from tui.core.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
# A Monday, 10:00 in London (GMT in November): office hours are open.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = MONDAY_10) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def policy() -> tuple[Any, Any]:
    replies = load_replies(ROOT / "replies.yaml")
    return load_rules(ROOT / "rules.yaml", reply_keys=set(replies.keys)), replies


def make_desk(store: Any = None, clock: Clock | None = None, **kw: Any) -> Desk:
    rules, replies = policy()
    return Desk(rules, replies, store, clock=clock or Clock(), **kw)


_counter = [0]


def mention(text: str, handle: str = "amy", *, channel: str = "public", at: datetime | None = None,
            mid: str | None = None, followers: int = 10, name: str = "Amy Pond",
            source: str = "demo", **extra: Any) -> Mention:
    _counter[0] += 1
    data = {
        "id": mid or f"m{_counter[0]}",
        "text": text,
        "author": {"handle": handle, "name": name, "followers": followers},
        "created_at": (at or MONDAY_10).isoformat(),
        "channel": channel,
        **extra,
    }
    return Mention.from_dict(data, source=source, received_at=at or MONDAY_10)


def files_of(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under the data dir: bytes and mtime (what a reader must never change)."""
    return {str(p.relative_to(data_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(data_dir.rglob("*")) if p.is_file()}
