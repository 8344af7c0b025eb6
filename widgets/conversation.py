"""The conversation pane: who the customer is and everything that happened, oldest first.

It shows the customer's whole history on the desk (``Desk.history``): earlier public mentions and
DMs, our replies with their outbox delivery status, hand-offs, notes, and undone events struck
through — newest at the bottom, scrolled there — under a profile line (``Desk.profile``).
Above the history, when the app has fetched it, comes the thread as the network has it
(:class:`Thread`): the posts around the conversation's latest mention that the desk does not hold,
muted, under a line that says where they come from — context, not the customer's conversation.
It sits at the top of the scrolled history, which stays anchored to the newest message, so at
80x24 it costs the newest lines nothing.  Every piece of stranger text goes through
:mod:`widgets.safe`.

Redrawing is cheap by design: a pane whose text did not change is not touched, and a pane whose
text changed but not its height is repainted without a layout (:func:`repaint`) — in Textual any
layout request reflows the whole screen, which while mentions stream in is what makes keys lag.
So a delivery going from ``pending`` to ``sent`` repaints the history's lines, nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.visual import visualize
from textual.widgets import Static

from tui.core.model import parse_time
from tui.core.when import due_text, local_time

from .safe import assemble, join, one_line, plain

if TYPE_CHECKING:
    from tui.core.conversation import Conversation
    from tui.core.desk import Desk

DIM = "dim"
LABEL = "bold"
MUTED = "$text-muted"
THREAD_EARLIER = 5  # posts shown before the mention (the nearest), so the section stays compact
THREAD_LATER = 3  # and after it
THREAD_TEXT = 160  # characters of each post: two lines at 80 columns


def fmt_time(at: datetime, now: datetime, tz: tzinfo | None) -> str:
    local, today = (at.astimezone(tz), now.astimezone(tz)) if tz else (at, now)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M")


def event_text(ev: Any, tz: tzinfo | None = None, now: datetime | None = None) -> str:
    """What an event did, in one phrase (details are stored by the desk, some typed by agents);
    times in office-local time (``tz``)."""
    d = ev.details
    if ev.kind == "reopen":
        return f"reopened (was {d.get('was', '')})"
    if ev.kind == "reply":
        return f"replied ({d.get('channel', '')}): {d.get('text', '')}"
    if ev.kind == "offline":
        bridge = d.get("bridge")
        out = f"took offline — DM: {d.get('dm', '')}"
        return out + (f"\n  public: {bridge}" if bridge else "")
    if ev.kind == "handoff":
        note = d.get("note") or ""
        return f"handed to {d.get('team')} as {d.get('case_id')}" + (f": {note}" if note else "")
    if ev.kind == "resolve":
        loop = d.get("close_loop")
        return "resolved" + (f" — closed the loop: {loop}" if loop else "")
    if ev.kind == "snooze":
        try:
            until = local_time(parse_time(d.get("until", "")), tz, now or ev.at)
        except (TypeError, ValueError):
            until = str(d.get("until", ""))
        return f"snoozed until {until}"
    if ev.kind == "ignore":
        return f"marked {d.get('reason', 'spam')}"
    if ev.kind == "assign":
        return f"assigned to {d.get('to', '')}"
    if ev.kind == "tag":
        return ("untagged " if d.get("remove") else "tagged ") + str(d.get("tag", ""))
    if ev.kind == "note":
        return f"note: {d.get('text', '')}"
    if ev.kind == "undo":
        return "undid " + ", ".join(d.get("kinds", []))
    return ev.kind


def profile_content(desk: Desk, conv: Conversation, now: datetime,
                    tz: tzinfo | None = None) -> Content:
    """The conversation's state first (``#id status · urgency · due 14m (09:30) · case · team``)
    so that it always shows, then the customer, then tags and the latest note — one line each
    (the pane cuts lines, never wraps them), so at 80x24 the profile gives way, not the deadline
    (issue 12 item 3)."""
    p = desk.profile(conv.id)
    left = desk.time_left(conv, now)
    status = [f"#{conv.id} {conv.status}", conv.urgency]
    if conv.needs_reply and conv.deadline is not None:
        status.append(("LATE " if conv.deadline <= now else "due ")
                       + due_text(left, conv.deadline, tz, now))
    if conv.case_id:
        status.append(conv.case_id)
    team = desk.owning_team(conv)
    if team:
        status.append(f"team {team}")
    if conv.snoozed_until:
        status.append(f"snoozed until {local_time(conv.snoozed_until, tz, now)}")
    status.append(conv.category)
    if conv.offline:
        status.append("offline")
    if conv.assigned:
        status.append(f"assigned {conv.assigned}")
    head = assemble(
        ("@" + one_line(p["handle"], 60), "bold $accent"),
        (" " + one_line(p["name"], 60)) if p["name"] else None,
        ("  ✔ verified" if p["verified"] else "", "$success"),
        (f"  {p['followers']:,} followers · {p['contacts']} contact"
         f"{'s' if p['contacts'] != 1 else ''} · "
         f"{p['conversations']} conversation{'s' if p['conversations'] != 1 else ''}", DIM),
    )
    lines = [assemble((" · ".join(status), "bold $secondary")), head]
    extra = []
    if p["tags"]:
        extra += [("tags: ", LABEL), ", ".join(one_line(t, 40) for t in p["tags"])]
    if p["notes"]:
        extra += [("  " if extra else "", ""), ("note: ", LABEL), one_line(p["notes"][-1], 300)]
        if len(p["notes"]) > 1:
            extra.append((f" (+{len(p['notes']) - 1} earlier)", DIM))
    if extra:
        lines.append(assemble(*extra))
    return join(lines)


def full_time(at: datetime, tz: tzinfo | None) -> str:
    """``2099-01-01 00:00`` in the desk's zone (UTC when converting would overflow: year 9999)."""
    try:
        local = at.astimezone(tz) if tz else at
    except (OverflowError, ValueError):
        local = at
    return local.strftime("%Y-%m-%d %H:%M")


