"""Child process for the send race: attached to the desk process as AGENT, replies to
"CONV SEEN_SEQ" lines from stdin, one JSON result line per request on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tui.server.client import DeskClient  # noqa: E402
from tui.server.protocol import Refused  # noqa: E402


def main() -> None:
    data_dir, agent = sys.argv[1], sys.argv[2]
    client = DeskClient.connect(data_dir, agent=agent, client="console")
    print("ready", flush=True)
    for line in sys.stdin:
        conv, seen = line.split()
        try:
            value = client.request("reply", conv_id=conv, text=f"On it — {agent}",
                                   seen_seq=int(seen))
            out = {"ok": True, "event": value["events"][0]["id"]}
        except Refused as exc:
            out = {"ok": False, "kind": exc.kind, "reasons": exc.reasons}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
