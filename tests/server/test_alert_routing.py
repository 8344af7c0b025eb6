"""Alerts reach the on-duty group (the routed team's consoles and every lead, idle or not) over
real sockets, and the on_alert hook gets the alert as JSON on stdin, time-limited; the sources'
health reaches every attached client as it changes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tui.server.identity import login_of
from tui.server.protocol import VERSION, decode, encode
from tui.server.server import DeskServer, run_hook
from tui.setup.config import load_config


async def attach(path: Path, agent: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(encode({"type": "hello", "protocol": VERSION, "agent": agent,
                         "client": "console"}))
    writer.write(encode({"type": "attach"}))
    await writer.drain()
    assert decode(await reader.readline())["type"] == "welcome"
    assert decode(await reader.readline())["type"] == "snapshot"
    return reader, writer


async def next_alert(reader: asyncio.StreamReader, timeout: float = 10.0) -> dict | None:
    try:
        while True:
            message = decode(await asyncio.wait_for(reader.readline(), timeout))
            if message["type"] == "alert":
                return message
    except TimeoutError:
        return None


def paging_config(tmp_path: Path, agents: str) -> tuple[Path, Any]:
    """A config with ``agents`` (YAML lines under ``agents:``) and an on_alert hook appending
    each alert it gets to the file returned."""
    out = tmp_path / "paged.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"agents:{agents}\non_alert: [{sys.executable}, {hook}]\n")
    return out, load_config(cfg)


async def test_alerts_go_to_the_routed_team_and_leads_and_to_the_hook(
        desk_dir: Path, make_desk, tmp_path: Path) -> None:
    me = login_of(os.getuid())
    out, config = paging_config(tmp_path, f"""
  ana: {{os_user: {me}, role: agent, teams: [safety]}}
  sam: {{os_user: {me}, role: agent, teams: [operations]}}
  lee: {{os_user: {me}, role: lead}}""")
    desk = make_desk()
    server = DeskServer(desk, desk_dir, config=config)
    await server.start()
    try:
        clients = {name: await attach(server.path, name) for name in ("ana", "sam", "lee")}
        server.alert({"kind": "critical", "conv_id": "7", "message": "new critical: @amy"},
                     "safety")
        got = {name: await next_alert(r, 2.0 if name == "sam" else 10.0)
               for name, (r, _) in clients.items()}
        assert got["ana"]["conv_id"] == "7" and got["ana"]["team"] == "safety"
        assert got["lee"]["message"] == "new critical: @amy"  # leads get every team's
        assert got["sam"] is None  # not on duty for safety
        for _ in range(200):
            if out.exists() and out.read_text().strip():
                break
            await asyncio.sleep(0.05)
        paged = json.loads(out.read_text().splitlines()[0])
        assert paged["kind"] == "critical" and paged["conv_id"] == "7"
        for _, writer in clients.values():
            writer.close()
    finally:
        await server.close()


async def test_a_hung_hook_is_killed_and_a_missing_one_is_reported() -> None:
    code = await run_hook([sys.executable, "-c", "import time; time.sleep(60)"],
                          {"kind": "breach"}, timeout=0.5)
    assert code is None
    assert await run_hook(["/nonexistent/pager"], {"kind": "breach"}) is None
    assert await run_hook([sys.executable, "-c", "import sys, json; "
                           "sys.exit(0 if json.load(sys.stdin)['kind'] == 'breach' else 3)"],
                          {"kind": "breach"}) == 0


async def test_a_backlog_of_critical_mentions_runs_the_hook_once_per_alert_not_per_mention(
        desk_dir: Path, make_desk, tmp_path: Path) -> None:
    """A source catching up 40 critical mentions after downtime: the consoles and the hook get
    the first ALERT_BURST by name and one counted alert, not 40."""
    from deskkit import mention

    from tui.core.desk import ALERT_BURST

    out, config = paging_config(tmp_path, f"""
  lee: {{os_user: {login_of(os.getuid())}, role: lead}}""")
    desk = make_desk()
    server = DeskServer(desk, desk_dir, config=config)
    await server.start()
    try:
        reader, writer = await attach(server.path, "lee")
        results = desk.ingest([mention("The doors closed on my child at Leeds, this is unsafe!",
                                       f"kid{i}") for i in range(40)])
        server.ingested(results)
        got = [await next_alert(reader) for _ in range(ALERT_BURST + 1)]
        assert [a["count"] for a in got] == [1] * ALERT_BURST + [40 - ALERT_BURST]
        assert await next_alert(reader, 0.5) is None
        for _ in range(400):  # each hook run appends a line
            if out.exists() and len(out.read_text().splitlines()) >= ALERT_BURST + 1:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # (a 12th would have started with the others)
        paged = [json.loads(line) for line in out.read_text().splitlines() if line]
        assert len(paged) == ALERT_BURST + 1
        assert sorted(p["count"] for p in paged)[-1] == 40 - ALERT_BURST
        writer.close()
    finally:
        await server.close()


async def test_a_change_of_source_health_reaches_every_attached_client(
        desk_dir: Path, make_desk, tmp_path: Path) -> None:
    """A source connecting, then failing and retrying: each attached client is told when the
    health changes (a console's status bar and `i` follow it), not only in its snapshot."""
    from conftest import policy

    from tui.server.remote import RemoteDesk

    health = [{"name": "mastodon:care@example.org", "state": "connecting", "detail": ""}]
    server = DeskServer(make_desk(), desk_dir, health=lambda: [dict(h) for h in health])
    await server.start()
    try:
        reader, writer = await attach(server.path, "lee")
        server.tell_health()  # as the ticker does each second: nothing changed yet
        health[0].update(state="error", detail="HTTP 503 from the server, retrying in 4 s")
        server.tell_health()
        told = None
        while told is None:
            message = decode(await asyncio.wait_for(reader.readline(), 10))
            if message["type"] == "sources":
                told = message
        assert told["sources"][0]["state"] == "error" and "503" in told["sources"][0]["detail"]
        server.tell_health()  # unchanged: not sent again
        with pytest.raises(TimeoutError):
            while True:
                again = decode(await asyncio.wait_for(reader.readline(), 0.3))
                assert again["type"] != "sources"
        writer.close()
        # a console's copy takes it as its sources' health
        rules, replies = policy()
        remote = RemoteDesk(rules, replies, tmp_path, start=False)
        remote._arrive(told)
        remote.pump()
        assert remote.source_health == told["sources"]
    finally:
        await server.close()
