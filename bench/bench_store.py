"""Store-only benchmark: journal put+flush throughput vs. plain TinyDB inserts.

    /work/venv/bin/python bench/bench_store.py [--sizes 10000,100000] [--baseline-inserts 200]

This measures tui/core/store.py alone (no triage, no desk): how many mention-sized documents per
second the store makes durable (put + flush, one fsync per batch) when it already holds N
documents, next to TinyDB's own ``insert()`` one by one on a file of N documents (each insert
rewrites the whole file).  Every scenario runs in a fresh child process so its peak RSS is its own.
The full ingest + triage + persist figure through the desk is a separate benchmark.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCHES = (1, 100)  # ops per flush: an agent action (flush each) and a burst of ingest


def mention(i: int) -> dict:
    return {
        "id": str(100000 + i),
        "source": "demo",
        "channel": "public" if i % 7 else "direct",
        "author": {"handle": f"rider{i % 5000}", "name": f"Rider {i % 5000}", "followers": i % 900},
        "text": (
            f"@northline the 07:{i % 60:02d} from Leeds is late again, third time this week. "
            "Any news? Standing on platform 4 with about 200 others. "
            "https://status.northline.example says nothing."
        ),
        "created_at": f"2026-11-{1 + i % 28:02d}T07:{i % 60:02d}:00Z",
        "lang": "en",
    }


def peak_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def run_store(size: int, batch: int, total_ops: int) -> dict:
    from tui.core.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        state = {"mentions": {f"demo|{i}": mention(i) for i in range(size)}}
        with Store(tmp) as store:
            t = time.perf_counter()
            store.checkpoint(lambda: state)
            checkpoint_s = time.perf_counter() - t
            t = time.perf_counter()
            done = 0
            while done < total_ops:
                for _ in range(batch):
                    i = size + done
                    store.put("mentions", f"demo|{i}", mention(i))
                    done += 1
                store.flush()
            elapsed = time.perf_counter() - t
        state.clear()  # open+load below builds its own copy
        t = time.perf_counter()
        with Store(tmp) as store:
            loaded = store.load()
        open_s = time.perf_counter() - t
        assert len(loaded["mentions"]) == size + total_ops
    return {
        "ops_per_s": total_ops / elapsed,
        "checkpoint_s": checkpoint_s,
        "open_load_s": open_s,
        "peak_mib": peak_mib(),
    }


def run_tinydb(size: int, inserts: int) -> dict:
    from tinydb import TinyDB

    with tempfile.TemporaryDirectory() as tmp:
        db = TinyDB(Path(tmp) / "db.json")
        db.table("mentions").insert_multiple(mention(i) for i in range(size))
        table = db.table("mentions")
        t = time.perf_counter()
        for j in range(inserts):
            table.insert(mention(size + j))
        elapsed = time.perf_counter() - t
        db.close()
    return {"ops_per_s": inserts / elapsed, "peak_mib": peak_mib()}


def child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--baseline-inserts", type=int, default=200)
    p.add_argument("--ops", type=int, default=2000, help="ops measured per store scenario")
    p.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        kind, *nums = a.one
        fn = run_store if kind == "store" else run_tinydb
        print(json.dumps(fn(*map(int, nums))))
        return

    sizes = [int(s) for s in a.sizes.split(",")]
    print("store-only benchmark (tui/core/store.py; not the desk ingest figure)")
    base_size = 10_000
    base = child(["tinydb", str(base_size), str(a.baseline_inserts)])
    print(
        f"baseline: TinyDB insert() one by one on {base_size:,} docs: "
        f"{base['ops_per_s']:,.0f} ops/s (measured over {a.baseline_inserts} inserts), "
        f"peak {base['peak_mib']:.0f} MiB"
    )
    print()
    head = f"{'docs stored':>11} {'ops/flush':>9} {'ops/s':>9} {'vs TinyDB':>10}"
    print(f"{head} {'checkpoint':>10} {'open+load':>9} {'peak MiB':>8}")
    for size in sizes:
        # TinyDB rewrites the whole file per insert: its cost grows linearly with the file.
        base_ops = base["ops_per_s"] * base_size / size
        for batch in BATCHES:
            ops = a.ops if batch > 1 else min(a.ops, 500)
            r = child(["store", str(size), str(batch), str(ops)])
            print(
                f"{size:>11,} {batch:>9} {r['ops_per_s']:>9,.0f} "
                f"{r['ops_per_s'] / base_ops:>9,.0f}x {r['checkpoint_s']:>9.2f}s "
                f"{r['open_load_s']:>8.2f}s {r['peak_mib']:>8.0f}"
            )
    print()
    print(
        "vs TinyDB: against the baseline scaled to that size (TinyDB rewrites the whole file on "
        f"every insert, so it is measured at {base_size:,} docs and divided by size/{base_size:,})."
    )
    print("ops/flush 1 = every op fsynced on its own (an agent action); 100 = an ingest burst.")
    print("peak MiB includes the benchmark's own in-memory copy of the N documents.")


if __name__ == "__main__":
    main()