def skew_text(skew: Any) -> str:
    """``3 h ahead`` / ``2 d behind``: how far a sender's clock is from the network's."""
    seconds = abs(skew.total_seconds())
    way = "ahead" if skew.total_seconds() > 0 else "behind"
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} {way}"
    return f"{seconds:.0f} s {way}"


# Who could see each customer message: a reply is never wider (README "Audience").
AUDIENCE_CELLS = {"public": ("pub ", DIM), "unlisted": ("unlisted ", "$secondary"),
                  "followers": ("followers-only ", "bold $warning"),
                  "direct": ("DM  ", "bold $warning")}


def history_content(desk: Desk, conv: Conversation, now: datetime, tz: tzinfo | None) -> Content:
    lines: list[Content] = []
    for h in desk.history(conv.id):
        when = (fmt_time(h.at, now, tz) + " ", DIM)
        other = (f"#{h.conv_id} ", DIM) if h.conv_id != conv.id else None
        if h.mention is not None:
            m = h.mention
            channel = AUDIENCE_CELLS.get(getattr(m, "visibility", "public"), ("pub ", DIM))
            flags = (" (deleted)" if m.deleted else "") + (" (edited)" if m.edited else "")
            warning = getattr(m, "content_warning", None)
            if warning:
                lines.append(assemble(when, other, ("CW ", "bold $warning"),
                                      plain(one_line(warning, 200), "italic")))
            skew = getattr(m, "clock_skew", None)
            if skew is not None:
                flags += (f" (sender's clock says {full_time(m.sent_at, tz)}: "
                          f"{skew_text(skew)}; timed from when the network received it)")
            lines.append(assemble(
                when, other, channel, ("@" + one_line(m.author.handle, 60), "bold"), ": ",
                plain(m.text, "strike dim" if m.deleted else ""), (flags, "italic dim")))
            continue
        ev = h.event
        style = "strike dim" if ev.undone else ("$success" if ev.kind != "undo" else DIM)
        delivery = ", ".join(
            f"{i['kind'].replace('_', ' ')} {i['status']}"
            + (f" ({one_line(i['error'], 120)})" if i.get("error") else "")
            for i in h.outbox)
        lines.append(assemble(
            when, other, ("↳ ", "bold"), (one_line(ev.agent, 30) + " ", DIM),
            plain(event_text(ev, tz, now), style),
            (" (undone)", "italic $warning") if ev.undone else None,
            (f"  [{delivery}]", "italic $text-muted") if delivery else None))
    return join(lines, "\n") if lines else Content("no messages")


@dataclass(frozen=True, slots=True)
class Thread:
    """The network's thread around a conversation's latest mention, as the app fetched it.

    ``state`` is ``"loading"``, ``"failed"`` (``reason`` is the server's text) or ``"ready"``
    (``posts``: mentions the desk does not hold; ``at``: when the latest mention was posted,
    which splits them into earlier and later)."""

    network: str
    state: str
    posts: Sequence[Any] = ()
    reason: str = ""
    at: datetime | None = None


