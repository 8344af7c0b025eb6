"""Desk-process benchmark (issue 9): prints figures, never asserts.

    python bench/bench_desk_process.py [--sizes 10000,100000] [--clients 20] [--rate 100]
                                       [--seconds 10] [--only first,attach,fanout,keys,stall]

``first``: ``mentiondesk`` alone (the demo) on a pseudo-terminal to its first screen, the
    in-process desk (``MENTIONDESK_DESK_PROCESS=direct``) next to the default (it starts the
    desk process in the background and attaches), and a second console attaching; without and
    with .pyc files.

(a) ``attach``: cold start of the desk process holding N open conversations (spawn → "ready"
    handshake); a headless client's attach (connect + hello + snapshot parsed) to a first screen
    (limit=200, the rest streamed after) and to the whole queue; and a console's attach, the
    real console (``MentionDesk`` on a ``RemoteDesk``, headless at 120x40), measured two ways:
    from ``RemoteDesk.connect`` in a running process, and from the start of a fresh process
    (bench/probe_console.py: interpreter, the console's imports, config/rules/replies, connect,
    app; timed from the spawn), each to the *first screen* (the first screen update whose top
    queue row is the desk's most urgent conversation) and to the *whole queue loaded* (the
    replica holds every conversation; keys are handled meanwhile).  A fresh process runs twice:
    with the modules' .pyc kept (as a ``pip install`` has them; a warm-up run writes them
    first) and with PYTHONDONTWRITEBYTECODE=1 (as this environment runs: compiled each start).
(b) ``fanout``: the demo source streams RATE mentions/s into a desk of 10,000 open; CLIENTS
    headless clients attached, each its own process (as consoles are), each having received
    its whole initial load (rows, or a replica's state) first; latency from the desk
    process sending a change (its ``t``) to each client having parsed it, p50/p95/max over
    every (change, client); desk-process CPU.  Three runs: plain clients, plain clients + one
    frozen client (attached, never reading), and console replicas (each change carries its
    documents).
(k) ``keys``: while (b)'s stream and CLIENTS replica clients run, a real console attached to the
    desk process (``RemoteDesk``) has j/k pressed: key-to-screen p50/p95, measured as
    bench_console.py does (from the key handed to the app to the first screen update after the
    cursor moved).
(c) ``stall``: the longest event-loop stall of the desk process while it snapshots (checkpoint)
    N mentions the way the running desk does (``Desk.maintain_in_background``: the journal
    sealed on the loop, the snapshot written by a thread, polled by the runner): measured
    in-process with a 5 ms probe task on the same loop, next to the idle loop's worst stall
    under the same load; also how long the whole checkpoint took.
(d) ``archive``: the same while it archives: N conversations, half of them resolved two days
    ago (so due for the archive), checkpointed in the background.
``cold``: the desk process's cold start alone.  ``coldconsole``: ``mentiondesk`` on a pty to its
first screen when no desk process runs (stopped cleanly: it starts from its state image).
``--cache DIR`` keeps the built data directories (a 100,000-conversation desk takes minutes to
build) and copies them per run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
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
from tui.server.protocol import VERSION, encode  # noqa: E402
from tui.server.server import DeskServer  # noqa: E402
from tui.sources.demo import generate  # noqa: E402

CONSOLE_SIZE = (120, 40)


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


def load() -> str:
    return os.getloadavg().__repr__()


def med(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms" if values else "n/a"


# ==== a console attaching =====================================================================

async def console_attach(data_dir: Path, t0: float | None, expected: str) -> dict[str, float]:
    """Attach a real console (headless) to the desk process of ``data_dir``; seconds from
    ``t0`` (None: from connect, once the rules are read as the console reads them first) to its
    first screen showing ``expected`` (a handle) on the top queue row, and to the whole replica
    loaded."""
    from bench_console import ScreenTap
    from probe_console import top_row_shows

    from tui.console.app import MentionDesk
    from tui.server.remote import RemoteDesk

    rules, replies = policy()
    if t0 is None:
        t0 = time.perf_counter()
    remote = RemoteDesk(rules, replies, data_dir, start=False)
    remote.connect()
    connected = time.perf_counter() - t0
    app = MentionDesk(remote, [], blink=False)
    tap = ScreenTap(app, count_bytes=False)
    loop = asyncio.get_running_loop()
    first: asyncio.Future[float] = loop.create_future()

    def top_row_right() -> bool:
        return top_row_shows(app, expected)

    tap.waiter = (top_row_right, first)
    out: dict[str, float] = {"connected": connected}
    try:
        async with app.run_test(size=CONSOLE_SIZE):
            out["screen"] = await asyncio.wait_for(first, 60) - t0
            print(f"    first screen {out['screen'] * 1000:.0f} ms", flush=True)
            while getattr(remote, "loading", False):  # (main before p9b loaded it whole)
                await asyncio.sleep(0.02)  # (not pilot.pause: the loop is never idle here)
            out["loaded"] = time.perf_counter() - t0
            out["held"] = len(remote.conversations)
            app.flush_alerts()
    finally:
        remote.close()
    return out


def fresh_console(data_dir: Path, expected: str, env: dict[str, str]) -> dict[str, float] | None:
    """A fresh console process (bench/probe_console.py) attaching to ``data_dir``'s desk
    process: seconds from its spawn to its first line, its imports done, attached, its first
    screen and its whole queue loaded (None, after printing why, when it failed)."""
    spawned = time.perf_counter()  # CLOCK_MONOTONIC, as the probe's instants
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "probe_console.py"),
                           str(data_dir), expected], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)
    if done.returncode:
        print(done.stderr[-2000:])
        return None
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    out = {k: probe[k] - spawned for k in ("start", "imported", "connected", "screen", "loaded")}
    out["held"] = probe["held"]
    out["cpu_screen"] = probe["cpu_screen"]
    return out


def probe_envs(tmp: Path) -> dict[str, dict[str, str]]:
    """The probe's environments: ``pyc`` as a user's ``pip install`` has it (compiled modules
    kept: PYTHONDONTWRITEBYTECODE removed, the .pyc kept in a cache of this run, written by a
    warm-up run first), and ``no pyc`` as this environment runs (PYTHONDONTWRITEBYTECODE=1: the
    project's own modules compiled at every start; installed libraries keep their .pyc)."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    return {"pyc": {**base, "PYTHONPYCACHEPREFIX": str(tmp / "pyc")},
            "no pyc": {**base, "PYTHONDONTWRITEBYTECODE": "1"}}


