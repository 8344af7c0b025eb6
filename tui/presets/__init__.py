"""Sector presets: a starting rules.yaml and replies.yaml per kind of brand (packaged data).

``transit`` is the shipped default policy (the top-level rules.yaml/replies.yaml, packaged as
tui/data/); the others live in a folder each here.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
PRESETS = ("transit", "airline", "telecom", "retail", "software")


def preset_files(name: str) -> dict[str, Path]:
    """{"rules.yaml": path, "replies.yaml": path} of a preset; KeyError for an unknown one."""
    if name not in PRESETS:
        raise KeyError(name)
    if name == "transit":
        from ..setup.boot import PACKAGED

        folder = PACKAGED
    else:
        folder = HERE / name
    return {"rules.yaml": folder / "rules.yaml", "replies.yaml": folder / "replies.yaml"}
