"""The running console picks up a changed rules.yaml (file change and SIGUSR1); a broken file is
shown with file:line and the desk keeps its rules."""

from __future__ import annotations

import os
import shutil
import signal

from app_fixtures import make_app, notifications
from conftest import new_desk

from tui.core.rules import load_rules

KIOSK = """  - id: kiosk
    urgency: high
    action: assist_and_direct
    team: bookings
    reply: booking_assist
    match:
      keywords: [kiosk]

"""


def use_copy(desk, tmp_path):
    path = tmp_path / "rules.yaml"
    shutil.copy(desk.rules.path, path)
    desk.rules = load_rules(path, reply_keys=set(desk.replies.keys))
    return path


def edit(path, old, new):
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


async def test_a_changed_file_is_applied_and_a_broken_one_refused(tmp_path):
    desk = new_desk(demo=5)
    path = use_copy(desk, tmp_path)
    app = make_app(desk)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        edit(path, "  - id: service_disruption\n", KIOSK + "  - id: service_disruption\n")
        app._watch_rules()  # the 2-second poll, run now
        await pilot.pause()
        assert "kiosk" in desk.rules.categories
        assert any("rules reloaded" in n and "added kiosk" in n for n in notifications(app))
        before = desk.rules
        edit(path, "action: update_and_link", "action: update")
        app._watch_rules()
        await pilot.pause()
        assert desk.rules is before
        shown = [n for n in notifications(app) if "unknown action 'update'" in n]
        assert shown and f"{path}:" in shown[0] and "keeps its current rules" in shown[0]
        app._watch_rules()  # the same broken file is reported once, not on every poll
        await pilot.pause()
        assert len([n for n in notifications(app) if "unknown action 'update'" in n]) == 1


async def test_sighup_reloads_with_the_request(tmp_path):
    from tui.setup.reload import REQUEST

    desk = new_desk(data_dir=tmp_path / "data", demo=5)
    path = use_copy(desk, tmp_path)
    app = make_app(desk)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        assert app._reload_signal  # the handler is installed (else SIGUSR1 would end the test run)
        edit(path, "  - id: service_disruption\n", KIOSK + "  - id: service_disruption\n")
        (tmp_path / "data" / REQUEST).write_text('{"path": null, "retriage": true}')
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(20):
            await pilot.pause()
            if "kiosk" in desk.rules.categories:
                break
        assert "kiosk" in desk.rules.categories
        assert not (tmp_path / "data" / REQUEST).exists()
        assert any("re-triaged" in n for n in notifications(app))
