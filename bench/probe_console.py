"""One fresh console process attaching to a running desk process (bench_desk_process.py, (a)).

    python bench/probe_console.py DATA_DIR HANDLE

Runs what ``mentiondesk`` runs when a desk process serves DATA_DIR: ``attach_console`` (the
config, the rules and replies in effect, the connection and the first part of the replica) and
``MentionDesk`` on the ``RemoteDesk`` (headless, 120x40) — nothing else is imported first, so the
imports are the console's own.  Prints one JSON line of ``time.perf_counter()`` instants
(CLOCK_MONOTONIC on Linux: comparable with the parent's): ``start`` (this file's first line),
``imported`` (the console's modules), ``connected`` (``attach_console`` returned), ``screen``
(the first screen update whose top queue row shows HANDLE) and ``loaded`` (the replica holds
the whole queue), and ``held`` (conversations held then); ``cpu_screen``: the CPU seconds this
process had used at its first screen (``time.process_time``: on a busy machine the wall-clock
figures grow with the load, this one hardly).
"""

import time

START = time.perf_counter()  # as early as a script can take it

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONSOLE_SIZE = (120, 40)


def top_row_shows(app: Any, expected: str) -> bool:
    """The console's queue is drawn and its top row shows ``expected`` (a handle)."""
    from widgets.queue_view import QueueView

    try:
        view = app.query_one(QueueView)
    except Exception:
        return False
    if not view.size.height:
        return False
    return expected in "".join(s.text for s in view.render_line(0))


async def attach(data_dir: str, expected: str) -> dict[str, Any]:
    from tui.console.app import MentionDesk, attach_console
    from tui.setup.boot import options_from

    out: dict[str, Any] = {"start": START, "imported": time.perf_counter()}
    remote = attach_console(options_from(argparse.Namespace(data_dir=data_dir)), start=False)
    if remote is None or isinstance(remote, int):
        raise SystemExit(f"could not attach to {data_dir}: {remote}")
    out["connected"] = time.perf_counter()
    app = MentionDesk(remote, [], blink=False)
    loop = asyncio.get_running_loop()
    first: asyncio.Future[float] = loop.create_future()
    original = app._display

    def top_row_right() -> bool:
        return top_row_shows(app, expected)

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        if renderable is not None and not first.done() and top_row_right():
            first.set_result(time.perf_counter())

    app._display = display  # type: ignore[method-assign]
    try:
        async with app.run_test(size=CONSOLE_SIZE):
            out["screen"] = await asyncio.wait_for(first, 60)
            out["cpu_screen"] = time.process_time()  # CPU of this process since its start
            while getattr(remote, "loading", False):
                await asyncio.sleep(0.02)  # (not pilot.pause: the loop is never idle here)
            out["loaded"] = time.perf_counter()
            out["held"] = len(remote.conversations)
            app.flush_alerts()
    finally:
        remote.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(attach(sys.argv[1], sys.argv[2]))), flush=True)
