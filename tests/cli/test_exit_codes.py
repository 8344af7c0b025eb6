"""One exit-code table (tui/cli/common.py, README "Exit codes") used by every command and the
console; tags and texts that start with "-"; a closed pipe never prints a traceback (item 4)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, new_desk
from deskkit import mention

from tui.cli import main
from tui.cli.common import EXIT_CODES, LOCKED, OK, REFUSED, SOURCE_FAILED, USAGE
from tui.core.store import Store

BROKEN_RULES = ROOT / "tests" / "data" / "broken" / "bad_regex.rules.yaml"
FILES = ["--rules", str(ROOT / "rules.yaml"), "--replies", str(ROOT / "replies.yaml")]


@pytest.fixture
def desk_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    store = Store(tmp_path / "desk")
    new_desk(store).ingest([mention(f"I want a refund for ticket {i}", f"rider{i}")
                             for i in range(40)])
    store.close()
    return tmp_path / "desk"


def cli(desk_dir: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(desk_dir), *FILES, "--agent", "sam"])


def events(desk_dir: Path) -> list:
    store = Store(desk_dir)
    try:
        return list(new_desk(store).events.values())
    finally:
        store.close()


def test_the_readme_table_is_the_code_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.partition("### Exit codes")[2].partition("\n#")[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", table, re.M))
    assert {int(code) for code in rows} == set(EXIT_CODES)


def test_broken_rules_give_the_same_code_to_check_the_console_and_commands(
        desk_dir: Path, capsys) -> None:
    broken = ["--rules", str(BROKEN_RULES)]
    assert main(["check", *broken]) == USAGE
    assert main([*broken, "--data-dir", str(desk_dir)]) == USAGE  # the console: never starts
    assert main(["queue", *broken, "--data-dir", str(desk_dir)]) == USAGE
    assert main(["triage", str(ROOT / "tests" / "data" / "history.jsonl"), *broken]) == USAGE
    assert capsys.readouterr().err.count("bad regex") == 4


def test_a_missing_or_unreadable_triage_file_is_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["triage", str(tmp_path / "missing.jsonl"), *FILES]) == USAGE
    assert "missing.jsonl" in capsys.readouterr().err
    assert main(["triage", str(ROOT / "tests" / "data" / "support.csv"), "--map", "id",
                 *FILES]) == USAGE


def test_refused_not_found_locked_and_source_failed(desk_dir: Path, tmp_path: Path,
                                                    capsys) -> None:
    assert cli(desk_dir, "show", "999") == REFUSED
    assert main(["queue", "--data-dir", str(tmp_path / "typo"), *FILES]) == REFUSED
    assert cli(desk_dir, "snooze", "1", "whenever") == USAGE
    with pytest.raises(SystemExit) as bad_option:
        main(["queue", "--colour"])
    assert bad_option.value.code == USAGE
    store = Store(desk_dir)
    try:
        assert cli(desk_dir, "queue") == LOCKED
    finally:
        store.close()
    assert main(["ingest", "--once", "--source", f"replay:{tmp_path / 'gone.jsonl'}",
                 "--data-dir", str(tmp_path / "new"), *FILES]) == SOURCE_FAILED
    assert cli(desk_dir, "queue") == OK


def test_a_tag_that_starts_with_a_dash_removes_it(desk_dir: Path, capsys) -> None:
    assert cli(desk_dir, "tag", "1", "vip") == OK
    assert cli(desk_dir, "tag", "1", "-vip") == OK  # argparse would call -vip an option
    assert "untagged #1 vip" in capsys.readouterr().out
    # `--` works as well (options then go before it)
    assert main(["--data-dir", str(desk_dir), *FILES, "tag", "2", "--", "-late"]) == REFUSED
    assert "#2 has no tag 'late'" in capsys.readouterr().err
    assert cli(desk_dir, "note", "1", "-1 star, called back") == OK
    assert cli(desk_dir, "note", "1", "-sigh") == OK
    notes = [e.details["text"] for e in events(desk_dir) if e.kind == "note"]
    assert notes == ["-1 star, called back", "-sigh"]


def test_untagging_an_absent_tag_records_nothing_and_says_so(desk_dir: Path, capsys) -> None:
    before = len(events(desk_dir))
    assert cli(desk_dir, "tag", "1", "-vip") == REFUSED
    assert "#1 has no tag 'vip': nothing to remove" in capsys.readouterr().err
    assert cli(desk_dir, "tag", "1", "vip") == OK
    assert cli(desk_dir, "tag", "1", "vip") == REFUSED
    assert "already tagged 'vip'" in capsys.readouterr().err
    assert len(events(desk_dir)) == before + 1


@pytest.mark.parametrize("command", [["show", "1"], ["queue"], ["queue", "--json"],
                                     ["export"], ["outbox", "--all"]], ids=" ".join)
def test_a_closed_pipe_never_prints_a_traceback(command, desk_dir: Path) -> None:
    cli(desk_dir, "reply", "1", "We are on it")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "tui.cli", *command, "--data-dir",
                              str(desk_dir), *FILES], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.readline()  # `| head -1`: read one line, then close the pipe
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == OK
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_show_json_after_a_pipe_test_still_works(desk_dir: Path, capsys) -> None:
    assert cli(desk_dir, "show", "1", "--json") == OK
    assert json.loads(capsys.readouterr().out)["conversation"]["id"] == "1"


@pytest.mark.parametrize("argv", [["--data-dir", "queue"], ["--agent", "show"],
                                  ["--data-dir", "", "queue"]])
def test_a_forgotten_or_empty_option_value_is_refused_not_a_console(argv, tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "is a command" in err or "empty value" in err
    assert not (tmp_path / "queue").exists()