def thread_content(thread: Thread | None, now: datetime, tz: tzinfo | None) -> Content | None:
    """The thread section: one muted line while loading or when unavailable, a heading and the
    nearest posts (oldest first) when fetched; None when there is nothing to show."""
    if thread is None:
        return None
    network = one_line(thread.network, 30)
    if thread.state == "loading":
        return assemble((f"loading thread… ({network})", f"italic {MUTED}"))
    if thread.state == "failed":
        return assemble(("thread unavailable: ", f"italic {MUTED}"),
                        (one_line(thread.reason, 200), MUTED))
    posts = sorted(thread.posts, key=lambda p: p.created_at)
    if not posts:
        return None
    at = thread.at
    earlier = [p for p in posts if at is None or p.created_at <= at]
    later = [p for p in posts if at is not None and p.created_at > at]
    shown = earlier[-THREAD_EARLIER:] + later[:THREAD_LATER]
    head = f"Thread on {network} — {len(earlier)} earlier, {len(later)} later"
    if len(shown) < len(posts):
        head += f" (nearest {len(shown)} shown)"
    lines = [assemble((head, f"bold {MUTED}"))]
    for p in shown:
        lines.append(assemble(
            (fmt_time(p.created_at, now, tz) + " ", DIM),
            ("@" + one_line(p.author.handle, 40), f"bold {MUTED}"), (": ", MUTED),
            (one_line(p.text, THREAD_TEXT), MUTED)))
    lines.append(assemble(("─" * 20, DIM)))
    return join(lines)


def repaint(static: Static, content: Content, *, force: bool = False) -> bool:
    """Show ``content`` in ``static``: nothing when it is already shown (text and styles), a
    repaint without layout when its height stays the same.  Returns False when unchanged.

    ``force`` updates with a layout whatever changed: after a resize, and as a safety net —
    Textual can drop a layout requested while another one is pending during start-up."""
    shown = static.content
    if force:
        static.update(content)
        return True
    if (isinstance(shown, Content) and shown.plain == content.plain
            and list(shown.spans) == list(content.spans)):
        return False
    width = static.content_size.width
    layout = True
    if width > 0 and static.is_mounted:
        styles = static.styles
        old = static.visual.get_height(styles, width)
        new = visualize(static, content, markup=False).get_height(styles, width)
        layout = old != new
    static.update(content, layout=layout)
    return True


class ConversationView(Vertical, can_focus=False):
    """The selected conversation's customer (fixed at the top) and its history (scrolled to the
    newest message).  Read-only: the app sends the commands."""

    DEFAULT_CSS = """
    ConversationView { height: 1fr; padding: 0 1; }
    ConversationView #profile { height: auto; max-height: 5; border-bottom: solid $primary 30%;
                                text-wrap: nowrap; text-overflow: ellipsis; }
    ConversationView #history-scroll { height: 1fr; scrollbar-gutter: stable; }
    ConversationView #history { width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.conv_id: str | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Content("no conversation selected"), id="profile")
        with VerticalScroll(id="history-scroll"):
            yield Static(Content(""), id="history")

    def show(self, desk: Desk, conv_id: str | None, *, thread: Thread | None = None,
             force: bool = False, now: datetime | None = None,
             empty: str | None = None, presence: str | None = None) -> None:
        """Redraw for ``conv_id`` (None: nothing selected; ``empty`` says why, e.g. a filter
        matching nothing); ``thread`` is drawn above the history (the network's thread around
        the latest mention); ``force`` redraws and lays out even what did not change (after a
        resize); ``now``: the instant every countdown on screen is computed from;
        ``presence``: who else views or writes on it ("kim is writing a reply")."""
        other = conv_id != self.conv_id
        self.conv_id = conv_id
        profile = self.query_one("#profile", Static)
        history = self.query_one("#history", Static)
        conv = desk.conversations.get(conv_id) if conv_id else None
        if conv is None:
            repaint(profile, Content("no conversation selected"), force=force)
            repaint(history, Content(empty or "The queue is empty: new mentions appear in "
                                              "the queue."), force=force)
            return
        now = now or desk.clock()
        tz = getattr(desk.rules.office_hours, "tz", None)
        head = profile_content(desk, conv, now, tz)
        if presence:
            head = join([assemble((one_line(presence, 200), "bold $warning")), head])
        repaint(profile, head, force=force)
        body = history_content(desk, conv, now, tz)
        context = thread_content(thread, now, tz)
        if context is not None:
            body = join([context, body])
        if repaint(history, body, force=force) and (other or force):
            # Another conversation starts at its newest message; anchored, it stays there as
            # the text reflows, until the agent scrolls up (a redraw of the same conversation
            # leaves their scroll position alone).
            self.query_one("#history-scroll", VerticalScroll).anchor()
