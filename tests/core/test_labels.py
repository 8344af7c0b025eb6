"""Labels from the loaded rules (tui/core/labels.py) and the rules file's category ``label:``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from tui.core.labels import ACTION_LABELS, Labels, tiers_by_rank
from tui.core.model import ACTIONS
from tui.core.rules import RulesError, load_rules


def test_every_action_has_words() -> None:
    assert set(ACTION_LABELS) == set(ACTIONS)


def test_tiers_follow_rank_not_names() -> None:
    assert tiers_by_rank([("p1", True), ("p2", True), ("p3", True), ("p4", True),
                          ("quiet", False)]) == {
        "p1": "critical", "p2": "high", "p3": "normal", "p4": "low", "quiet": "none"}
    assert tiers_by_rank([("urgent", True), ("later", True)]) == {"urgent": "critical",
                                                                  "later": "high"}


def test_labels_from_the_shipped_rules() -> None:
    labels = Labels.from_rules(load_rules(ROOT / "rules.yaml"))
    assert labels.levels == ("critical", "high", "normal", "low", "none")
    assert [labels.tier(lv) for lv in labels.levels] == ["critical", "high", "normal", "low",
                                                         "none"]
    assert labels.category("direct_message") == "DM"
    assert labels.category("lost_property") == "lost property"  # no label: the id, spaced
    assert labels.category("gone_from_the_rules") == "gone from the rules"
    assert labels.tier("gone") == "normal"



@pytest.mark.parametrize(("label", "message"), [
    ('""', "has an empty 'label:'"),
    ("[a, b]", "'label' in"),
])
def test_a_bad_label_is_reported_with_its_line(tmp_path: Path, label: str, message: str) -> None:
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("    label: DM ", f"    label: {label} ", 1)
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1)
                if ln.startswith("    label: " + label))
    with pytest.raises(RulesError) as err:
        load_rules(path)
    assert [(p.line, message in p.message) for p in err.value.problems] == [(line, True)]
