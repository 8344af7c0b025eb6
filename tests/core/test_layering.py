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


# Records who imports a UI package: only an import made by our own code counts (httpx, for one,
# loads rich for its command-line tool whenever rich is installed, which is not our import).
WATCH = r"""
import importlib, sys
ROOT = {root!r}
found = set()

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("textual", "rich", "widgets"):
            frame = sys._getframe(1)
            while frame and frame.f_code.co_filename.startswith("<frozen"):
                frame = frame.f_back
            if frame and frame.f_code.co_filename.startswith(ROOT):
                found.add(f"{{name}} (from {{frame.f_code.co_filename[len(ROOT):]}})")
        return None

sys.meta_path.insert(0, Watch())
for m in {mods!r}:
    importlib.import_module(m)
print(",".join(sorted(found)))
"""


def test_core_never_imports_textual_or_widgets() -> None:
    mods = core_modules()
    code = WATCH.format(root=str(ROOT / "tui") + "/", mods=mods)
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
