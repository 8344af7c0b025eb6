"""Desk-process benchmark (issue 9): prints figures, never asserts.

    python bench/bench_desk_process.py [--sizes 10000,100000] [--clients 20] [--rate 100]
                                       [--seconds 10]

(a) cold start of the desk process holding N open conversations (spawn → "ready" handshake),
    and attach time: connect + hello + the first snapshot parsed — a first screen (attach with
    limit=200, what a headless client needs to draw; the rest streams after) and the whole queue;
    and a console's attach: ``RemoteDesk.connect`` (the replica's tables sent, parsed and loaded
    into a core Desk, from which the console draws its first screen).
(b) fan-out while the demo source streams RATE mentions/s into a desk of 10,000 open: CLIENTS
    headless clients attached (also as console replicas: each change carries its documents);
    latency from the desk process sending a change (its ``t``) to each client having parsed it,
    p50/p95/max over every (change, client); desk-process CPU. Run twice: without and with one
    frozen client (attached, never reading).
(c) the longest event-loop stall of the desk process while it snapshots (checkpoint) N mentions
    the way the running desk does (``Desk.maintain_in_background``: the journal sealed on the
    loop, the snapshot written by a thread, polled by the runner): measured in-process with a
    5 ms probe task on the same loop; also how long the whole checkpoint took.
(d) the same while it archives: N conversations, half of them resolved two days ago (so due
    for the archive), checkpointed in the background.

``--only start,cold,fanout,stall,archive`` runs some parts (cold: the cold start alone);
``--cache DIR`` keeps the built data directories (a 100,000-conversation desk takes minutes to
build) and copies them per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.core.desk import Desk  # noqa: E402
from tui.core.model import Mention  # noqa: E402
from tui.core.replies import load_replies  # noqa: E402
from tui.core.rules import load_rules  # noqa: E402
from tui.core.store import Store, lock_holder  # noqa: E402
from tui.server.client import DeskClient, start_server  # noqa: E402
from tui.server.protocol import encode  # noqa: E402
from tui.server.remote import RemoteDesk  # noqa: E402
from tui.server.server import DeskServer  # noqa: E402
from tui.sources.demo import generate  # noqa: E402


def policy():
    replies = load_replies(ROOT / "replies.yaml")
    return load_rules(ROOT / "rules.yaml", reply_keys=set(replies.keys)), replies


CACHE: Path | None = None


def build(data_dir: Path, n: int, resolved: int = 0) -> None:
    """N open conversations (one customer each), stored and snapshotted; ``resolved`` more
    resolved two days ago (due for the archive).  From ``--cache`` when it holds one."""
    if CACHE is not None:
        kept = CACHE / f"n{n}-r{resolved}"
        if not kept.is_dir():
            _build(kept, n, resolved)
        data_dir.mkdir(parents=True, exist_ok=True)
        for f in kept.iterdir():
            if f.is_file() and f.name != "lock":
                shutil.copy2(f, data_dir / f.name)
        return
    _build(data_dir, n, resolved)


def _build(data_dir: Path, n: int, resolved: int) -> None:
    rules, replies = policy()
    if resolved:
        past = datetime.now(UTC) - timedelta(days=2)
        store = Store(data_dir)
        desk = Desk(rules, replies, store, clock=lambda: past)
        old = [Mention.from_dict({
            "id": f"r{i}", "text": "refund please, my train was cancelled",
            "author": {"handle": f"old{i}", "name": f"Old {i}"},
            "created_at": (past - timedelta(minutes=5)).isoformat(),
            "channel": "public"}, source="demo") for i in range(resolved)]
        for i in range(0, resolved, 5000):
            for r in desk.ingest(old[i:i + 5000]):
                desk.resolve(r.conv_id)
        desk.checkpoint()
        store.close()
    rules, replies = policy()
    store = Store(data_dir)
    desk = Desk(rules, replies, store)
    desk.archive_after = timedelta(days=3650)  # the resolved ones stay hot for (d)
    start = datetime.now(UTC) - timedelta(minutes=20)
    texts = [m.text for m in generate(500, 7)]
    batch = []
    for i in range(n):
        batch.append(Mention.from_dict({
            "id": f"b{i}", "text": texts[i % len(texts)] + " refund please",
            "author": {"handle": f"cust{i}", "name": f"Customer {i}"},
            "created_at": (start + timedelta(milliseconds=i)).isoformat(),
            "channel": "public"}, source="demo"))
        if len(batch) == 5000:
            desk.ingest(batch)
            batch = []
    desk.ingest(batch)
    desk.checkpoint()
    store.close()


def stop(data_dir: Path) -> None:
    try:
        with DeskClient.connect(data_dir) as c:
            pid = c.server_pid
            c.request("stop")
    except Exception:
        return
    for _ in range(600):
        try:
            os.kill(pid, 0)
            if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_attach(n: int) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, n)
        t0 = time.perf_counter()
        start_server(d)
        cold = time.perf_counter() - t0
        times: dict[str, list[float]] = {"screen": [], "full": []}
        for _ in range(3):
            for kind, limit in (("screen", 200), ("full", None)):
                t0 = time.perf_counter()
                with DeskClient.connect(d) as c:
                    snap = c.attach(limit=limit)
                times[kind].append(time.perf_counter() - t0)
        rules, replies = policy()
        replica = []
        for _ in range(2):
            t0 = time.perf_counter()
            remote = RemoteDesk(rules, replies, d, start=False)
            remote.connect()
            replica.append(time.perf_counter() - t0)
            held = len(remote.queue)
            remote.close()
        stop(d)
        print(f"(a) {n:>7,} open: console attach (RemoteDesk: replica of {held:,} open loaded) "
              f"median {statistics.median(replica) * 1000:.0f} ms")
        print(f"(a) {n:>7,} open: desk process cold start {cold:.2f} s; attach to a first "
              f"screen (200 rows, the rest streamed after) median "
              f"{statistics.median(times['screen']) * 1000:.0f} ms; to the whole queue "
              f"({len(snap['rows']):,} rows) median {statistics.median(times['full']) * 1000:.0f}"
              " ms")


def bench_cold(n: int, repeat: int = 3) -> None:
    """Cold start alone: spawn -> "ready", ``repeat`` times (stopped in between)."""
    times = []
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, n)
        for _ in range(repeat):
            t0 = time.perf_counter()
            pid = start_server(d)
            times.append(time.perf_counter() - t0)
            assert pid is not None, "a desk process still held the data directory"
            stop(d)
            while lock_holder(d) is not None:  # its closing snapshot may outlast stop()'s wait
                time.sleep(0.2)
    print(f"(a) {n:>7,} open: desk process cold start median {statistics.median(times):.2f} s "
          f"(each: {', '.join(f'{t:.2f}' for t in times)}; load {os.getloadavg()[0]:.1f})")


def bench_fanout(clients: int, rate: float, seconds: float, frozen: bool,
                 replica: bool = False) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, 10_000)
        pid = start_server(d, ["--source", "demo", "--rate", str(rate)])
        lat: list[float] = []
        lock = threading.Lock()
        done = threading.Event()
        stuck = None
        if frozen:
            stuck = socket.socket(socket.AF_UNIX)
            stuck.connect(str(d / "desk.sock"))
            stuck.sendall(encode({"type": "hello", "protocol": 1}) + encode({"type": "attach"}))

        def reader() -> None:
            with DeskClient.connect(d, client="console", timeout=120) as c:
                if replica:
                    c.send({"type": "attach", "replica": True, "limit": 0})
                    while c.read(60)["type"] != "snapshot":
                        pass
                else:
                    c.attach(limit=200)
                mine = []
                while not done.is_set():
                    try:
                        m = c.read(1.0)
                    except TimeoutError:
                        continue
                    if m["type"] == "change":
                        mine.append(time.time() - m["t"])
                with lock:
                    lat.extend(mine)

        threads = [threading.Thread(target=reader) for _ in range(clients)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        cpu0, t0 = cpu_seconds(pid), time.time()
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(pid), time.time()
        done.set()
        for t in threads:
            t.join()
        if stuck is not None:
            stuck.close()
        stop(d)
        lat.sort()
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (
            lambda q: float("nan"))
        kind = "console replicas" if replica else "clients"
        print(f"(b) {clients} {kind}{' + 1 frozen' if frozen else ''}, demo at {rate:.0f}/s "
              f"over 10,000 open: fan-out p50 {p(0.5):.1f} ms, p95 {p(0.95):.1f} ms, max "
              f"{p(1.0):.1f} ms over {len(lat):,} deliveries; desk process CPU "
              f"{(cpu1 - cpu0) / (t1 - t0) * 100:.0f} %")


def bench_stall(n: int, resolved: int = 0) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, n, resolved)
        rules, replies = policy()
        store = Store(d)
        desk = Desk(rules, replies, store)
        hot = len(desk.conversations)
        idle = 0.0

        async def run() -> tuple[float, float, int | None]:
            server = DeskServer(desk, d)
            await server.start()
            worst = 0.0
            stop_probe = asyncio.Event()

            async def probe() -> None:
                nonlocal worst
                while not stop_probe.is_set():
                    t = time.perf_counter()
                    await asyncio.sleep(0.005)
                    worst = max(worst, time.perf_counter() - t - 0.005)

            task = asyncio.create_task(probe())
            # The control: the worst stall of the idle loop for a few seconds under the same
            # machine load (other processes take the CPU too), then the checkpoint.
            await asyncio.sleep(5.0)
            nonlocal idle
            idle, worst = worst, 0.0
            # What the runner's maintenance does on the loop when a checkpoint is due.
            t0 = time.perf_counter()
            desk.last_checkpoint -= timedelta(hours=2)
            if not hasattr(desk, "maintain_in_background"):  # before issue 9: on the loop
                archived = desk.maintain()
            else:
                archived = desk.maintain_in_background()
                while desk.checkpoint_running:
                    await asyncio.sleep(0 if desk.checkpoint_busy else 0.1)
                    archived = desk.maintain_in_background()
            took = time.perf_counter() - t0
            await asyncio.sleep(0.05)
            stop_probe.set()
            await task
            await server.close()
            return worst, took, archived

        worst, took, archived = asyncio.run(run())
        store.close()
        what = (f"archive of {archived:,} of {hot:,} conversations + snapshot" if resolved
                else f"snapshot of {n:,} mentions")
        print(f"({'d' if resolved else 'c'}) {what}: longest desk-process loop stall "
              f"{worst * 1000:.0f} ms (idle loop, same load, 5 s: {idle * 1000:.0f} ms; "
              f"checkpoint done in {took:.1f} s; load {os.getloadavg()[0]:.1f})")


def main() -> None:
    global CACHE
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--only", default="start,fanout,stall,archive",
                    help="comma-separated parts: start (a), cold (a, cold start only), fanout (b), "
                         "stall (c), archive (d)")
    ap.add_argument("--cache", type=Path, help="keep built data directories here")
    args = ap.parse_args()
    CACHE = args.cache
    if CACHE is not None:
        CACHE.mkdir(parents=True, exist_ok=True)
    parts = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    if "start" in parts:
        for n in sizes:
            bench_attach(n)
    if "cold" in parts:
        for n in sizes:
            bench_cold(n)
    if "fanout" in parts:
        for frozen in (False, True):
            bench_fanout(args.clients, args.rate, args.seconds, frozen)
        bench_fanout(args.clients, args.rate, args.seconds, False, replica=True)
    if "stall" in parts:
        for n in sizes:
            bench_stall(n)
    if "archive" in parts:
        for n in sizes:
            bench_stall(n // 2, resolved=n // 2)


if __name__ == "__main__":
    main()
