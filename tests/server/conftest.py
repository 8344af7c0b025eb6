"""Fixtures of the desk-process tests (see tests/serverkit.py)."""

from serverkit import desk_dir  # noqa: F401 - a fixture
