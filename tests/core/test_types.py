"""The type checker passes on the domain and the networks (``[tool.mypy]`` in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_passes_on_core_and_sources() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error:" not in out.stdout


def test_mypy_would_catch_a_type_error(tmp_path: Path) -> None:
    """The configuration really checks: a wrong call into the core is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from tui.core.model import iso\n\nx: int = iso(None)\ny: str = iso(3)\n",
                   encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary",
                          "--config-file", str(ROOT / "pyproject.toml"), str(bad)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode != 0 and "bad.py:4" in out.stdout, out.stdout + out.stderr
