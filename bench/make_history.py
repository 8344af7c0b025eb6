"""Write a realistic JSON Lines history of N demo mentions (for benchmarks and big tests).

    python bench/make_history.py OUT.jsonl [-n 100000] [--seed 7] [--rate 0.5] [--burst]

The mentions come from the demo generator (tui/sources/demo.py): same seed, same file.  Prints
how long generating and writing took, and the file size.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tui.core.interchange import write_jsonl
from tui.sources.demo import generate


def make_history(path: str | Path, n: int, *, seed: int = 7, rate: float = 0.5,
                 burst: bool = False) -> int:
    """Write ``n`` demo mentions to ``path`` as JSON Lines; return how many were written."""
    return write_jsonl(generate(n, seed, rate=rate, burst=burst), path)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="file to write (.jsonl)")
    p.add_argument("-n", type=int, default=100_000, help="how many mentions (default 100000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rate", type=float, default=0.5, help="mentions per second of timeline")
    p.add_argument("--burst", action="store_true", help="a brand emergency")
    args = p.parse_args(argv)
    if args.n < 0:
        p.error("-n must be 0 or more")
    started = time.perf_counter()
    count = make_history(args.out, args.n, seed=args.seed, rate=args.rate, burst=args.burst)
    took = time.perf_counter() - started
    size = Path(args.out).stat().st_size
    print(f"wrote {count} mentions to {args.out} ({size / 1e6:.1f} MB) in {took:.2f} s "
          f"({count / took if took else 0:,.0f} mentions/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
