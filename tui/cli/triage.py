"""``mentiondesk triage FILE``: dry-run the rules over a mention history.

Prints one decision per mention (time, handle, category, urgency, action, team, offline flag,
why, start of the text) and a summary by category, action and urgency; ``--json`` prints one JSON
object per mention then ``{"summary": {...}}``.  Nothing is stored and nothing is sent.

Each mention is triaged with the created_at of the same customer's earlier mentions in the file,
so repeat-contact rules behave as they would have live.  The ``waiting`` modifier counts from
``created_at`` to the file's ``received_at`` (no ``received_at``: no waiting).

``--score``: the file is labelled (JSONL records with ``expect: {actions: [...], offline: bool}``,
or CSV columns ``expect_actions``/``expect_offline``, renamed with ``--map
expect_actions=COLUMN,expect_offline=COLUMN``); instead of a line per mention it prints agreement
on action and on offline, the confusion table, offline precision/recall and the misses grouped by
the rule that fired (``--json``: one object).

Exit codes (README, "Exit codes"): 0 done; 2 the history cannot be read, ``--map`` does not fit
it, or the rules (or replies) have problems — each printed as ``file:line: message``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..core.interchange import Skipped, parse_map, read_history
from ..core.model import iso
from ..core.text import one_line
from ..setup.boot import default_file
from .common import OK, USAGE

# Stands for "the file had no received_at": a dry run then counts no waiting time.
_NOT_RECEIVED = datetime(1970, 1, 1, tzinfo=UTC)
_PRIOR_KEPT = 100  # earlier contacts kept per customer: repeat-contact rules need a handful
TEXT_WIDTH = 60


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "triage", help="dry-run the rules over a history file (JSONL or CSV)",
        description="Dry-run the triage rules over a history of mentions and print the decision "
                    "for each one, then a summary.  Nothing is stored or sent.")
    from .common import add_common

    add_common(p)
    p.add_argument("file", help="history file: .jsonl/.ndjson/.json (JSON Lines) or .csv")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per mention, then a summary object")
    p.add_argument("--score", action="store_true",
                   help="the file is labelled (expect: {actions, offline}): print agreement, "
                        "a confusion table, offline precision/recall and the misses by rule")
    # SUPPRESS: the same options may be given before the command (mentiondesk --rules F triage)
    p.add_argument("--map", default=argparse.SUPPRESS, metavar="FIELD=COLUMN,...",
                   help="CSV columns for the mention fields, e.g. "
                        "id=tweet_id,author=author_id,in_reply_to=in_response_to_tweet_id")
    p.set_defaults(handler=run)
    return p


def _load_policy(args: argparse.Namespace, err: TextIO) -> Any:
    """The rules, validated against the replies' keys when a replies file is available."""
    from ..core.replies import RepliesError, load_replies
    from ..core.rules import RulesError, load_rules

    rules_path = Path(getattr(args, "rules", None) or default_file("rules.yaml"))
    replies_arg = getattr(args, "replies", None)
    replies_path = Path(replies_arg or default_file("replies.yaml"))
    if not rules_path.is_file():
        print(f"mentiondesk triage: {rules_path}: no such rules file (give --rules)", file=err)
        return None
    reply_keys = None
    if replies_arg or replies_path.is_file():
        if not replies_path.is_file():
            print(f"mentiondesk triage: {replies_path}: no such replies file", file=err)
            return None
        try:
            reply_keys = set(load_replies(replies_path).keys)
        except RepliesError as e:
            for problem in e.problems:
                print(problem, file=err)
            return None
    try:
        return load_rules(rules_path, reply_keys=reply_keys)
    except RulesError as e:
        for problem in e.problems:
            print(problem, file=err)
        print(f"mentiondesk triage: {rules_path} has {len(e.problems)} problem(s)", file=err)
        return None


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    # The label columns (--score) are not mention fields: take them out before parse_map.
    labels_map: dict[str, str] = {}
    spec_items = []
    for item in (getattr(args, "map", None) or "").split(","):
        name, _, column = item.partition("=")
        if name.strip() in ("expect_actions", "expect_offline") and column.strip():
            labels_map[name.strip()] = column.strip()
        elif item.strip():
            spec_items.append(item)
    try:
        mapping = parse_map(",".join(spec_items) or None)
    except ValueError as e:
        print(f"mentiondesk triage: {e}", file=err)
        return USAGE
    rules = _load_policy(args, err)
    if rules is None:
        return USAGE
    card = None
    labels: dict[str, Any] = {}
    if getattr(args, "score", False):
        from ..core.scoring import Scorecard, read_labels

        try:
            labels = read_labels(args.file,
                                 actions_column=labels_map.get("expect_actions",
                                                               "expect_actions"),
                                 offline_column=labels_map.get("expect_offline",
                                                               "expect_offline"))
        except (OSError, ValueError, csv.Error) as e:
            print(f"mentiondesk triage: {e}", file=err)
            return USAGE
        card = Scorecard()
    try:
        records = read_history(args.file, mapping or None, received_at=_NOT_RECEIVED)
    except (OSError, ValueError, csv.Error) as e:
        print(f"mentiondesk triage: {e}", file=err)
        return USAGE

    by_category: Counter[str] = Counter()
    by_action: Counter[str] = Counter()
    by_urgency: Counter[str] = Counter()
    offline = skipped = total = 0
    prior: dict[str, list[datetime]] = defaultdict(list)
    try:
        for record in records:
            if isinstance(record, Skipped):
                skipped += 1
                print(f"skipped {record}", file=err)
                continue
            m = record
            if m.received_at == _NOT_RECEIVED:
                m.received_at = m.created_at
            earlier = prior[m.customer]
            t = rules.triage(m, prior=[p for p in earlier if p < m.created_at], now=m.received_at)
            earlier.append(m.created_at)
            del earlier[:-_PRIOR_KEPT]
            total += 1
            by_category[t.category] += 1
            by_action[t.action] += 1
            by_urgency[t.urgency] += 1
            offline += t.offline
            if card is not None:
                card.add(m.id, m.text, t, labels.get(m.id))
            elif args.json:
                out.write(json.dumps({
                    "key": m.key, "id": m.id, "created_at": iso(m.created_at),
                    "handle": m.author.handle, "channel": m.channel, "category": t.category,
                    "urgency": t.urgency, "deadline": iso(t.deadline), "action": t.action,
                    "team": t.team, "reply_key": t.reply_key, "offline": t.offline,
                    "offline_reasons": t.offline_reasons,
                    # Why a DM cannot reach them (their DM settings as the source read them).
                    "dm_closed": m.author.dm_closed, "score": t.score, "why": t.why,
                    "text": m.text,
                }, ensure_ascii=False) + "\n")
            else:
                out.write(
                    f"{m.created_at:%Y-%m-%d %H:%M}  @{one_line(m.author.handle, 24):<20} "
                    f"{t.category:<18} {t.urgency:<8} {t.action:<17} {t.team or '-':<18} "
                    f"{offline_word(t.offline, m.author.dm_closed):<7}  {one_line(t.why, 100)}  "
                    f"| {one_line(m.text, TEXT_WIDTH)}\n")
    except BrokenPipeError:  # `mentiondesk triage F | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # keeps the flush at exit quiet
        return OK
    except (OSError, ValueError) as e:  # the file became unreadable mid-way
        print(f"mentiondesk triage: {args.file}: {e}", file=err)
        return USAGE
    finally:
        records.close()

    if card is not None:
        if args.json:
            out.write(json.dumps({"file": str(args.file), "rules": str(rules.path),
                                  "mentions": total, "skipped": skipped, **card.to_dict()},
                                 ensure_ascii=False) + "\n")
        else:
            print_scorecard(card, str(rules.path), str(args.file), out)
        return 0
    order = list(getattr(rules, "categories", [])) or sorted(by_category)
    categories = {c: by_category.get(c, 0) for c in order}
    categories.update({c: n for c, n in by_category.items() if c not in categories})
    summary = {
        "file": str(args.file), "mentions": total, "skipped": skipped, "offline": offline,
        "by_category": categories, "by_action": dict(by_action.most_common()),
        "by_urgency": dict(by_urgency.most_common()),
    }
    if args.json:
        out.write(json.dumps({"summary": summary}, ensure_ascii=False) + "\n")
    else:
        _print_summary(summary, out)
    return OK


