"""The state image (tui/core/image.py): a cache of the folded desk written on a clean close.

Real TinyDB files in tmp_path, real child processes (a desk process stopped cleanly, killed
with SIGKILL; an image writer killed half-way).  The image must be used only when it describes
the data directory exactly, and a desk from the image must equal the desk from the snapshot."""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
import time
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import EPOCH, Clock, new_desk
from deskkit import mention
from serverkit import HELPERS, ROOT, alive, cli, seed

from tui.core import image
from tui.core.desk import Desk
from tui.core.store import cache_root
from tui.server.client import DeskClient, start_server
from tui.setup.boot import Options, close_desk, open_desk

NOW = EPOCH + timedelta(minutes=30)


def busy_desk(data_dir: Path) -> Desk:
    """A desk with something of every kind: replies in the outbox, an undone action, a
    hand-off with a case, a snooze, tags, notes, an assignment, drafts, a note draft, an
    approval waiting, a resolved conversation, a DM, and the demo stream's mix."""
    clock = Clock()
    desk = new_desk(data_dir=data_dir, clock=clock, demo=40)
    ids = [r.conv_id for r in desk.ingest([
        mention("refund please, my train was cancelled", "ann"),
        mention("my card number is 4111 1111 1111 1111, charged twice", "bob"),
        mention("the toilet on coach C is flooded", "cat", channel="direct"),
        mention("thanks, all good now", "dan"),
        mention("where is my refund?", "eve"),
        mention("the lift is broken", "fay"),
    ])]
    ann, bob, cat, dan, eve, fay = ids
    clock.advance(minutes=2)
    desk.reply(ann, "Sorry Ann, we are on it.")
    desk.handoff(bob, "refunds", "card charged twice")
    desk.snooze(cat, EPOCH + timedelta(hours=5))
    desk.tag(dan, "praise")
    desk.note(dan, "regular customer")
    desk.resolve(dan)
    desk.assign(eve, "sam")
    desk.reply(eve, "Looking into it")
    desk.undo()
    desk.save_draft(fay, "We have sent an engineer", audience="public")
    desk.save_note_draft(ann, "note", "call back tomorrow")
    desk.request_approval(fay, "reply", {"text": "An engineer is on the way"}, agent="sam")
    desk.flush()
    return desk


def state_of(desk: Desk) -> dict[str, Any]:
    """Everything a desk holds after a load, in comparable form."""
    return {
        "conversations": {k: repr(v) for k, v in desk.conversations.items()},
        "mentions": desk.mentions, "triages": desk.triages, "events": desk.events,
        "mention_conv": desk.mention_conv, "mention_seq": desk.mention_seq,
        "current": desk.current, "customers": desk.customers, "drafts": desk.drafts,
        "note_drafts": desk.note_drafts, "approvals": desk.approvals, "meta": desk.meta,
        "last_action": desk.last_action, "archived_keys": desk.archived_keys,
        "positions": desk.positions, "outbox": desk.outbox.items,
        "outbox_open": sorted(desk.outbox._open), "queue": list(desk.queue),
        "counts": desk.counts(NOW), "needing": sorted(desk.index.needing),
        "snoozed": sorted(desk.index.snoozed), "due": list(desk.index._due),
        "risk_heap": sorted(desk.index._risk_heap), "last_checkpoint": desk.last_checkpoint,
        "undoable": desk.undoable(agent=desk.agent),
        "store_keys": {t: sorted(k) for t, k in desk.store._keys.items() if k},
        "seq": desk.store._seq,
    }


def assert_same_state(desk: Desk, want: dict[str, Any]) -> None:
    """``desk`` holds, part by part, the state ``want`` (``state_of`` of another desk)."""
    got = state_of(desk)
    for key in want:
        assert got[key] == want[key], key


def opened(data_dir: Path) -> Desk:
    return open_desk(Options(data_dir=str(data_dir)), clock=lambda: NOW)


def closed_with_image(data_dir: Path) -> dict[str, Any]:
    """busy_desk, closed cleanly with its image; returns the state the snapshot gives."""
    desk = busy_desk(data_dir)
    assert close_desk(desk, checkpoint=True, image="inline") == []
    assert image.image_path(data_dir).is_file()
    want = opened_without_image(data_dir)
    return want


