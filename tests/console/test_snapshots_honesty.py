"""Issue 12 snapshots at 80x24, 120x40 and 160x48: the main screen with a long source name
failing, a verified customer with a case, a filter with no match, the outbox view and the
snoozed view.  Deterministic as tests/console/test_snapshots.py (frozen clock, demo seed, no
blink, truecolor); the sources never run a network: they only hold a state."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import textual.constants
from app_fixtures import mention
from conftest import EPOCH, new_desk

from tui.console.app import MentionDesk
from tui.core.model import Mention
from tui.sources.base import LIVE, RETRYING, Source

SIZES = [(80, 24), (120, 40), (160, 48)]
SIZE_IDS = ["80x24", "120x40", "160x48"]
SAFETY = "The doors closed on my child at Leeds, this is unsafe!"


@pytest.fixture(autouse=True)
def truecolor(monkeypatch):
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)


class HeldSource(Source):
    """A source held in one state (no network): what the status bar shows while it retries."""

    def __init__(self, name: str, state: str, detail: str = "") -> None:
        super().__init__()
        self.name = name
        self.status.set(state, detail)

    async def run(self, emit: Any) -> None:
        await asyncio.Event().wait()


def scene_desk() -> Any:
    """30 demo mentions, a verified customer with a long name whose critical case was handed
    off, tagged and noted, a snoozed conversation and the outbox with a failed post."""
    desk = new_desk(demo=30)
    m = Mention.from_dict({
        "id": "vip-1", "text": SAFETY, "channel": "public", "source": "demo",
        "author": {"handle": "alexandra_montgomery_fairweather",
                   "name": "Dr. Alexandra Montgomery-Fairweather, Rail Reform Campaigner",
                   "followers": 48213, "verified": True},
        "created_at": (EPOCH - timedelta(minutes=2)).isoformat(),
        "received_at": (EPOCH - timedelta(minutes=2)).isoformat()})
    vip = desk.ingest([m])[0].conv_id
    desk.handoff(vip, "safety", "CCTV request, Leeds platform 4")
    desk.tag(vip, "vip")
    desk.note(vip, "called back at 07:58\ncase ref LDS-4471")
    others = [c for c in desk.queue if c != vip]
    desk.snooze(others[3], EPOCH + timedelta(hours=2))
    desk.snooze(others[4], EPOCH + timedelta(hours=1))
    desk.reply(others[0], "Hi, sorry about that — the refund form is at "
                          "https://help.northline.example/refunds")
    desk.reply(others[1], "Thanks, we have passed this to the depot.")
    failed = desk.outbox.for_conversation(others[0])[0]["id"]
    desk.outbox.start(failed)
    desk.outbox.fail(failed, "422 Unprocessable Entity: text too long for this server")
    desk.ingest([mention("emoji-1", "@northline I ❤️ the new trains 👍🏽 but 🏳️‍🌈 seat broken",
                         handle="emoji_fan")])
    return desk, vip


def scene_app() -> tuple[MentionDesk, str]:
    desk, vip = scene_desk()
    sources = [HeldSource("mastodon:https://mastodon.northline-rail-customer-care.example",
                          RETRYING, "503 Service Unavailable, retry in 30 s"),
               HeldSource("demo", LIVE, "streaming")]
    app = MentionDesk(desk, sources, blink=False)
    app.animation_level = "none"
    return app, vip


async def settle(pilot: Any) -> None:
    app = pilot.app
    app.redraw_status()
    app.flush_redraws()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_long_source_failing_and_verified_customer_with_a_case(snap_compare, size):
    app, vip = scene_app()

    async def before(pilot: Any) -> None:
        await pilot.pause()
        pilot.app.queue_view.select(vip)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_filter_with_no_match(snap_compare, size):
    app, _vip = scene_app()

    async def before(pilot: Any) -> None:
        await pilot.pause()
        pilot.app.apply_filter("category:spam")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_outbox_view(snap_compare, size):
    app, _vip = scene_app()

    async def before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("b")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snoozed_view(snap_compare, size):
    app, _vip = scene_app()

    async def before(pilot: Any) -> None:
        await pilot.pause()
        pilot.app.apply_filter("status:snoozed")
        await settle(pilot)
        # the cursor's frame goes out before the detail panes' (console latency): let both
        # land, so a loaded machine never photographs the frame in between
        await pilot.pause()
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)
