"""A child process for the state image's kill -9 test (run with sys.executable).

    image_child.py DATA_DIR [slow]
        open the desk at DATA_DIR (as the desk process does), file one more mention, close it
        cleanly with a checkpoint and write the state image — but the image's writes stop
        half-way: print "half" and wait to be killed (``slow``: go on after a second, as a
        writer that takes its time).

The environment's MENTIONDESK_CACHE_DIR says where images go.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CACHE = os.environ["MENTIONDESK_CACHE_DIR"]
from deskkit import mention  # noqa: E402  (its conftest import picks a cache dir of its own)

os.environ["MENTIONDESK_CACHE_DIR"] = CACHE

from tui.core import image  # noqa: E402
from tui.setup.boot import Options, close_desk, open_desk  # noqa: E402


def main() -> None:
    data_dir = Path(sys.argv[1])
    desk = open_desk(Options(data_dir=str(data_dir)))
    desk.ingest([mention("the lift at the station is broken again", "late", mid="late1")])
    desk.flush()
    original = image.write
    written = [0]
    said = [False]
    slow = sys.argv[2:] == ["slow"]

    def stalling(fd: int, data: bytes | memoryview) -> int:
        n = os.write(fd, data[:4096])
        written[0] += n
        if written[0] > 8192 and not said[0]:
            print("half", flush=True)
            said[0] = True
            while not slow:
                time.sleep(1)
            time.sleep(1.0)
        return n

    def write(path, header, body, **_kw):  # type: ignore[no-untyped-def]
        original(path, header, body, write_bytes=stalling)

    image.write = write  # type: ignore[assignment]
    close_desk(desk, checkpoint=True, image="inline")


if __name__ == "__main__":
    main()
