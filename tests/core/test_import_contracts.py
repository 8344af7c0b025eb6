"""The layers' import contracts (``[tool.importlinter]`` in pyproject.toml) hold, and are checked.

``lint-imports`` reads every import statement, including ones inside functions and under
``TYPE_CHECKING``, so a back-import anywhere in a layer breaks the suite. The run-time check in
test_layering.py stays beside it (it sees what an interpreter actually loads).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each layer must never import (ARCHITECTURE.md, "Layers"). The contracts in pyproject may
# forbid more; they may not forbid less.
REQUIRED = {
    "tui.core": {"textual", "rich", "widgets", "tui.sources", "tui.setup", "tui.server",
                 "tui.console", "tui.cli"},
    "tui.sources": {"tui.setup", "tui.server", "tui.console", "tui.cli", "widgets", "textual"},
    "widgets": {"tui.console", "tui.cli", "tui.setup", "tui.server", "tui.sources"},
    "tui.setup": {"tui.server", "tui.console", "tui.cli"},
    "tui.server": {"tui.console", "tui.cli", "textual", "widgets"},
}


def lint_imports_command() -> list[str]:
    script = Path(sys.executable).with_name("lint-imports")
    found = str(script) if script.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is not installed: pip install -e '.[test]'"
    return [found, "--no-cache", "--no-logo"]


def run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([*lint_imports_command(), str(root / "pyproject.toml")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return config["contracts"]


def test_contracts_forbid_every_back_import() -> None:
    forbidden: dict[str, set[str]] = {}
    for contract in contracts():
        assert contract["type"] == "forbidden", contract["name"]
        for source in contract["source_modules"]:
            forbidden.setdefault(source, set()).update(contract["forbidden_modules"])
    for layer, modules in REQUIRED.items():
        missing = modules - forbidden.get(layer, set())
        assert not missing, f"{layer} may import {sorted(missing)}: add them to its contract"


def test_import_contracts_are_kept() -> None:
    out = run_lint_imports(ROOT)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert f"Contracts: {len(contracts())} kept, 0 broken." in report, report


def test_a_back_import_breaks_the_contracts(tmp_path: Path) -> None:
    # The same check over a copy of the tree with one deliberate back-import (core -> CLI),
    # hidden inside a function where the run-time import test cannot see it.
    for name in ("tui", "widgets"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    queue = tmp_path / "tui" / "core" / "queue.py"
    queue.write_text(queue.read_text() + "\n\ndef _back() -> None:\n    from tui.cli import main\n")
    out = run_lint_imports(tmp_path)
    report = out.stdout + out.stderr
    assert out.returncode != 0, report
    assert "tui.core is the domain" in report and "BROKEN" in report, report
    assert "tui.core.queue -> tui.cli" in report, report
