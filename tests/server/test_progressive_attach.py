"""A console attaches to a desk larger than one ``state`` message: it draws its first screen from
the first part (the most urgent conversations, correct counts from the desk process), the rest
of the queue fills in while the console runs, and an action on a conversation not loaded yet is
done right (the desk process serves it; never on missing data).

Real desk processes (started in the background) and real sockets; the first part is made small
(``FIRST_SCREEN``) so that the rest needs several ``state`` messages of ``STATE_CHUNK``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from app_fixtures import make_app, screen_text
from serverkit import cli, seed

import tui.server.remote as remote_module
from tui.server.client import DeskClient, start_server
from tui.server.remote import RemoteDesk, open_remote
from tui.server.server import STATE_CHUNK
from tui.setup.boot import Options

WAIT = 10.0  # seconds at most for the rest of the replica (a loaded 2-core machine)
TEXTS = ["my train was cancelled and nobody helps", "where is my refund",
         "lost my bag at the station", "thanks for the quick answer", "the app crashes at login",
         "The doors closed on my child at Leeds, this is unsafe!"]  # critical: more than FIRST
FIRST = 5  # conversations in the first part (FIRST_SCREEN, made small here)


@pytest.fixture
def big_desk(desk_dir: Path, monkeypatch: Any) -> tuple[Path, list[str]]:
    """A desk process holding more open conversations than two ``state`` messages carry."""
    monkeypatch.setattr(remote_module, "FIRST_SCREEN", FIRST)
    n = 2 * STATE_CHUNK + 20
    ids = seed(desk_dir, [f"{TEXTS[i % len(TEXTS)]} (order {i})" for i in range(n)])
    start_server(desk_dir)
    return desk_dir, ids


def attach(desk_dir: Path, agent: str) -> RemoteDesk:
    return open_remote(Options(data_dir=str(desk_dir), agent=agent), start=False)


def desk_view(desk_dir: Path) -> dict[str, Any]:
    """The desk process's own queue (every row, most urgent first) and counts."""
    with DeskClient.connect(desk_dir) as client:
        return client.attach()


