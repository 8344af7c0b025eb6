"""A terse way to write mentions for desk tests, and a snapshot of a data directory.

The clock and the desk factory are in conftest.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from conftest import EPOCH

from tui.core.model import Mention

_counter = [0]


def mention(text: str, handle: str = "amy", *, channel: str = "public", at: datetime | None = None,
            mid: str | None = None, followers: int = 10, name: str = "Amy Pond",
            source: str = "demo", **extra: Any) -> Mention:
    _counter[0] += 1
    data = {
        "id": mid or f"m{_counter[0]}",
        "text": text,
        "author": {"handle": handle, "name": name, "followers": followers},
        "created_at": (at or EPOCH).isoformat(),
        "channel": channel,
        **extra,
    }
    return Mention.from_dict(data, source=source, received_at=at or EPOCH)


def files_of(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under the data dir: bytes and mtime (what a reader must never change)."""
    return {str(p.relative_to(data_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(data_dir.rglob("*")) if p.is_file()}