def opened_without_image(data_dir: Path) -> dict[str, Any]:
    path = image.image_path(data_dir)
    kept = path.with_name("kept")
    os.replace(path, kept)
    try:
        desk = opened(data_dir)
        assert not desk.from_image
        state = state_of(desk)
        close_desk(desk, maintain=False)
    finally:
        os.replace(kept, path)
    return state


def test_the_image_is_used_and_gives_the_state_the_snapshot_gives(tmp_path: Path) -> None:
    want = closed_with_image(tmp_path)
    desk = opened(tmp_path)
    assert desk.from_image and desk.store.from_image
    assert_same_state(desk, want)
    # and it goes on as any desk: an action is saved, the next start (no image) has it
    fay = desk.current["demo|fay"]
    desk.reply(fay, "An engineer is on the way", again=True)
    desk.flush()
    close_desk(desk, maintain=False)
    again = opened(tmp_path)
    assert not again.from_image  # the journal holds a change the image does not
    assert any(e.kind == "reply" and e.conv == fay for e in again.events.values())
    close_desk(again, maintain=False)


def opened_serving(data_dir: Path) -> Desk:
    """Opened as the desk process opens it: what the image leaves for later is not read yet."""
    return open_desk(Options(data_dir=str(data_dir)), clock=lambda: NOW, finish=False)


def test_the_later_part_is_read_a_frame_a_step_and_gives_the_same_desk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "CHUNK", 4)  # 46 conversations: a dozen frames a part
    want = closed_with_image(tmp_path)
    desk = opened_serving(tmp_path)
    assert desk.from_image and desk.reading_image
    held = vars(desk)  # behind the attributes: the empty ones of a new desk, not read yet
    assert [held["_" + n] for n in ("customers", "current", "mention_conv", "mention_seq")] \
        == [{}, {}, {}, {}]
    assert held["_index"]._clocks == {}
    # What the first screen needs is there already: the queue's rows.
    from tui.core.rows import conversation_row

    rows = [conversation_row(desk, desk.conversations[cid], NOW) for cid in desk.queue]
    assert desk.reading_image and len(rows) == len(want["queue"])
    # ... and the counts, from the image's compact basis (the index is not read yet)
    times = [NOW + timedelta(minutes=m) for m in (0, 20, 45, 90, 300, 2000)]
    early = [desk.counts(t) for t in times]
    assert desk.reading_image and "index" in desk._pending
    steps = 0
    while desk.load_later():
        steps += 1
    assert steps > 20  # a frame a step, never the whole part at once
    assert [desk.counts(t) for t in times] == early  # the index's own counts, the same
    assert len({tuple(sorted(c.items())) for c in early}) > 2  # the times do tell apart
    desk.finish_start()
    assert_same_state(desk, want)
    close_desk(desk, maintain=False)


@pytest.mark.parametrize("asked", ["customers", "index", "current", "mention_conv",
                                   "mention_seq"])
def test_asking_for_a_later_part_before_its_turn_reads_up_to_it_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str) -> None:
    monkeypatch.setattr(image, "CHUNK", 4)
    want = closed_with_image(tmp_path)
    desk = opened_serving(tmp_path)
    assert desk.load_later() and desk.load_later()  # part-way through
    assert getattr(desk, asked) is not None
    # read up to the part asked for (in IMAGE_LATER's order), not further
    later = Desk.IMAGE_LATER
    assert desk._pending == set(later[later.index(asked) + 1:])
    assert desk.reading_image == (asked != later[-1])
    desk.finish_loading()
    assert not desk.reading_image
    desk.finish_start()
    assert_same_state(desk, want)
    # and an action that needs the later parts works before anything else read them
    close_desk(desk, maintain=False)
    desk = opened_serving(tmp_path)
    fay = next(c.id for c in desk.conversations.values() if c.handle == "fay")
    [filed] = desk.ingest([mention("is anyone coming about the lift?", "fay")])
    assert filed.conv_id == fay and desk.current["demo|fay"] == fay
    desk.finish_loading()
    assert desk.mention_conv[filed.mention.key] == fay and desk.mention_seq[filed.mention.key] > 0
    assert fay in desk.index.needing
    close_desk(desk, maintain=False)