def bench_attach(n: int) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, n)
        t0 = time.perf_counter()
        start_server(d)
        cold = time.perf_counter() - t0
        times: dict[str, list[float]] = {"screen": [], "full": []}
        for _ in range(3):
            t0 = time.perf_counter()
            with DeskClient.connect(d) as c:
                snap = c.attach(limit=200)
                times["screen"].append(time.perf_counter() - t0)
                rows = len(snap["rows"])
                more = snap.get("more")
                while more:  # the rest streams as "rows" messages (one line would be too long)
                    m = c.read(120)
                    if m["type"] == "rows":
                        rows += len(m["rows"])
                        more = m.get("more")
            times["full"].append(time.perf_counter() - t0)
        with DeskClient.connect(d) as c:
            expected = str(c.attach(limit=1)["rows"][0]["handle"])
        inproc: list[dict[str, float]] = []
        fresh: dict[str, list[dict[str, float]]] = {}
        envs = probe_envs(d)
        fresh_console(d, expected, envs["pyc"])  # warm-up: writes the .pyc
        for _ in range(3):
            inproc.append(asyncio.run(console_attach(d, None, expected)))
            for how, env in envs.items():
                probe = fresh_console(d, expected, env)
                if probe is not None:
                    fresh.setdefault(how, []).append(probe)
        stop(d)
        held = inproc[-1]["held"]
        print(f"(a) {n:>7,} open [load {load()}]: desk process cold start {cold:.2f} s; headless "
              f"attach to a first screen (200 rows) median {med(times['screen'])}; to the "
              f"whole queue ({rows:,} rows) median {med(times['full'])}")
        print(f"(a) {n:>7,} open: console attach from RemoteDesk.connect: first screen median "
              f"{med([r['screen'] for r in inproc])} (connect returned after "
              f"{med([r['connected'] for r in inproc])}); whole queue loaded ({held:,} "
              f"conversations) median {med([r['loaded'] for r in inproc])}")
        stray = (ROOT / "tui" / "__pycache__").is_dir()
        for how, runs in fresh.items():
            note = ("the modules' .pyc kept, as a pip install has them; after a warm-up run"
                    if how == "pyc" else
                    "PYTHONDONTWRITEBYTECODE=1, the project's modules compiled at each start"
                    + (" (but tui/__pycache__ exists here)" if stray else ""))
            print(f"(a) {n:>7,} open: a fresh console process [{note}], from its spawn: "
                  f"first screen median {med([r['screen'] for r in runs])} (interpreter "
                  f"{med([r['start'] for r in runs])}, + imports "
                  f"{med([r['imported'] - r['start'] for r in runs])}, + config/rules/replies "
                  f"and connect {med([r['connected'] - r['imported'] for r in runs])}, + app "
                  f"{med([r['screen'] - r['connected'] for r in runs])}; its CPU "
                  f"{med([r['cpu_screen'] for r in runs])}); whole queue loaded "
                  f"median {med([r['loaded'] for r in runs])}; load {load()}")


