"""The console's keys: every desk action with its binding id, and the help built from them.

A binding id (``desk.reply``) is what the config file's ``keys:`` remaps; the help screen and the
command palette read the same table, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# (binding id, key, action, footer label, description, shown in the footer)
DESK_KEYS: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("desk.next", "n", "next", "Next", "Jump to the most urgent", True),
    ("desk.reply", "r", "reply", "Reply", "Reply (composer, canned replies)", True),
    ("desk.offline", "o", "offline", "Offline", "Take offline (public bridge + DM)", True),
    ("desk.handoff", "h", "handoff", "Hand off", "Hand off to a team (case id)", True),
    ("desk.resolve", "e", "resolve", "Resolve", "Resolve (optional close-the-loop)", True),
    ("desk.snooze", "s", "snooze", "Snooze", "Snooze (30m, 1h, 4h, tomorrow)", False),
    ("desk.ignore", "x", "ignore", "Spam", "Mark spam / ignore", False),
    ("desk.assign", "a", "assign", "Assign", "Assign to me", False),
    ("desk.tag", "t", "tag", "Tag", "Tag (-tag removes)", False),
    ("desk.note", "m", "note", "Note", "Add an internal note", False),
    ("desk.undo", "u", "undo", "Undo", "Undo my last action", True),
    ("desk.filter", "slash", "filter", "Filter", "Filter the queue", True),
    ("desk.clear_filter", "escape", "clear_filter", "Clear filter", "Clear the filter", False),
    ("desk.accept", "A", "accept", "Accept", "Accept the whole suggested action", True),
    ("desk.stats", "S", "stats", "Stats", "Shift statistics", False),
    ("desk.sources", "i", "sources", "Sources", "Source health: each source's state and error",
     False),
    ("desk.views", "v", "views", "Views",
     "Views: snoozed, waiting, resolved, outbox…", True),
    ("desk.reopen", "U", "reopen", "Reopen", "Reopen / un-snooze the conversation", False),
    ("desk.outbox", "b", "outbox", "Outbox", "Outbox: failed posts, retry / cancel", False),
    ("desk.approvals", "P", "approvals", "Approvals",
     "Approvals: replies waiting for a lead — approve, or return with a note", False),
    ("desk.dismiss", "d", "dismiss", "Dismiss", "Dismiss the notifications on screen", False),
    ("desk.help", "question_mark", "help", "Help", "Help: every key", True),
    ("desk.quit", "q", "quit", "Quit", "Quit (saves everything)", True),
)
KEY_LABELS = {"slash": "/", "question_mark": "?", "escape": "esc"}

MODAL_ROWS = [("ctrl+s", "Send / confirm in a modal", "modal.submit"),
              ("escape, ctrl+g", "Close a modal, the palette, help, stats (drafts and notes "
               "are kept); ctrl+g never waits for the terminal's escape delay (tmux, SSH)",
               "modal.close"),
              ("ctrl+z / ctrl+y", "Undo / redo typing in a text box (a canned reply too)",
               "text_area.undo"),
              ("ctrl+f", "Composer: search canned replies", "composer.search"),
              ("y / n", "Answer a confirmation", "confirm.yes / confirm.no")]
APP_ROWS = [("ctrl+p", "Command palette: every action by name, with its key",
             "command_palette"),
            ("ctrl+q", "Quit (saves everything)", "quit")]
FOCUS_ROWS = [("tab / shift+tab", "Move the focus: queue → history → suggestion; arrows and "
               "PgUp/PgDn scroll the focused pane", "focus"),
              ("j / k", "Always move the queue's cursor (and focus the queue again)",
               "main.down / main.up")]
# The queue's row markers, in the order they appear in a row (widgets/queue_view.py).
LEGEND_ROWS = [("›", "the cursor", ""),
               ("CRIT / HIGH …", "urgency (the rules' levels)", ""),
               ("14m  -3m", "time left (office hours); reversed once past the deadline", ""),
               ("09:30", "wall-clock due time, office time (100+ columns)", ""),
               ("pub / DM", "public mention / direct message", ""),
               ("●", "unread", ""), ("↩", "needs a reply", ""), ("A", "assigned", ""),
               ("O", "taken offline (DMs)", ""), ("C", "handed off to a team (case)", ""),
               ("✎", "a saved reply draft", ""),
               ("▲ N critical above", "new critical items above the visible rows (n jumps)",
                "")]

HelpRow = tuple[str, str, str]  # (keys as shown, description, binding id)


def key_label(keymap: Mapping[str, str], binding_id: str, default: str) -> str:
    """The keys bound to ``binding_id`` (remapped by ``keymap``), as the help shows them."""
    keys = keymap.get(binding_id, default)
    return ", ".join(KEY_LABELS.get(k.strip(), k.strip()) for k in keys.split(","))


HelpSection = tuple[str, list[HelpRow]]  # (title, rows)


def help_sections(keymap: Mapping[str, str],
                  queue_bindings: Iterable[tuple[str, str, str]]) -> list[HelpSection]:
    """The help screen's sections: desk keys, the queue's (``(id, key, description)`` each),
    modal keys and app keys, with the config's remapping applied."""
    desk_rows = [(key_label(keymap, bid, key), description, bid)
                 for bid, key, _action, _label, description, _show in DESK_KEYS]
    queue_rows = [(key_label(keymap, bid, key), description, bid)
                  for bid, key, description in queue_bindings]
    return [("Desk", desk_rows), ("Queue", queue_rows), ("Focus", list(FOCUS_ROWS)),
            ("Modals", list(MODAL_ROWS)), ("App", list(APP_ROWS)),
            ("Row markers", list(LEGEND_ROWS))]