async def until(pilot: Any, check: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not check():
        assert loop.time() < deadline, f"never happened: {what}"
        await pilot.pause(0.02)


async def test_the_first_screen_comes_from_the_first_part_then_the_whole_queue(
        big_desk: tuple[Path, list[str]]) -> None:
    desk_dir, ids = big_desk
    desk = desk_view(desk_dir)
    order = [row["id"] for row in desk["rows"]]
    sam = attach(desk_dir, "sam")
    try:
        # Connected: only the first part is here — the most urgent, in the desk's order — and
        # the status bar's counts are the desk process's, not the part's.
        assert sam.loading
        assert FIRST <= len(sam.conversations) < len(ids)
        assert list(sam.queue)[:FIRST] == order[:FIRST]
        assert sam.counts()["open"] == desk["counts"]["open"] == len(order)
        app = make_app(sam)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            top = desk["rows"][0]
            assert app.selected == top["id"]
            assert f"@{top['handle']}" in screen_text(app)
            assert f"{len(order)} open" in str(app.query_one("#status").render())
            # The rest arrives while the console runs; the queue fills in, in the desk's order.
            await until(pilot, lambda: not sam.loading, "the whole replica arrives")
            await pilot.pause()
            assert list(sam.queue) == order
            assert set(sam.conversations) == set(ids)
            assert sam.counts()["open"] == len(order)  # its own counts from now on
            # "‼ N critical unread" counts every one, not those of the first part alone
            critical = app.unread_criticals()
            assert len(critical) > FIRST and app.critical_unread >= critical
            assert f"‼ {len(app.critical_unread)} critical" in str(
                app.query_one("#status").render())
            assert app.selected == top["id"]  # the cursor stayed where the agent left it
            await pilot.press("end")  # the last row of the whole queue is reachable
            await pilot.pause()
            assert app.selected == order[-1]
            app.flush_alerts()
    finally:
        sam.close()


def test_actions_on_conversations_not_loaded_yet_are_served_by_the_desk_process(
        big_desk: tuple[Path, list[str]]) -> None:
    desk_dir, _ids = big_desk
    order = [row["id"] for row in desk_view(desk_dir)["rows"]]
    deep, deeper, mine = order[-1], order[-2], order[-3]
    with DeskClient.connect(desk_dir) as lead:  # before sam and kim attach
        lead.request("assign", conv_id=mine, to="sam")
        for conv_id in order[:FIRST]:  # the whole first screen is lee's
            lead.request("assign", conv_id=conv_id, to="lee")
    order = [row["id"] for row in desk_view(desk_dir)["rows"]]
    sam, kim = attach(desk_dir, "sam"), attach(desk_dir, "kim")
    try:
        assert sam.loading and deep not in sam.conversations
        # Every conversation assigned to sam came in the first part: n gives his own at once.
        assert mine in sam.conversations
        assert sam.next().id == mine
        # Kim's next is the desk's most urgent unassigned conversation — not in her first part
        # (all lee's): the desk process names it while her replica loads.
        assert kim.loading and order[FIRST] not in kim.conversations
        assert kim.next().id == order[FIRST]
        assert kim.next(others=True).id == order[0]
        # A conversation not loaded yet is fetched whole when asked for ...
        conv = sam.get(deep)
        assert conv.handle and sam.history(deep)
        # ... and acting on one is the desk process's business: the change comes back whole.
        sam.note(deeper, "called back, waiting for the receipt")
        assert any(e.kind == "note" and e.conv == deeper for e in sam.events.values())
        sam.resolve(deep)
        assert deep not in sam.queue and sam.get(deep).status == "resolved"
        # Whatever arrived meanwhile, the whole replica agrees with the desk process.
        assert sam.wait_loaded(WAIT)
        assert deep not in sam.queue and sam.get(deep).status == "resolved"
        assert any(e.kind == "note" and e.conv == deeper for e in sam.events.values())
        final = [row["id"] for row in desk_view(desk_dir)["rows"]]
        assert list(sam.queue) == final
        shown = cli(desk_dir, "show", deeper)
        assert shown.returncode == 0, shown.stderr
        assert "called back, waiting for the receipt" in shown.stdout
    finally:
        sam.close()
        kim.close()


async def test_an_attach_without_a_limit_gets_every_row_in_messages_under_the_line_limit(
        desk_dir: Path, make_desk: Any, monkeypatch: Any) -> None:
    """A queue longer than one snapshot message may hold (100,000 rows passed MAX_LINE): the
    snapshot carries SNAPSHOT_ROWS, ``more`` says the rest follow as ``rows``, and
    ``DeskClient.attach()`` gathers them all, in queue order."""
    from tui.server import server as server_module
    from tui.server.protocol import VERSION, decode, encode

    monkeypatch.setattr(server_module, "SNAPSHOT_ROWS", 7)
    desk = make_desk(demo=40)
    queue = list(desk.queue)
    assert len(queue) > 2 * 7
    server = server_module.DeskServer(desk, desk_dir)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(server.path))
        writer.write(encode({"type": "hello", "protocol": VERSION, "client": "cli"}))
        writer.write(encode({"type": "attach"}))
        await writer.drain()
        assert decode(await reader.readline())["type"] == "welcome"
        snap = decode(await reader.readline())
        assert len(snap["rows"]) == 7 and snap["more"] == len(queue) - 7
        writer.close()

        def whole() -> dict[str, Any]:
            with DeskClient.connect(desk_dir) as client:
                return client.attach()

        everything = await asyncio.to_thread(whole)
        assert [r["id"] for r in everything["rows"]] == queue
        assert everything["more"] == 0
    finally:
        await server.close()


def test_an_alert_is_told_at_once_not_behind_a_loading_replica(tmp_path: Path) -> None:
    """A loading replica applies one ``state`` part per turn of the console's loop (1,500 of
    them at 100,000): an alert that arrives behind them is told on the next turn, not after."""
    from conftest import policy

    rules, replies = policy()
    remote = RemoteDesk(rules, replies, tmp_path, start=False)
    told: list[dict[str, Any]] = []
    remote.watchers.append(told.append)
    for left in range(5, 0, -1):
        remote._arrive({"type": "state", "tables": {}, "more": left})
    remote._arrive({"type": "alert", "kind": "at_risk", "conv_id": "9", "message": "#9 late",
                    "count": 1})
    remote.pump(parts=1)
    assert [m["type"] for m in told if m["type"] == "alert"] == ["alert"]
    assert len(remote.inbox) == 4  # the other parts wait for their turns
