"""``mentiondesk rules reload`` and ``mentiondesk rules learn``: changing rules safely.

``rules reload [--retriage] [--data-dir D] [--rules F]``: checks the rules file (every problem
printed as file:line, nothing sent to the desk when there is one), then asks the desk running on
the data directory (the process holding its lock) to apply it: SIGUSR1 plus a request file
(tui/setup/reload.py).  Open conversations keep their triage unless ``--retriage``.

``rules learn HISTORY [--map F=COL,...] [--out FILE] [--json]``: derives what the agents did in a
history with the brand's replies and proposes readable matchers with their support and precision,
with held-out agreement before and after (tui/core/learn.py).  Prints the YAML to add; ``--out``
writes the whole new rules file (checked like any rules file).

Exit codes: 0 done; 1 no desk running (reload) or the history cannot be read; 2 the rules have
problems.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from ..core.interchange import parse_map
from ..setup.boot import BootError, data_dir, default_file, load_config, options_from
from .common import OK, REFUSED, USAGE, add_common

# The reply a learned category suggests, by action (keys of the shipped replies.yaml; a team's
# own keys are used when these do not exist).
LEARNED_REPLIES = {"take_offline": "card_account_offline", "update_and_link": "disruption_update",
                   "assist_and_direct": "general_ack", "reply": "general_ack"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rules", help="reload the running desk's rules; learn rules from "
                                            "history",
                              description="Change rules safely: reload them into the running "
                                          "desk, or learn proposals from the team's history.")
    sub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    r = sub.add_parser("reload", help="check rules.yaml and apply it to the running desk",
                       description="Check the rules file, then apply it to the desk running on "
                                   "the data directory (SIGUSR1 to the process holding its "
                                   "lock). A broken file is refused with file:line.")
    add_common(r)
    r.add_argument("--retriage", action="store_true",
                   help="also triage the open conversations again (default: they keep theirs)")
    r.set_defaults(handler=run_reload)
    lr = sub.add_parser("learn", help="propose rules from a history with the brand's replies",
                        description="Derive what the agents did in each conversation of a "
                                    "history (with the brand's replies) and propose readable "
                                    "matchers, with held-out agreement before and after.")
    add_common(lr)
    lr.add_argument("history", help="CSV (Customer Support on Twitter layout) or JSONL")
    lr.add_argument("--map", metavar="FIELD=COLUMN,...",
                    help="CSV columns: id, author, inbound, created_at, text, in_reply_to")
    lr.add_argument("--out", metavar="FILE", help="write the whole new rules file here")
    lr.add_argument("--min-support", type=int, default=3,
                    help="conversations a term must appear in (default 3)")
    lr.add_argument("--min-precision", type=float, default=0.6,
                    help="share of them handled the proposed way (default 0.6)")
    lr.add_argument("--json", action="store_true", help="the result as one JSON object")
    lr.set_defaults(handler=run_learn)
    return p


def run(args: argparse.Namespace) -> int:  # pragma: no cover - argparse sets a handler
    return USAGE


def _policy(args: argparse.Namespace, err: TextIO) -> tuple[Any, Any] | None:
    from ..core.replies import RepliesError, load_replies
    from ..core.rules import RulesError, load_rules

    rules_path = Path(args.rules or default_file("rules.yaml"))
    replies_path = Path(args.replies or default_file("replies.yaml"))
    try:
        replies = load_replies(replies_path)
        return load_rules(rules_path, reply_keys=set(replies.keys)), replies
    except (RulesError, RepliesError) as exc:
        for problem in exc.problems:
            print(problem, file=err)
        print(f"mentiondesk rules: {rules_path} not applied: fix the problems above "
              "(the running desk keeps its rules)", file=err)
    except OSError as exc:
        print(f"mentiondesk rules: {exc}", file=err)
    return None


def run_reload(args: argparse.Namespace, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    from ..setup.reload import send_reload

    out, err = out or sys.stdout, err or sys.stderr
    policy = _policy(args, err)
    if policy is None:
        return USAGE
    rules, _ = policy
    opts = options_from(args)
    try:
        config = load_config(opts)
        directory = data_dir(opts, config)
    except BootError as exc:
        print(f"mentiondesk rules reload: {exc}", file=err)
        return USAGE
    path = str(Path(rules.path).resolve()) if args.rules else None
    pid = send_reload(directory, path=path, retriage=args.retriage)
    if pid is None:
        print(f"no desk is running on {directory}: {rules.path} passes check and will be used "
              "at the next start", file=out)
        return REFUSED
    print(f"asked the desk (pid {pid}) on {directory} to reload {rules.path}"
          f"{' and re-triage open conversations' if args.retriage else ''}; it shows the "
          "result in its status", file=out)
    return OK


def run_learn(args: argparse.Namespace, out: TextIO | None = None,
              err: TextIO | None = None) -> int:
    from ..core.learn import learn, read_conversations
    from ..core.rules import RulesError, load_rules

    out, err = out or sys.stdout, err or sys.stderr
    policy = _policy(args, err)
    if policy is None:
        return USAGE
    rules, replies = policy
    try:
        conversations = read_conversations(args.history, parse_map(args.map))
    except (OSError, ValueError) as exc:
        print(f"mentiondesk rules learn: {exc}", file=err)
        return REFUSED
    if not conversations:
        print(f"mentiondesk rules learn: {args.history}: no inbound messages found", file=err)
        return REFUSED
    keys = set(replies.keys)
    learned_replies = {a: (k if k in keys else next(
        (c.reply_key for c in rules.category_rules.values() if c.action == a and c.reply_key),
        rules.category_rules[rules.categories[-1]].reply_key))
        for a, k in LEARNED_REPLIES.items()}

    def load(text: str) -> Any:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False,
                                         encoding="utf-8") as f:
            f.write(text)
        try:
            return load_rules(f.name, reply_keys=keys, name=str(args.out or "learned rules"))
        finally:
            Path(f.name).unlink(missing_ok=True)

    try:
        result = learn(conversations, rules, Path(rules.path).read_text(encoding="utf-8"),
                       replies=learned_replies, load=load, min_support=args.min_support,
                       min_precision=args.min_precision)
    except RulesError as exc:  # a proposal the loader refuses: say so, write nothing
        for problem in exc.problems:
            print(problem, file=err)
        return USAGE
    if args.out:
        Path(args.out).write_text(result.rules_text, encoding="utf-8")
    if args.json:
        out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return OK
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    out.write(f"{args.history}: {len(conversations)} conversations, {result.train} to learn "
              f"from, {result.held_out} held out\n")
    out.write("what the agents did: " + ", ".join(
        f"{a} {n}" for a, n in result.actions.most_common()) + "\n")
    out.write(f"held-out agreement (suggested action = what the agent did, replied ones): "
              f"before {pct(result.before)}, after {pct(result.after)}\n")
    out.write(f"training agreement: before {pct(result.before_train)}, "
              f"after {pct(result.after_train)}\n\n")
    if result.patch:
        out.write("# proposed additions to " + str(rules.path) + "\n" + result.patch)
        if args.out:
            out.write(f"# the whole new rules file is in {args.out} (mentiondesk check --rules "
                      f"{args.out})\n")
    else:
        out.write("no term reaches the support and precision asked for\n")
    return OK
