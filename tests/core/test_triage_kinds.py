"""Every kind of triage miss in issue 11, with our own examples in several languages, against the
shipped policy (rules.yaml).  The examples live in tests/fixtures/triage/kinds.py."""

import json
import sys
from pathlib import Path

import pytest

from tui.core.model import Author, Mention
from tui.core.replies import load_replies
from tui.core.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "triage"))
from kinds import KINDS  # noqa: E402

from tests.core.test_rules import FRIDAY_EVENING  # noqa: E402


@pytest.fixture(scope="module")
def rules():
    return load_rules(ROOT / "rules.yaml", reply_keys=load_replies(ROOT / "replies.yaml").keys)


def mention(text: str, channel: str) -> Mention:
    return Mention(id="1", source="demo", channel=channel, author=Author(handle="pat"),
                   text=text, created_at=FRIDAY_EVENING, received_at=FRIDAY_EVENING)


@pytest.mark.parametrize(("kind", "text", "channel", "actions", "offline"), KINDS,
                         ids=[f"{k[0]}: {k[1][:40]}" for k in KINDS])
def test_kind(rules, kind, text, channel, actions, offline):
    t = rules.triage(mention(text, channel))
    assert t.action in actions, f"{kind}: {text!r} → {t.action} ({t.why})"
    if offline is not None:
        assert t.offline is offline, f"{kind}: {text!r} offline {t.offline} ({t.why})"
    # The decision never contradicts itself, and it always explains itself with the rule.
    assert (t.action == "take_offline") <= t.offline
    assert not t.offline or t.action in ("take_offline", "handoff")
    assert t.why.startswith(t.category + ":")


def test_every_kind_has_several_examples_and_languages():
    by_kind: dict[str, int] = {}
    for kind, *_ in KINDS:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    assert len(by_kind) >= 15
    assert sum(1 for k in KINDS if not k[1].isascii()) >= 15


def test_kinds_file_matches_the_list():
    """kinds.labelled.jsonl (for `triage --score`) is generated from the list; keep them equal."""
    path = ROOT / "tests" / "fixtures" / "triage" / "kinds.labelled.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == [k[1] for k in KINDS]
    assert [r["expect"]["actions"] for r in records] == [list(k[3]) for k in KINDS]
