"""`report`, `export` and `review` run while another process (the console) holds the desk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from deskkit import files_of
from shiftkit import T, build_shift, deliver_all

from tui.core.store import Store

HOLD = Path(__file__).resolve().parents[1] / "helpers" / "store_child.py"


def test_commands_read_the_desk_while_a_writer_holds_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data)
    desk, clock, ids = build_shift(store)
    deliver_all(desk)
    clock.now = T(5, 14)
    desk.checkpoint()  # hal and bob go to the archive
    desk.reply(ids["eve"], "Hi Eve, lost property is at https://help.northline.example/lost")
    store.close()  # the reply is in the journal only, after the snapshot

    holder = subprocess.Popen([sys.executable, str(HOLD), "hold", str(data)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().startswith("locked ")
        # The console caught half-way through appending to its journal:
        with open(data / "journal.jsonl", "ab") as f:
            f.write(b'1234abcd {"s": 999, "t": "ment')
        before = files_of(data)
        common = ["--data-dir", str(data), "--rules", str(ROOT / "rules.yaml"),
                  "--replies", str(ROOT / "replies.yaml")]
        since = "2025-03-01T00:00:00Z"
        out = {}
        for cmd in (["report", "--since", since, "--format", "json"],
                    ["export", "--format", "jsonl"],
                    ["review", "--since", since, "--format", "json"]):
            res = subprocess.run([sys.executable, "-m", "tui.cli", *cmd, *common],
                                 capture_output=True, text=True, timeout=60, cwd=tmp_path)
            assert res.returncode == 0, res.stderr
            assert "ignored 30 bytes at its end" in res.stderr  # said, not repaired
            out[cmd[0]] = res.stdout
        assert holder.poll() is None  # the console never noticed
        assert files_of(data) == before  # not a byte or an mtime changed
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
    finally:
        holder.kill()
        holder.wait()

    rep = json.loads(out["report"])
    assert {r["id"] for r in rep["resolved"]} == {ids["ann"], ids["hal"], ids["bob"]}
    assert {h["case_id"] for h in rep["handed_off"]} == {"CASE-00001"}
    rows = [json.loads(line) for line in out["export"].splitlines()]
    convs = {r["id"]: r for r in rows if r["type"] == "conversation"}
    assert set(convs) == set(ids.values())
    assert convs[ids["hal"]]["details"]["archived"] is True
    assert convs[ids["eve"]]["details"]["archived"] is False
    # The reply written after the snapshot, from the journal:
    assert any(r["type"] == "event" and r["what"] == "reply" and r["conv"] == ids["eve"]
               for r in rows)
    rev = json.loads(out["review"])
    assert ids["hal"] in {c["id"] for c in rev["conversations"]}  # from the archive
