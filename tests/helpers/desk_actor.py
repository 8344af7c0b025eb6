"""Child process for the kill -9 test: acts on its own conversations through the desk process
and acknowledges each action on stdout only after the desk process answered it (the desk
flushes to its journal before it answers).  When the desk process dies it says so, restarts it
(or attaches to the one another client restarted) and goes on with the next action: an action
whose answer never came is not repeated (its outcome is unknown; repeating a reply could post
it twice).

    desk_actor.py DATA_DIR AGENT CONV [CONV ...]

Once each conversation was assigned, noted and replied to, it keeps adding notes until the file
DATA_DIR/stop exists.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tui.server.client import connect_or_start  # noqa: E402
from tui.server.protocol import Refused  # noqa: E402


def main() -> None:
    data_dir, agent, convs = sys.argv[1], sys.argv[2], sys.argv[3:]
    client = connect_or_start(data_dir, agent=agent, client="console", idle_seconds=30)
    print(f"attached {client.server_pid}", flush=True)
    steps = itertools.chain(((op, conv) for conv in convs for op in ("assign", "note", "reply")),
                            (("note", conv) for conv in itertools.cycle(convs)))
    stop = Path(data_dir) / "stop"
    for n, (op, conv) in enumerate(steps):
        if stop.exists():
            break
        args = {"conv_id": conv}
        if op == "note":
            args["text"] = f"note {n} by {agent}"
        elif op == "reply":
            args["text"] = f"Sorry about that — {agent} here, looking now."
        try:
            value = client.request(op, **args)
        except Refused as exc:
            print(f"refused {op} {conv} {exc.kind}", flush=True)
            continue
        except (ConnectionError, OSError):
            print(f"lost {op} {conv}", flush=True)
            client.close()
            client = connect_or_start(data_dir, agent=agent, client="console", idle_seconds=30)
            print(f"attached {client.server_pid}", flush=True)
            continue
        print(f"ack {op} {conv} {value['events'][0]['id']}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
