"""mentiondesk: a terminal console for social-media customer care."""

from __future__ import annotations

import functools
from typing import Any

HOMEPAGE = "https://help.northline.example/mentiondesk"


@functools.cache
def version() -> str:
    """The installed package's version (pyproject.toml's, from the package metadata).

    Looked up on first use, not at import: reading the metadata scans the installed packages
    (about 0.1 s), which every command start paid before."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("mentiondesk")
    except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return version()
    raise AttributeError(f"module 'tui' has no attribute {name!r}")
