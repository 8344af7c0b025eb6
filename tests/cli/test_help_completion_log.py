"""Shell completion (shtab), --help epilogues, the rotating log with --log-level (item 9)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

from tui.cli import build_parser, main
from tui.cli.common import ENV_VARS, EXIT_CODES
from tui.cli.completion import script
from tui.setup.logs import setup_logging

COMMANDS = ("check", "triage", "ingest", "queue", "reply", "tag", "where", "completion")


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.delenv("MENTIONDESK_LOG_LEVEL", raising=False)
    yield tmp_path
    for handler in list(logging.getLogger().handlers):  # leave no file open on tmp_path
        if getattr(handler, "_mentiondesk", False):
            logging.getLogger().removeHandler(handler)
            handler.close()


def complete(line: str) -> list[str]:
    """What bash offers for ``line`` (ending where TAB is pressed), with the generated script."""
    words = line.split(" ")
    program = (f"{script('bash')}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\nCOMP_LINE={line!r}\nCOMP_POINT={len(line)}\n"
               "_shtab_mentiondesk\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_offers_commands_and_options() -> None:
    assert subprocess.run(["bash", "-n"], input=script("bash"), text=True).returncode == 0
    assert set(complete("mentiondesk q")) == {"queue"}
    assert "--data-dir" in complete("mentiondesk queue --da")
    assert "--once" in complete("mentiondesk ingest --o")
    assert set(complete("mentiondesk completion ")) >= {"bash", "zsh", "tcsh"}


def test_zsh_and_the_command_print_a_script(capsys) -> None:
    assert script("zsh").startswith("#compdef mentiondesk")
    assert main(["completion", "bash"]) == 0
    assert "complete -o bashdefault -F _shtab_mentiondesk mentiondesk" in capsys.readouterr().out


def test_help_has_examples_environment_config_path_and_exit_codes(dirs: Path) -> None:
    text = build_parser().format_help()
    assert "examples:" in text and "mentiondesk where" in text
    for name in ENV_VARS:
        assert name in text
    assert str(dirs / "xdg_config_home" / "mentiondesk" / "config.yaml") in text
    assert str(dirs / "xdg_state_home" / "mentiondesk" / "log" / "mentiondesk.log") in text
    for code in EXIT_CODES:
        assert f"\n  {code:<4} " in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_examples_and_exit_codes(command) -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices[command].format_help()
    assert "examples:\n  mentiondesk " + command in text and "exit codes: 0 done" in text


def test_the_log_goes_to_the_platform_log_dir_at_the_chosen_level(dirs: Path, capsys) -> None:
    log = dirs / "xdg_state_home" / "mentiondesk" / "log" / "mentiondesk.log"
    history = ROOT / "tests" / "data" / "history.jsonl"
    assert main(["ingest", "--source", f"replay:{history}", "--once", "--no-deliver",
                 "--data-dir", str(dirs / "desk"), "--log-level", "debug"]) == 0
    text = log.read_text()
    assert "DEBUG" in text and "WARNING mentiondesk.sources.replay: skipped" in text
    assert "skipped" in capsys.readouterr().err  # warnings still reach the terminal
    assert main(["where", "--log-level", "error"]) == 0
    assert f"log file        {log}" in capsys.readouterr().out
    assert logging.getLogger().level == logging.ERROR


def test_the_level_comes_from_the_environment_and_a_bad_one_is_refused(dirs: Path, capsys,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("MENTIONDESK_LOG_LEVEL", "warning")
    assert main(["where"]) == 0 and logging.getLogger().level == logging.WARNING
    monkeypatch.setenv("MENTIONDESK_LOG_LEVEL", "chatty")
    with pytest.raises(SystemExit) as stop:
        main(["where"])
    assert stop.value.code == 2 and "'CHATTY' is not one of" in capsys.readouterr().err


def test_the_log_rotates(dirs: Path) -> None:
    path = setup_logging("INFO", stderr=False, max_bytes=2000)
    assert path is not None
    log = logging.getLogger("mentiondesk.test")
    for i in range(200):
        log.info("line %d of a long shift", i)
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == ["mentiondesk.log", *(f"mentiondesk.log.{i}" for i in range(1, 6))]