def test_a_snooze_that_ran_out_while_closed_wakes_once_the_later_part_is_read(
        tmp_path: Path) -> None:
    closed_with_image(tmp_path)
    late = EPOCH + timedelta(hours=6)  # cat's snooze ran to EPOCH + 5 h
    desk = open_desk(Options(data_dir=str(tmp_path)), clock=lambda: late, finish=False)
    cat = next(c for c in desk.conversations.values() if c.handle == "cat")
    assert desk.reading_image and cat.status == "snoozed"
    woken: list[set[str]] = []
    desk.listeners.append(woken.append)
    while desk.load_later():
        pass
    desk.finish_start()
    assert cat.status == "open" and woken and cat.id in woken[0]
    assert [e.kind for e in desk.events.values() if e.conv == cat.id][-1] == "wake"
    close_desk(desk, maintain=False)


def test_an_image_a_start_died_reading_is_never_read_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    want = closed_with_image(tmp_path)
    path = image.image_path(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    marker = path.with_name(f"{image.IMAGE}.{dead.stdout.strip()}.loading")
    marker.write_bytes(b"")  # as a start killed while it read the image leaves it
    with caplog.at_level(logging.WARNING, logger="tui.core.image"):
        desk = opened(tmp_path)
    assert not desk.from_image
    assert "a start died while reading it" in caplog.text
    assert not path.exists() and not marker.exists()
    assert_same_state(desk, want)
    close_desk(desk, maintain=False)


def test_a_start_reading_the_image_leaves_no_marker_behind(tmp_path: Path) -> None:
    closed_with_image(tmp_path)
    desk = opened_serving(tmp_path)
    d = image.image_dir(tmp_path)
    assert any(p.name.endswith(".loading") for p in d.iterdir())  # while it reads
    while desk.load_later():
        pass
    assert sorted(p.name for p in d.iterdir()) == [image.IMAGE]
    close_desk(desk, maintain=False)


def test_the_desk_opened_from_its_image_survives_kill_9_after_acting(tmp_path: Path) -> None:
    """Changes made on a desk from the image go to the journal: a crash loses none."""
    closed_with_image(tmp_path)
    code = ("from tui.setup.boot import Options, open_desk; "
            f"d = open_desk(Options(data_dir={str(tmp_path)!r})); assert d.from_image; "
            "d.note(d.current['demo|ann'], 'after the image'); d.flush(); "
            "print('acked', flush=True); import time; time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "acked"
    finally:
        child.kill()
        child.wait()
    desk = opened(tmp_path)
    assert not desk.from_image
    assert "after the image" in desk.conversations[desk.current["demo|ann"]].notes
    close_desk(desk, maintain=False)


def stale_by_checkpoint(data_dir: Path) -> None:
    desk = opened(data_dir)
    desk.tag(desk.current["demo|ann"], "late")
    close_desk(desk, checkpoint=True)  # a checkpoint, no new image (as a CLI writer)


def stale_by_journal(data_dir: Path) -> None:
    desk = opened(data_dir)
    desk.tag(desk.current["demo|ann"], "late")
    desk.flush()
    desk.store.close()  # as kill -9 after the ack: the change is only in the journal


def corrupt(data_dir: Path) -> None:
    path = image.image_path(data_dir)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))


def truncated(data_dir: Path) -> None:
    path = image.image_path(data_dir)
    path.write_bytes(path.read_bytes()[:-5000])


def other_version(data_dir: Path) -> None:
    path = image.image_path(data_dir)
    raw = path.read_bytes()
    n = len(image.MAGIC)
    head_len, body_len, crc = image._LEN.unpack(raw[n:n + image._LEN.size])
    header = pickle.loads(raw[n + image._LEN.size:n + image._LEN.size + head_len])
    header.version = "0.0.1"
    head = pickle.dumps(header, protocol=5)
    path.write_bytes(raw[:n] + image._LEN.pack(len(head), body_len, crc) + head
                     + raw[n + image._LEN.size + head_len:])


def other_levels(data_dir: Path) -> None:
    rules = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    assert "target: 15m" in rules
    (data_dir / "rules.yaml").write_text(rules.replace("target: 15m", "target: 20m", 1),
                                         encoding="utf-8")


def group_writable(data_dir: Path) -> None:
    os.chmod(image.image_path(data_dir), 0o620)


def group_writable_dir(data_dir: Path) -> None:
    os.chmod(image.image_dir(data_dir), 0o770)


