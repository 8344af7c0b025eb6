"""Toasts never cover a dialog (QA item 1): while one is open they are held back — counted in
the status bar, alerts still ring — and shown when it closes."""

from __future__ import annotations

import pytest
from app_fixtures import make_app, mention, notifications, screen_text, show

from tui.console.alerts import AlertLine
from tui.console.screens import ComposerScreen, HandoffScreen, NoteScreen
from widgets.status_bar import StatusBar

SIZE = (80, 24)


@pytest.fixture
def desk(make_desk):
    return make_desk(demo=12)


def status_text(app) -> str:
    return app.main.query_one(StatusBar).render().plain


@pytest.mark.parametrize(("key", "dialog"), [("r", ComposerScreen), ("h", HandoffScreen),
                                              ("m", NoteScreen)])
async def test_toasts_wait_for_an_open_dialog_and_show_when_it_closes(desk, key, dialog):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        app.notify("already on screen when the dialog opens", timeout=30)
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, dialog)
        # a rules problem and a critical alert arrive while the agent types
        app.notify("Rules not reloaded: rules.yaml line 3", severity="error", timeout=30)
        app.alert("critical", [AlertLine("#99 @amy (safety)", "help me")])
        await pilot.pause()
        text = screen_text(app)
        assert "Rules not reloaded" not in text and "CRITICAL" not in text
        assert "already on screen" not in text
        assert notifications(app) == []  # nothing drawn over the dialog
        assert app.rings == 1  # the alert still rang at once
        assert "✉ 3 held" in status_text(app) or "3 notices after this dialog" in status_text(app)
        await pilot.press("ctrl+g")
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, dialog)
        shown = notifications(app)
        assert shown[0] == "already on screen when the dialog opens"
        assert any("Rules not reloaded" in n for n in shown)
        assert any(n.startswith("CRITICAL") for n in shown)
        assert "✉" not in status_text(app)
        await pilot.press("d")  # dismiss works on them as on any toast
        await pilot.pause()
        assert notifications(app) == []