# ==== fan-out ===================================================================================

def probe_client(data_dir: str, replica: bool) -> None:
    """``--probe-client``: one headless client process.  Attaches, says "attached", counts the
    latency of every change from a "go" line on stdin to a "stop" line, then prints them
    (seconds) as one JSON list."""
    import select

    with DeskClient.connect(data_dir, client="console", timeout=120) as c:
        if replica:
            c.send({"type": "attach", "replica": True, "limit": 200})
            while c.read(60)["type"] != "snapshot":
                pass
            loading = "state"
        else:
            loading = "rows" if c.attach(limit=200).get("more") else ""
        while loading:  # its whole initial load first: what is measured is the change stream
            m = c.read(120)
            if m["type"] == loading and not m.get("more"):
                loading = ""
        print("attached", flush=True)
        mine: list[float] = []
        counting = False
        while True:
            if select.select([sys.stdin], [], [], 0)[0]:
                word = sys.stdin.readline().strip()
                if word == "go":
                    counting, mine = True, []
                else:
                    break
            try:
                m = c.read(0.2)
            except TimeoutError:
                continue
            if m["type"] == "change" and counting:
                mine.append(time.time() - m["t"])
    print(json.dumps(mine), flush=True)


def start_clients(d: Path, clients: int, replica: bool) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, __file__, "--probe-client", str(d),
                               "1" if replica else "0"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
             for _ in range(clients)]
    for p in procs:
        assert p.stdout is not None
        p.stdout.readline()  # "attached"
    return procs


def tell(procs: list[subprocess.Popen], word: str) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(word + "\n")
        p.stdin.flush()


def gather(procs: list[subprocess.Popen]) -> list[float]:
    tell(procs, "stop")
    lat: list[float] = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        lat.extend(json.loads(out.strip().splitlines()[-1]))
    return lat


def freeze(d: Path) -> socket.socket:
    stuck = socket.socket(socket.AF_UNIX)
    stuck.connect(str(d / "desk.sock"))
    stuck.sendall(encode({"type": "hello", "protocol": VERSION}) + encode({"type": "attach"}))
    return stuck


