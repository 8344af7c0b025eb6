"""Reading the archive for reports: each file parsed once, files outside the window not read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock, new_desk
from deskkit import mention
from tinydb import TinyDB

from tui.core import store as store_mod
from tui.core.metrics import archived_records, collect, compute, live_records
from tui.core.store import Store


def T(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The archive files parsed (names), in order."""
    seen: list[str] = []
    real = store_mod._read_tinydb

    def spy(path: Path, **kw: Any) -> Any:
        if path.parent.name == "archive":
            seen.append(path.name)
        return real(path, **kw)

    monkeypatch.setattr(store_mod, "_read_tinydb", spy)
    return seen


def conv(cid: str, created: datetime, closed: datetime) -> dict[str, Any]:
    return {"id": cid, "created_at": created.isoformat(), "closed_at": closed.isoformat()}


def three_months(data_dir: Path) -> None:
    with Store(data_dir) as s:
        s.archive({"conversations": {"c9": conv("c9", T(9, 2), T(9, 3))},
                   "mentions": {"m9": {"conv": "c9", "created_at": T(9, 2).isoformat()}}},
                  month="2026-09")
        s.archive({"conversations": {"c10": conv("c10", T(10, 2), T(10, 20))},
                   "events": {"e10": {"conv": "c10", "at": T(10, 20).isoformat()}}},
                  month="2026-10")
        s.archive({"conversations": {"c11": conv("c11", T(10, 30), T(11, 3)),
                                     "c10": {**conv("c10", T(10, 2), T(11, 2)), "v": 2}}},
                  month="2026-11")


def test_archived_tables_parses_each_file_once(tmp_path: Path, reads: list[str]) -> None:
    three_months(tmp_path)
    reads.clear()  # archive() reads a file before rewriting it
    with Store(tmp_path) as s:
        got = s.archived_tables(["conversations", "mentions", "events"])
    assert sorted(reads) == ["2026-09.json", "2026-10.json", "2026-11.json"]
    assert set(got) == {"conversations", "mentions", "events"}
    assert got["conversations"]["c10"]["v"] == 2  # the newest month's copy of a key
    assert set(got["conversations"]) == {"c9", "c10", "c11"}
    assert list(got["mentions"]) == ["m9"] and list(got["events"]) == ["e10"]


def test_archive_parts_come_oldest_first_one_file_each(tmp_path: Path, reads: list[str]) -> None:
    three_months(tmp_path)
    reads.clear()  # archive() reads a file before rewriting it
    with Store(tmp_path) as s:
        names = []
        for name, part in s.archive_parts(["conversations"]):
            names.append(name)
            assert reads[-1] == f"{name}.json"  # read only when its turn comes
            assert set(part) == {"conversations"}
    assert names == ["2026-09", "2026-10", "2026-11"]


def test_files_before_the_window_are_not_read(tmp_path: Path, reads: list[str]) -> None:
    three_months(tmp_path)
    reads.clear()  # archive() reads a file before rewriting it
    with Store(tmp_path) as s:
        # November: September and October cannot hold anything since November 1.
        parts = dict(s.archive_parts(["conversations"], since=T(11, 1, 0)))
        assert list(parts) == ["2026-11"] and reads == ["2026-11.json"]
        # October 25: October's file is older than its month, but its newest time (Oct 20)
        # is before the window: not read either.
        reads.clear()
        assert list(dict(s.archive_parts(["conversations"], since=T(10, 25)))) == ["2026-11"]
        assert reads == ["2026-11.json"]
        reads.clear()
        got = s.archived_tables(["conversations"], since=T(10, 15))
        assert sorted(reads) == ["2026-10.json", "2026-11.json"]
        assert set(got["conversations"]) == {"c10", "c11"}
        # After everything: nothing is read at all.
        reads.clear()
        assert s.archived_tables(["conversations"], since=T(11, 4)) == {"conversations": {}}
        assert reads == []
    meta = TinyDB(tmp_path / "archive" / "2026-11.json")  # still a TinyDB file
    try:
        (record,) = meta.table("_store").all()
        assert record["grouped"] is True and record["newest"] == "2026-11-03T12:00:00Z"
        assert len(meta.table("conversations")) == 2
    finally:
        meta.close()


