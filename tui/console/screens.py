"""The console's modal screens: reply composer, take offline, hand off, resolve, snooze, prompts
(tag, note, filter), help and confirm.

An action modal calls the desk itself so that a refusal (unfilled placeholder, too long, personal
data in public, unknown team, ...) is shown *in the modal*, with the agent's text still there to
fix.  When the desk answers ``Outgrown`` (the customer wrote again while the agent was typing) the
modal asks "N new messages arrived — send anyway?" and sends again without the check if the agent
says yes.  A modal dismisses with a one-line result for the app to show as a notification, or
``None`` when the agent closed it.

Stranger text (handles, names, the customer's message) reaches widgets only as ``Content`` built
by :mod:`widgets.safe`; text areas hold it as editable data, which Textual never parses.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from widgets.safe import assemble, join, one_line, plain

from ..core.api import ActionRefused, AlreadyAnswering, Outgrown, WaitsForApproval, describe
from ..core.filters import filter_fields
from ..core.model import DIRECT, PUBLIC
from ..core.replies import ReplyRefused

if TYPE_CHECKING:
    from ..core.conversation import Conversation
    from ..core.desk import Desk

DRAFT_SAVE_DELAY = 0.5  # seconds of quiet typing before a draft is written down


def customer_line(desk: Desk, conv: Conversation) -> Content:
    """``@handle: their latest message`` — the context shown at the top of action modals."""
    latest = desk.latest_mention(conv)
    if latest is None:
        return assemble(("@" + one_line(conv.handle, 60), "bold"))
    label = ("DM ", "bold $warning") if latest.channel == DIRECT else ("", "")
    return assemble(label, ("@" + one_line(latest.author.handle, 60), "bold"), ": ",
                    plain(latest.text, limit=600))


def show_errors(screen: ModalScreen[Any], reasons: Iterable[str]) -> None:
    """A dialog's refusals, one ✗ line each (stranger text as data); none hides the area."""
    lines = [assemble(("✗ ", "bold $error"), one_line(r, 500)) for r in reasons]
    errors = screen.query_one(".errors", Static)
    errors.update(join(lines))
    errors.display = bool(lines)


def act_or_show(screen: ModalScreen[Any], act: Callable[[str], str], value: str) -> None:
    """Run a prompt's action: its result closes the dialog, a refusal is shown in it."""
    try:
        message = act(value)
    except ActionRefused as exc:
        show_errors(screen, exc.reasons)
        return
    except (KeyError, ValueError) as exc:
        show_errors(screen, [str(exc.args[0]) if exc.args else str(exc)])
        return
    screen.dismiss(message)


