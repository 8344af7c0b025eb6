"""Damage never drops intact records: corrupted copies of a real data directory (a desk that
ingested, acted, checkpointed, archived and went on) start, rebuild what can be rebuilt, keep
the rest in a side file and say exactly what was kept where."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Clock
from conftest import new_desk as make_desk

from tests.deskkit import mention
from tui.cli import main
from tui.core.store import Store

REFUND = "@northline I want a refund for my cancelled train"
LOST = "@northline my bag was lost on the 07:48"


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A desk as it is after a day: archived month, snapshot, and a journal on top."""
    data = tmp_path_factory.mktemp("desk") / "d"
    clock = Clock()
    store = Store(data)
    desk = make_desk(store, clock)
    old = desk.ingest([mention(REFUND, "olga", at=clock.now)])[0].conv_id
    desk.reply(old, "Sorry Olga, refund on its way.")
    clock.advance(minutes=1)
    for item in desk.outbox.due():
        desk.outbox.start(item["id"])
        desk.outbox.sent(item["id"], "remote-1")
    desk.resolve(old)
    clock.advance(days=2)
    amy = desk.ingest([mention(REFUND, "amy", at=clock.now)])[0].conv_id
    bob = desk.ingest([mention(LOST, "bob", at=clock.now)])[0].conv_id
    desk.reply(bob, "Sorry Bob, we are looking for your bag.")  # pending in the outbox
    assert desk.checkpoint() == 1  # olga archived; amy and bob in the snapshot
    clock.advance(minutes=5)
    desk.ingest([mention(REFUND + " still waiting", "amy", at=clock.now)])  # journal only
    desk.note(amy, "called the station")
    store.close()
    return data


