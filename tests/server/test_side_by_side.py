"""Agents side by side on one desk process, with real client processes: the simultaneous-send
race resolves to exactly one post, a frozen client does not hold the others back, and kill -9 of
the desk process loses nothing acknowledged and posts nothing twice.

The suite runs small trial counts (it must stay under five minutes on two cores); the issue's
counts run with ``MENTIONDESK_RACES=50 MENTIONDESK_KILLS=30 pytest tests/server`` (a few minutes
more on a loaded machine)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from serverkit import HELPERS, ROOT, alive, cli, holder_pid, seed

from tui.core.store import Store
from tui.server.client import DeskClient, start_server
from tui.server.protocol import VERSION, encode

RACES = int(os.environ.get("MENTIONDESK_RACES", "8"))  # the issue asks 50: see the docstring
KILLS = int(os.environ.get("MENTIONDESK_KILLS", "5"))  # the issue asks 30


def spawn(*args: str, stderr: Path | None = None) -> subprocess.Popen[str]:
    err = open(stderr, "w") if stderr else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def stored(data_dir: Path) -> dict:
    store = Store(data_dir, read_only=True)
    try:
        return store.load()
    finally:
        store.close()


def test_simultaneous_send_exactly_one_succeeds_every_time(desk_dir: Path) -> None:
    convs = seed(desk_dir, [f"my train {i} was cancelled" for i in range(RACES)])
    start_server(desk_dir)
    with DeskClient.connect(desk_dir) as viewer:
        seqs = {r["id"]: r["seq"] for r in viewer.attach()["rows"]}
    racers = [spawn(str(HELPERS / "desk_racer.py"), str(desk_dir), name)
              for name in ("sam", "kim")]
    try:
        for r in racers:
            assert r.stdout.readline().strip() == "ready"
        winners: Counter[str] = Counter()
        for conv in convs:
            line = f"{conv} {seqs[conv]}\n"
            for r in racers:  # both read the same instant's request
                r.stdin.write(line)
                r.stdin.flush()
            results = [json.loads(r.stdout.readline()) for r in racers]
            ok = [res for res in results if res["ok"]]
            lost = [res for res in results if not res["ok"]]
            assert len(ok) == 1 and len(lost) == 1, (conv, results)
            assert lost[0]["kind"] == "changed"
            assert "since you opened this conversation" in lost[0]["reasons"][0]
            winners["sam" if results[0]["ok"] else "kim"] += 1
    finally:
        for r in racers:
            r.stdin.close()
            r.wait(timeout=30)
    assert cli(desk_dir, "server", "--stop").returncode == 0
    posts = Counter(i["conv_id"] for i in stored(desk_dir)["outbox"].values())
    assert posts == dict.fromkeys(convs, 1)  # exactly one post per race, never two
    assert sum(winners.values()) == RACES


def test_a_frozen_client_is_resynchronised_and_never_holds_the_others(desk_dir: Path) -> None:
    # Long mention texts make each change message a few KB.
    [cid] = seed(desk_dir, ["my train was cancelled " + "x" * 3000])
    done = cli(desk_dir, "server", "--send-budget", "32768")
    assert done.returncode == 0, done.stderr
    frozen = socket.socket(socket.AF_UNIX)
    frozen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frozen.connect(str(desk_dir / "desk.sock"))
    frozen.sendall(encode({"type": "hello", "protocol": VERSION, "agent": "frozen"}))
    frozen.sendall(encode({"type": "attach"}))  # ... and never reads again (for now)
    live = DeskClient.connect(desk_dir, agent="lee", client="console")
    live.attach()
    actor = DeskClient.connect(desk_dir, agent="sam")
    for n in range(400):
        actor.request("note", conv_id=cid, text=f"note {n}")
        change = next(m for m in live.messages(timeout=30) if m["type"] == "change")
        assert change["rows"][cid]["last_event"]["kind"] == "note"
    assert actor.request("ping")["pid"] == actor.server_pid
    # The frozen client wakes up: after what fitted in its buffers it gets a fresh snapshot
    # marked as a resync, not the hundreds of changes it missed.
    frozen.settimeout(30)
    reader = frozen.makefile("rb")
    seen = []
    while True:
        message = json.loads(reader.readline())
        seen.append(message["type"])
        if message["type"] == "snapshot" and message.get("resync"):
            assert message["rows"][0]["id"] == cid
            break
    assert seen.count("change") < 400
    frozen.close()
    live.close()
    actor.close()


@pytest.mark.timeout(900)  # with KILLS=30: minutes on a loaded 2-core machine
def test_kill_9_at_random_moments_loses_nothing_acknowledged(desk_dir: Path) -> None:
    agents = ("sam", "kim", "lee")
    per = max(4, KILLS * 2 // 3 + 1)  # enough open conversations for every trial's actions
    convs = seed(desk_dir, [f"where is my refund {i}" for i in range(per * len(agents))])
    start_server(desk_dir)
    actors = [spawn(str(HELPERS / "desk_actor.py"), str(desk_dir), name,
                    *convs[i * per:(i + 1) * per], stderr=desk_dir / f"{name}.err")
              for i, name in enumerate(agents)]
    lines: dict[str, list[str]] = defaultdict(list)
    cond = threading.Condition()

    def pump(name: str, proc: subprocess.Popen[str]) -> None:
        for line in proc.stdout:
            with cond:
                lines[name].append(line.split())
                cond.notify_all()

    threads = [threading.Thread(target=pump, args=(n, p), daemon=True)
               for n, p in zip(agents, actors, strict=True)]
    for t in threads:
        t.start()

    def wait_for(pred, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        with cond:
            while not pred():
                left = deadline - time.monotonic()
                assert left > 0, ({n: v[-3:] for n, v in lines.items()},
                                  tail(desk_dir / "server.log"),
                                  [tail(desk_dir / f"{n}.err") for n in agents])
                cond.wait(left)

    def acks(name: str) -> int:
        return sum(1 for w in lines[name] if w[0] == "ack")

    rng = random.Random(9)
    trials = 0
    killed: set[int] = set()
    try:
        while trials < KILLS:
            before = {n: acks(n) for n in agents}
            wait_for(lambda before=before: all(acks(n) > before[n] for n in agents))
            time.sleep(rng.uniform(0.0, 0.05))
            pid = holder_pid(desk_dir)
            assert pid is not None and pid not in killed
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            trials += 1
            # Every client notices and comes back on one new desk process.
            wait_for(lambda: all(
                any(w[0] == "attached" and int(w[1]) not in killed for w in lines[n])
                for n in agents))
        new_pids = {int(w[1]) for n in agents for w in lines[n] if w[0] == "attached"} - killed
        assert len(new_pids) == 1  # they all reattached to the same one
    finally:
        (desk_dir / "stop").touch()
        for proc in actors:
            proc.stdin.close()
        for proc in actors:
            proc.wait(timeout=60)
    assert cli(desk_dir, "server", "--stop").returncode == 0
    for pid in killed:
        assert not alive(pid)
    tables = stored(desk_dir)
    events = tables["events"]
    acked = [w for n in agents for w in lines[n] if w[0] == "ack"]
    assert len(acked) > 2 * KILLS
    for _, op, conv, event_id in acked:  # nothing acknowledged is lost
        assert events[event_id]["kind"] == op and events[event_id]["conv"] == conv
    replies = Counter(e["conv"] for e in events.values() if e["kind"] == "reply")
    assert max(replies.values()) == 1  # never replied twice
    posts = Counter(i["event_id"] for i in tables["outbox"].values())
    assert set(posts.values()) == {1}  # one post per reply, never two
    assert set(posts) == {e for e, d in events.items() if d["kind"] == "reply"}
