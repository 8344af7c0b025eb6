"""Ingest + triage + persist throughput, next to plain TinyDB ``insert()``.

    python bench/bench_ingest.py            # 10,000 and 100,000 mentions stored
    python bench/bench_ingest.py --stored 10000 --new 5000

For each size: fill a data directory with that many mentions (through the desk, then a
checkpoint, as a long-running desk would have it), reopen it, then time ``Desk.ingest`` of new
mentions in stream-sized batches (100, as the runner delivers them) and one at a time (one fsync
per mention: the worst case).  Every acknowledged batch is fsynced.  The baseline is what the
TinyDB docs suggest: ``db.insert(doc)`` per mention into a TinyDB file already holding the same
number of documents.  Each size runs in its own process so that peak memory (max RSS) is its own.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinydb import TinyDB  # noqa: E402

from tui.core.desk import Desk  # noqa: E402
from tui.core.replies import load_replies  # noqa: E402
from tui.core.rules import load_rules  # noqa: E402
from tui.core.store import Store  # noqa: E402
from tui.sources.demo import generate  # noqa: E402


def mentions(n: int, offset: int) -> list:
    """Demo mentions with unique ids and a realistic spread of customers (about 1 in 5
    mentions is from a returning customer)."""
    out = []
    for i, m in enumerate(generate(n, seed=offset + 1, rate=5.0)):
        k = offset + i
        author = replace(m.author, handle=f"{m.author.handle}{k % max(1, n // 5 * 4)}")
        out.append(replace(m, id=f"b{k}", author=author))
    return out


def open_desk(data_dir: Path) -> Desk:
    replies = load_replies(ROOT / "replies.yaml")
    rules = load_rules(ROOT / "rules.yaml", reply_keys=set(replies.keys))
    return Desk(rules, replies, Store(data_dir))


def baseline(stored_docs: list[dict], inserts: int) -> float:
    """Plain TinyDB: insert() one document at a time into a file already holding the docs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plain.json"
        db = TinyDB(path)
        db.insert_multiple(stored_docs)
        t0 = time.perf_counter()
        for i in range(inserts):
            db.insert({**stored_docs[i % len(stored_docs)], "n": i})
        elapsed = time.perf_counter() - t0
        db.close()
    return inserts / elapsed


def one(stored: int, new: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        desk = open_desk(data)
        fill = mentions(stored, 0)
        for i in range(0, len(fill), 1000):
            desk.ingest(fill[i:i + 1000])
        desk.checkpoint()
        docs = [desk._mention_doc(m.key) for m in fill]
        desk.store.close()
        fill_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        desk = open_desk(data)
        reopen_s = time.perf_counter() - t0

        batch = mentions(new, 10_000_000)
        t0 = time.perf_counter()
        for i in range(0, len(batch), 100):
            desk.ingest(batch[i:i + 100])
        batched = len(batch) / (time.perf_counter() - t0)

        single = mentions(min(new, 2000), 20_000_000)
        t0 = time.perf_counter()
        for m in single:
            desk.ingest([m])
        one_by_one = len(single) / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        desk.checkpoint()
        checkpoint_s = time.perf_counter() - t0
        desk.store.close()

    # The baseline slows as the file grows: a few hundred inserts at 10k, a few dozen at 100k.
    base = baseline(docs, 200 if stored <= 20_000 else 20)
    return {
        "stored": stored, "new": new, "batched_per_s": batched, "single_per_s": one_by_one,
        "baseline_per_s": base, "fill_s": fill_s, "reopen_s": reopen_s,
        "checkpoint_s": checkpoint_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stored", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--new", type=int, default=5_000)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.stored[0], args.new)))
        return
    print(f"ingest + triage + persist (fsync per batch), {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}")
    print(f"{'stored':>8} {'batch=100/s':>12} {'batch=1/s':>10} {'TinyDB insert/s':>16} "
          f"{'ratio':>8} {'reopen':>7} {'checkpoint':>10} {'peak RSS':>9}")
    for stored in args.stored:
        out = subprocess.run([sys.executable, __file__, "--one", "--stored", str(stored),
                              "--new", str(args.new)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = r["batched_per_s"] / r["baseline_per_s"]
        print(f"{stored:>8,} {r['batched_per_s']:>12,.0f} {r['single_per_s']:>10,.0f} "
              f"{r['baseline_per_s']:>16,.1f} {ratio:>7,.0f}x {r['reopen_s']:>6.2f}s "
              f"{r['checkpoint_s']:>9.2f}s {r['peak_rss_mib']:>7,.0f}MiB")
    print("targets: >= 5,000 mentions/s and >= 50x the TinyDB baseline at 10,000 stored")


if __name__ == "__main__":
    main()
