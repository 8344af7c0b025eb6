"""``mentiondesk check`` validates the files the console would load, and says which (item 3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from tui.cli import main
from tui.console.keymap import binding_ids
from tui.setup import config as config_module
from tui.setup.config import validate

BROKEN_RULES = ROOT / "tests" / "data" / "broken" / "bad_regex.rules.yaml"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(capsys) -> tuple[int, str, str]:
    code = main(["check"])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_config_from_the_environment_is_checked(home: Path, capsys, monkeypatch) -> None:
    config = home / "env-config.yaml"
    config.write_text("agent: sam\npassword: hunter2\n")
    monkeypatch.setenv("MENTIONDESK_CONFIG", str(config))
    code, out, err = check(capsys)
    assert code == 2 and f"config   {config}  ($MENTIONDESK_CONFIG)" in out
    assert f"{config}:2: 'password': secrets are not allowed" in err


def test_the_config_in_the_user_config_directory_is_checked(home: Path, capsys) -> None:
    config = home / "config" / "mentiondesk" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("agent: sam\nundo_secnods: 10\n")
    code, out, err = check(capsys)
    assert code == 2 and f"config   {config}  (the user config directory)" in out
    assert f"{config}:2: unknown key 'undo_secnods'" in err


def test_a_missing_config_named_by_the_environment_is_a_problem(home, capsys, monkeypatch):
    monkeypatch.setenv("MENTIONDESK_CONFIG", str(home / "nope.yaml"))
    code, _, err = check(capsys)
    assert code == 2 and "nope.yaml:0: no such config file" in err


def test_the_rules_named_by_the_config_are_the_ones_checked(home: Path, capsys,
                                                           monkeypatch) -> None:
    config = home / "config.yaml"
    config.write_text(f"rules: {BROKEN_RULES}\n")
    monkeypatch.setenv("MENTIONDESK_CONFIG", str(config))
    code, out, err = check(capsys)
    assert code == 2 and f"rules    {BROKEN_RULES}  (rules in {config})" in out
    assert f"{BROKEN_RULES}:23: bad regex" in err


def test_rules_in_the_current_directory_are_the_ones_checked(home: Path, capsys) -> None:
    (home / "rules.yaml").write_text(BROKEN_RULES.read_text())
    code, out, err = check(capsys)
    assert code == 2 and "rules    rules.yaml  (the current directory)" in out
    assert "rules.yaml:23: bad regex" in err


def test_the_shipped_files_in_effect_pass(home: Path, capsys) -> None:
    code, out, _ = check(capsys)
    assert code == 0 and "(the packaged copy)" in out and out.rstrip().endswith("replies")


def test_unknown_binding_ids_are_errors_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('keys:\n  desk.reply: "r,ctrl+r"\n  reply: "r"\n  queue.dwn: "j"\n')
    problems = [str(p) for p in validate(config, binding_ids())]
    assert problems == [
        f"{config}:3: keys: 'reply' is not a binding id — did you mean 'desk.reply'? (binding "
        "ids are listed in the README, Keys, and by ? in the console; e.g. desk.reply, "
        "queue.down)",
        f"{config}:4: keys: 'queue.dwn' is not a binding id — did you mean 'queue.down'? "
        "(binding ids are listed in the README, Keys, and by ? in the console; e.g. "
        "desk.reply, queue.down)"]


def test_the_docstring_example_keys_and_theme_are_valid(tmp_path: Path) -> None:
    doc = config_module.__doc__ or ""
    lines = [line.split("#")[0].strip() for line in doc.splitlines()
             if re.match(r"\s+(keys|theme):", line)]
    assert len(lines) == 2
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    assert validate(config, binding_ids()) == []


def test_every_binding_id_in_the_readme_exists() -> None:
    readme = (ROOT / "README.md").read_text().partition("## Keys")[2].partition("\n## ")[0]
    named = set(re.findall(r"`((?:desk|queue)\.[a-z_]+)`", readme))
    assert named and named <= binding_ids()


def test_theme_is_accepted_and_a_misspelt_one_is_not(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("theme: nord\n")
    assert validate(config) == []
    assert config_module.load_config(config).theme == "nord"
    config.write_text("theme: nrod\n")
    [problem] = validate(config)
    assert str(problem).startswith(f"{config}:1: theme 'nrod' is not one of") and \
        "did you mean 'nord'?" in str(problem)