def test_files_archived_per_document_are_read_together(tmp_path: Path, reads: list[str]) -> None:
    """Files written without month= (before whole-conversation archiving) spread one
    conversation over months: a window reaching any of them reads them all, as one part."""
    with Store(tmp_path) as s:
        s.archive({"conversations": {"c1": conv("c1", T(10, 31, 23), T(11, 1, 1))},
                   "mentions": {"m1": {"conv": "c1", "created_at": T(10, 31, 23).isoformat()}},
                   "events": {"e1": {"conv": "c1", "at": T(11, 1, 1).isoformat()}}})
        s.archive({"conversations": {"c2": conv("c2", T(12, 1), T(12, 2))}}, month="2026-12")
        assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [
            "2026-10.json", "2026-11.json", "2026-12.json"]
        reads.clear()
        parts = dict(s.archive_parts(["conversations", "mentions", "events"],
                                     since=T(11, 1, 0)))
        assert sorted(reads) == ["2026-10.json", "2026-11.json", "2026-12.json"]
        assert list(parts) == ["mixed", "2026-12"]
        assert set(parts["mixed"]["mentions"]) == {"m1"}  # October's file: c1 started there
        assert set(parts["mixed"]["events"]) == {"e1"}
        reads.clear()
        assert list(dict(s.archive_parts(["conversations"], since=T(11, 20)))) == ["2026-12"]
        assert reads == ["2026-12.json"]


# ==== through the desk and the report records ==================================================


def closed_in_october_and_november(data_dir: Path) -> tuple[Any, Clock, dict[str, str]]:
    """amy: written, answered and resolved on 30 October.  bob: wrote 31 October 23:00,
    answered and resolved 1 November.  Archived on 3 November."""
    store = Store(data_dir)
    clock = Clock(T(10, 30, 10))
    desk = new_desk(store, clock)
    ids = {}
    for handle, start, reply, close in (("amy", T(10, 30, 10), T(10, 30, 10, 10),
                                         T(10, 30, 10, 20)),
                                        ("bob", T(10, 31, 23), T(11, 1, 0, 30), T(11, 1, 1))):
        clock.now = start
        cid = ids[handle] = desk.ingest([mention("my train was cancelled, still waiting",
                                                 handle, at=start)])[0].conv_id
        clock.now = reply
        desk.reply(cid, "Sorry, the latest is at https://status.northline.example")
        clock.now = close
        desk.resolve(cid)
    for item in desk.outbox.due(clock.now + timedelta(days=1)):
        desk.outbox.start(item["id"])
        desk.outbox.sent(item["id"], "remote-" + item["id"][:8])
    clock.now = T(11, 3)
    assert desk.checkpoint() == 2
    assert sorted(p.name for p in (data_dir / "archive").iterdir()) == [
        "2026-10.json", "2026-11.json"]
    return desk, clock, ids


def test_a_november_window_does_not_read_october(tmp_path: Path, reads: list[str]) -> None:
    desk, _clock, ids = closed_in_october_and_november(tmp_path)
    reads.clear()
    since, now = T(11, 1, 0), T(11, 3)
    recs = collect(desk, since)
    assert reads == ["2026-11.json"]  # amy's conversation, closed in October, is never read
    assert [r.id for r in recs] == [ids["bob"]]
    (bob,) = recs
    # bob's conversation comes whole: its October mention, November reply and resolve.
    assert [m.created_at for m in bob.mentions()] == [T(10, 31, 23)]
    assert [(e.kind, e.at) for e in bob.events()] == [("reply", T(11, 1, 0, 30)),
                                                      ("resolve", T(11, 1, 1))]
    windowed = compute(recs, desk.rules, since, now)
    assert (windowed.resolved, windowed.mentions, windowed.episodes) == (1, 0, 0)
    # The same figures as from the whole archive read without skipping anything.
    everything = live_records(desk) + archived_records(desk.store)
    assert {r.id for r in everything} == {ids["amy"], ids["bob"]}
    assert compute(everything, desk.rules, since, now).to_dict() == windowed.to_dict()
    # An October window reads both and counts both episodes.
    reads.clear()
    october = compute(collect(desk, T(10, 30, 0)), desk.rules, T(10, 30, 0), now)
    assert sorted(reads) == ["2026-10.json", "2026-11.json"]
    assert (october.resolved, october.mentions, october.episodes) == (2, 2, 2)
    assert october.first_response.count == 2
    desk.store.close()