class DebouncedDraft:
    """A dialog whose typing is written down (``save_draft``) ``DRAFT_SAVE_DELAY`` seconds
    after the last key, and at once when it closes."""

    _draft_timer: Any = None

    def schedule_draft_save(self) -> None:
        self.stop_draft_timer()
        self._draft_timer = self.set_timer(  # type: ignore[attr-defined]
            DRAFT_SAVE_DELAY, self.save_draft)  # type: ignore[attr-defined]

    def stop_draft_timer(self) -> None:
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; ``y``/``enter`` yes, ``n``/``escape`` no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape,ctrl+g", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str | Content, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question if isinstance(question, Content) else plain(question)
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(Content(self.yes), id="yes", variant="primary")
                yield Button(Content(self.no), id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChoiceScreen(ModalScreen[str | None]):
    """A question with a few answers, each a button (``choices``: (id, label)); the first has
    the focus; ``escape`` / ``ctrl+g`` answer None."""

    BINDINGS = [Binding("escape,ctrl+g", "cancel", "Cancel", id="choice.cancel")]

    def __init__(self, question: Content, choices: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                for n, (choice, label) in enumerate(self.choices):
                    yield Button(Content(label), id=f"choice-{choice}",
                                 variant="primary" if n == 0 else "default")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[str | None]):
    """Pick one of ``options`` ((id, label)) from a list: enter picks, escape/ctrl+g closes."""

    BINDINGS = [Binding("escape,ctrl+g", "close", "Close", id="pick.close")]

    def __init__(self, title: str, options: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog pick"):
            yield Static(assemble((self.title_text, "bold"), ("   enter picks · escape closes",
                                                              "dim")), classes="title")
            yield OptionList(*[Option(Content(label), id=oid) for oid, label in self.options],
                             id="pick-list")

    def on_mount(self) -> None:
        options = self.query_one("#pick-list", OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#pick-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


class ListScreen(ModalScreen[None]):
    """A dialog listing the desk's items of one kind (``refill`` fills ``#LIST_ID``) with a
    title, its keys, and a line for what an action said."""

    TITLE = ""
    KEYS = ""  # the keys' hint after the title
    LIST_ID = ""

    def __init__(self, desk: Any) -> None:
        super().__init__()
        self.desk = desk

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog outbox"):
            yield Static(assemble((self.TITLE, "bold"), ("   " + self.KEYS, "dim")),
                         classes="title")
            yield OptionList(id=self.LIST_ID)
            yield Static(Content(""), classes="errors")

    def on_mount(self) -> None:
        self.query_one(".errors", Static).display = False
        self.refill()
        self.query_one(f"#{self.LIST_ID}", OptionList).focus()

    def refill(self) -> None:
        raise NotImplementedError

    def selected_id(self) -> str | None:
        """The id of the highlighted item (None: nothing, or the "empty" line)."""
        listing = self.query_one(f"#{self.LIST_ID}", OptionList)
        if listing.highlighted is None:
            return None
        return listing.get_option_at_index(listing.highlighted).id or None

    def say(self, text: str) -> None:
        errors = self.query_one(".errors", Static)
        errors.update(plain(text))
        errors.display = bool(text)

    def action_close(self) -> None:
        self.dismiss(None)


class OutboxScreen(ListScreen):
    """The outbox, newest first: pending, sending, sent, failed (with the reason), cancelled.
    ``r`` retries a failed post, ``c`` cancels one not yet sending; the list follows."""

    BINDINGS = [Binding("escape,ctrl+g,q", "close", "Close", id="outbox.close"),
                Binding("r", "retry", "Retry", id="outbox.retry"),
                Binding("c", "cancel_item", "Cancel", id="outbox.cancel")]
    TITLE = "Outbox"
    KEYS = "r retry a failed post · c cancel a pending one · escape closes"
    LIST_ID = "outbox-list"

    def items(self) -> list[dict[str, Any]]:
        """Newest first; posts queued in the same instant, the later-queued first (ids are
        random, so they cannot order anything)."""
        items = list(self.desk.outbox.items.values())
        position = {item["id"]: n for n, item in enumerate(items)}
        return sorted(items, key=lambda i: (i.get("created_at") or "", position[i["id"]]),
                      reverse=True)

    def refill(self) -> None:
        from ..core.model import parse_time
        from ..core.when import local_time

        tz = getattr(self.desk.rules.office_hours, "tz", None)
        now = self.desk.clock()
        listing = self.query_one("#outbox-list", OptionList)
        keep = listing.highlighted
        listing.clear_options()
        for item in self.items():
            status = item["status"]
            style = {"failed": "bold $error", "pending": "$warning", "sending": "$warning",
                     "sent": "$success"}.get(status, "dim")
            at = item.get("sent_at") or item.get("created_at")
            try:
                when = local_time(parse_time(at), tz, now) if at else ""
            except (TypeError, ValueError):
                when = ""
            listing.add_option(Option(assemble(
                (f"{status:<9}", style), f" #{item.get('conv_id')} ",
                (item.get("kind", "").replace("_", " "), "bold"),
                f" → @{one_line(item.get('to') or '', 30)} ", (when, "dim"), "  ",
                one_line(item.get("text") or "", 50),
                ("  — " + one_line(item.get("error") or "", 120), "$error")
                if item.get("error") else None), id=item["id"]))
        if not listing.option_count:
            listing.add_option(Option(Content("the outbox is empty"), id="", disabled=True))
        elif keep is not None:
            listing.highlighted = min(keep, listing.option_count - 1)

    def selected_item(self) -> dict[str, Any] | None:
        item_id = self.selected_id()
        return self.desk.outbox.items.get(item_id) if item_id else None

    def action_retry(self) -> None:
        item = self.selected_item()
        if item is None or item["status"] != "failed":
            self.say("only a failed post can be retried")
            return
        try:
            self.desk.outbox.resend(item["id"])
        except ActionRefused as exc:  # a console attached to a desk process that is away
            self.say("; ".join(exc.reasons))
            return
        self.say("")
        self.refill()

    def action_cancel_item(self) -> None:
        item = self.selected_item()
        try:
            cancelled = item is not None and self.desk.outbox.cancel(item["id"])
        except ActionRefused as exc:
            self.say("; ".join(exc.reasons))
            return
        if not cancelled:
            self.say("only a post still pending can be cancelled (sending or sent is too late)")
            return
        self.say("")
        self.refill()


class NoteScreen(DebouncedDraft, ModalScreen[str | None]):
    """An internal note: several lines (a paste keeps every line); ``ctrl+s`` saves, the desk's
    refusals are shown here, ``escape`` / ``ctrl+g`` close.  Given ``desk`` and ``conv_id``, the
    text is kept as the conversation's note draft (``Desk.save_note_draft``, kind "note":
    never a reply draft) as it is typed, on close and on quit, and restored on reopening."""

    BINDINGS = [Binding("escape,ctrl+g", "close", "Close", id="modal.close"),
                Binding("ctrl+s", "submit", "Save", id="modal.submit", priority=True)]

    def __init__(self, title: str, act: Callable[[str], str], *, blink: bool = True,
                 desk: Desk | None = None, conv_id: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.act = act
        self.blink = blink
        self.desk, self.conv_id = desk, conv_id
        draft = (desk.note_draft_for(conv_id, "note")
                 if desk is not None and conv_id is not None else None)
        self.initial = draft["text"] if draft else ""
        self._last_saved = self.initial

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog prompt note"):
            yield Static(assemble((self.title_text, "bold")), classes="title")
            yield TextArea(self.initial, id="note-text", soft_wrap=True)
            yield Static(Content(""), classes="errors")
            yield Static(assemble(("ctrl+s save · enter new line · escape / ctrl+g close "
                                   "(the note is kept)" if self.desk is not None else
                                   "ctrl+s save · enter new line · escape / ctrl+g close",
                                   "dim")), classes="hint")

    def on_mount(self) -> None:
        self.query_one(".errors", Static).display = False
        area = self.query_one("#note-text", TextArea)
        area.cursor_blink = self.blink
        area.move_cursor(area.document.end)
        area.focus()

    @on(TextArea.Changed, "#note-text")
    def _changed(self) -> None:
        self.schedule_draft_save()

    def save_draft(self) -> None:
        """Write the typed note down as the conversation's note draft (empty drops it)."""
        self.stop_draft_timer()  # written now: nothing left for the debounce to do
        if self.desk is None or self.conv_id is None:
            return
        text = self.query_one("#note-text", TextArea).text
        if text != self._last_saved:
            self.desk.save_note_draft(self.conv_id, "note", text)
            self._last_saved = text

    def action_submit(self) -> None:
        text = self.query_one("#note-text", TextArea).text
        self.save_draft()  # kept if refused; the desk drops it with the saved note
        act_or_show(self, self.act, text)

    def show_errors(self, reasons: Iterable[str]) -> None:
        show_errors(self, reasons)

    def action_close(self) -> None:
        self.save_draft()
        self.dismiss(None)


class ActionModal(ModalScreen[str | None]):
    """Base for modals that perform a desk action and show its refusal reasons in place."""

    BINDINGS = [
        # ctrl+g: a close key that never waits for the terminal's escape delay (tmux, SSH)
        Binding("escape,ctrl+g", "close", "Close", id="modal.close"),
        Binding("ctrl+s", "submit", "Send", id="modal.submit", priority=True),
    ]
    TITLE_TEXT = ""

    def __init__(self, desk: Desk, conv_id: str, *, seen_seq: int | None = None,
                 blink: bool = True) -> None:
        super().__init__()
        self.desk = desk
        self.conv_id = conv_id
        self.conv = desk.get(conv_id)
        self.seen_seq = seen_seq
        self.again = False  # the agent confirmed a second answer (AlreadyAnswering)
        self.blink = blink

    def header(self) -> ComposeResult:
        yield Static(assemble((self.TITLE_TEXT, "bold"), f" #{self.conv_id}"), classes="title")
        yield Static(customer_line(self.desk, self.conv), classes="context")

    def footer(self, hint: str) -> ComposeResult:
        yield Static(Content(""), classes="errors")
        yield Static(assemble((hint, "dim")), classes="hint")

    def on_mount(self) -> None:
        for widget in self.query("TextArea, Input"):
            widget.cursor_blink = self.blink  # type: ignore[attr-defined]

    def show_errors(self, reasons: Iterable[str]) -> None:
        show_errors(self, reasons)

    def attempt(self, do: Callable[[int | None], str], seen_seq: int | None) -> None:
        """Run the action; show refusals here; on Outgrown ask, then resend without the check."""
        try:
            message = do(seen_seq)
        except Outgrown as exc:
            reason = exc.reasons[0]

            def answer(yes: bool | None) -> None:
                if yes:
                    self.attempt(do, None)
                else:
                    self.show_errors([f"not sent: {reason} — read it first"])
                    self.caught_up()

            self.app.push_screen(ConfirmScreen(exc.question, yes="Send anyway", no="Go back"),
                                 answer)
            return
        except WaitsForApproval as exc:
            self.sent = True  # filed for a lead: the draft went with it
            self.dismiss(exc.reasons[0])
            return
        except AlreadyAnswering as exc:
            duplicate = exc.reasons[0]

            def confirm(yes: bool | None) -> None:
                if yes:
                    self.again = True
                    self.attempt(do, seen_seq)
                else:
                    self.show_errors([f"not sent: {duplicate.split(';')[0]}"])

            self.app.push_screen(ConfirmScreen(duplicate, yes="Send another", no="Go back"),
                                 confirm)
            return
        except ActionRefused as exc:
            self.show_errors(exc.reasons)
            return
        except ReplyRefused as exc:
            self.show_errors([exc.reason])
            return
        except (KeyError, ValueError) as exc:
            self.show_errors([str(exc.args[0]) if exc.args else str(exc)])
            return
        self.dismiss(message)

    def caught_up(self) -> None:
        """Show the customer's latest message in the context line: the agent went back to read
        it, so a send from here on counts it as seen (no second "N new messages" question)."""
        conv = self.desk.conversations.get(self.conv_id)
        if conv is None:
            return
        self.conv = conv
        self.query_one(".context", Static).update(customer_line(self.desk, conv))
        self.seen_seq = conv.last_seq

    def save_draft(self) -> None:
        """Keep what the agent typed (quitting, closing); modals without free text keep none."""

    def action_close(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:  # pragma: no cover - every subclass implements it
        raise NotImplementedError


class ComposerScreen(DebouncedDraft, ActionModal):
    """Reply: a text area prefilled with the saved draft or the suggested reply, and a fuzzy
    search over canned replies rendered for this customer."""

    TITLE_TEXT = "Reply"
    BINDINGS = [
        Binding("ctrl+f", "search", "Canned replies", id="composer.search"),
    ]

    def __init__(self, desk: Desk, conv_id: str, **kw: Any) -> None:
        super().__init__(desk, conv_id, **kw)
        self.channel = desk.reply_channel(self.conv)
        draft = desk.draft_for(conv_id, self.channel)
        # A DM draft is never put in a public reply: it waits for take-offline (o).
        self.held_back = draft is None and desk.own_draft(conv_id) is not None
        if draft:
            self.initial, self.reply_key = draft["text"], draft.get("reply_key")
        else:
            s = desk.suggestion(conv_id)
            self.initial, self.reply_key = (s.text or ""), (s.reply_key if s.text else None)
        self._last_saved = self.initial
        self._canned_text = ""  # the last canned reply put in unchanged: replacing it is safe
        self.sent = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog composer"):
            yield from self.header()
            yield Static(assemble(("channel: ", "dim"), (self.channel, "bold"),
                                  ("   canned reply: ", "dim"), self.reply_key or "none",
                                  *((("   a DM draft is kept for take-offline (o); it is "
                                      "never put in a public reply", "$warning"),)
                                    if self.held_back else ())),
                         id="composer-meta")
            yield Input(placeholder="search canned replies (ctrl+f)", id="canned-search")
            yield OptionList(id="canned-results")
            yield TextArea(self.initial, id="reply-text", soft_wrap=True)
            yield from self.footer("ctrl+s send · ctrl+f canned replies · escape close "
                                   "(draft kept)")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(".errors", Static).display = False
        self.query_one("#canned-results", OptionList).display = False
        area = self.query_one("#reply-text", TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    # --- canned replies ---------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#canned-search", Input).focus()

    @on(Input.Changed, "#canned-search")
    def _search(self, event: Input.Changed) -> None:
        results = self.query_one("#canned-results", OptionList)
        results.clear_options()
        if not event.value.strip():
            results.display = False
            return
        for key, _score in self.desk.replies.search(event.value, 6):
            reply = self.desk.replies.replies.get(key)
            desc = getattr(reply, "description", "") if reply else ""
            results.add_option(Option(assemble((key, "bold"), ("  " + one_line(desc, 60), "dim")),
                                      id=key))
        results.display = results.option_count > 0
        if results.option_count:
            results.highlighted = 0

    @on(Input.Submitted, "#canned-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        results = self.query_one("#canned-results", OptionList)
        if results.highlighted is not None and results.option_count:
            self.use_canned(results.get_option_at_index(results.highlighted).id or "")

    @on(OptionList.OptionSelected, "#canned-results")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.use_canned(event.option.id or "")

    def use_canned(self, key: str) -> None:
        try:
            text = self.desk.render_reply(self.conv_id, key, self.channel)
        except ReplyRefused as exc:
            self.show_errors([f"{key}: {exc.reason}"])
            return
        area = self.query_one("#reply-text", TextArea)
        current = area.text
        if current.strip() and current not in (self.initial, self._canned_text):
            # The agent's own words are there: never replace them silently (issue 12 item 9).
            def answer(choice: str | None) -> None:
                if choice in ("replace", "insert"):
                    self.put_canned(key, text, choice)
                else:
                    area.focus()

            self.app.push_screen(ChoiceScreen(
                assemble(("Your reply has text of your own. ", "bold"),
                         f"Use the canned reply {key!r} how?"),
                [("insert", "Insert at the cursor"), ("replace", "Replace my text"),
                 ("cancel", "Cancel")]), answer)
            return
        self.put_canned(key, text, "replace")

    def put_canned(self, key: str, text: str, how: str) -> None:
        """Put the rendered canned reply in the text area — replacing everything or inserted at
        the cursor — as an edit, so ctrl+z takes it back."""
        self.reply_key = key
        self._canned_text = text
        area = self.query_one("#reply-text", TextArea)
        if how == "insert":
            area.insert(text)
        else:
            area.replace(text, (0, 0), area.document.end)
        self.query_one("#composer-meta", Static).update(
            assemble(("channel: ", "dim"), (self.channel, "bold"), ("   canned reply: ", "dim"),
                     key))
        self.query_one("#canned-search", Input).value = ""
        self.show_errors([])
        area.focus()

    # --- drafts -----------------------------------------------------------------------------

    @on(TextArea.Changed, "#reply-text")
    def _changed(self) -> None:
        self.schedule_draft_save()

    def save_draft(self) -> None:
        self.stop_draft_timer()  # written now: nothing left for the debounce to do
        if self.sent:
            return
        text = self.query_one("#reply-text", TextArea).text
        if text != self._last_saved or (
                self.desk.draft_for(self.conv_id, self.channel) is not None):
            self.desk.save_draft(self.conv_id, text, self.reply_key, self.channel)
            self._last_saved = text

    def action_close(self) -> None:
        self.save_draft()
        self.dismiss(None)

    # --- sending ----------------------------------------------------------------------------

    def action_submit(self) -> None:
        text = self.query_one("#reply-text", TextArea).text

        def do(seen: int | None) -> str:
            # Sending drops the draft (the desk does it with the reply, for every client).
            ev = self.desk.reply(self.conv_id, text, reply_key=self.reply_key, seen_seq=seen,
                                 again=self.again)
            self.sent = True
            self.stop_draft_timer()
            return f"{describe(ev)}, u undoes within {self.desk.undo_seconds:g}s"

        self.attempt(do, self.seen_seq)


class OfflineScreen(ActionModal):
    """Take offline: the public bridge reply and the DM side by side, both editable."""

    TITLE_TEXT = "Take offline"

    def __init__(self, desk: Desk, conv_id: str, **kw: Any) -> None:
        super().__init__(desk, conv_id, **kw)
        s = desk.suggestion(conv_id)
        self.has_public = desk.latest_mention(self.conv, PUBLIC) is not None
        bridge = s.bridge
        if bridge is None and self.has_public:
            try:
                bridge = desk.render_bridge(conv_id)
            except (ReplyRefused, KeyError):
                bridge = ""
        draft = desk.draft_for(conv_id, DIRECT)
        self.bridge = bridge or ""
        # The agent's own words (kept when they closed this or the composer) beat a suggestion.
        # Else the category's own DM (also when trying anyway after being told a DM may not
        # reach them), never the public text that asks the customer to write to us.
        self.dm = (draft["text"] if draft else "") or desk.offline_dm(conv_id) or ""
        self.sent = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog offline"):
            yield from self.header()
            with Horizontal(classes="pair"):
                with Vertical():
                    yield Static(assemble(("Public bridge reply", "bold")))
                    yield TextArea(self.bridge, id="bridge-text", disabled=not self.has_public)
                with Vertical():
                    yield Static(assemble(("Direct message", "bold")))
                    yield TextArea(self.dm, id="dm-text")
            yield from self.footer("ctrl+s send both · tab switch · escape close")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(".errors", Static).display = False
        self.query_one("#dm-text", TextArea).focus()

    def save_draft(self) -> None:
        """Keep the DM as the conversation's draft when it was edited (or a draft exists)."""
        if self.sent:
            return
        text = self.query_one("#dm-text", TextArea).text
        draft = self.desk.draft_for(self.conv_id, DIRECT)
        if text != self.dm or draft:
            # Unchanged composer draft: keep the canned reply it was built from.
            key = draft.get("reply_key") if draft and draft["text"] == text else None
            self.desk.save_draft(self.conv_id, text, key, DIRECT)
            self.dm = text

    def action_close(self) -> None:
        self.save_draft()
        self.dismiss(None)

    def action_submit(self) -> None:
        bridge = self.query_one("#bridge-text", TextArea).text if self.has_public else None
        dm = self.query_one("#dm-text", TextArea).text

        def do(seen: int | None) -> str:
            ev = self.desk.take_offline(self.conv_id, bridge or None, dm, seen_seq=seen,
                                        again=self.again)
            self.sent = True
            return describe(ev)

        self.attempt(do, self.seen_seq)


class HandoffScreen(DebouncedDraft, ActionModal):
    """Hand off: pick a team (the suggested one first), write a note, get a case id."""

    TITLE_TEXT = "Hand off"

    def compose(self) -> ComposeResult:
        teams = self.desk.rules.teams
        suggested = self.desk.owning_team(self.conv)
        ordered = sorted(teams, key=lambda t: (t != suggested, t))
        with Vertical(classes="dialog handoff"):
            yield from self.header()
            yield OptionList(*[
                Option(assemble((name, "bold"),
                                ("  " + one_line(getattr(teams[name], "description", ""), 60),
                                 "dim"),
                                ("  (suggested)", "$accent") if name == suggested else None),
                       id=name) for name in ordered], id="teams")
            if self.conv.needs_reply:
                # Source: issue 12 item 11 — a hand-off tells the customer nothing.
                yield Static(assemble(("The customer has not been answered: ", "bold $warning"),
                                      ("the first-response clock keeps running until a reply "
                                       "or DM reaches them.", "$text-muted")), id="unanswered")
            yield Input(self.initial_note,
                        placeholder="note for the team (what they need to know; required)",
                        id="note", select_on_focus=False)
            yield from self.footer("enter on a team picks it · enter in the note hands off · "
                                   "ctrl+s same · escape close")

    def __init__(self, desk: Desk, conv_id: str, **kw: Any) -> None:
        super().__init__(desk, conv_id, **kw)
        # The note kept from an earlier try (escape, a crash): kind "handoff", never a reply.
        self.draft = desk.note_draft_for(conv_id, "handoff")
        self.initial_note = self.draft["text"] if self.draft else ""
        self._last_saved: tuple[str, str | None] = (self.initial_note,
                                                    self.draft.get("team") if self.draft else None)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(".errors", Static).display = False
        teams = self.query_one("#teams", OptionList)
        teams.highlighted = 0
        team = self.draft.get("team") if self.draft else None
        if team is not None:
            for index in range(teams.option_count):
                if teams.get_option_at_index(index).id == team:
                    teams.highlighted = index
        if self.initial_note:
            self.query_one("#note", Input).focus()  # back where the agent was writing
        else:
            teams.focus()

    def picked_team(self) -> str | None:
        teams = self.query_one("#teams", OptionList)
        if teams.highlighted is None:
            return None
        return teams.get_option_at_index(teams.highlighted).id

    @on(Input.Changed, "#note")
    def _note_changed(self) -> None:
        self.schedule_draft_save()

    def save_draft(self) -> None:
        """Keep the note for the team (and the team picked) as the hand-off's note draft."""
        self.stop_draft_timer()  # written now: nothing left for the debounce to do
        note = self.query_one("#note", Input).value
        team = self.picked_team()
        if (note, team) != self._last_saved and (note.strip() or self._last_saved[0]):
            self.desk.save_note_draft(self.conv_id, "handoff", note, team=team)
        self._last_saved = (note, team)

    def action_close(self) -> None:
        self.save_draft()
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#teams")
    def _picked(self) -> None:
        # Enter on a team only picks it: the hand-off itself needs a note, so a stray enter can
        # never hand a case over with nothing for the team to go on.
        self.query_one("#note", Input).focus()

    @on(Input.Submitted, "#note")
    def _note_done(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        teams = self.query_one("#teams", OptionList)
        if teams.highlighted is None:
            self.show_errors(["pick a team"])
            return
        team = teams.get_option_at_index(teams.highlighted).id or ""
        note = self.query_one("#note", Input).value
        self.save_draft()  # kept if refused; the desk drops it with the hand-off
        if not note.strip():
            self.show_errors([f"write a note for {team}: what they need to know"])
            self.query_one("#note", Input).focus()
            return

        def do(_seen: int | None) -> str:
            return describe(self.desk.handoff(self.conv_id, team, note))

        self.attempt(do, None)


class ResolveScreen(ActionModal):
    """Resolve, with an optional public close-the-loop message."""

    TITLE_TEXT = "Resolve"

    def __init__(self, desk: Desk, conv_id: str, **kw: Any) -> None:
        super().__init__(desk, conv_id, **kw)
        self.message = ""
        if self.conv.offline:
            try:
                self.message = desk.render_reply(conv_id, "close_loop", PUBLIC)
            except (ReplyRefused, KeyError):
                self.message = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog resolve"):
            yield from self.header()
            yield Static(assemble(("Close-the-loop message (public; leave empty for none)",
                                   "bold")))
            yield TextArea(self.message, id="close-loop-text")
            yield from self.footer("ctrl+s resolve · escape close")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(".errors", Static).display = False
        self.query_one("#close-loop-text", TextArea).focus()

    def action_submit(self) -> None:
        text = self.query_one("#close-loop-text", TextArea).text.strip()

        def do(_seen: int | None) -> str:
            return describe(self.desk.resolve(self.conv_id, text or None))

        self.attempt(do, None)


SNOOZE_PRESETS = ("30m", "1h", "4h", "tomorrow")


class SnoozeScreen(ActionModal):
    """Snooze until a preset (30m, 1h, 4h, tomorrow) or a typed time."""

    TITLE_TEXT = "Snooze"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog snooze"):
            yield from self.header()
            yield OptionList(*[Option(Content(p), id=p) for p in SNOOZE_PRESETS], id="presets")
            yield Input(placeholder="or type: 2h, 17:30, tomorrow, 2025-03-04T09:00Z",
                        id="until")
            yield from self.footer("enter snoozes · escape close")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(".errors", Static).display = False
        presets = self.query_one("#presets", OptionList)
        presets.highlighted = 0
        presets.focus()

    @on(OptionList.OptionSelected, "#presets")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.snooze(event.option.id or "")

    @on(Input.Submitted, "#until")
    def _typed(self, event: Input.Submitted) -> None:
        self.snooze(event.value)

    def action_submit(self) -> None:
        typed = self.query_one("#until", Input).value
        if typed.strip():
            self.snooze(typed)
            return
        presets = self.query_one("#presets", OptionList)
        if presets.highlighted is not None:
            self.snooze(SNOOZE_PRESETS[presets.highlighted])

    def snooze(self, text: str) -> None:
        def do(_seen: int | None) -> str:
            return describe(self.desk.snooze(self.conv_id, self.desk.snooze_until(text)),
                            getattr(self.desk.rules.office_hours, "tz", None))

        self.attempt(do, None)


class PromptScreen(ModalScreen[str | None]):
    """One line of input (tag, note, filter).  ``act`` performs it and returns the message to
    show; its refusals are shown here.  Without ``act`` the typed text is returned."""

    BINDINGS = [Binding("escape,ctrl+g", "close", "Close", id="modal.close")]

    def __init__(self, title: str, *, placeholder: str = "", value: str = "",
                 help_lines: Sequence[Content] = (), act: Callable[[str], str] | None = None,
                 blink: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.help_lines = list(help_lines)
        self.act = act
        self.blink = blink

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog prompt"):
            yield Static(assemble((self.title_text, "bold")), classes="title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            if self.help_lines:
                yield Static(join(self.help_lines), classes="help")
            yield Static(Content(""), classes="errors")
            yield Static(assemble(("enter to confirm · escape close", "dim")), classes="hint")

    def on_mount(self) -> None:
        self.query_one(".errors", Static).display = False
        field = self.query_one("#prompt-input", Input)
        field.cursor_blink = self.blink
        field.focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        if self.act is None:
            self.dismiss(event.value)
            return
        act_or_show(self, self.act, event.value)

    def show_errors(self, reasons: Iterable[str]) -> None:
        show_errors(self, reasons)

    def action_close(self) -> None:
        self.dismiss(None)


HELP_DESC_MIN = 30  # narrower description columns than this drop the binding-id column


def help_lines(sections: Sequence[tuple[str, Sequence[tuple[str, str, str]]]], width: int,
               show_ids: bool | None = None) -> tuple[list[Content], bool]:
    """The help page for a body ``width`` cells wide: key, description (wrapped at word
    boundaries, never mid-word) and binding id columns.  When the three columns do not fit
    (the description column would be under :data:`HELP_DESC_MIN`), the ids — only needed to
    remap keys in the config — are left out unless ``show_ids`` (then each goes on a line of
    its own under its description).  Returns (lines, whether the id column was dropped)."""
    rows_all = [r for _t, rows in sections for r in rows]
    key_w = max((len(k) for k, _d, _b in rows_all), default=0) + 2
    id_w = max((len(b) for _k, _d, b in rows_all), default=0) + 2
    longest = max((len(d) for _k, d, _b in rows_all), default=0)
    desc_w = min(longest, width - 2 - key_w - id_w)
    narrow = desc_w < HELP_DESC_MIN
    ids_column = not narrow
    if narrow:
        desc_w = max(10, min(longest, width - 2 - key_w))
    show = ids_column or bool(show_ids)
    indent = " " * (2 + key_w)
    lines: list[Content] = []
    for title, rows in sections:
        lines.append(assemble((title, "bold $accent")))
        for key, description, binding_id in rows:
            parts = textwrap.wrap(description, desc_w, break_long_words=False,
                                  break_on_hyphens=False) or [""]
            first = assemble((f"  {key:<{key_w}}", "bold"), f"{parts[0]:<{desc_w}}",
                             ("  " + binding_id, "dim") if ids_column and binding_id else None)
            lines.append(first)
            lines.extend(Content(indent + part) for part in parts[1:])
            if show and not ids_column and binding_id:
                lines.append(assemble(indent, ("id: " + binding_id, "dim")))
        lines.append(Content(""))
    lines.append(assemble(("Remap keys in the config file: keys: {binding id: key}", "dim")))
    if narrow:
        lines.append(assemble(("i shows / hides the binding ids (too narrow for their "
                               "column)", "dim")))
    return lines, narrow


class HelpScreen(ModalScreen[None]):
    """Every key binding (as remapped by the config's ``keys:``) with what it does, laid out
    for the width it has (:func:`help_lines`); ``i`` shows the binding ids when the screen is
    too narrow for their column."""

    BINDINGS = [Binding("escape,question_mark,q,ctrl+g", "close", "Close", id="help.close"),
                Binding("i", "toggle_ids", "Binding ids", id="help.ids")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[tuple[str, str, str]]]]) -> None:
        super().__init__()
        self.sections = sections  # (title, [(key, description, binding id)])
        self.show_ids = False
        self._width = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Static(assemble(("Keys", "bold"), ("   (escape closes)", "dim")),
                         classes="title")
            with VerticalScroll(id="help-body"):
                yield Static(Content(""), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()
        self.call_after_refresh(self.refill)

    def on_resize(self) -> None:
        self.call_after_refresh(self.refill)

    def refill(self, force: bool = False) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        # the body's width less a scrollbar (the page is always longer than the screen)
        width = max(20, (body.content_region.width or self.app.size.width - 6) - 2)
        if width == self._width and not force:
            return
        self._width = width
        lines, narrow = help_lines(self.sections, width, self.show_ids)
        self.query_one("#help-text", Static).update(join(lines))
        hint = "   (escape closes · i binding ids)" if narrow else "   (escape closes)"
        self.query_one(".title", Static).update(assemble(("Keys", "bold"), (hint, "dim")))

    def action_toggle_ids(self) -> None:
        self.show_ids = not self.show_ids
        self.refill(force=True)

    def action_close(self) -> None:
        self.dismiss(None)


class InfoScreen(ModalScreen[None]):
    """A read-only page of lines (source health, ...): ``escape``, ``q`` or ``ctrl+g`` closes."""

    BINDINGS = [Binding("escape,q,ctrl+g", "close", "Close", id="info.close")]

    def __init__(self, title: str, lines: Sequence[Content]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog info-dialog"):
            yield Static(assemble((self.title_text, "bold"), ("   (escape closes)", "dim")),
                         classes="title")
            with VerticalScroll(id="info-body"):
                yield Static(join(self.lines) if self.lines else Content("nothing to show"))

    def on_mount(self) -> None:
        self.query_one("#info-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)


# --- the `/` filter (the language itself: tui/core/filters.py) -----------------------------

def filter_help(desk: Desk) -> list[Content]:
    """What each filter field accepts under the loaded rules, for the filter prompt."""
    lines = [assemble((f"{name}:", "bold"), " " + ", ".join(values))
             for name, values in filter_fields(desk.rules)]
    lines.append(assemble(("other words match the handle and the messages; empty clears", "dim")))
    return lines


class ApprovalsScreen(ListScreen):
    """Replies waiting for a lead (issue 9, approval), oldest first: who wrote it, on which
    conversation, the time left to its target (the customer's clock keeps running) and the
    words that would go out.  ``a`` approves (the desk process sends it through the outbox),
    ``r`` returns it to its author with a note; the list follows the desk live."""

    BINDINGS = [Binding("escape,ctrl+g,q", "close", "Close", id="approvals.close"),
                Binding("a", "approve", "Approve", id="approvals.approve"),
                Binding("r", "return_it", "Return with a note", id="approvals.return")]
    TITLE = "Approvals"
    KEYS = "a approve · r return with a note · escape closes"
    LIST_ID = "approvals-list"

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1.0, self.refill, name="approvals-refill")

    def refill(self) -> None:
        from ..core.when import format_time_left

        listing = self.query_one("#approvals-list", OptionList)
        keep = listing.highlighted
        now = self.desk.clock()
        items = sorted(self.desk.approvals_waiting(), key=lambda i: (i.get("at") or "", i["id"]))
        listing.clear_options()
        for item in items:
            conv = self.desk.conversations.get(item["conv_id"])
            left = format_time_left(self.desk.time_left(conv, now)) if conv is not None else "-"
            handle = one_line(conv.handle, 24) if conv is not None else "?"
            listing.add_option(Option(assemble(
                (f"{item['id']:<8}", "bold"), f" #{item['conv_id']} @{handle} ",
                ("by ", "dim"), (one_line(item.get("agent") or "", 20), "bold"),
                (f"  due {left}  ", "$warning"),
                one_line(self.desk.approval_text(item), 200) or ("(no text)", "dim")),
                id=item["id"]))
        if not listing.option_count:
            listing.add_option(Option(Content("no reply waits for approval"), id="",
                                      disabled=True))
        else:
            listing.highlighted = min(keep or 0, listing.option_count - 1)

    def _decide(self, act: Callable[[], str]) -> None:
        if not hasattr(self.desk, "approve"):
            self.say("replies are approved through the desk process of a team desk")
            return
        try:
            self.say(act())
        except (ActionRefused, KeyError) as exc:
            reasons = getattr(exc, "reasons", None) or [str(exc)]
            self.say("; ".join(str(r) for r in reasons))
        self.refill()

    def action_approve(self) -> None:
        aid = self.selected_id()
        if aid is not None:
            self._decide(lambda: self.desk.approve(aid))

    def action_return_it(self) -> None:
        aid = self.selected_id()
        if aid is None:
            return
        if not hasattr(self.desk, "reject"):
            self.say("replies are approved through the desk process of a team desk")
            return

        def returned(note: str) -> str:
            message = self.desk.reject(aid, note)
            self.refill()
            return message

        self.app.push_screen(PromptScreen(f"Return {aid} to its author — why?",
                                          placeholder="a note for the author (required)",
                                          act=returned),
                             lambda message: self.say(message or ""))
