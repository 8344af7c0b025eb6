"""Sector presets: a starting rules.yaml and replies.yaml per kind of brand (packaged data).

``transit`` is the shipped default policy (the top-level rules.yaml/replies.yaml, copied into
the wheel by setup.py: :func:`tui.setup.boot.packaged_file`); the others are
``<preset>.rules.yaml`` and ``<preset>.replies.yaml`` here.
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
        from ..setup.boot import packaged_file

        return {n: packaged_file(n) for n in ("rules.yaml", "replies.yaml")}
    # Named <preset>.rules.yaml here: the repository holds exactly one file called rules.yaml.
    return {n: HERE / f"{name}.{n}" for n in ("rules.yaml", "replies.yaml")}