def _print_summary(s: dict[str, Any], out: TextIO) -> None:
    total = s["mentions"]

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%" if total else "    -"

    out.write(f"\n{total} mentions triaged, {s['skipped']} skipped, "
              f"{s['offline']} to take offline ({pct(s['offline']).strip()})\n")
    for title, counts in (("category", s["by_category"]), ("action", s["by_action"]),
                          ("urgency", s["by_urgency"])):
        out.write(f"\nby {title}:\n")
        for name, n in counts.items():
            out.write(f"  {name:<20} {n:>7}  {pct(n)}\n")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def print_scorecard(card: Any, rules: str, file: str, out: TextIO) -> None:
    """The text form of a :class:`~tui.core.scoring.Scorecard`."""
    out.write(f"{rules} on {file}: {card.labelled} labelled mentions"
              f"{f' ({card.unlabelled} unlabelled, not scored)' if card.unlabelled else ''}\n\n")
    out.write(f"  suggested action acceptable  {_pct(card.action_agreement):>6}  "
              f"({card.action_ok}/{card.labelled})\n")
    out.write(f"  offline agreement            {_pct(card.offline_agreement):>6}  "
              f"({card.offline_ok}/{card.offline_labelled} labelled offline or not)\n")
    out.write(f"  offline precision            {_pct(card.offline_precision):>6}  "
              f"({card.true_pos} right of {card.true_pos + card.false_pos} taken offline)\n")
    out.write(f"  offline recall               {_pct(card.offline_recall):>6}  "
              f"({card.true_pos} of {card.true_pos + card.false_neg} that should go offline)\n")
    actions = card.actions_seen()
    short = {a: a.replace("assist_and_direct", "assist").replace("update_and_link", "update")
             .replace("take_offline", "offline") for a in actions}
    out.write("\nconfusion (rows: expected first choice, columns: suggested)\n")
    out.write(f"  {'':<18}" + "".join(f"{short[a]:>9}" for a in actions) + "\n")
    for exp in actions:
        row = card.confusion.get(exp)
        if not row:
            continue
        out.write(f"  {exp:<18}" + "".join(f"{row.get(a, 0):>9}" for a in actions) + "\n")
    if card.miss_counts:
        out.write("\nmisses by the rule that fired\n")
        for category, n in card.miss_counts.most_common():
            out.write(f"  {category}: {n}\n")
            for miss in card.misses[category]:
                offline = ""
                if miss.offline_expected is not None and miss.offline_expected != miss.offline_got:
                    offline = f", offline {miss.offline_got} (expected {miss.offline_expected})"
                out.write(f"    - {miss.got} (expected {'/'.join(miss.expected)}){offline}: "
                          f"{one_line(miss.text, TEXT_WIDTH)}\n      why: "
                          f"{one_line(miss.why, 110)}\n")


def offline_word(offline: bool, dm_closed: str | None) -> str:
    """The offline column: ``offline``, ``no DM`` (the rules would take it offline but a DM
    cannot reach the customer; the JSON output says why) or ``-``."""
    if not offline:
        return "-"
    return "no DM" if dm_closed else "offline"
