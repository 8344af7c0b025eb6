"""The stats screen: snapshots at 80×24 and 160×48 on a fixed shift, closing, the archive."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from shiftkit import NOW, T, build_shift, deliver_all
from textual.app import App
from textual.widgets import Static

from tui.console.stats_screen import StatsScreen
from tui.core.store import Store
from widgets.charts import BarChart, bar

SHIFT = timedelta(hours=28)  # Mon 08:00 → Tue 12:00, the whole fixture


class StatsApp(App[None]):
    def __init__(self, desk: Any) -> None:
        super().__init__()
        self.desk = desk

    def on_mount(self) -> None:
        self.push_screen(StatsScreen(self.desk, SHIFT))


async def settle(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_snapshot_80x24(snap_compare: Any) -> None:
    desk = build_shift()[0]
    assert snap_compare(StatsApp(desk), terminal_size=(80, 24), run_before=settle)


def test_snapshot_160x48(snap_compare: Any) -> None:
    desk = build_shift()[0]
    assert snap_compare(StatsApp(desk), terminal_size=(160, 48), run_before=settle)


async def test_figures_on_screen_and_escape_closes() -> None:
    desk = build_shift()[0]
    app = StatsApp(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        assert not screen.has_class("-wide")
        times = str(screen.query_one("#times", Static).render())
        assert "first response     25m    1h00    4" in times  # the hand-off is no answer
        sla = screen.query_one("#sla", BarChart).rows
        assert sla == [("critical 0/1", 0.0), ("high 2/2", 100.0),
                       ("normal 2/3 +1", pytest.approx(200 / 3))]
        await pilot.press("escape")
        assert not isinstance(app.screen, StatsScreen)


async def test_wide_layout_and_archived_conversations(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    desk, clock, _ = build_shift(store)
    deliver_all(desk)
    clock.now = T(5, 14)
    assert desk.checkpoint() == 2
    clock.now = NOW  # look back at the shift with two of its conversations archived
    app = StatsApp(desk)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, StatsScreen) and screen.has_class("-wide")
        assert len(screen.archived) == 2
        m = screen.metrics
        assert m is not None and m.resolved == 3 and m.first_response.count == 4
    store.close()


def test_bar_drawing() -> None:
    assert bar(0, 10, 8) == "" and bar(10, 10, 8) == "█" * 8
    assert bar(5, 10, 3) == "█▌"  # 1.5 cells
    assert bar(20, 10, 4) == "████"  # capped


def test_a_level_with_nothing_measured_shows_no_rate_not_zero() -> None:
    from widgets.charts import bar

    assert bar(float("nan"), 100, 20) == "" and bar(0, 100, 20) == ""
    assert bar(50, 100, 20) == "█" * 10
