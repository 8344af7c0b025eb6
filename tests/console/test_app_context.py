"""The network's thread in the conversation pane: fetched from the conversation's source when the
agent opens a conversation (or the cursor rests on one), cached per mention, never blocking the
UI, never crashing it, never shown on the wrong conversation.

The sources here are real ``Source`` subclasses run by the app's real Runner: ``ThreadSource``
answers ``context()`` from a script (posts, an exception, or a hang until cancelled), and the
end-to-end test uses the real ``MastodonSource`` against the fake Mastodon server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from app_fixtures import (
    click_actions,
    mention,
    notifications,
    screen_text,
    show,
)
from conftest import EPOCH
from fakes.collect import Collector
from fakes.mastodon import FakeMastodon
from textual.widgets import Static

from tui.console.app import MentionDesk
from tui.console.threads import Fetched, ThreadCache
from tui.core.model import Mention
from tui.sources.base import LIVE, Source
from tui.sources.mastodon import MastodonSource
from widgets.status_bar import StatusBar

SRC = "mastodon:https://social.example"
SIZE = (80, 24)
WIDE = (160, 48)
HANG = "hang"


class ThreadSource(Source):
    """A source whose ``context()`` answers from ``script`` (mention id → posts, an exception,
    or ``HANG``: wait until cancelled).  ``run`` just stays live, as a quiet network does."""

    def __init__(self, name: str = SRC, script: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.script = script or {}
        self.calls: list[str] = []
        self.cancelled: list[str] = []
        self.gate: asyncio.Event | None = None  # when set, every answer waits for it

    async def run(self, emit: Any) -> None:
        self.status.set(LIVE, "listening")
        await asyncio.Event().wait()

    async def context(self, mention: Mention) -> list[Mention]:
        self.calls.append(mention.id)
        answer = self.script.get(mention.id, [])
        try:
            if answer == HANG:
                await asyncio.Event().wait()
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(mention.id)
            raise
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)


def post(mid: str, text: str, minutes: float, handle: str = "northline") -> Mention:
    """A post in the thread, ``minutes`` before EPOCH (negative: after)."""
    return mention(mid, text, handle=handle, source=SRC, at=EPOCH - timedelta(minutes=minutes))


def make_app(desk: Any, *sources: Source) -> MentionDesk:
    app = MentionDesk(desk, list(sources), blink=False)
    app.animation_level = "none"
    return app


def history_text(app: MentionDesk) -> str:
    """The conversation pane's whole scrolled history (thread section included), as plain text:
    at 80x24 its top is scrolled away, the history being anchored to the newest message."""
    return app.main.query_one("#history", Static).content.plain


def context_workers(app: MentionDesk) -> list[Any]:
    return [w for w in app.workers if w.group == "context"]


async def threads_done(app: MentionDesk, pilot: Any) -> None:
    """Wait for the thread fetches (not the sources' worker, which runs until quit); one the
    app cancelled counts as finished.  (``wait_for_complete([])`` would wait for every worker,
    and ``Worker.wait`` raises for a cancelled one: hence the gather.)"""
    await asyncio.gather(*(w.wait() for w in context_workers(app)), return_exceptions=True)
    await pilot.pause()


def conv_id_of(desk: Any, mid: str, source: str = SRC) -> str:
    return desk.mention_conv[f"{source}|{mid}"]


@pytest.fixture
def desk(make_desk):
    return make_desk(demo=10)


async def test_thread_shown_once_oldest_first_without_desk_posts_and_cached(desk):
    # The customer's earlier mention is on the desk; the network's thread includes it too.
    desk.ingest([mention("m0", "my train is late again", source=SRC,
                         at=EPOCH - timedelta(minutes=8)),
                 mention("m1", "still nothing, platform 4", source=SRC)])
    source = ThreadSource(script={"m1": [
        post("t3", "Sorry to hear that — later update", -0.5),
        post("t1", "Northline: delays on the Riverside line", 20),
        mention("m0", "my train is late again", source=SRC, at=EPOCH - timedelta(minutes=8)),
        post("t2", "@northline any news?", 5, handle="dana"),
    ]})
    source.gate = asyncio.Event()
    app = make_app(desk, source)
    conv = conv_id_of(desk, "m1")
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, conv)
        assert "loading thread… (mastodon)" in history_text(app)
        await pilot.press("enter")  # opening it does not start a second fetch
        source.gate.set()
        await threads_done(app, pilot)
        text = history_text(app)
        assert "Thread on mastodon — 2 earlier, 1 later" in text
        assert "loading thread" not in text
        # oldest first, each with @handle and text; the desk's own mention only once (history)
        assert (text.index("@northline: Northline: delays")
                < text.index("@dana: @northline any news?")
                < text.index("@northline: Sorry to hear that"))
        assert text.count("my train is late again") == 1
        assert text.index("Sorry to hear that") < text.index("still nothing, platform 4")
        # the newest message is still what the 80x24 pane shows
        assert "still nothing, platform 4" in screen_text(app)
        assert source.calls == ["m1"]

        # Away and back: from the cache, no second request.
        other = next(c for c in desk.queue if c != conv)
        await show(app, pilot, other)
        assert "Thread on" not in history_text(app)  # a demo conversation: no thread
        await show(app, pilot, conv)
        assert "Thread on mastodon — 2 earlier, 1 later" in history_text(app)
        assert source.calls == ["m1"] and not context_workers(app)


async def test_a_failing_fetch_says_why_and_the_app_goes_on(desk):
    desk.ingest([mention("m1", "where is my refund", source=SRC)])
    source = ThreadSource(script={"m1": RuntimeError("502 Bad Gateway [/oops] [@click=app.quit]x")})
    app = make_app(desk, source)
    conv = conv_id_of(desk, "m1")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await show(app, pilot, conv)
        await threads_done(app, pilot)
        assert "thread unavailable: 502 Bad Gateway [/oops] [@click=app.quit]x" in screen_text(app)
        assert click_actions(app) == []
        # Not the source's fault as far as the desk is concerned: status and toasts untouched.
        assert source.status.state == LIVE
        bar = app.main.query_one(StatusBar)
        assert "Bad Gateway" not in str(bar.render())
        assert not any("Bad Gateway" in str(n) for n in notifications(app))
        await pilot.press("j", "k")
        assert app.is_running and app.selected == conv


async def test_moving_on_cancels_a_slow_fetch_and_shows_no_stale_thread(desk):
    desk.ingest([mention("slow", "first customer", handle="avery", source=SRC),
                 mention("quick", "second customer", handle="blake", source=SRC)])
    source = ThreadSource(script={"slow": HANG,
                                  "quick": [post("q1", "the quick thread's post", 3)]})
    app = make_app(desk, source)
    slow, quick = conv_id_of(desk, "slow"), conv_id_of(desk, "quick")
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, slow)
        assert "loading thread…" in history_text(app)
        await pilot.pause()
        assert source.calls == ["slow"]
        await show(app, pilot, quick)
        await threads_done(app, pilot)
        assert source.cancelled == ["slow"]
        text = history_text(app)
        assert "the quick thread's post" in text and "second customer" in text
        assert "first customer" not in text

        # Back on the slow one: fetched again (nothing was cached), still loading; then a
        # conversation whose source has no thread cancels it and shows nothing extra.
        await show(app, pilot, slow)
        await pilot.pause()
        assert source.calls == ["slow", "quick", "slow"]
        demo = next(c for c in desk.queue if c not in (slow, quick))
        await show(app, pilot, demo)
        await threads_done(app, pilot)
        assert source.cancelled == ["slow", "slow"]
        assert "thread" not in history_text(app).lower()


async def test_a_fetch_that_never_answers_times_out(desk):
    desk.ingest([mention("m1", "hello?", source=SRC)])
    source = ThreadSource(script={"m1": HANG})
    app = make_app(desk, source)
    app.thread_timeout = 0.05
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, conv_id_of(desk, "m1"))
        await threads_done(app, pilot)
        assert "thread unavailable: no answer in 0.05 s" in history_text(app)
        assert source.cancelled == ["m1"]  # wait_for cancelled the call it gave up on


HOSTILE = [
    ("[bold]not bold[/bold]", "[bold]not bold[/bold]"),
    ("[@click=app.quit]click me[/]", "[@click=app.quit]click me[/]"),
    ("[/foo] closes nothing", "[/foo] closes nothing"),
    ("\x1b[31mred\x1b[0m ansi", "red ansi"),
    ("\u202eevil bidi\u202c", "evil bidi"),
    ("[link=https://evil.example]x[/link] $accent {name}",
     "[link=https://evil.example]x[/link] $accent {name}"),
]


async def test_hostile_thread_posts_render_literally(desk):
    desk.ingest([mention("m1", "plain question", source=SRC)])
    posts = [post(f"h{i}", raw, 10 - i, handle="[b]mal[/b]") for i, (raw, _) in enumerate(HOSTILE)]
    # No Mention.from_dict here: the source might hand over text the core did not clean.
    posts.append(Mention("h-raw", SRC, "public", posts[0].author, "\x1b]0;pwned\x07raw [/x]",
                         EPOCH - timedelta(minutes=1), EPOCH))
    source = ThreadSource(script={"m1": posts})
    app = make_app(desk, source)
    async with app.run_test(size=WIDE) as pilot:
        await show(app, pilot, conv_id_of(desk, "m1"))
        await threads_done(app, pilot)
        text = history_text(app)
        # the nearest five of seven earlier posts are listed; the heading counts them all
        assert "Thread on mastodon — 7 earlier, 0 later (nearest 5 shown)" in text
        for _raw, shown in HOSTILE[2:]:
            assert f"@[b]mal[/b]: {shown}" in text
        assert "@[b]mal[/b]: raw [/x]" in text and "pwned" not in text
        assert click_actions(app) == []
        assert "\x1b" not in screen_text(app)
        assert app.is_running


def test_thread_cache_keeps_the_most_recently_used():
    cache = ThreadCache(size=2)
    cache.put("a", Fetched())
    cache.put("b", Fetched())
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", Fetched())
    assert "a" in cache and "c" in cache and "b" not in cache and len(cache) == 2


async def test_mastodon_thread_end_to_end(make_desk, tmp_path):
    """The real MastodonSource against the fake server: the recorded context
    (``test_entity_context.yaml``: one ancestor, one descendant) in the pane."""
    with FakeMastodon() as fake:
        # The recording is from 2023: a horizon long enough for a first start to read it.
        source = MastodonSource(fake.url, token="test-token-s3cret", stream=False,
                                poll_seconds=3600, timeout=2.0, backoff_base=0.01,
                                horizon_days=36500)
        note = fake.notification(1, text="is the thread there?")
        note["status"]["id"] = "110446983926957470"  # the recorded context's status
        note["status"]["created_at"] = "2023-05-28T15:20:25.000Z"
        note["created_at"] = "2023-05-28T15:20:25.400Z"  # notified as it arrived
        fake.publish(note)
        got = Collector()
        await source.poll(got)
        assert got.ids == ["110446983926957470"]
        desk = make_desk()
        desk.ingest(got.mentions)
        app = make_app(desk, source)
        try:
            async with app.run_test(size=WIDE) as pilot:
                await show(app, pilot, desk.queue[0])
                await threads_done(app, pilot)
                text = history_text(app)
                assert "Thread on mastodon — 1 earlier, 1 later" in text
                assert text.index("@halcy: first status") < text.index("@halcy: final status")
                assert text.index("final status") < text.index("is the thread there?")
                shown = screen_text(app)
                assert "@halcy: first status" in shown and "is the thread there?" in shown
                assert fake.count("GET", "/api/v1/statuses/110446983926957470/context") == 1
        finally:
            await source.aclose()
