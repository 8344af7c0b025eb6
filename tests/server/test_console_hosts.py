"""A console holding the desk serves it to scripts: CLI action commands (real processes) work
while it runs, and their effect shows in the console at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_fixtures import make_app, screen_text
from serverkit import cli

from tui.cli.actions import execute


async def test_cli_acts_through_the_console_that_holds_the_desk(desk_dir: Path,
                                                              make_desk) -> None:
    desk = make_desk(data_dir=desk_dir, demo=5)
    conv = desk.queue[0]
    app = make_app(desk, serve=execute)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(200):
            if (desk_dir / "desk.sock").exists():
                break
            await asyncio.sleep(0.05)
        done = await asyncio.to_thread(cli, desk_dir, "assign", conv, "kim", "--agent", "sam")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"assigned #{conv} to kim\n"
        assert desk.get(conv).assigned == "kim"
        ev = desk.events[desk.get(conv).timeline[-1][2]]
        assert (ev.kind, ev.agent) == ("assign", "sam")
        stop = await asyncio.to_thread(cli, desk_dir, "server", "--stop")
        assert stop.returncode == 1 and "a console (pid" in stop.stderr  # not from a script
        # status and start say the same thing: a console holds it and serves the others
        status = await asyncio.to_thread(cli, desk_dir, "server", "--status")
        assert status.returncode == 0 and "a console (pid" in status.stdout
        assert "attached besides it" in status.stdout
        start = await asyncio.to_thread(cli, desk_dir, "server")
        assert start.returncode == 0 and "a console (pid" in start.stdout
        assert "no desk process to start" in start.stdout
        app.queue_view.select(conv)
        app.flush_redraws()
        await pilot.pause(0.3)
        assert "assigned kim" in screen_text(app)  # the conversation pane shows it
    assert not (desk_dir / "desk.sock").exists()  # released with the desk
