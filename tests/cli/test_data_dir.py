"""One rule for the data directory, the same for the console and every command (issue 13, item 2).

The platform directories are pointed at tmp_path (XDG_*), so nothing here touches the user's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from tui.cli import build_parser, main
from tui.cli.common import merge_positions
from tui.setup.boot import data_dir_and_why, load_config, options_from

HISTORY = ROOT / "tests" / "data" / "history.jsonl"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MENTIONDESK_DATA_DIR", raising=False)
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def where(capsys, *args: str) -> dict:
    assert main(["where", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def desk_of(argv: list[str]) -> Path:
    """The directory the command line ``argv`` opens (``[]``: the console)."""
    args = merge_positions(build_parser().parse_args(argv))
    opts = options_from(args)
    return data_dir_and_why(opts, load_config(opts))[0]


def ingest(*args: str) -> int:
    return main(["ingest", "--source", f"replay:{HISTORY}", "--once", "--no-deliver", *args])


def test_console_and_commands_use_the_same_demo_desk(home: Path, capsys) -> None:
    demo = home / "data" / "mentiondesk" / "demo"
    for argv in ([], ["queue"], ["report"], ["export"], ["show", "1"], ["ingest"]):
        assert desk_of(argv) == demo, argv
    assert ingest() == 0
    capsys.readouterr()
    assert main(["queue", "--json"]) == 0  # reads what ingest wrote, no option needed
    assert capsys.readouterr().out.strip()
    assert where(capsys)["data_dir"] == {"path": str(demo), "holds_desk": True,
                                         "why": "the demo desk (no source in a config file)"}


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_a_chosen_directory_is_used_exactly_by_everyone(how, home: Path, capsys,
                                                        monkeypatch) -> None:
    chosen = home / "chosen"
    extra: list[str] = []
    if how == "flag":
        extra = ["--data-dir", str(chosen)]
    elif how == "env":
        monkeypatch.setenv("MENTIONDESK_DATA_DIR", str(chosen))
    else:
        (home / "config.yaml").write_text(f"data_dir: {chosen}\n")
        monkeypatch.setenv("MENTIONDESK_CONFIG", str(home / "config.yaml"))
    for argv in ([], ["queue"], ["report"], ["ingest"]):
        assert desk_of([*argv, *extra]) == chosen, argv  # never chosen/demo
    assert ingest(*extra) == 0
    capsys.readouterr()
    assert main(["export", *extra]) == 0
    assert any('"mention"' in line for line in capsys.readouterr().out.splitlines())
    assert where(capsys, *extra)["data_dir"]["path"] == str(chosen)


def test_the_flag_beats_the_environment_which_beats_the_config(home: Path, capsys,
                                                                monkeypatch) -> None:
    (home / "config.yaml").write_text(f"data_dir: {home / 'from-config'}\n")
    monkeypatch.setenv("MENTIONDESK_CONFIG", str(home / "config.yaml"))
    assert where(capsys)["data_dir"]["path"] == str(home / "from-config")
    monkeypatch.setenv("MENTIONDESK_DATA_DIR", str(home / "from-env"))
    assert where(capsys)["data_dir"]["path"] == str(home / "from-env")
    assert where(capsys, "--data-dir", str(home / "x"))["data_dir"]["path"] == str(home / "x")


def test_a_config_with_sources_is_the_live_desk_and_the_demo_stays_out(home: Path, capsys,
                                                                         monkeypatch) -> None:
    config = home / "config" / "mentiondesk" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("sources:\n  - spec: feed:https://tickets.example/mentions.ndjson\n")
    found = where(capsys)
    assert found["config"] == {"path": str(config), "why": "the user config directory"}
    assert found["data_dir"]["path"] == str(home / "data" / "mentiondesk")
    code = main(["ingest", "--source", "demo", "--once"])
    assert code == 1 and "would mix with your live desk" in capsys.readouterr().err
    assert not (home / "data" / "mentiondesk").exists()


READS = (["queue"], ["show", "1"], ["outbox"], ["report"], ["export"], ["review"],
         ["reply", "1", "hello"], ["note", "1", "x"], ["undo"])


@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_a_mistyped_data_dir_is_said_and_never_created(command, home: Path, capsys) -> None:
    missing = home / "desk-typo"
    assert main([*command, "--data-dir", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no desk in {missing}" in err and "nothing was created" in err
    assert not missing.exists()
    empty = home / "empty"  # an existing directory that is not a desk (say, $HOME)
    empty.mkdir()
    assert main([*command, "--data-dir", str(empty)]) == 1
    assert list(empty.iterdir()) == []


def test_where_prints_every_file_in_effect(home: Path, capsys) -> None:
    (home / "rules.yaml").write_text((ROOT / "rules.yaml").read_text())
    assert main(["where"]) == 0
    out = capsys.readouterr().out
    assert "rules           rules.yaml  (the current directory)" in out
    assert "replies" in out and "the packaged copy" in out
    assert "no desk yet" in out and str(home / "data" / "mentiondesk" / "demo") in out


def test_the_environment_rule_holds_across_real_processes(home: Path) -> None:
    env = {**os.environ, "MENTIONDESK_DATA_DIR": str(home / "desk"), "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "tui.cli"]
    done = subprocess.run([*run, "ingest", "--source", f"replay:{HISTORY}", "--once"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    queue = subprocess.run([*run, "queue", "--json"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert queue.returncode == 0 and len(queue.stdout.splitlines()) > 1
    assert not (home / "desk" / "demo").exists()