def snapshot_replaced(data_dir: Path) -> None:
    """desk.json restored from a copy (same content, another file): not the file it was
    written against."""
    snap = data_dir / "desk.json"
    copy = snap.with_name("copy")
    copy.write_bytes(snap.read_bytes())
    os.replace(copy, snap)


def edited_in_place(data_dir: Path) -> None:
    """desk.json edited in place, the same size, its mtime put back (as ``rsync --inplace -t``
    of a same-size file would): the ctime still moved."""
    snap = data_dir / "desk.json"
    st = snap.stat()
    data = snap.read_bytes()
    assert data.count(b"regular customer") == 1
    with open(snap, "r+b") as f:
        f.seek(data.index(b"regular customer"))
        f.write(b"REGULAR customer")
    os.utime(snap, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert snap.stat().st_size == st.st_size and snap.stat().st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("spoil", [
    stale_by_checkpoint, stale_by_journal, corrupt, truncated, other_version, other_levels,
    group_writable, group_writable_dir, snapshot_replaced, edited_in_place])
def test_an_image_in_doubt_is_not_used_and_nothing_is_lost(
        tmp_path: Path, spoil: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    closed_with_image(tmp_path)
    spoil(tmp_path)
    want = opened_without_image(tmp_path)
    rules = tmp_path / "rules.yaml"
    opts = Options(data_dir=str(tmp_path), rules=str(rules) if rules.exists() else None)
    desk = open_desk(opts, clock=lambda: NOW)
    assert not desk.from_image
    if spoil in (stale_by_checkpoint, stale_by_journal):
        assert "late" in desk.conversations[desk.current["demo|ann"]].tags
    if spoil is not other_levels:
        assert state_of(desk) == want
    close_desk(desk, maintain=False)
    if spoil is edited_in_place:
        assert any("REGULAR customer" in str(n) for c in desk.conversations.values()
                   for n in c.notes)
    if spoil not in (stale_by_checkpoint, stale_by_journal, snapshot_replaced, edited_in_place):
        assert "state image" in caplog.text and "not used" in caplog.text


def test_an_image_of_another_user_is_never_unpickled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Owned by another uid (as seen by a process of another user: geteuid differs)."""
    closed_with_image(tmp_path)
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)
    loads = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: loads.append(a))
    assert image.open_image(tmp_path, new_desk().rules) is None
    assert loads == []
    assert f"owned by uid {me}, not by this process's user ({me + 1})" in caplog.text


def test_the_image_lives_in_a_private_cache_directory(tmp_path: Path) -> None:
    closed_with_image(tmp_path)
    path = image.image_path(tmp_path)
    assert path.parent.parent == cache_root()
    assert tmp_path not in path.parents  # never in the (maybe group-writable) data dir
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_uid == os.geteuid()


def test_a_directory_in_the_images_place_leaves_no_temp_file(tmp_path: Path) -> None:
    """The image cannot be written (a directory where it goes): logged, the desk closes, and
    no temp file is left in the cache to pile up at every stop."""
    closed_with_image(tmp_path)
    path = image.image_path(tmp_path)
    path.unlink()
    path.mkdir()
    desk = opened(tmp_path)
    assert not desk.from_image
    close_desk(desk, checkpoint=True, image="inline")
    assert path.is_dir()
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_kill_9_while_the_image_is_written_loses_nothing(tmp_path: Path) -> None:
    closed_with_image(tmp_path)
    image.remove(tmp_path)
    child = subprocess.Popen([sys.executable, str(HELPERS / "image_child.py"), str(tmp_path)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "half"
    finally:
        child.kill()
        child.wait()
    d = image.image_dir(tmp_path)
    assert not image.image_path(tmp_path).exists()
    assert [p.name for p in d.iterdir() if p.name.endswith(".tmp")]  # the torn temp file
    desk = opened(tmp_path)
    assert not desk.from_image
    assert "demo|late" in desk.current  # the mention filed before the kill is there
    assert close_desk(desk, checkpoint=True, image="inline") == []
    assert [p.name for p in d.iterdir()] == [image.IMAGE]  # the torn one cleared
    desk = opened(tmp_path)
    assert desk.from_image and "demo|late" in desk.current
    close_desk(desk, maintain=False)


def wait_for_image(data_dir: Path, after: float) -> None:
    """The desk process writes its image in a detached child as it exits."""
    path = image.image_path(data_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_mtime > after:
            return
        time.sleep(0.02)
    raise AssertionError(f"no state image at {path}")


def rows(data_dir: Path) -> list[Any]:
    with DeskClient.connect(data_dir) as client:
        snap = client.attach()
    return [(r["id"], r.get("status"), r.get("assigned")) for r in snap["rows"]]


def test_a_desk_process_stopped_cleanly_starts_from_its_image(desk_dir: Path) -> None:
    ids = seed(desk_dir, ["refund please", "the lift is broken", "thanks!"])
    start_server(desk_dir)
    done = cli(desk_dir, "assign", ids[1], "sam")
    assert done.returncode == 0, done.stderr
    before = rows(desk_dir)
    t0 = time.time() - 1
    assert cli(desk_dir, "server", "--stop").returncode == 0
    wait_for_image(desk_dir, t0)
    assert "opened from its state image" not in (desk_dir / "server.log").read_text()
    start_server(desk_dir)  # the log line comes before "ready"
    assert (desk_dir / "server.log").read_text().count("opened from its state image") == 1
    assert rows(desk_dir) == before
    # killed (no clean stop, no new image): the next start reads the snapshot and the journal
    done = cli(desk_dir, "tag", ids[0], "vip")
    assert done.returncode == 0, done.stderr
    with DeskClient.connect(desk_dir) as client:
        pid = client.server_pid
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:  # a zombie until this process reaps it
        time.sleep(0.02)
    start_server(desk_dir)
    assert (desk_dir / "server.log").read_text().count("opened from its state image") == 1
    shown = cli(desk_dir, "show", ids[0])
    assert shown.returncode == 0 and "vip" in shown.stdout, shown.stdout + shown.stderr


def test_a_snapshot_msgspec_refuses_is_read_by_json_the_same(tmp_path: Path) -> None:
    """The snapshot is decoded by msgspec when it can; what it refuses (a lone surrogate
    escape, a number beyond a double) is read by json, with the same result."""
    from tui.core.store import Store

    docs = {"a": {"text": "half a pair \ud800 here", "n": 10**30},
            "b": {"text": "plain", "x": [1, 2.5, None, True]}}
    with Store(tmp_path) as store:
        for key, doc in docs.items():
            store.put("things", key, doc)
        store.checkpoint(lambda: {"things": docs})
    with Store(tmp_path) as store:
        assert store.load()["things"] == docs
    plain = {"b": docs["b"]}
    with Store(tmp_path / "p") as store:
        store.put("things", "b", docs["b"])
        store.checkpoint(lambda: {"things": plain})
    with Store(tmp_path / "p") as store:
        assert store.load()["things"] == plain


def test_a_slow_writer_never_replaces_a_newer_image_with_a_stale_one(tmp_path: Path) -> None:
    """Two desk processes stopped one after the other: the first one's image writer, still
    pickling when the second one checkpointed, drops its file."""
    from tui.core.store import files_fingerprint
    from tui.setup.boot import write_state_image

    closed_with_image(tmp_path)
    desk = opened(tmp_path)
    old = files_fingerprint(tmp_path)
    assert old is not None
    desk.tag(desk.current["demo|ann"], "late")
    assert close_desk(desk, checkpoint=True, image="inline") == []
    newer = image.image_path(tmp_path).read_bytes()
    write_state_image(desk, tmp_path, old)  # the slow one, written against the old files
    assert image.image_path(tmp_path).read_bytes() == newer
    assert [p.name for p in image.image_dir(tmp_path).iterdir()] == [image.IMAGE]
    again = opened(tmp_path)
    assert again.from_image and "late" in again.conversations[again.current["demo|ann"]].tags
    close_desk(again, maintain=False)


def test_a_live_writers_temp_file_is_left_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two image writers at once (two desk processes stopped one after the other): neither
    removes the other's temp file; a dead writer's is cleared."""
    # The start waits for the live "writer" (which never finishes) before it reads the image:
    # a short wait instead of the 15 s the real one allows (the wait itself is
    # test_a_start_waits_for_the_image_still_being_written's point).
    wait = image.wait_for_writer
    monkeypatch.setattr(image, "wait_for_writer", lambda d: wait(d, timeout=0.2))
    closed_with_image(tmp_path)
    d = image.image_dir(tmp_path)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (d / f"{image.IMAGE}.{live.pid}.tmp").write_bytes(b"half")
        (d / f"{image.IMAGE}.{dead.pid}.tmp").write_bytes(b"half")
        desk = opened(tmp_path)
        assert desk.from_image
        assert close_desk(desk, checkpoint=True, image="inline") == []
        assert sorted(p.name for p in d.iterdir()) == [image.IMAGE,
                                                        f"{image.IMAGE}.{live.pid}.tmp"]
    finally:
        live.kill()
        live.wait()


def read_in_child(data_dir: Path, then: str) -> None:
    """A desk process's start from the image in a real child, killed with SIGKILL at a moment
    ``then`` says: "checking" (inside the CRC-32 check, as a bus error on a failing disk
    kills it: the check reads every mapped page), "serving" (the first part read, the later
    part not yet)."""
    code = ("import os, signal, sys, time, zlib\n"
            "from tui.core import image\n"
            "from tui.setup.boot import Options, open_desk\n"
            "class Dying:\n"
            "    @staticmethod\n"
            "    def crc32(data):\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            f"if {then!r} == 'checking':\n"
            "    image.zlib = Dying\n"
            f"d = open_desk(Options(data_dir={str(data_dir)!r}), finish=False)\n"
            "assert d.from_image and d.reading_image\n"
            "print('serving', flush=True)\n"
            "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        said = child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()
    assert said == ("" if then == "checking" else "serving")


def test_a_start_killed_while_it_checks_the_image_never_reads_it_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    want = closed_with_image(tmp_path)
    read_in_child(tmp_path, "checking")
    with caplog.at_level(logging.WARNING, logger="tui.core.image"):
        desk = opened(tmp_path)
    assert not desk.from_image
    assert caplog.text.count("a start died while reading it") == 1
    assert sorted(p.name for p in image.image_dir(tmp_path).iterdir()) == []
    assert_same_state(desk, want)
    close_desk(desk, maintain=False)


@pytest.mark.parametrize("whose", ["this process", "another live process"])
def test_a_marker_whose_pid_came_back_is_the_dead_start_s(
        tmp_path: Path, whose: str, caplog: pytest.LogCaptureFixture) -> None:
    """A start killed while it read the image, whose pid a later process got again (a
    restarted container's desk process is pid 1 each time): its marker still means "do not
    read this image again", or a crash in the loader would crash every start."""
    want = closed_with_image(tmp_path)
    read_in_child(tmp_path, "serving")
    d = image.image_dir(tmp_path)
    (left,) = [p for p in d.iterdir() if p.name.endswith(".loading")]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid = os.getpid() if whose == "this process" else other.pid
        os.replace(left, d / f"{image.IMAGE}.{pid}.loading")
        with caplog.at_level(logging.WARNING, logger="tui.core.image"):
            desk = opened(tmp_path)
    finally:
        other.kill()
        other.wait()
    assert not desk.from_image
    assert caplog.text.count("a start died while reading it") == 1
    assert sorted(p.name for p in d.iterdir()) == []
    assert_same_state(desk, want)
    close_desk(desk, maintain=False)


def test_a_marker_of_a_start_reading_the_image_now_is_left_alone(tmp_path: Path) -> None:
    closed_with_image(tmp_path)
    first = opened_serving(tmp_path)  # still reading: its marker is there
    d = image.image_dir(tmp_path)
    assert [p for p in d.iterdir() if p.name.endswith(".loading")]
    second = image.open_image(tmp_path, first.rules)
    assert second is not None
    second.close()
    while first.load_later():
        pass
    close_desk(first, maintain=False)


def lying_later_frame(data_dir: Path) -> None:
    """The first later frame's length made 3 bytes short, the CRC-32 written again to match
    (a forged file, or a writer's bug: nothing the checksum catches)."""
    path = image.image_path(data_dir)
    raw = bytearray(path.read_bytes())
    base = len(image.MAGIC)
    head_len, body_len, _crc = image._LEN.unpack_from(raw, base)
    body = base + image._LEN.size + head_len
    (first,) = struct.unpack_from(">Q", raw, body)
    second = body + 8 + first
    (n,) = struct.unpack_from(">Q", raw, second)
    struct.pack_into(">Q", raw, second, n - 3)
    image._LEN.pack_into(raw, base, head_len, body_len, zlib.crc32(raw[body:]))
    path.write_bytes(bytes(raw))


def test_a_later_part_that_cannot_be_read_is_read_from_the_store_once_and_never_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    want = closed_with_image(tmp_path)
    lying_later_frame(tmp_path)
    with caplog.at_level(logging.INFO):
        desk = opened_serving(tmp_path)
        assert desk.from_image and desk.reading_image
        while desk.load_later():
            pass
        desk.finish_start()
    assert caplog.text.count("its later part could not be read") == 1
    assert_same_state(desk, want)
    close_desk(desk, maintain=False)
    assert sorted(p.name for p in image.image_dir(tmp_path).iterdir()) == []
    caplog.clear()
    with caplog.at_level(logging.INFO):
        desk = opened_serving(tmp_path)  # the next start: the snapshot, not the same failure
    assert not desk.from_image and "could not be read" not in caplog.text
    assert state_of(desk)["conversations"] == want["conversations"]
    close_desk(desk, maintain=False)


def test_a_start_waits_for_the_image_still_being_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The desk process that just stopped writes its image in a forked child (seconds at
    100,000 conversations): a start meanwhile waits for it instead of reading the snapshot."""
    closed_with_image(tmp_path)
    image.remove(tmp_path)
    child = subprocess.Popen([sys.executable, str(HELPERS / "image_child.py"), str(tmp_path),
                              "slow"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "half"
        with caplog.at_level(logging.INFO, logger="tui.core.image"):
            desk = opened(tmp_path)
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()
    assert f"for its writer (pid {child.pid})" in caplog.text
    assert desk.from_image and "demo|late" in desk.current
    close_desk(desk, maintain=False)


def test_a_killed_writers_temp_file_whose_pid_came_back_is_not_waited_for(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A writer killed half-way left its temp file; its pid now belongs to a process started
    later (after a reboot, or a restarted container): nobody writes that file, so a start
    neither waits for it nor keeps it."""
    closed_with_image(tmp_path)
    d = image.image_dir(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        torn = d / f"{image.IMAGE}.{other.pid}.tmp"
        torn.write_bytes(image.MAGIC)
        an_hour_ago = time.time() - 3600
        os.utime(torn, (an_hour_ago, an_hour_ago))
        with caplog.at_level(logging.INFO, logger="tui.core.image"):
            desk = opened(tmp_path)
        assert "for its writer" not in caplog.text
        assert desk.from_image
        assert close_desk(desk, checkpoint=True, image="inline") == []
        assert sorted(p.name for p in d.iterdir()) == [image.IMAGE]
    finally:
        other.kill()
        other.wait()


def test_a_desk_process_that_cannot_finish_reading_stops_without_a_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of the image unreadable and the store's reload failing too (as a failing disk
    would): the desk in memory is not whole, so the desk process stops (exit 1) without
    writing it over the snapshot; the next start reads the snapshot and loses nothing."""
    from tui.server.server import serve

    want = closed_with_image(tmp_path)
    snapshot = tmp_path / "desk.json"
    before = snapshot.read_bytes()
    desk = opened_serving(tmp_path)
    assert desk.reading_image

    def broken() -> bool:
        raise OSError("Input/output error")

    monkeypatch.setattr(desk, "load_later", broken)
    said: list[str] = []
    assert serve(desk, tmp_path, ready=said.append) == 1
    assert said and said[0].startswith("ready")
    assert snapshot.read_bytes() == before  # no checkpoint of the half-read desk
    assert desk.store.closed  # the data directory is free again
    again = opened(tmp_path)
    assert_same_state(again, want)
    close_desk(again, maintain=False)


def test_a_replicas_documents_need_no_map_of_the_image_and_match_the_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A console attaching right after a cold start gets its conversations' documents without
    waiting for the image's maps (``mention_conv``, ``mention_seq``, the index), and they are
    the documents the store is written from."""
    monkeypatch.setattr(image, "CHUNK", 4)
    closed_with_image(tmp_path)
    desk = opened_serving(tmp_path)
    docs = desk.conversation_docs(list(desk.conversations))
    assert {"mention_conv", "mention_seq", "index", "current"} <= desk._pending
    desk.finish_loading()
    # the documents the store is written from (``_mention_doc``: through the maps)
    assert docs["mentions"] == {key: desk._mention_doc(key) for key in desk.mentions}
    assert len(docs["mentions"]) == len(desk.mentions) > 40
    close_desk(desk, maintain=False)
