"""The console driven from the keyboard: every key and flow changes the desk as it should."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from app_fixtures import (
    make_app,
    mention,
    notifications,
    screen_text,
    show,
)
from conftest import EPOCH
from textual.widgets import Input, TextArea

from tui.console.screens import (
    ComposerScreen,
    ConfirmScreen,
    HandoffScreen,
    HelpScreen,
    NoteScreen,
    OfflineScreen,
    PromptScreen,
    ResolveScreen,
    SnoozeScreen,
)
from tui.core.api import describe_all
from tui.core.desk import IGNORED, SNOOZED
from tui.core.store import Store

SIZE = (80, 24)


def actions(desk, conv_id):
    """The conversation's actions (events), oldest first, from the desk's public history."""
    return [h.event for h in desk.history(conv_id) if h.conv_id == conv_id and h.event]


def kinds(desk, conv_id):
    """The kinds of the conversation's actions still in force (not undone)."""
    return [e.kind for e in actions(desk, conv_id) if not e.undone and e.kind != "undo"]


@pytest.fixture
def desk(make_desk):
    return make_desk(demo=30)


async def test_starts_with_queue_detail_and_status(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = desk.queue[0]
        assert app.selected == first
        text = screen_text(app)
        conv = desk.get(first)
        assert "@" + conv.handle in text  # queue row and profile
        assert f"#{first} open" in text
        assert "Suggested:" in text
        assert f"{len(desk.queue)} open" in text
        assert "office open" in text and "tester" in text


async def test_move_open_and_next(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        assert app.selected == desk.queue[1]
        await pilot.press("down", "k")
        assert app.selected == desk.queue[1]
        conv = desk.get(desk.queue[1])
        assert conv.unread
        await pilot.press("enter")
        assert not conv.unread and app.seen[conv.id] == conv.last_mention_seq
        await pilot.press("end", "n")
        assert app.selected == desk.next().id


async def test_reply_sends_the_suggested_reply(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        suggested = desk.suggestion(conv_id).text
        await pilot.press("r")
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#reply-text", TextArea).text == suggested
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ComposerScreen)
        assert kinds(desk, conv_id) == ["reply"]
        items = desk.outbox.for_conversation(conv_id)
        assert [(i["kind"], i["text"], i["status"]) for i in items] == [
            ("reply", suggested, "pending")]
        assert any(f"replied on #{conv_id}" in n for n in notifications(app))
        assert desk.own_draft(conv_id) is None


async def test_reply_refusals_are_shown_in_the_composer(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("r")
        area = app.screen.query_one("#reply-text", TextArea)
        area.text = "Hi {name}, your card 4111 1111 1111 1111 is blocked " + "x" * 600
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        text = screen_text(app)
        assert "unfilled placeholder {name}" in text
        assert "too long" in text
        assert "personal data in a public reply" in text
        assert kinds(desk, conv_id) == []


async def test_outgrown_asks_before_sending(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv = desk.get(app.selected)
        await pilot.press("enter", "r")
        # The customer writes again while the agent is typing.
        desk.ingest([mention("late-1", "hello?? anyone there", handle=conv.handle,
                             source=conv.source)])
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "1 new message arrived — send anyway?" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert "not sent" in screen_text(app)
        assert kinds(desk, conv.id) == []
        # Going back showed that message; one more arrives after it: asked again, sent anyway.
        desk.ingest([mention("late-2", "still waiting", handle=conv.handle,
                             source=conv.source)])
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, (ComposerScreen, ConfirmScreen))
        assert kinds(desk, conv.id) == ["reply"]


async def test_draft_is_saved_and_comes_back(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("r")
        app.screen.query_one("#reply-text", TextArea).text = "Working on it — half written"
        await pilot.press("escape")
        await pilot.pause()
        assert desk.own_draft(conv_id)["text"] == "Working on it — half written"
        await pilot.press("r")
        assert app.screen.query_one("#reply-text", TextArea).text == \
            "Working on it — half written"


async def test_draft_saved_while_typing(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("r")
        area = app.screen.query_one("#reply-text", TextArea)
        area.text = ""
        await pilot.press("o", "k")
        # Debounced: written once typing pauses, without closing the composer.
        timer = app.screen._draft_timer
        await timer._task  # the timer fires once and ends
        assert desk.own_draft(conv_id)["text"] == "ok"


async def test_canned_reply_search_swaps_in_a_rendered_reply(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv = desk.get(app.selected)
        await pilot.press("r", "ctrl+f")
        for ch in "refund":
            await pilot.press(ch)
        await pilot.pause()
        assert app.screen.query_one("#canned-results").option_count > 0
        await pilot.press("enter")
        text = app.screen.query_one("#reply-text", TextArea).text
        expected = desk.replies.render("refund_assist", "public", "demo",
                                       desk.render_values(conv))
        assert text == expected
        assert app.screen.reply_key == "refund_assist"
        await pilot.press("ctrl+s")
        await pilot.pause()
        ev = actions(desk, conv.id)[-1]
        assert ev.details["reply_key"] == "refund_assist"


async def test_take_offline_sends_bridge_and_dm(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("o")
        assert isinstance(app.screen, OfflineScreen)
        app.screen.query_one("#dm-text", TextArea).text = "Please send us your booking ref here."
        await pilot.press("ctrl+s")
        await pilot.pause()
        conv = desk.get(conv_id)
        assert conv.offline
        items = desk.outbox.for_conversation(conv_id)
        assert sorted(i["kind"] for i in items) == ["bridge", "dm"]
        assert any("offline" in n for n in notifications(app))


async def test_handoff_picks_a_team_and_shows_the_case_id(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        suggested = desk.suggestion(conv_id).team
        await pilot.press("h")
        assert isinstance(app.screen, HandoffScreen)
        app.screen.query_one("#note", Input).value = "driver 4471, 07:12 departure"
        app.screen.query_one("#note", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        conv = desk.get(conv_id)
        assert conv.team == suggested and conv.case_id == "CASE-00001"
        assert any("CASE-00001" in n for n in notifications(app))
        assert "CASE-00001" in screen_text(app)


async def test_resolve_with_close_the_loop_after_offline(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("o", "ctrl+s")
        await pilot.pause()
        assert desk.get(conv_id).offline
        await pilot.press("e")
        assert isinstance(app.screen, ResolveScreen)
        prefilled = app.screen.query_one("#close-loop-text", TextArea).text
        assert prefilled == desk.replies.render("close_loop", "public", "demo",
                                                desk.render_values(desk.get(conv_id)))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert desk.get(conv_id).status == "resolved"
        assert any(i["kind"] == "close_loop" for i in desk.outbox.for_conversation(conv_id))


async def test_resolve_without_message(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("e")
        assert app.screen.query_one("#close-loop-text", TextArea).text == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert desk.get(conv_id).status == "resolved"
        assert desk.outbox.for_conversation(conv_id) == []
        assert app.selected != conv_id  # it left the queue; the cursor moved on


async def test_snooze_presets_and_typed_time(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("s")
        assert isinstance(app.screen, SnoozeScreen)
        await pilot.press("down", "enter")  # 1h
        await pilot.pause()
        conv = desk.get(conv_id)
        assert conv.status == SNOOZED
        assert (conv.snoozed_until - EPOCH).total_seconds() == 3600
        other = app.selected
        await pilot.press("s")
        app.screen.query_one("#until", Input).value = "not a time"
        app.screen.query_one("#until", Input).focus()
        await pilot.press("enter")
        assert "not a time" in screen_text(app)  # the reason, in the modal
        app.screen.query_one("#until", Input).value = "17:30"
        await pilot.press("enter")
        await pilot.pause()
        assert desk.get(other).status == SNOOZED


async def test_ignore_asks_first(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert desk.get(conv_id).status == "open"
        await pilot.press("x", "y")
        await pilot.pause()
        assert desk.get(conv_id).status == IGNORED


async def test_assign_tag_note(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("a")
        assert desk.get(conv_id).assigned == "tester"
        await pilot.press("t")
        assert isinstance(app.screen, PromptScreen)
        for ch in "vip":
            await pilot.press(ch)
        await pilot.press("enter")
        assert desk.get(conv_id).tags == ["vip"]
        assert any("tagged #" in n for n in notifications(app))
        await pilot.press("m", "ctrl+s")  # empty note: refused, shown in the modal
        assert isinstance(app.screen, NoteScreen)
        assert "a note cannot be empty" in screen_text(app)
        app.screen.query_one(TextArea).text = "called back, waiting on depot"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert desk.get(conv_id).notes == ["called back, waiting on depot"]
        app.clear_notifications()
        await pilot.pause()
        assert "called back, waiting on depot" in screen_text(app)


async def test_undo_and_its_refusal(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("u")
        assert any("refused: nothing to undo" in n for n in notifications(app))
        conv_id = app.selected
        await pilot.press("r", "ctrl+s")
        await pilot.pause()
        assert kinds(desk, conv_id) == ["reply"]
        await pilot.press("u")
        await pilot.pause()
        assert kinds(desk, conv_id) == []
        assert [i["status"] for i in desk.outbox.for_conversation(conv_id)] == ["cancelled"]
        assert any(f"undid reply on #{conv_id}" in n for n in notifications(app))
        # The history shows the undone reply struck through, marked undone.
        app.clear_notifications()
        await pilot.pause()
        assert "(undone)" in screen_text(app)
        # A posted reply cannot be unsent: the refusal says so.
        await pilot.press("r", "ctrl+s")
        await pilot.pause()
        item = next(i for i in desk.outbox.for_conversation(conv_id) if i["status"] == "pending")
        desk.outbox.start(item["id"])
        desk.outbox.sent(item["id"], "remote-1")
        await pilot.press("u")
        assert any("cannot be unsent" in n for n in notifications(app))


async def test_filter_and_clear(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = "team:nowhere"
        await pilot.press("enter")
        assert "team:nowhere? teams are" in screen_text(app)
        app.screen.query_one(Input).value = "category:refund"
        await pilot.press("enter")
        await pilot.pause()
        view = app.queue_view.queue
        assert view is not desk.queue and len(view) > 0
        assert all(desk.get(c).category == "refund" for c in view)
        assert desk.get(app.selected).category == "refund"
        assert "filter: category:refund" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.queue_view.queue is desk.queue and app.filter_view is None
        await pilot.press("slash")
        app.screen.query_one(Input).value = "channel:dm"
        await pilot.press("enter")
        await pilot.pause()
        assert all(desk.latest_mention(desk.get(c)).channel == "direct"
                   for c in app.queue_view.queue)


async def test_accept_does_the_whole_suggestion(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("A")
        await pilot.pause()
        assert kinds(desk, conv_id)  # something was done
        done = [e for e in desk.events.values() if e.conv == conv_id and e.group]
        assert f"{describe_all(done)} — u undoes it all" in notifications(app)
        await pilot.press("u")
        assert kinds(desk, conv_id) == []


async def test_accept_leaves_no_stale_draft(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        desk.save_draft(conv_id, "an old half-written answer")
        await pilot.press("A")
        await pilot.pause()
        assert kinds(desk, conv_id) and desk.own_draft(conv_id) is None
        await pilot.press("r")  # the next reply does not reopen text that went out
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#reply-text", TextArea).text != "an old half-written answer"


async def test_help_lists_every_binding(desk):
    app = make_app(desk)
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        text = app.screen.query_one("#help-text").render().plain
        words = set(text.split())
        from tui.console.keys import DESK_KEYS
        for bid, _key, _action, _label, description, _show in DESK_KEYS:
            # a long description wraps at word boundaries: every word of it, whole
            assert set(description.split()) <= words and bid in words
        for bid in ("queue.down", "queue.up", "queue.open", "modal.submit"):
            assert bid in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_offers_every_action(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "Assign to me":
            await pilot.press("space" if ch == " " else ch)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause()
        assert desk.get(conv_id).assigned == "tester"


async def test_keys_remapped_from_config(make_desk):
    desk = make_desk(demo=30)
    desk.config = SimpleNamespace(keys={"desk.reply": "R"})
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")
        assert not isinstance(app.screen, ComposerScreen)
        await pilot.press("R")
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("escape", "question_mark")
        assert "R " in screen_text(app)


async def test_critical_mentions_and_at_risk_ring_the_bell(clock, make_desk):
    desk = make_desk(clock=clock, demo=30)
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        app.ingest([mention("fire-1", "there's smoke coming from under the carriage, people "
                                      "are scared, is anyone coming??", handle="smokey")])
        assert app.rings == 1
        await pilot.pause()
        assert any("CRITICAL" in n and "@smokey" in n for n in notifications(app))
        clock.advance(minutes=50)  # past 75% of the response times
        app.tick()
        assert app.rings == 2
        await pilot.pause()
        assert any("AT RISK" in n for n in notifications(app))
        counts = desk.counts()
        assert counts["at_risk"] + counts["breached"] > 0
        app.clear_notifications()
        await pilot.pause()
        assert f"{counts['at_risk']} at risk" in screen_text(app)


async def test_stats_key_opens_the_stats_screen(desk):
    from tui.console.stats_screen import StatsScreen

    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)


async def test_wide_layout_shows_panes_side_by_side(desk):
    app = make_app(desk)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.main.has_class("-wide")
        queue = app.main.query_one("#queue")
        detail = app.main.query_one("#detail")
        assert queue.region.right <= detail.region.x
        assert app.main.query_one("#suggestion").display


async def test_quit_flushes_and_restart_restores_everything(make_desk, tmp_path):
    data = tmp_path / "desk"
    desk = make_desk(data_dir=data, demo=30)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first, second, third = desk.queue[0], desk.queue[1], desk.queue[2]
        await pilot.press("r", "ctrl+s")  # reply on the first
        await pilot.pause()
        app.queue_view.select(second)
        await pilot.press("h", "enter", *"CCTV", "enter")  # hand off the second, with a note
        await pilot.pause()
        app.queue_view.select(third)
        await pilot.press("r")
        app.screen.query_one("#reply-text", TextArea).text = "half a reply"
        await pilot.press("escape", "s", "enter")  # draft kept; snoozed 30m
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.closed and app.return_code == 0
    before = {c: (desk.get(c).status, desk.get(c).case_id, kinds(desk, c))
              for c in (first, second, third)}
    queue_before = list(desk.queue)
    # The data dir lock was released: a new desk opens on the same directory.
    again = make_desk(data_dir=data)
    try:
        assert list(again.queue) == queue_before
        assert {c: (again.get(c).status, again.get(c).case_id, kinds(again, c))
                for c in (first, second, third)} == before
        assert again.own_draft(third)["text"] == "half a reply"
        assert again.get(third).snoozed_until == desk.get(third).snoozed_until
        assert again.get(second).case_id == "CASE-00001"
        app2 = make_app(again)
        async with app2.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await show(app2, pilot, first)
            assert "replied (public)" in screen_text(app2)
            await pilot.press("q")
    finally:
        if again.store is not None and not app2.closed:
            again.store.close()
    # Closed cleanly both times: the store opens again without recovery work.
    Store(data).close()


# ==== staying quiet while mentions stream in ===================================================

SMOKE = "there's smoke coming from under the carriage, people are scared, is anyone coming??"


def words(text: str) -> str:
    """Screen text with line wrapping undone (single spaces)."""
    return " ".join(text.split())


async def test_critical_alerts_are_coalesced_but_none_is_lost(make_desk):
    desk = make_desk(demo=30)
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        first = app.ingest([mention("c0", SMOKE, handle="first")])
        assert app.rings == 1  # the first one at once
        # More within the cooldown: no toast, no bell yet...
        later = app.ingest([mention(f"c{i}", SMOKE, handle=f"rider{i}") for i in range(1, 9)])
        assert [r.alert for r in later] == ["critical"] * 8
        assert app.rings == 1
        await pilot.pause()
        assert sum("CRITICAL" in n for n in notifications(app)) == 1
        # ...but counted at once in the status bar.
        app.redraw_status()
        await pilot.pause()
        assert "‼ 9 critical unread" in screen_text(app)
        # When the cooldown ends: one toast, one bell, every one of them counted.
        app.flush_alerts()
        assert app.rings == 2
        await pilot.pause()
        summary = [n for n in notifications(app) if "CRITICAL:" in n]
        assert len(summary) == 1
        assert "8 new critical" in summary[0] and "and 2 more" in summary[0]
        for r in later[:6]:
            assert f"#{r.conv_id} @{r.mention.author.handle}" in summary[0]
        app.flush_alerts()  # nothing pending: no toast, no bell
        assert app.rings == 2
        # Opening one takes it off the count.
        app.open(first[0].conv_id)
        app.redraw_status()
        app.clear_notifications()
        await pilot.pause()
        assert "‼ 8 critical unread" in screen_text(app)


async def test_status_bar_repaints_only_when_its_text_changes(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        bar = app.main.query_one("#status")
        before = bar.repaints
        app.redraw_status()
        app.tick()
        assert bar.repaints == before  # same figures: nothing drawn
        app.ingest([mention("new-1", "where is my refund?", handle="refundy")])
        app.redraw_status()
        assert bar.repaints == before + 1
        await pilot.pause()
        assert f"{len(desk.queue)} open" in screen_text(app)


async def test_detail_panes_follow_the_cursor_once_it_rests(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conversation = app.main.query_one("#conversation")
        assert conversation.conv_id == desk.queue[0]
        # Every move counts as quick (a held key), whatever the wall clock says — the first
        # one too: the last move was "just now" (else the first j, a move after a pause, draws
        # its panes right after its frame, which a loaded machine can show before the next j).
        app.detail_debounce = 3600.0
        app._moved_at = time.monotonic()
        await pilot.press("j", "j", "j", "j")
        await pilot.pause()
        assert app.selected == desk.queue[4]
        assert conversation.conv_id == desk.queue[0]  # only the queue followed
        app.flush_redraws()  # what the debounce timer does once the cursor rests
        await pilot.pause()
        assert conversation.conv_id == desk.queue[4]
        assert f"#{desk.queue[4]} open" in screen_text(app)
        # Every move counts as one after a rest: the panes follow each, with the cursor.
        app.detail_debounce = 0.0
        await pilot.press("k")
        await pilot.pause()
        assert conversation.conv_id == desk.queue[3] == app.selected


async def test_delivery_progress_shows_in_the_history(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("r", "ctrl+s")
        await pilot.pause()
        app.clear_notifications()
        await show(app, pilot, conv_id)  # replied, it moved down the queue
        assert "[reply pending]" in words(screen_text(app))
        item = desk.outbox.for_conversation(conv_id)[0]
        desk.outbox.start(item["id"])
        desk.outbox.sent(item["id"], "remote-1")
        # The outbox tells the console; the history follows with the next redraw.
        app.flush_redraws()
        await pilot.pause()
        assert "[reply sent]" in words(screen_text(app))
        assert "pending" not in words(screen_text(app))


async def test_nothing_redraws_after_the_app_is_gone(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "j")
    # The desk outlives the console: it no longer calls into it...
    assert app._desk_changed not in desk.listeners
    desk.ingest([mention("after-1", SMOKE, handle="late")])
    # ...and what a stray timer or callback would run is harmless.
    app.redraw_status()
    app.redraw_detail()
    app._apply_changes()
    app.flush_redraws()


async def test_what_the_store_repaired_is_shown_at_start(make_desk, tmp_path) -> None:
    from app_fixtures import make_app, notifications

    desk = make_desk(data_dir=tmp_path / "d", demo=3)
    desk.store.close()
    with (tmp_path / "d" / "journal.jsonl").open("ab") as f:
        f.write(b'0badc0de {"s": 999, "t": "mentions", "k": "x')  # torn by a crash
    desk = make_desk(data_dir=tmp_path / "d")
    app = make_app(desk)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        notes = notifications(app)
        assert any(note.startswith("recovered:") and "torn" in note for note in notes)
    desk.store.close()


# ==== regressions: quitting with a dialog open, the palette under a dialog, reading what ====
# ==== arrived, the take-offline DM ==========================================================


async def test_quit_right_after_typing_keeps_the_composer_draft(make_desk, tmp_path):
    desk = make_desk(data_dir=tmp_path / "d", demo=10)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("r")
        app.screen.query_one("#reply-text", TextArea).text = ""
        await pilot.press(*"typed then quit")
        # Quit at once: the 0.5 s draft debounce has not fired.
        assert desk.own_draft(conv_id) is None
        await pilot.press("ctrl+q")
        await pilot.pause()
    again = make_desk(data_dir=tmp_path / "d")  # the same data dir, reopened
    try:
        assert again.own_draft(conv_id)["text"] == "typed then quit"
    finally:
        again.store.close()


async def test_quit_with_take_offline_open_keeps_the_dm(make_desk, tmp_path):
    desk = make_desk(data_dir=tmp_path / "d", demo=10)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OfflineScreen)
        app.screen.query_one("#dm-text", TextArea).text = "DM me your booking ref please"
        await pilot.press("end", "q")  # typed into the DM, not a quit
        await pilot.press("ctrl+q")
        await pilot.pause()
    again = make_desk(data_dir=tmp_path / "d")  # the same data dir, reopened
    try:
        assert again.own_draft(conv_id)["text"] == "DM me your booking ref pleaseq"
    finally:
        again.store.close()


async def test_command_palette_refuses_under_an_open_dialog(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("r")
        await pilot.pause()
        composer = app.screen
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Resolve")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert app.screen is composer
        assert not any(isinstance(s, ResolveScreen) for s in app.screen_stack)
        # said in the dialog itself (a toast would wait for the dialog to close)
        assert "close this dialog first" in screen_text(app)
        assert desk.get(conv_id).status == "open" and kinds(desk, conv_id) == []
        # Closed, the same palette command works.
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Resolve")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ResolveScreen)


async def test_going_back_to_read_new_messages_lets_the_reply_go(desk):
    clock = desk.clock
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv = desk.get(app.selected)
        latest = desk.latest_mention(conv)
        await pilot.press("r")
        await pilot.pause()
        clock.advance(minutes=1)
        app.ingest([mention("late-bag", "UPDATE: my bag was left on the 08:12", at=clock.now,
                            handle=latest.author.handle, name=latest.author.name,
                            source=conv.source)])
        app.flush_redraws()
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert "UPDATE: my bag was left" in str(app.screen.query_one(".context").render())
        assert kinds(desk, conv.id) == []
        await pilot.press("ctrl+s")  # read now: no second question
        await pilot.pause()
        assert not isinstance(app.screen, (ComposerScreen, ConfirmScreen))
        assert kinds(desk, conv.id) == ["reply"]


async def test_pane_showing_new_messages_counts_as_seen(desk):
    clock = desk.clock
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv = desk.get(app.selected)
        await pilot.press("enter")
        clock.advance(minutes=1)
        app.ingest([mention("late-seen", "is the 08:12 running?", at=clock.now,
                            handle=conv.handle, source=conv.source)])
        await show(app, pilot, conv.id)  # the history pane now shows it
        assert "is the 08:12 running?" in screen_text(app)
        await pilot.press("r", "ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, (ComposerScreen, ConfirmScreen))
        assert kinds(desk, conv.id) == ["reply"]


async def test_escape_keeps_the_edited_offline_dm(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("o")
        await pilot.pause()
        suggested = app.screen.query_one("#dm-text", TextArea).text
        # Opened and closed untouched: nothing is written down.
        await pilot.press("escape")
        await pilot.pause()
        assert desk.own_draft(conv_id) is None
        await pilot.press("o")
        await pilot.pause()
        dm = app.screen.query_one("#dm-text", TextArea)
        assert dm.text == suggested
        dm.text = "Sorry about this: please DM your booking ref"
        await pilot.press("escape")
        await pilot.pause()
        assert desk.own_draft(conv_id)["text"] == "Sorry about this: please DM your booking ref"
        await pilot.press("o")
        await pilot.pause()
        assert app.screen.query_one("#dm-text", TextArea).text == \
            "Sorry about this: please DM your booking ref"


async def test_a_dm_draft_never_fills_a_public_reply(desk):
    """Words written as a DM (the offline dialog, an undone take-offline) come back in the DM
    dialog, never in the public composer: a reply never reaches a wider audience than meant."""
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("#dm-text", TextArea).text = "Please DM me your card's last 4 digits"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert "card" not in app.screen.query_one("#reply-text", TextArea).text
        assert "never put in a public reply" in str(
            app.screen.query_one("#composer-meta").render())
        await pilot.press("escape")  # closed untouched: the DM draft is still there
        await pilot.pause()
        assert desk.own_draft(conv_id)["text"] == "Please DM me your card's last 4 digits"
        await pilot.press("o")
        await pilot.pause()
        assert app.screen.query_one("#dm-text", TextArea).text == \
            "Please DM me your card's last 4 digits"