def copy(real_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "d"
    shutil.copytree(real_dir, dst)
    (dst / "lock").unlink(missing_ok=True)
    return dst


def cli(capsys, data: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def setaside(data: Path) -> list[dict]:
    files = sorted(data.glob("setaside-*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_a_deleted_snapshot_rebuilds_headers_and_keeps_the_rest_aside(
        real_dir: Path, tmp_path: Path, capsys) -> None:
    data = copy(real_dir, tmp_path)
    (data / "desk.json").unlink()
    code, out, err = cli(capsys, data, "queue", "--json")
    assert code == 0 and "Traceback" not in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["handle"] for r in rows] == ["amy"]  # amy's follow-up is in the journal
    assert "header was missing; rebuilt from its mentions" in err
    assert "are in neither desk.json (missing) nor the journal" in err  # what is gone
    for rec in setaside(data):  # anything kept aside is named with its file
        assert rec["key"] in err and "setaside-" in err
    # Repaired once: the next start is clean.
    code, out, err2 = cli(capsys, data, "queue", "--json")
    assert code == 0 and "rebuilt" not in err2 and "setaside" not in err2


def test_a_truncated_snapshot_keeps_what_parses_and_every_orphan(
        real_dir: Path, tmp_path: Path, capsys) -> None:
    data = copy(real_dir, tmp_path)
    snap = data / "desk.json"
    raw = snap.read_bytes()
    # Cut inside the conversations table: the mentions and outbox after it are lost from
    # the snapshot, the journal's records whose headers were cut are rebuilt or kept.
    cut = raw.index(b'"conversations"') + 20
    snap.write_bytes(raw[:cut])
    store = Store(data)
    desk = make_desk(store, Clock())
    notes = "\n".join(store.recovered)
    assert "desk.json" in notes and "moved to desk.json.broken-" in notes
    assert any(c.handle == "amy" for c in desk.conversations.values())
    store.close()


def test_a_truncated_snapshot_with_an_empty_journal_keeps_every_intact_document(
        tmp_path: Path) -> None:
    # Everything is in the snapshot (checkpointed: the journal is empty); the file is cut in
    # half.  Every mention before the cut is an intact document: each one is kept.
    data = tmp_path / "d"
    clock = Clock()
    store = Store(data)
    desk = make_desk(store, clock)
    for n in range(60):
        desk.ingest([mention(f"my train was cancelled ({n})", f"cust{n}", at=clock.now)])
    desk.checkpoint()
    store.close()
    assert (data / "journal.jsonl").stat().st_size == 0
    snap = data / "desk.json"
    raw = snap.read_bytes()
    snap.write_bytes(raw[: len(raw) // 2])
    before_cut = json.loads(raw)
    store = Store(data)
    desk = make_desk(store, clock)
    notes = "\n".join(store.recovered)
    assert "intact documents before the damage" in notes, notes
    kept = {m.text for m in desk.mentions.values()}
    # The mentions table comes first in the file: the intact documents of its first half are
    # all kept (the old code kept none), and nothing is invented.
    assert len(kept) >= 20
    assert kept <= {d["text"] for d in before_cut["mentions"].values()}
    store.close()


def test_orphan_events_and_a_pending_reply_are_kept_and_named(tmp_path: Path) -> None:
    data = tmp_path / "d"
    clock = Clock()
    store = Store(data)
    desk = make_desk(store, clock)
    bob = desk.ingest([mention(LOST, "bob", at=clock.now)])[0].conv_id
    desk.reply(bob, "Sorry Bob, we are looking for your bag.")
    store.close()
    # The mention and the header are gone (a damaged journal line each), the reply is not.
    lines = (data / "journal.jsonl").read_bytes().splitlines(keepends=True)
    kept = [ln for ln in lines if b'"t":"mentions"' not in ln and b'"t":"conversations"' not in ln]
    (data / "journal.jsonl").write_bytes(b"".join(kept))
    store = Store(data)
    desk = make_desk(store, clock)
    assert desk.conversations == {}
    notes = "\n".join(store.recovered)
    side = next(data.glob("setaside-*.jsonl"))
    assert f"a reply to @bob not yet sent: its conversation #{bob} is missing; kept in " \
           f"{side.name}" in notes
    assert "events e" in notes and side.name in notes
    records = [json.loads(x) for x in side.read_text().splitlines()]
    assert {r["table"] for r in records} >= {"events", "outbox"}
    assert any(r["doc"].get("text", "").startswith("Sorry Bob") for r in records)
    assert (side.stat().st_mode & 0o777) == 0o600
    desk.checkpoint()  # the next snapshot cannot destroy them: they are in the side file
    store.close()
    assert side.read_text()


def test_a_flipped_bit_in_the_last_record_is_damage_with_its_bytes_kept(
        real_dir: Path, tmp_path: Path) -> None:
    data = copy(real_dir, tmp_path)
    journal = data / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    last = bytearray(lines[-1])
    last[30] ^= 0x01  # one bit, the newline intact
    journal.write_bytes(b"".join(lines[:-1]) + bytes(last))
    with Store(data) as store:
        notes = store.recovered
    assert len(notes) == 1
    assert notes[0].startswith(f"journal: line {len(lines)} is damaged (bad checksum")
    assert "not a torn write" in notes[0]
    side = next(data.glob("journal.jsonl.damaged-*"))
    assert side.name in notes[0] and side.read_bytes() == bytes(last)


def test_several_zeroed_records_are_counted_as_damage(real_dir: Path, tmp_path: Path) -> None:
    data = copy(real_dir, tmp_path)
    journal = data / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 4
    zeroed = [b"\0" * (len(ln) - 1) + b"\n" for ln in lines[-3:]]
    journal.write_bytes(b"".join(lines[:-3] + zeroed))
    with Store(data) as store:
        notes = [n for n in store.recovered if "damaged" in n]
    assert len(notes) == 3 and all("zeroed" in n for n in notes)
    side = next(data.glob("journal.jsonl.damaged-*"))
    assert side.read_bytes().count(b"\n") == 3


def test_a_mention_without_triage_is_triaged_again_never_a_crash(
        real_dir: Path, tmp_path: Path, capsys) -> None:
    data = copy(real_dir, tmp_path)
    snap = data / "desk.json"
    db = json.loads(snap.read_text())
    doc = next(iter(db["mentions"].values()))
    del doc["triage"]
    snap.write_text(json.dumps(db))
    code, _out, err = cli(capsys, data, "queue")
    assert code == 0, err
    assert "triage was missing ('triage'); triaged again" in err
    code, _out, err = cli(capsys, data, "queue")
    assert code == 0 and "triaged again" not in err  # saved: repaired once


def test_a_mention_missing_its_text_is_set_aside_not_a_crash(
        real_dir: Path, tmp_path: Path, capsys) -> None:
    data = copy(real_dir, tmp_path)
    snap = data / "desk.json"
    db = json.loads(snap.read_text())
    doc = next(iter(db["mentions"].values()))
    del doc["text"]
    snap.write_text(json.dumps(db))
    code, _out, err = cli(capsys, data, "queue")
    assert code == 0, err
    assert "unreadable (missing ('text'))" in err and "setaside-" in err
    assert [r["table"] for r in setaside(data)] == ["mentions"]


def test_a_damaged_archive_month_is_reported_by_every_reader(
        real_dir: Path, tmp_path: Path, capsys) -> None:
    data = copy(real_dir, tmp_path)
    (month,) = list((data / "archive").glob("*.json"))
    month.write_bytes(month.read_bytes()[:40])
    for command in (["report", "--since", "5000d"], ["export", "--since", "5000d"],
                    ["review", "--since", "5000d"]):
        code, _out, err = cli(capsys, data, *command)
        assert f"archive/{month.name}" in err, (command, err)
        assert "could not be read" in err or "did not parse" in err
        assert code == 2, (command, code, err)


def test_an_old_format_data_dir_still_opens(real_dir: Path, tmp_path: Path) -> None:
    data = copy(real_dir, tmp_path)
    store = Store(data)
    desk = make_desk(store, Clock(Clock().now + timedelta(days=2)))
    assert desk.conversations
    store.close()