async def test_a_toast_on_the_desk_is_shown_at_once(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        app.ingest([mention("q1", "hello there")])
        app.notify("plain notice")
        await pilot.pause()
        assert "plain notice" in notifications(app)
        assert app.held_notices == []


# --- QA item 2: notes and hand-off notes are kept like reply drafts ----------------------------

async def test_a_note_is_kept_on_close_restored_never_a_reply_and_dropped_when_saved(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*"VIP customer", "enter", *"line two")
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not isinstance(app.screen, NoteScreen)
        assert desk.note_draft_for(conv_id, "note")["text"] == "VIP customer\nline two"
        await pilot.press("r")  # the reply composer never gets the note's words
        await pilot.pause()
        assert "VIP customer" not in app.screen.query_one("#reply-text").text
        await pilot.press("escape")
        await pilot.pause()
        assert desk.draft_for(conv_id, "direct") is None or (
            "VIP" not in desk.draft_for(conv_id, "direct")["text"])
        await pilot.press("m")
        await pilot.pause()
        area = app.screen.query_one("#note-text")
        assert area.text == "VIP customer\nline two"
        await pilot.press(*"!")  # the cursor waits at the end
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("line two!" in str(n) for n in desk.get(conv_id).notes)
        assert desk.note_draft_for(conv_id, "note") is None
        await pilot.press("m")
        await pilot.pause()
        assert app.screen.query_one("#note-text").text == ""


async def test_a_handoff_note_and_team_are_kept_on_escape_and_on_quit(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        conv_id = app.selected
        await pilot.press("h")
        await pilot.pause()
        await pilot.press("down")
        team = app.screen.picked_team()
        await pilot.press("enter", *"refund approved")
        await pilot.press("escape")
        await pilot.pause()
        draft = desk.note_draft_for(conv_id, "handoff")
        assert (draft["text"], draft["team"]) == ("refund approved", team)
        await pilot.press("h")
        await pilot.pause()
        assert app.screen.query_one("#note").value == "refund approved"
        assert app.screen.picked_team() == team
        await pilot.press(*" by Sam")
        await pilot.press("ctrl+q")  # quitting (a SIGTERM too) writes the typing down
        await pilot.pause()
    assert desk.note_draft_for(conv_id, "handoff")["text"] == "refund approved by Sam"
    assert desk.draft_for(conv_id, "direct") is None or (
        "refund approved" not in desk.draft_for(conv_id, "direct")["text"])


# --- QA item 3: ctrl+g closes every overlay (escape is unreliable over tmux / SSH) -----------

OVERLAY_KEYS = ["ctrl+p", "question_mark", "S", "i", "v", "b", "r", "o", "h", "e", "s", "x",
                "t", "m", "slash"]


async def test_ctrl_g_closes_every_overlay(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.screen
        for key in OVERLAY_KEYS:
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is not main, f"{key} opened nothing"
            opened = type(app.screen).__name__
            await pilot.press("ctrl+g")
            await pilot.pause()
            assert app.screen is main, f"ctrl+g left {opened} (opened by {key}) open"


async def test_ctrl_g_closes_the_palette_while_typing_a_search(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p", *"reso")
        await pilot.pause()
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert len(app.screen_stack) == 1
        assert app.is_running


# --- QA item 4: once answered, the suggestion pane says there is nothing to do --------------

def pane_text(app) -> str:
    return app.main.query_one("#suggestion-text").render().plain


async def test_an_answered_conversation_shows_nothing_to_do_and_A_refuses_nothing(desk):
    app = make_app(desk)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await pilot.pause()
        conv_id = next(c for c in desk.queue
                       if desk.get(c).needs_reply and desk.suggestion(c).text)
        await show(app, pilot, conv_id)
        assert "Suggested:" in pane_text(app)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.flush_redraws()
        await pilot.pause()
        assert not desk.get(conv_id).needs_reply
        text = pane_text(app)
        assert "Suggested:" not in text and "A accepts" not in text
        assert "Nothing to do: answered — waiting for the customer" in text
        app.clear_notifications()
        await pilot.press("A")
        await pilot.pause()
        said = notifications(app)
        assert not any(n.startswith("refused") for n in said)
        assert any("nothing to do" in n for n in said)
        # the customer writes again: the suggestion is back
        latest = desk.latest_mention(desk.get(conv_id))
        desk.ingest([mention("again-1", "still nothing??", handle=latest.author.handle,
                             channel=latest.channel)])
        app.flush_redraws()
        await pilot.pause()
        assert "Suggested:" in pane_text(app)


# --- QA item 5: new high-urgency items above the rows on screen are signalled ---------------

async def test_new_high_urgency_items_above_the_viewport_are_signalled(make_desk):
    desk = make_desk(demo=30)
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, desk.queue[-1])  # scrolled to the bottom of the queue
        assert round(app.queue_view.scroll_y) > 0
        high = [app.ingest([mention(f"h-{i}", "my train is delayed again, stuck at the "
                                    f"station {i}", handle=f"late_{i}")])[0].conv_id
                for i in range(2)]
        assert all(desk.get(c).urgency == "high" for c in high)
        app.flush_redraws()
        await pilot.pause()
        top = round(app.queue_view.scroll_y)
        assert all(app.queue_view.queue.index(c) < top for c in high)
        assert "▲ 2 new high above (n jumps)" in screen_text(app)
        # a critical one joins them on the same line
        app.ingest([mention("c-9", "smoke in coach C, people are scared", handle="smoke")])
        app.flush_redraws()
        await pilot.pause()
        assert "▲ 1 new critical · 2 new high above (n jumps)" in screen_text(app)
        for conv_id in high:  # opened: no longer new
            await show(app, pilot, conv_id)
            app.open(conv_id)
        await show(app, pilot, desk.queue[-1])
        app.redraw_status()
        await pilot.pause()
        assert "high above" not in screen_text(app)
        assert "▲ 1 new critical above (n jumps)" in screen_text(app)


# --- QA item 6: the help page is readable at 80 columns -------------------------------------

def help_words(app) -> set[str]:
    words = set()
    for _title, rows in app.help_sections():
        for key, description, binding_id in rows:
            words.update(key.split())
            words.update(description.split())
            words.update(binding_id.split())
    return words


FOOTER_WORDS = ("Remap keys in the config file: keys: {binding id: key} i shows / hides the "
                "binding ids (too narrow for their column) id:").split()


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_help_lines_never_split_a_word_and_fit_the_width(desk, width):
    from tui.console.screens import help_lines

    app = make_app(desk)
    sections = app.help_sections()
    words = {w for _t, rows in sections for r in rows for part in r for w in part.split()}
    words.update(w for title, _rows in sections for w in title.split())
    words.update(FOOTER_WORDS)
    ids = {r[2] for _t, rows in sections for r in rows if r[2]}
    body = width - 6
    for show_ids in (False, True):
        lines, narrow = help_lines(sections, body, show_ids)
        assert narrow is (width <= 80)
        for line in lines[:-2]:  # the two footer lines are prose the terminal wraps
            assert len(line.plain) <= body, line.plain
            for word in line.plain.split():
                assert word in words, word  # whole: never split mid-word
        text = "\n".join(line.plain for line in lines)
        assert all(i in text for i in ids) is (not narrow or show_ids)


async def test_help_at_80_columns_drops_the_ids_and_i_shows_them_whole(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.pause()
        text = screen_text(app)
        assert "Jump to the most urgent" in text
        assert "desk.next" not in text and "comm" not in text.replace("command", "")
        assert "i binding ids" in text
        await pilot.press("i")
        await pilot.pause()
        text = screen_text(app)
        assert "id: desk.next" in text
        lines = text.splitlines()
        words = help_words(app)
        for line in lines[2:-1]:
            for word in line.strip("█▀▄▅▂▃▆▇ ").split():
                if "." in word or "_" in word:  # a binding id: whole, never a fragment
                    assert word in words, word


async def test_a_full_screen_shows_toasts_and_a_palette_over_it_holds_them(desk):
    app = make_app(desk)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("S")  # shift statistics: a full screen, not a dialog
        await pilot.pause()
        app.notify("shown over the stats")
        await pilot.pause()
        assert "shown over the stats" in notifications(app)
        app.clear_notifications()
        await pilot.press("ctrl+p")
        await pilot.pause()
        app.notify("waits for the palette")
        await pilot.pause()
        assert notifications(app) == []
        await pilot.press("ctrl+g")
        await pilot.pause()
        app.tick()  # the palette closed onto the stats screen: the next tick shows it
        await pilot.pause()
        assert "waits for the palette" in notifications(app)
