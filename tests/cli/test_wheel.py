"""The wheel ships the one copy of each policy file, and an installed mentiondesk finds it.

rules.yaml and replies.yaml exist once, at the top of the repository; setup.py copies them into
``tui/data/`` when the wheel is built.  The wheel is built from a copy of the source tree in
tmp_path, so the checkout is never written to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tui.setup.boot import default_file, packaged_file

ROOT = Path(__file__).resolve().parents[2]
POLICY = ("rules.yaml", "replies.yaml")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, src / path.name)
    for package in ("tui", "widgets"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(out)],
                   check=True, capture_output=True, env=env, timeout=240)
    (built,) = out.glob("mentiondesk-*.whl")
    return built


def test_no_symlinks_and_one_copy_in_the_repository() -> None:
    links = [p for p in (ROOT / "tui").rglob("*") if p.is_symlink()]
    assert links == []
    for name in POLICY:
        assert (ROOT / name).is_file() and not (ROOT / name).is_symlink()
        copies = [p for d in ("tui", "widgets") for p in (ROOT / d).rglob(name)]
        assert copies == [], f"a second copy of {name}: {copies}"


def test_the_wheel_holds_the_policy_files_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for name in POLICY:
            assert zf.read(f"tui/data/{name}") == (ROOT / name).read_bytes(), name
        assert "tui/console/app.tcss" in zf.namelist()


def test_an_installed_wheel_finds_its_packaged_copy(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    work = tmp_path / "work"  # no rules.yaml here: the packaged copy is used
    work.mkdir()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from tui.setup.boot import default_file; "
            "print(default_file('rules.yaml')); print(default_file('replies.yaml'))")
    # -S: no site-packages, so the editable install of this checkout cannot answer instead
    out = subprocess.run([sys.executable, "-S", "-c", code, str(site)], cwd=work,
                         capture_output=True, text=True, check=True)
    found = [Path(line) for line in out.stdout.splitlines()]
    assert found == [site / "tui" / "data" / name for name in POLICY]
    assert all(p.read_bytes() == (ROOT / p.name).read_bytes() for p in found)


def test_a_checkout_uses_the_repository_copy(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in POLICY:
        assert packaged_file(name) == default_file(name) == ROOT / name


def test_the_wheel_carries_the_licence_and_its_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = zf.read(metadata).decode()
        [licence] = [n for n in names if n.endswith("/LICENSE")]
        assert zf.read(licence) == (ROOT / "LICENSE").read_bytes()
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    assert "Classifier: Intended Audience :: Customer Service" in meta
    assert "Project-URL: Homepage, " in meta
    assert "Provides-Extra: web" in meta and "Requires-Dist: holidays" in meta
