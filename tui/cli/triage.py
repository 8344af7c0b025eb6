"""``mentiondesk triage FILE``: dry-run the rules over a mention history.

Prints one decision per mention (time, handle, category, urgency, action, team, offline flag,
why, start of the text) and a summary by category, action and urgency; ``--json`` prints one JSON
object per mention then ``{"summary": {...}}``.  Nothing is stored and nothing is sent.

Each mention is triaged with the created_at of the same customer's earlier mentions in the file,
so repeat-contact rules behave as they would have live.  The ``waiting`` modifier counts from
``created_at`` to the file's ``received_at`` (no ``received_at``: no waiting).

Exit codes: 0 done; 1 the history cannot be read or ``--map`` does not fit it; 2 the rules (or
replies) have problems — each printed as ``file:line: message``.
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

# Stands for "the file had no received_at": a dry run then counts no waiting time.
_NOT_RECEIVED = datetime(1970, 1, 1, tzinfo=UTC)
_PRIOR_KEPT = 100  # earlier contacts kept per customer: repeat-contact rules need a handful
TEXT_WIDTH = 60


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "triage", help="dry-run the rules over a history file (JSONL or CSV)",
        description="Dry-run the triage rules over a history of mentions and print the decision "
                    "for each one, then a summary.  Nothing is stored or sent.")
    p.add_argument("file", help="history file: .jsonl/.ndjson/.json (JSON Lines) or .csv")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per mention, then a summary object")
    # SUPPRESS: the same options may be given before the command (mentiondesk --rules F triage)
    p.add_argument("--map", default=argparse.SUPPRESS, metavar="FIELD=COLUMN,...",
                   help="CSV columns for the mention fields, e.g. "
                        "id=tweet_id,author=author_id,in_reply_to=in_response_to_tweet_id")
    p.add_argument("--rules", default=argparse.SUPPRESS, metavar="FILE",
                   help="rules file (default ./rules.yaml or the packaged one)")
    p.add_argument("--replies", default=argparse.SUPPRESS, metavar="FILE",
                   help="replies file, to check the rules' reply keys (default ./replies.yaml "
                        "or the packaged one)")
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
    try:
        mapping = parse_map(getattr(args, "map", None))
    except ValueError as e:
        print(f"mentiondesk triage: {e}", file=err)
        return 1
    rules = _load_policy(args, err)
    if rules is None:
        return 2
    try:
        records = read_history(args.file, mapping or None, received_at=_NOT_RECEIVED)
    except (OSError, ValueError, csv.Error) as e:
        print(f"mentiondesk triage: {e}", file=err)
        return 1

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
            if args.json:
                out.write(json.dumps({
                    "key": m.key, "id": m.id, "created_at": iso(m.created_at),
                    "handle": m.author.handle, "channel": m.channel, "category": t.category,
                    "urgency": t.urgency, "deadline": iso(t.deadline), "action": t.action,
                    "team": t.team, "reply_key": t.reply_key, "offline": t.offline,
                    "offline_reasons": t.offline_reasons, "score": t.score, "why": t.why,
                    "text": m.text,
                }, ensure_ascii=False) + "\n")
            else:
                out.write(
                    f"{m.created_at:%Y-%m-%d %H:%M}  @{one_line(m.author.handle, 24):<20} "
                    f"{t.category:<18} {t.urgency:<8} {t.action:<17} {t.team or '-':<18} "
                    f"{'offline' if t.offline else '-':<7}  {one_line(t.why, 100)}  "
                    f"| {one_line(m.text, TEXT_WIDTH)}\n")
    except BrokenPipeError:  # `mentiondesk triage F | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # keeps the flush at exit quiet
        return 0
    except (OSError, ValueError) as e:  # the file became unreadable mid-way
        print(f"mentiondesk triage: {args.file}: {e}", file=err)
        return 1
    finally:
        records.close()

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
    return 0


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
