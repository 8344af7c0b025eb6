"""The key table (tui/console/keys.py): help sections follow the config's remapping."""

from __future__ import annotations

from tui.console.keys import DESK_KEYS, help_sections, key_label


def test_help_shows_remapped_keys_with_their_binding_ids() -> None:
    queue = [("queue.down", "down,j", "Next")]
    sections = dict(help_sections({"desk.reply": "r,ctrl+r", "queue.down": "J"}, queue))
    assert list(sections) == ["Desk", "Queue", "Focus", "Modals", "App", "Row markers"]
    assert sections["Focus"] and sections["Row markers"]  # focus keys and the marker legend
    desk_rows = {bid: (keys, description) for keys, description, bid in sections["Desk"]}
    assert desk_rows["desk.reply"] == ("r, ctrl+r", "Reply (composer, canned replies)")
    assert desk_rows["desk.filter"][0] == "/"  # key names shown as typed
    assert len(desk_rows) == len(DESK_KEYS)
    assert sections["Queue"] == [("J", "Next", "queue.down")]


def test_key_label_defaults_and_names() -> None:
    assert key_label({}, "desk.help", "question_mark") == "?"
    assert key_label({"desk.help": "f1, question_mark"}, "desk.help", "?") == "f1, ?"
