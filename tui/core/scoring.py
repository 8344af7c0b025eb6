"""Measuring rules against labelled mentions: how a lead proves a rule change before it goes live.

A label says which actions a care lead would accept as the suggested first step and whether the
conversation should go offline (``expect: {actions: [reply, assist_and_direct], offline: false}``;
``offline`` may be left out when either is fine).  :class:`Scorecard` collects one triage per
labelled mention and reports:

* action agreement — the suggested action is one of the accepted ones;
* offline agreement — over the mentions whose label says offline or not;
* a confusion table — expected (the first accepted action) × suggested action;
* precision and recall of offline (positive class: "take it offline");
* the misses grouped by the category whose rule fired, with examples, so the rule to fix is named.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .model import ACTIONS, Triage

__all__ = ["Expect", "Scorecard", "parse_expect"]

EXAMPLES_KEPT = 5  # misses shown per category


@dataclass(frozen=True, slots=True)
class Expect:
    actions: tuple[str, ...]  # accepted actions, the preferred one first
    offline: bool | None  # None: either is acceptable


def parse_expect(value: Any, *, actions: Any = None, offline: Any = None) -> Expect:
    """A label from ``{"actions": [...], "offline": bool}`` (JSONL) or from two CSV cells
    (``actions`` "reply|assist_and_direct", ``offline`` "true"/"false"/"").

    Raises ValueError naming what is wrong (an unknown action, an offline value that is not a
    yes/no).
    """
    if value is not None:
        if not isinstance(value, dict):
            raise ValueError("'expect' must be an object {actions: [...], offline: true|false}")
        actions, offline = value.get("actions"), value.get("offline")
    if isinstance(actions, str):
        actions = [a for a in actions.replace("|", ",").replace(";", ",").split(",") if a.strip()]
    if not isinstance(actions, list) or not actions:
        raise ValueError("a label needs 'actions': a non-empty list of accepted actions")
    names = tuple(str(a).strip() for a in actions)
    for name in names:
        if name not in ACTIONS:
            raise ValueError(f"unknown action {name!r} in a label: write any of "
                             f"{', '.join(ACTIONS)}")
    if isinstance(offline, str):
        text = offline.strip().lower()
        if text in ("", "-", "either", "any"):
            offline = None
        elif text in ("true", "yes", "1", "y"):
            offline = True
        elif text in ("false", "no", "0", "n"):
            offline = False
        else:
            raise ValueError(f"offline {offline!r} in a label: write true, false or leave it "
                             "empty (either)")
    if offline is not None and not isinstance(offline, bool):
        raise ValueError(f"offline {offline!r} in a label: write true or false")
    return Expect(names, offline)


@dataclass(slots=True)
class Miss:
    id: str
    text: str
    expected: tuple[str, ...]
    got: str
    offline_expected: bool | None
    offline_got: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "expected": list(self.expected),
                "got": self.got, "offline_expected": self.offline_expected,
                "offline_got": self.offline_got, "why": self.why}


@dataclass(slots=True)
class Scorecard:
    labelled: int = 0
    unlabelled: int = 0
    action_ok: int = 0
    offline_labelled: int = 0
    offline_ok: int = 0
    true_pos: int = 0  # offline expected and suggested
    false_pos: int = 0  # suggested, not expected
    false_neg: int = 0  # expected, not suggested
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    misses: dict[str, list[Miss]] = field(default_factory=lambda: defaultdict(list))
    miss_counts: Counter[str] = field(default_factory=Counter)

    def add(self, mention_id: str, text: str, t: Triage, expect: Expect | None) -> bool:
        """Count one verdict; returns True when it agrees with the label (or has none)."""
        if expect is None:
            self.unlabelled += 1
            return True
        self.labelled += 1
        action_ok = t.action in expect.actions
        self.action_ok += action_ok
        self.confusion[expect.actions[0]][t.action] += 1
        offline_ok = True
        if expect.offline is not None:
            self.offline_labelled += 1
            offline_ok = t.offline == expect.offline
            self.offline_ok += offline_ok
            if t.offline and expect.offline:
                self.true_pos += 1
            elif t.offline:
                self.false_pos += 1
            elif expect.offline:
                self.false_neg += 1
        if not (action_ok and offline_ok):
            self.miss_counts[t.category] += 1
            kept = self.misses[t.category]
            if len(kept) < EXAMPLES_KEPT:
                kept.append(Miss(mention_id, text, expect.actions, t.action, expect.offline,
                                 t.offline, t.why))
        return action_ok and offline_ok

    # -- figures ------------------------------------------------------------------------------

    @staticmethod
    def _ratio(n: int, d: int) -> float | None:
        return n / d if d else None

    @property
    def action_agreement(self) -> float | None:
        return self._ratio(self.action_ok, self.labelled)

    @property
    def offline_agreement(self) -> float | None:
        return self._ratio(self.offline_ok, self.offline_labelled)

    @property
    def offline_precision(self) -> float | None:
        return self._ratio(self.true_pos, self.true_pos + self.false_pos)

    @property
    def offline_recall(self) -> float | None:
        return self._ratio(self.true_pos, self.true_pos + self.false_neg)

    def actions_seen(self) -> list[str]:
        seen = set(self.confusion)
        for row in self.confusion.values():
            seen.update(row)
        return [a for a in ACTIONS if a in seen]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled, "unlabelled": self.unlabelled,
            "action_agreement": self.action_agreement, "action_agreed": self.action_ok,
            "offline_labelled": self.offline_labelled,
            "offline_agreement": self.offline_agreement, "offline_agreed": self.offline_ok,
            "offline_precision": self.offline_precision, "offline_recall": self.offline_recall,
            "offline_true_positive": self.true_pos, "offline_false_positive": self.false_pos,
            "offline_false_negative": self.false_neg,
            "confusion": {exp: dict(row) for exp, row in self.confusion.items()},
            "misses_by_rule": {cat: {"count": n,
                                     "examples": [m.to_dict() for m in self.misses[cat]]}
                               for cat, n in self.miss_counts.most_common()},
        }


def score(pairs: Iterable[tuple[str, str, Triage, Expect | None]]) -> Scorecard:
    """A scorecard over (mention id, text, verdict, label) tuples."""
    card = Scorecard()
    for mention_id, text, t, expect in pairs:
        card.add(mention_id, text, t, expect)
    return card


def read_labels(path: str, *, actions_column: str = "expect_actions",
                offline_column: str = "expect_offline") -> dict[str, Expect]:
    """Labels by mention id from a labelled history: JSONL records with ``expect``, or CSV rows
    with an actions column ("reply|assist_and_direct") and an offline column.

    Raises OSError when the file cannot be read, ValueError naming the line of a bad label or a
    CSV without the label columns.  Records without a label are left out (scored as unlabelled).
    """
    import csv
    import json
    from pathlib import Path

    from .interchange import CSV_SUFFIXES, JSONL_SUFFIXES

    p = Path(path)
    labels: dict[str, Expect] = {}
    if p.suffix.lower() in JSONL_SUFFIXES:
        with p.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # reported (and skipped) by the history reader
                if not isinstance(record, dict) or "expect" not in record:
                    continue
                try:
                    labels[str(record.get("id"))] = parse_expect(record["expect"])
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
        return labels
    if p.suffix.lower() in CSV_SUFFIXES:
        with p.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if actions_column not in header:
                raise ValueError(f"{path}: no column {actions_column!r} with the accepted actions;"
                                 " name it with --map expect_actions=COLUMN")
            id_column = next((c for c in ("id", "tweet_id") if c in header), header[0])
            for number, row in enumerate(reader, start=2):
                if not (row.get(actions_column) or "").strip():
                    continue
                try:
                    labels[str(row[id_column])] = parse_expect(
                        None, actions=row[actions_column], offline=row.get(offline_column, ""))
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
        return labels
    raise ValueError(f"{path}: unknown file type; use .jsonl or .csv")
