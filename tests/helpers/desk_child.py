"""Child process for the desk durability test: ingests and acts forever, acknowledging each
step on stdout only after the desk returned (i.e. after the journal was fsynced)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tui.core.desk import ActionRefused, Desk  # noqa: E402
from tui.core.model import Mention  # noqa: E402
from tui.core.replies import load_replies  # noqa: E402
from tui.core.rules import load_rules  # noqa: E402
from tui.core.store import Store  # noqa: E402

TEXTS = [
    "I want a refund for my cancelled ticket",
    "The doors closed on my child, this is unsafe",
    "My train was cancelled again",
    "left my bag on the 17:05 to Leeds",
    "the wheelchair ramp was missing at York",
    "can I change my booking to Friday?",
]


def main() -> None:
    data_dir, start = Path(sys.argv[1]), int(sys.argv[2])
    replies = load_replies(ROOT / "replies.yaml")
    rules = load_rules(ROOT / "rules.yaml", reply_keys=set(replies.keys))
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    desk = Desk(rules, replies, Store(data_dir), clock=lambda: now, undo_seconds=0)
    print("ready", flush=True)
    n = start
    batch_no = 0
    while True:
        batch = []
        for _ in range(7):
            n += 1
            batch.append(Mention.from_dict({
                "id": f"k{n}", "text": TEXTS[n % len(TEXTS)],
                "author": {"handle": f"cust{n % 40}", "followers": n % 1000},
                "created_at": (now - timedelta(seconds=n % 600)).isoformat(),
                "channel": "direct" if n % 5 == 0 else "public"}, source="demo"))
        results = desk.ingest(batch)
        print("M " + " ".join(r.mention.key for r in results), flush=True)
        batch_no += 1
        conv_id = results[-1].conv_id
        try:
            if batch_no % 3 == 0:
                ev = desk.handoff(conv_id, "refunds", f"note {n}")
            elif batch_no % 3 == 1:
                ev = desk.note(conv_id, f"checked {n}")
            else:
                ev = desk.reply(conv_id, f"Thanks, we're on it ({n})")
            print(f"E {ev.id} {ev.conv} {ev.kind}", flush=True)
        except ActionRefused:
            pass
        if batch_no % 10 == 0:
            desk.checkpoint()
            print("C", flush=True)


if __name__ == "__main__":
    main()
