"""A child process holding a data directory, for the lock tests (run with sys.executable).

    lock_child.py DATA_DIR
        open the Store (printing "locked <pid>" or "refused <message>" and exiting), then for
        each line on stdin: "put KEY" puts a document and flushes, printing "ok KEY" or
        "error <message>"; "checkpoint" snapshots (same answers); end of input closes and exits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.core.store import Store, StoreError


def main(data_dir: str) -> None:
    try:
        store = Store(data_dir)
    except StoreError as exc:
        print(f"refused {exc}", flush=True)
        return
    state = store.load()
    print(f"locked {os.getpid()}", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "put":
                doc = {"by": os.getpid()}
                store.put("notes", arg, doc)
                state.setdefault("notes", {})[arg] = doc
                store.flush()
            elif cmd == "checkpoint":
                store.checkpoint(lambda: state)
            print(f"ok {arg}", flush=True)
        except StoreError as exc:
            print(f"error {exc}", flush=True)
    try:
        store.close()
    except StoreError as exc:
        print(f"error {exc}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
