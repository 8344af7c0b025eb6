"""Triage speed: mentions per second on one core for a rules file (default: the shipped policy).

    python bench/bench_triage.py                      # shipped rules.yaml, 50,000 mentions
    python bench/bench_triage.py --rules tui/presets/airline.rules.yaml -n 20000
    python bench/bench_triage.py --cold               # also: every word new to the stem cache

The mentions are the demo stream's (several languages, personal data, emoji, every category of
the shipped policy) plus the public Customer Support on Twitter sample in tests/fixtures/twcs,
repeated to ``-n``.  ``Rules.triage`` runs in this process only, in a loop, after one warm-up
pass; the figure is mentions per second of the process's CPU time (one core).  ``--cold`` also
measures a pass in which every word is new to the word-stem cache (each word made unique by a
suffix), the worst case for the stemmer.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.core.model import Author, Mention  # noqa: E402
from tui.core.rules import load_rules  # noqa: E402
from tui.sources.demo import generate  # noqa: E402


def corpus(n: int) -> list[Mention]:
    base = list(generate(2000, seed=7, rate=5.0))
    sample = ROOT / "tests" / "fixtures" / "twcs" / "inbound.csv"
    if sample.is_file():
        with open(sample, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                base.append(replace(base[0], id=f"t{row['tweet_id']}", text=row["text"],
                                    author=Author(handle=row["author_id"])))
    return [base[i % len(base)] for i in range(n)]


def rate(rules, mentions: list[Mention]) -> float:
    """Mentions per second of this process's CPU time (on a shared machine the wall clock also
    counts other processes' turns; CPU time is what one core spends on triage)."""
    t0 = time.process_time()
    for m in mentions:
        rules.triage(m)
    return len(mentions) / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=str(ROOT / "rules.yaml"))
    ap.add_argument("-n", type=int, default=50_000)
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    rules = load_rules(args.rules)
    mentions = corpus(args.n)
    rate(rules, mentions[:5000])  # warm-up: regex caches, stem cache
    best = max(rate(rules, mentions) for _ in range(3))
    print(f"{args.rules}: {len(mentions):,} mentions, best of 3: {best:,.0f} mentions/s "
          f"({1e6 / best:.1f} µs per mention), one core")
    if args.cold:
        cold = [replace(m, text=" ".join(f"{w}q{i}" for w in m.text.split()))
                for i, m in enumerate(mentions[:10_000])]
        print(f"  cold stem cache (every word new): {rate(rules, cold):,.0f} mentions/s")


if __name__ == "__main__":
    main()
