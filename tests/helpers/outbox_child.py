"""Child process for the outbox crash tests: a real desk (store, rules, replies) and a real Runner
with one live source pointed at a fake server the test runs on 127.0.0.1.

    outbox_child.py DATA_DIR SPEC OPTIONS_JSON CHANNEL

First start (the outbox is empty): one poll ingests the customer's messages, the desk replies to
the newest conversation whose mention came in on CHANNEL (``public`` or ``direct``) and the child
prints ``queued <item id>`` (the item is flushed by then).  With ``OUTBOX_CHILD_PAUSE=1`` it then
waits to be killed; otherwise it runs the Runner until no outbox item is open.  A restart (the
outbox holds items) prints ``resumed <id> <status> <attempts>`` per item and runs the Runner the
same way.  At the end it prints ``done <outbox items as JSON>`` and exits.  The secret comes from
the environment (MENTIONDESK_MASTODON_TOKEN / MENTIONDESK_BLUESKY_PASSWORD), never argv.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tui.core.desk import Desk  # noqa: E402
from tui.core.outbox import OPEN_STATES  # noqa: E402
from tui.core.replies import load_replies  # noqa: E402
from tui.core.rules import load_rules  # noqa: E402
from tui.core.store import Store  # noqa: E402
from tui.sources.registry import make_source  # noqa: E402
from tui.sources.runner import Runner  # noqa: E402

REPLY = "Sorry about that. We're looking into it now and will update you here."


def say(line: str) -> None:
    print(line, flush=True)


async def main() -> None:
    data_dir, spec, options_json, channel = sys.argv[1:5]
    options = json.loads(options_json)
    replies = load_replies(ROOT / "replies.yaml")
    rules = load_rules(ROOT / "rules.yaml", reply_keys=set(replies.keys))
    store = Store(Path(data_dir))
    desk = Desk(rules, replies, store, agent="sam", undo_seconds=0)

    if not desk.outbox.items:
        ingested: list = []
        await Runner(desk, [make_source(spec, options=options)], deliver=False,
                     on_ingested=ingested.extend).run(once=True)
        targets = [r for r in ingested if r.mention.channel == channel]
        if not targets:
            raise SystemExit(f"no {channel} mention was ingested ({len(ingested)} in all)")
        say(f"ingested {len(ingested)}")
        event = desk.reply(targets[-1].conv_id, REPLY)
        (item,) = desk.outbox.for_event(event.id)
        say(f"queued {item['id']}")
        if os.environ.get("OUTBOX_CHILD_PAUSE") == "1":
            threading.Event().wait()  # the test kills us here: queued, nothing posted
    else:
        for item in desk.outbox.items.values():
            say(f"resumed {item['id']} {item['status']} {item['attempts']}")

    settled = asyncio.Event()

    def check(_item: object = None) -> None:
        if not any(i["status"] in OPEN_STATES for i in desk.outbox.items.values()):
            settled.set()

    desk.outbox.listeners.append(check)
    check()
    runner = Runner(desk, [make_source(spec, options=options)], deliver_seconds=0.05,
                    retry_base=0.05, retry_cap=0.2)
    await runner.run(until=settled)
    say("done " + json.dumps(sorted(desk.outbox.items.values(), key=lambda i: i["created_at"])))
    store.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
