"""Building the console for tests: the app over a desk from conftest's ``make_desk`` (the clock
standing still unless a test moves it), no live source, no cursor blink."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conftest import EPOCH

from tui.console.app import MentionDesk
from tui.core.model import Mention


def make_app(desk: Any, **kw: Any) -> MentionDesk:
    kw.setdefault("blink", False)
    app = MentionDesk(desk, [], **kw)
    app.animation_level = "none"  # no scroll/fade animations to wait for
    return app


def mention(mid: str, text: str, *, handle: str = "casey", name: str = "Casey",
            channel: str = "public", at: datetime | None = None,
            source: str = "demo") -> Mention:
    at = at or EPOCH - timedelta(minutes=1)
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
