"""The headless core never imports Textual or the widgets: checked in a fresh interpreter."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def core_modules() -> list[str]:
    mods = []
    for pkg in ("tui/core", "tui/sources"):
        for path in sorted((ROOT / pkg).glob("*.py")):
            if path.stem != "__init__":
                mods.append(f"{pkg.replace('/', '.')}.{path.stem}")
    return mods


def test_core_modules_exist() -> None:
    mods = core_modules()
    assert "tui.core.desk" in mods and "tui.core.store" in mods and "tui.core.rules" in mods


def test_core_never_imports_textual_or_widgets() -> None:
    mods = core_modules()
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.')"
        " or n == 'widgets' or n.startswith('widgets.') or n == 'rich' or n.startswith('rich.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"core imported UI modules: {out.stdout.strip()}"


def test_core_sources_do_not_mention_textual() -> None:
    # Catches lazy imports inside functions too, which the run-time check cannot see.
    for mod in core_modules():
        text = (ROOT / (mod.replace(".", "/") + ".py")).read_text()
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "textual" not in stripped and "widgets" not in stripped, (mod, line)
