"""A fault-injecting file layer for the store (``tui.core.store.FileOps``).

``FaultyOps`` fails the store's writes, fsyncs, truncates and renames with an ``OSError``
(ENOSPC by default): always while ``full`` is set, while the file named by ``marker`` exists
(so a child process can be switched from the parent), or at random with probability ``rate``
(seeded ``rng``).  A random fault may first write part of the data, as a real full disk does.

    python tests/helpers/faulty_fs.py MARKER -- mentiondesk arguments...
        runs the CLI in this process with every store write going through
        ``FaultyOps(marker=MARKER)``: the disk is "full" while MARKER exists.
"""

from __future__ import annotations

import errno
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tui.core.store import FileOps  # noqa: E402


class FaultyOps(FileOps):
    def __init__(self, *, rng: random.Random | None = None, rate: float = 0.0,
                 err: int = errno.ENOSPC, marker: str | None = None,
                 real_fsync: bool = True) -> None:
        # real_fsync=False: for in-process trials that simulate a crash without losing the
        # page cache (the durability of fsync itself is tested with kill -9 elsewhere).
        self.real_fsync = real_fsync
        self.rng = rng
        self.rate = rate
        self.err = err
        self.marker = marker
        self.full = False
        self.failures = 0

    def _failing(self) -> bool:
        if self.full or (self.marker is not None and os.path.exists(self.marker)):
            return True
        return self.rng is not None and self.rng.random() < self.rate

    def _fail(self) -> None:
        self.failures += 1
        raise OSError(self.err, os.strerror(self.err))

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self._failing():
            if len(data) > 1 and self.rng is not None and self.rng.random() < 0.5:
                return os.write(fd, data[: len(data) // 2])  # part of it, then the failure
            self._fail()
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        if self._failing():
            self._fail()
        if self.real_fsync:
            super().fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        if self.rng is not None and self.rng.random() < self.rate / 2:
            self._fail()  # rarer: cutting a failed batch back can fail too
        super().ftruncate(fd, length)

    def replace(self, src: Path, dst: Path) -> None:
        if self._failing():
            self._fail()
        super().replace(src, dst)


def main(argv: list[str]) -> int:
    marker, sep, *args = argv
    assert sep == "--", "usage: faulty_fs.py MARKER -- mentiondesk arguments..."
    from tui.core import store

    class MarkerOps(FaultyOps):
        def __init__(self) -> None:
            super().__init__(marker=marker)

    store.FileOps = MarkerOps  # every Store made from now on writes through it
    from tui.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
