"""Triage speed: mentions per second on one core for a rules file (default: the shipped policy).

    python bench/bench_triage.py                      # shipped rules.yaml, 50,000 mentions
    python bench/bench_triage.py --rules tui/presets/airline.rules.yaml -n 20000
    python bench/bench_triage.py --cold               # also: every word new to the stem cache
    python bench/bench_triage.py --repeat 5           # best of 5 timed passes (default 3)

The mentions are the demo stream's (several languages, personal data, emoji, every category of
the shipped policy) plus the public Customer Support on Twitter sample in tests/fixtures/twcs,
repeated to ``-n``.  ``Rules.triage`` runs in this process only (single core: one process, one
thread), in a loop, after one warm-up pass; the figure is mentions per second of the process's
CPU time, the best of ``--repeat`` passes.  The load average is printed next to it: on a shared
machine other processes slow even CPU time (caches, hyper-threads).  ``--cold`` also
measures a pass in which every word is new to the word-stem cache (each word made unique by a
suffix), the worst case for the stemmer.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
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


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=str(ROOT / "rules.yaml"))
    ap.add_argument("-n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes; the best is reported")
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    rules = load_rules(args.rules)
    mentions = corpus(args.n)
    rate(rules, mentions[:5000])  # warm-up: regex caches, stem cache
    print(f"triage, single core (one process, CPU time): {args.rules}, {len(mentions):,} mentions "
          f"per pass")
    rates = []
    for i in range(max(1, args.repeat)):
        rates.append(rate(rules, mentions))
        print(f"  pass {i + 1}: {rates[-1]:,.0f} mentions/s   ({load()})")
    best = max(rates)
    print(f"best of {len(rates)}: {best:,.0f} mentions/s single-core "
          f"({1e6 / best:.1f} µs per mention)   {load()}")
    if args.cold:
        cold = [replace(m, text=" ".join(f"{w}q{i}" for w in m.text.split()))
                for i, m in enumerate(mentions[:10_000])]
        print(f"  cold stem cache (every word new): {rate(rules, cold):,.0f} mentions/s "
              "single-core")


if __name__ == "__main__":
    main()
