"""The console says up front when a DM cannot reach the customer (issue 10, item 9): the
suggested-action pane names the reason and offers the public answer, and ``o`` (take offline)
asks before trying, naming the reason."""

from __future__ import annotations

from datetime import timedelta

from app_fixtures import make_app, screen_text, show
from conftest import EPOCH
from textual.widgets import Static, TextArea

from tui.console.screens import ConfirmScreen, OfflineScreen
from tui.core.model import Author, Mention

SIZE = (160, 48)
REASON = "@rider.bsky.social accepts DMs only from accounts they follow, and does not follow us"


def pane_text(app) -> str:
    """The suggested-action pane's text as drawn (one line, wrapping undone)."""
    pane = app.query_one("#suggestion-text", Static)
    return " ".join(pane.render().plain.split())


def closed_mention(mid: str = "at://did:plc:rider/app.bsky.feed.post/1", *,
                   follows_us: bool = False) -> Mention:
    at = EPOCH - timedelta(minutes=2)
    return Mention(id=mid, source="bluesky:brand.bsky.social", channel="public",
                   author=Author("rider.bsky.social", "Rider", id="did:plc:rider",
                                 dms_from="following", follows_us=follows_us),
                   text="@brand charged twice for my ticket, booking NL-482913",
                   created_at=at, received_at=at)


async def test_the_pane_says_why_and_o_asks_before_trying(make_desk):
    desk = make_desk()
    (got,) = desk.ingest([closed_mention()])
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show(app, pilot, got.conv_id)
        text = pane_text(app)
        assert f"no DM possible: {REASON} — not taken offline; answer in public" in text
        assert "public reply (dm_closed)" in text and "take offline:" not in text

        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = " ".join(app.screen.query_one(".question", Static).render().plain.split())
        assert f"A direct message cannot reach this customer: {REASON}." in question
        assert "Try anyway" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, (ConfirmScreen, OfflineScreen))
        assert desk.outbox.for_conversation(got.conv_id) == []

        # Trying anyway opens the dialog with the category's own DM, not the public text.
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, OfflineScreen)
        dm = app.screen.query_one("#dm-text", TextArea).text
        assert dm == desk.render_reply(got.conv_id, "card_account_offline", "direct")


async def test_once_they_follow_us_o_opens_the_dialog_at_once(make_desk):
    desk = make_desk()
    (got,) = desk.ingest([closed_mention()])
    desk.ingest([closed_mention("at://did:plc:rider/app.bsky.feed.post/2", follows_us=True)])
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show(app, pilot, got.conv_id)
        assert "no DM possible" not in pane_text(app)
        assert "take offline:" in pane_text(app)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OfflineScreen)
