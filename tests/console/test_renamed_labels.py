"""Level and category names come from the loaded rules: a team that renames them in rules.yaml
sees its names in the queue and the suggestion pane, styled by rank, never a hard-coded word."""

from __future__ import annotations

import re
from pathlib import Path

from app_fixtures import make_app, screen_text, show
from conftest import AGENT, ROOT, Clock
from deskkit import mention

from tui.core.desk import Desk
from tui.core.labels import Labels
from tui.core.replies import load_replies
from tui.core.rules import load_rules
from widgets.queue_view import QueueView

SAFETY = "someone collapsed on the platform at Leeds, please help"
REFUND = "I need a refund for my cancelled ticket"
DISRUPTION = "all trains cancelled at Leeds, what is going on"


def renamed_rules(tmp_path: Path) -> Path:
    """The shipped rules with levels critical→p1, high→p2 and the refund category renamed
    money_back (label "fares"), and service_disruption's label changed."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^  critical:$", "  p1:", text, flags=re.M)
    text = re.sub(r"^  high:$", "  p2:", text, flags=re.M)
    text = re.sub(r"urgency: critical\b", "urgency: p1", text)
    text = re.sub(r"urgency: high\b", "urgency: p2", text)
    text = text.replace("  - id: refund\n", "  - id: money_back\n    label: fares\n")
    text = text.replace("    label: disruption\n", "    label: trains down\n")
    assert "urgency: p1" in text and "id: money_back" in text and "trains down" in text
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def desk_with(rules_path: Path) -> Desk:
    replies = load_replies(ROOT / "replies.yaml")
    rules = load_rules(rules_path, reply_keys=set(replies.keys))
    return Desk(rules, replies, None, agent=AGENT, clock=Clock())


async def test_renamed_levels_and_categories_show_in_the_widgets(tmp_path: Path) -> None:
    desk = desk_with(renamed_rules(tmp_path))
    labels = Labels.from_rules(desk.rules)
    assert labels.levels[:2] == ("p1", "p2") and labels.tier("p1") == "critical"
    safety = desk.ingest([mention(SAFETY, "amy")])[0]
    refund = desk.ingest([mention(REFUND, "bob")])[0]
    trains = desk.ingest([mention(DISRUPTION, "cat")])[0]
    assert (safety.triage.urgency, refund.triage.category) == ("p1", "money_back")
    app = make_app(desk)
    async with app.run_test(size=(160, 48)) as pilot:
        await show(app, pilot, safety.conv_id)
        view = app.query_one(QueueView)
        assert view.labels.levels == labels.levels  # the console passed the rules' labels
        rows = {}
        for y in range(len(desk.queue)):
            rows[desk.queue[y]] = "".join(seg.text for seg in view.render_line(y))
        assert rows[safety.conv_id].startswith("›P1 ")
        assert " fares " in rows[refund.conv_id] and "money" not in rows[refund.conv_id]
        assert "trains down" in rows[trains.conv_id]
        # p1 is the most urgent level: it is drawn in the critical style, whatever its name
        first = next(seg for seg in view.render_line(0) if seg.text.strip() == "P1")
        # (on the cursor row a cell keeps its attributes, the cursor its contrasting colours)
        critical = view.get_component_rich_style("queue-view--urgency-critical", partial=True)
        assert critical.bold
        assert first.style == view.rich_style + view._cursor_style() + view._cell_style(
            "queue-view--urgency-critical", True)
        assert first.style.bold
        text = screen_text(app)
        assert "p1 · safety" in text  # the suggestion pane names the renamed level
        await show(app, pilot, refund.conv_id)
        assert "· money_back" in screen_text(app)