def percentiles(lat: list[float]) -> str:
    lat = sorted(lat)
    if not lat:
        return "no deliveries"

    def p(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

    return (f"p50 {p(0.5):.1f} ms, p95 {p(0.95):.1f} ms, max {p(1.0):.1f} ms over "
            f"{len(lat):,} deliveries")


def _image_written(d: Path, after: float, timeout: float = 600) -> bool:
    """Wait for the state image a cleanly stopped desk process writes as it exits (a detached
    child of it pickles the desk); False if none came."""
    from tui.core.image import image_dir, image_path

    path = image_path(d)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done = path.stat().st_mtime >= after and not any(
                p.name.endswith(".tmp") for p in image_dir(d).iterdir())
        except OSError:
            done = False
        if done:
            return True
        time.sleep(0.1)
    return False


def _kill(pid: int) -> None:
    os.kill(pid, 9)
    for _ in range(600):
        if not os.path.exists(f"/proc/{pid}"):
            return
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        if stat == "Z":
            return
        time.sleep(0.02)


def bench_cold(n: int, repeat: int = 3) -> None:
    """Cold start alone, spawn -> "ready", ``repeat`` times each way: from the state image (a
    clean stop before: the desk process wrote its image as it exited) and without one (the
    desk process killed with SIGKILL before: no image is written, the snapshot and journal are
    read and folded).  The desk process runs with .pyc files (PYTHONDONTWRITEBYTECODE removed,
    one warm-up start first), as an installed package does."""
    from tui.core.image import image_path

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    crash, image = [], []
    first_screen: list[float] = []  # spawn -> a client's first screen, after an image start
    rest: list[float] = []  # "ready" -> the image's later part all read (the desk's log)
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp) / "desk"
        os.environ["MENTIONDESK_CACHE_DIR"] = str(Path(tmp) / "cache")  # not the user's cache
        build(d, n)
        loads_crash, loads_image = [], []
        pid = start_server(d)  # warm-up: writes the .pyc files
        assert pid is not None, "a desk process still held the data directory"
        _kill(pid)
        for _ in range(repeat):
            loads_crash.append(os.getloadavg()[0])
            t0 = time.perf_counter()
            pid = start_server(d)
            crash.append(time.perf_counter() - t0)
            assert pid is not None
            _kill(pid)
        pid = start_server(d)
        for i in range(repeat + 1):
            assert pid is not None
            try:  # the image this stop writes replaces the last one: a later mtime
                after = image_path(d).stat().st_mtime + 1e-6
            except OSError:
                after = time.time() - 1
            stop(d)
            while lock_holder(d) is not None:  # its closing snapshot may outlast stop()'s wait
                time.sleep(0.2)
            if not _image_written(d, after):  # the image this stop wrote, not an older one
                print(f"(a) {n:>7,} open: no state image was written (see {d}/server.log)")
                return
            if i == repeat:
                break
            loads_image.append(os.getloadavg()[0])
            used = (d / "server.log").read_text().count("opened from its state image")
            rests = (d / "server.log").read_text().count("the rest of the state image read")
            t0 = time.perf_counter()
            pid = start_server(d)
            image.append(time.perf_counter() - t0)
            # The first client right after: a first screen of 200 rows (served between the
            # frames of the image's later part, which is read after "ready").
            with DeskClient.connect(d) as c:
                c.attach(limit=200)
                first_screen.append(time.perf_counter() - t0)
            for _ in range(300):  # the desk process logs when the later part is all read
                log = (d / "server.log").read_text()
                found = re.findall(r"the rest of the state image read in ([0-9.]+) s", log)
                if len(found) > rests:
                    rest.append(float(found[-1]))
                    break
                time.sleep(0.05)
            log = (d / "server.log").read_text()
            if log.count("opened from its state image") != used + 1:
                print(f"(a) {n:>7,} open: the desk process did not use its state image:")
                print("\n".join(line for line in log.splitlines() if "image" in line))
                if pid is not None:
                    _kill(pid)  # never left running on a data directory about to go
                return
    for what, times, loads in (("from its state image (clean stop before)", image, loads_image),
                               ("without an image (kill -9 before)", crash, loads_crash)):
        print(f"(a) {n:>7,} open: desk process cold start {what}: median "
              f"{statistics.median(times):.2f} s (each: {', '.join(f'{t:.2f}' for t in times)}; "
              f"load {', '.join(f'{x:.1f}' for x in loads)}; with .pyc, after a warm-up)")
    if first_screen:
        print(f"(a) {n:>7,} open: after a start from its image, a headless client's first "
              f"screen (200 rows) from the spawn: median {statistics.median(first_screen):.2f}"
              f" s; the image's later part (customers, maps, deadline index) read while "
              f"serving in median {statistics.median(rest) if rest else float('nan'):.2f} s "
              f"after ready")


def bench_cold_console(n: int, repeat: int = 3) -> None:
    """``mentiondesk --data-dir DIR`` on an 80x24 pseudo-terminal, no desk process running
    (stopped cleanly: its state image written), to the console's first screen: the console
    spawns the desk process, which starts from its image while the console imports, and
    attaches when it is ready — what the first agent sees after a reboot.  With .pyc (a
    warm-up run first)."""
    from tui.core.image import image_path

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: list[float] = []
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp) / "desk"
        os.environ["MENTIONDESK_CACHE_DIR"] = env["MENTIONDESK_CACHE_DIR"] = str(
            Path(tmp) / "cache")
        build(d, n)

        def stopped_with_image() -> bool:
            try:
                after = image_path(d).stat().st_mtime + 1e-6
            except OSError:
                after = time.time() - 1
            stop(d)
            while lock_holder(d) is not None:
                time.sleep(0.2)
            return _image_written(d, after)

        start_server(d)
        for i in range(repeat + 1):
            if not stopped_with_image():
                print(f"(a) {n:>7,} open: no state image was written (see {d}/server.log)")
                return
            shown = first_screen(str(d), env, timeout=120)
            if i and shown is not None:  # the first run writes the .pyc files
                times.append(shown)
        stopped_with_image()
        used = (d / "server.log").read_text().count("opened from its state image")
    print(f"(a) {n:>7,} open: `mentiondesk` (80x24 pty) to its first screen, the desk process "
          f"cold (stopped cleanly before; the console starts it): median "
          f"{statistics.median(times):.2f} s (each: {', '.join(f'{t:.2f}' for t in times)}; "
          f"desk starts from its image: {used} of {repeat + 1}; load {load()})")


