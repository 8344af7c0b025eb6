"""A desk process stand-in for the archive-drop crash test: archives in the background and
stops (for its parent's kill -9) in the middle of dropping the archived conversations from the
hot tables, some of their deletes buffered and not yet flushed.

    python archive_child.py DATA_DIR N

Prints "dropping <archived so far>" and then sleeps."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from conftest import Clock, new_desk

from tests.deskkit import mention
from tui.core import desk as desk_module
from tui.core.store import Store

data_dir, n = Path(sys.argv[1]), int(sys.argv[2])
clock = Clock()
store = Store(data_dir)
desk = new_desk(store, clock)
convs = [desk.ingest([mention("@northline refund please", handle=f"c{i}", at=clock.now)])[0]
         .conv_id for i in range(n)]
for cid in convs:
    desk.resolve(cid)
desk.ingest([mention("@northline still waiting for my refund", handle="open1", at=clock.now)])
clock.advance(days=2)
desk_module.ARCHIVE_STEP = 2  # several steps, so the kill lands between two of them
desk_module.SLICE_SECONDS = 0.0  # one step per poll
desk.maintain_in_background()
while desk.checkpoint_running:
    if store.checkpoint_running:
        store._bg.thread.join()  # type: ignore[union-attr]
    desk.poll_checkpoint()
    if n // 2 <= n - sum(1 for c in convs if c in desk.conversations) < n:
        break
print("dropping", n - sum(1 for c in convs if c in desk.conversations), flush=True)
time.sleep(60)
