"""Building the console for tests: a real desk (packaged rules and replies, a real store in
tmp_path when asked), a fixed clock, no live source, no cursor blink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tui.console.app import MentionDesk
from tui.core.model import Mention
from tui.setup.boot import PACKAGED, Options, open_desk
from tui.sources.demo import generate

# A Monday, office open (08:00 London = 08:00 UTC in March), 30 minutes into the demo timeline.
NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
START = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def options(data_dir: Path | None) -> Options:
    return Options(data_dir=str(data_dir) if data_dir else None,
                   rules=str(PACKAGED / "rules.yaml"), replies=str(PACKAGED / "replies.yaml"),
                   agent="tester")


def make_desk(data_dir: Path | None = None, n: int = 30, *, clock: Any = None,
              seed: int = 7) -> Any:
    """A desk with ``n`` demo mentions (spread over the half hour before NOW)."""
    desk = open_desk(options(data_dir), clock=clock or Clock(), with_store=data_dir is not None)
    if n:
        desk.ingest(generate(n, seed, rate=n / 1800, start=START))
    return desk


def make_app(desk: Any, **kw: Any) -> MentionDesk:
    kw.setdefault("blink", False)
    app = MentionDesk(desk, [], **kw)
    app.animation_level = "none"  # no scroll/fade animations to wait for
    return app


def mention(mid: str, text: str, *, handle: str = "casey", name: str = "Casey",
            channel: str = "public", at: datetime | None = None,
            source: str = "demo") -> Mention:
    at = at or NOW - timedelta(minutes=1)
    return Mention.from_dict({"id": mid, "text": text, "channel": channel, "source": source,
                              "author": {"handle": handle, "name": name, "followers": 12},
                              "created_at": at.isoformat(), "received_at": at.isoformat()})


async def show(app: MentionDesk, pilot: Any, conv_id: str) -> None:
    """Put the cursor on ``conv_id`` and wait for every pane to show it.  The detail panes redraw
    on a debounce timer; ``flush_redraws`` runs it now instead of the test sleeping for it."""
    app.queue_view.select(conv_id)
    app.flush_redraws()
    await pilot.pause()


def screen_text(app: MentionDesk) -> str:
    """What the terminal shows for the active screen (modals included), as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def click_actions(app: MentionDesk) -> list[str]:
    """Every ``@click`` action anywhere on screen (stranger text must never create one)."""
    found = []
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            meta = segment.style.meta if segment.style is not None else {}
            if meta and "@click" in meta:
                found.append(str(meta["@click"]))
    return found


def notifications(app: MentionDesk) -> list[str]:
    return [n.message for n in app._notifications]


def conv_of(desk: Any, mention_key: str) -> Any:
    return desk.get(desk.mention_conv[mention_key])