def bench_fanout(clients: int, rate: float, seconds: float, frozen: bool,
                 replica: bool = False) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, 10_000)
        pid = start_server(d, ["--source", "demo", "--rate", str(rate)])
        assert pid is not None
        stuck = freeze(d) if frozen else None
        procs = start_clients(d, clients, replica)
        time.sleep(1.0)
        tell(procs, "go")
        cpu0, t0 = cpu_seconds(pid), time.time()
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(pid), time.time()
        lat = gather(procs)
        if stuck is not None:
            stuck.close()
        stop(d)
        kind = "console replicas" if replica else "clients"
        print(f"(b) {clients} {kind}{' + 1 frozen' if frozen else ''}, demo at {rate:.0f}/s "
              f"over 10,000 open [load {load()}]: fan-out {percentiles(lat)}; desk process CPU "
              f"{(cpu1 - cpu0) / (t1 - t0) * 100:.0f} %")


# ==== keys in an attached console while streaming =============================================

async def console_keys(d: Path, presses: int) -> list[float]:
    from bench_console import ScreenTap, press_keys

    from tui.console.app import MentionDesk
    from tui.server.remote import RemoteDesk
    from widgets.queue_view import QueueView

    rules, replies = policy()
    remote = RemoteDesk(rules, replies, d, start=False)
    await asyncio.to_thread(remote.connect)
    app = MentionDesk(remote, [], blink=False)
    latencies: list[float] = []
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            while getattr(remote, "loading", False):  # (main before p9b loaded it whole)
                await pilot.pause(0.05)
            view = app.query_one(QueueView)
            view.focus()
            await asyncio.sleep(1.0)
            tap = ScreenTap(app, count_bytes=False)
            latencies, _ = await press_keys(app, view, tap, presses)
            app.flush_alerts()
    finally:
        remote.close()
    return latencies


def bench_keys(clients: int, rate: float, presses: int) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mdb") as tmp:
        d = Path(tmp)
        build(d, 10_000)
        pid = start_server(d, ["--source", "demo", "--rate", str(rate)])
        assert pid is not None
        procs = start_clients(d, clients, True)
        tell(procs, "go")
        cpu0, t0 = cpu_seconds(pid), time.time()
        lat = asyncio.run(console_keys(d, presses))
        cpu1, t1 = cpu_seconds(pid), time.time()
        fan = gather(procs)
        stop(d)
        lat.sort()
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000 if lat else float("nan")
        print(f"(k) console attached to the desk process, demo at {rate:.0f}/s over 10,000 open, "
              f"{clients} replica clients [load {load()}]: key-to-screen p50 "
              f"{statistics.median(lat) * 1000:.1f} ms, p95 {p95:.1f} ms over {len(lat)} "
              f"presses; the clients' fan-out {percentiles(fan)}; desk process CPU "
              f"{(cpu1 - cpu0) / (t1 - t0) * 100:.0f} %")


# ==== the snapshot stall ========================================================================

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


# ==== `mentiondesk` alone: the demo's first screen =============================================

DEMO_ROW = re.compile(rb"@\w+")  # a demo customer's handle in a queue row
STATUS_OPEN = re.compile(rb"\d+ open \xc2\xb7")  # the status bar's "N open ·"


def first_screen(data_dir: str, env: dict[str, str], timeout: float = 30.0) -> float | None:
    """Seconds from spawning ``mentiondesk --data-dir DIR`` (nothing else: the demo) on an
    80x24 pseudo-terminal to the first screen showing a demo row and the status bar; then quit
    it with ``q`` as an agent does.  None when it never showed."""
    import pty

    argv = [sys.executable, "-m", "tui", "--data-dir", data_dir]
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    seen = b""
    shown: float | None = None
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            seen += data
            if DEMO_ROW.search(seen) and STATUS_OPEN.search(seen):
                shown = time.perf_counter() - t0
                break
    finally:
        quit_console(pid, fd)
    return shown


