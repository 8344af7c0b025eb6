"""``mentiondesk --version`` and the sources' User-Agent come from the package metadata."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version

from conftest import ROOT

import tui
from tui.sources.http import user_agent


def test_version_is_the_package_metadata() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("mentiondesk") == declared == tui.__version__
    out = subprocess.run([sys.executable, "-m", "tui.cli", "--version"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert (out.returncode, out.stdout) == (0, f"mentiondesk {declared}\n")


def test_the_user_agent_names_the_version() -> None:
    assert user_agent().startswith(f"mentiondesk/{tui.__version__} (+https://")


def test_the_licence_is_the_one_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_ci_runs_the_readme_test_command_and_the_wheel_check() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    command = ("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
               ".venv/bin/python -m pytest")
    assert command in readme and command in ci
    for step in ("pip wheel", '"$md" check', '"$md" triage', "ingest --source demo --once"):
        assert step in ci
