"""Growth without the console: `ingest --once` and every CLI action maintain the store
(checkpoint and archive when due), so a cron-driven desk does not grow its journal forever."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Clock, new_desk

from tests.deskkit import mention
from tui.cli import main
from tui.core import store as store_mod
from tui.core.store import Store


def journal_size(data: Path) -> int:
    return (data / "journal.jsonl").stat().st_size


def test_cli_actions_checkpoint_and_archive_when_due(tmp_path: Path, capsys) -> None:
    data = tmp_path / "d"
    clock = Clock()
    desk = new_desk(Store(data), clock)
    done = desk.ingest([mention("@northline refund please, train cancelled", "amy")])[0]
    live = desk.ingest([mention("@northline where is my bag", "bob")])[0]
    desk.resolve(done.conv_id)
    desk.store.close()  # as a cron job leaves it: journal only, never checkpointed
    assert not (data / "desk.json").exists() and journal_size(data) > 0
    # The CLI runs on the real clock: amy's case was closed long ago, so it is archived.
    assert main(["note", live.conv_id, "checked the lost property office",
                 "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert (data / "desk.json").exists()
    assert journal_size(data) == 0
    assert list((data / "archive").glob("*.json"))
    with Store(data, read_only=True) as s:
        tables = s.load()
        assert set(tables["conversations"]) == {live.conv_id}
        assert "checkpoint" in tables["meta"]
    # Not due again right away: the next action only appends.
    assert main(["tag", live.conv_id, "bags", "--data-dir", str(data)]) == 0
    assert 0 < journal_size(data)
    before = (data / "desk.json").stat().st_mtime_ns
    assert main(["tag", live.conv_id, "urgent", "--data-dir", str(data)]) == 0
    assert (data / "desk.json").stat().st_mtime_ns == before


def test_ingest_once_checkpoints_a_journal_that_grew_too_large(
        tmp_path: Path, capsys, monkeypatch) -> None:
    data = tmp_path / "d"
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps({
        "id": f"g{i}", "author": f"c{i}", "created_at": "2025-03-03T07:50:00Z",
        "text": "@northline refund please"}) + "\n" for i in range(30)))
    cmd = ["ingest", "--source", f"replay:{history}", "--speed", "max", "--once",
           "--no-deliver", "--data-dir", str(data)]
    def batch(prefix: str, n: int) -> None:
        history.write_text("".join(json.dumps({
            "id": f"{prefix}{i}", "author": f"{prefix}c{i}", "created_at": "2025-03-03T07:55:00Z",
            "text": "@northline my bag is lost"}) + "\n" for i in range(n)))

    assert main(cmd) == 0  # a fresh desk: the journal starts
    assert not (data / "desk.json").exists() and journal_size(data) > 0
    batch("n", 3)
    assert main(cmd) == 0  # a journal never checkpointed: due now
    assert (data / "desk.json").exists() and journal_size(data) == 0
    batch("p", 3)
    assert main(cmd) == 0  # just checkpointed, a small journal: not due
    assert journal_size(data) > 0
    monkeypatch.setattr(store_mod, "CHECKPOINT_OPS", 5)  # "too large" for this test
    batch("q", 10)
    assert main(cmd) == 0
    capsys.readouterr()
    assert journal_size(data) == 0  # checkpointed by the ingest run itself
    with Store(data, read_only=True) as s:
        assert len(s.load()["mentions"]) == 46