def quit_console(pid: int, fd: int) -> None:
    for key, wait in ((b"q", 10.0), (None, 3.0)):
        if key is not None:
            with contextlib.suppress(OSError):
                os.write(fd, key)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.perf_counter() + wait
        while time.perf_counter() < deadline:
            with contextlib.suppress(OSError):
                if select.select([fd], [], [], 0.05)[0]:
                    os.read(fd, 65536)
            if os.waitpid(pid, os.WNOHANG)[0]:
                os.close(fd)
                return
    os.close(fd)


def bench_first(repeat: int) -> None:
    """``mentiondesk`` alone on a fresh demo desk, to its first screen: the in-process desk
    (``MENTIONDESK_DESK_PROCESS=direct``, the default before issue 9's tmux-style start) next
    to the default (the console spawns the desk process first, prepares while it boots, then
    attaches); and a second ``mentiondesk`` attaching to the desk process the first left
    running.  Without and with byte-code caches (a pip install has .pyc; this environment
    sets PYTHONDONTWRITEBYTECODE, so the second pass removes it after a warm-up run)."""
    base = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24",
                PYTHONPATH=str(ROOT))
    for name in ("MENTIONDESK_CONFIG", "MENTIONDESK_DATA_DIR"):
        base.pop(name, None)
    for pyc in (False, True):
        env = dict(base)
        if pyc:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        figures: dict[str, list[float]] = {"direct": [], "default": [], "attach": []}
        for i in range(repeat + (1 if pyc else 0)):
            for mode in ("direct", "default"):
                d = tempfile.mkdtemp(prefix="mdb", dir="/tmp")
                run_env = dict(env)
                if mode == "direct":
                    run_env["MENTIONDESK_DESK_PROCESS"] = "direct"
                else:
                    run_env.pop("MENTIONDESK_DESK_PROCESS", None)
                try:
                    took = first_screen(d, run_env)
                    again = first_screen(d, run_env) if mode == "default" else None
                finally:
                    stop(Path(d))
                    shutil.rmtree(d, ignore_errors=True)
                if pyc and i == 0:
                    continue  # the warm-up run writes the .pyc files
                if took is not None:
                    figures[mode].append(took)
                if again is not None:
                    figures["attach"].append(again)
        caches = "with .pyc" if pyc else "no .pyc (PYTHONDONTWRITEBYTECODE=1)"
        print(f"first screen of `mentiondesk` (demo, 80x24 pty), {caches}, median of {repeat}: "
              f"in-process desk {med(figures['direct'])}, "
              f"default (starts the desk process) {med(figures['default'])}, "
              f"second console attaching {med(figures['attach'])}  "
              f"[runs: direct {[round(x, 2) for x in figures['direct']]}, "
              f"default {[round(x, 2) for x in figures['default']]}; load {load()}]")


def main() -> None:
    global CACHE
    if len(sys.argv) > 1 and sys.argv[1] == "--probe-client":
        probe_client(sys.argv[2], sys.argv[3] == "1")
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--presses", type=int, default=150)
    ap.add_argument("--only", default="first,attach,fanout,keys,stall,archive",
                    help="comma-separated parts: first (`mentiondesk` alone to the demo's "
                         "first screen), attach (a), cold (a, the cold start alone), "
                         "coldconsole (a, a console's first screen after one), "
                         "fanout (b), keys (k), stall (c), archive (d)")
    ap.add_argument("--cache", type=Path, help="keep built data directories here")
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure of `first` and `cold`")
    args = ap.parse_args()
    CACHE = args.cache
    if CACHE is not None:
        CACHE.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    only = {p.strip() for p in args.only.split(",")}
    if "first" in only:
        bench_first(args.repeat)
    if "attach" in only or "start" in only:
        for n in sizes:
            bench_attach(n)
    if "cold" in only:
        for n in sizes:
            bench_cold(n, args.repeat)
    if "coldconsole" in only:
        for n in sizes:
            bench_cold_console(n, min(args.repeat, 3))
    if "fanout" in only:
        for frozen in (False, True):
            bench_fanout(args.clients, args.rate, args.seconds, frozen)
        bench_fanout(args.clients, args.rate, args.seconds, False, replica=True)
    if "keys" in only:
        bench_keys(args.clients, args.rate, args.presses)
    if "stall" in only:
        for n in sizes:
            bench_stall(n)
    if "archive" in only:
        for n in sizes:
            bench_stall(n // 2, resolved=n // 2)


if __name__ == "__main__":
    main()
