"""ARCHITECTURE.md opens with the tree: every module it lists exists, and every module is listed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ("mention", "conversation", "triage", "action", "event", "queue", "outbox", "case",
            "office hours", "level / urgency", "read / unread", "needs reply")


def tree_block() -> str:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    match = re.search(r"^```text\n(.*?)^```", text, flags=re.S | re.M)
    assert match, "ARCHITECTURE.md must open with the tree in a ```text block"
    assert text.index("```text") < text.index("## Glossary"), "the tree comes first"
    return match.group(1)


def listed_paths() -> list[str]:
    """Each line ``NAME   what it is``, indented two spaces per folder level."""
    paths: list[str] = []
    folders: list[str] = []
    for line in tree_block().splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0, line
        depth = indent // 2
        assert depth <= len(folders), f"indented under nothing: {line!r}"
        del folders[depth:]
        name = line.split()[0]
        path = "/".join([*folders, name.rstrip("/")])
        paths.append(path + ("/" if name.endswith("/") else ""))
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
    return paths


def test_every_listed_path_exists() -> None:
    paths = listed_paths()
    assert "tui/core/desk.py" in paths and "widgets/queue_view.py" in paths
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == [], f"ARCHITECTURE.md lists what does not exist: {missing}"
    wrong = [p for p in paths if p.endswith("/") != (ROOT / p).is_dir()]
    assert wrong == []


def test_every_module_is_listed() -> None:
    listed = set(listed_paths())
    modules = sorted(str(p.relative_to(ROOT)) for pkg in ("tui", "widgets")
                     for p in (ROOT / pkg).rglob("*.py")
                     if p.name != "__init__.py" or p.parent.name == "cli")
    unlisted = [m for m in modules if m not in listed]
    assert unlisted == [], f"add these modules to the tree in ARCHITECTURE.md: {unlisted}"


def test_the_glossary_defines_the_field_terms() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    glossary = text[text.index("## Glossary"):]
    glossary = glossary[:glossary.index("\n## ", 1)]
    for term in GLOSSARY:
        assert f"- **{term}**" in glossary, term
