"""SVG snapshots of the console: main screen at 80x24 and 160x48, and every modal.

Deterministic: the demo history is generated from a fixed seed, the desk's clock is frozen, the
cursor does not blink and no live source runs.  Regenerate after an intended change with
``pytest tests/console/test_snapshots.py --snapshot-update`` and look at the SVGs before committing.
"""

from __future__ import annotations

import pytest
import textual.constants
from app_fixtures import make_app
from conftest import new_desk


@pytest.fixture(autouse=True)
def truecolor(monkeypatch):
    """Snapshots show a truecolor terminal whatever TERM the tests run under: the queue draws
    its cursor row differently with 16 colours (reverse video), which would make them depend
    on the environment."""
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)


def app():
    return make_app(new_desk(demo=30))


def test_main_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24))


async def next_row(pilot):
    """``j``, then the debounced detail redraw run now (a snapshot never waits for timers)."""
    await pilot.press("j")
    pilot.app.flush_redraws()


def test_main_160x48(snap_compare):
    assert snap_compare(app(), terminal_size=(160, 48), run_before=next_row)


@pytest.mark.parametrize("keys", [
    ["r"],            # composer, prefilled with the suggested reply
    ["o"],            # take offline: bridge and DM side by side
    ["h"],            # hand off: team picker + note
    ["o", "ctrl+s", "e"],  # resolve after going offline: close-the-loop prefilled
    ["s"],            # snooze presets
    ["slash"],        # filter with the field help
    ["question_mark"],  # help: every key
    ["x"],            # confirm spam
    ["t"],            # tag prompt
    ["m"],            # note prompt
], ids=["reply", "offline", "handoff", "resolve", "snooze", "filter", "help", "confirm", "tag",
        "note"])
def test_modal(snap_compare, keys):
    assert snap_compare(app(), terminal_size=(80, 24), press=keys)
