"""A CLI command whose output passes the protocol's line limit (``queue`` of a 100,000-
conversation desk: ~10 MB, past MAX_LINE) comes through the desk process whole, in ``output``
messages before its result; a client that does not read them is refused with the reason,
never given a cut output.  (The chunk is made small here so a small desk shows it.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from deskkit import mention

from tui.cli import build_parser, parse
from tui.cli.actions import execute
from tui.cli.via import jsonable
from tui.server import server as server_module
from tui.server.client import DeskClient
from tui.server.protocol import Refused


async def test_a_command_output_longer_than_one_message_arrives_whole(
        desk_dir: Path, make_desk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "OUTPUT_CHUNK", 1_000)
    desk = make_desk()
    desk.ingest([mention(f"my train was cancelled, customer {i} — ünïcode 🚆", f"cust{i}")
                 for i in range(80)])
    argv = jsonable(parse(build_parser(), ["queue", "--data-dir", str(desk_dir)]))
    code, direct, _ = execute(desk, "queue", dict(argv))
    assert code == 0 and len(direct) > 5 * server_module.OUTPUT_CHUNK
    server = server_module.DeskServer(desk, desk_dir, execute=execute)
    await server.start()
    try:
        def routed() -> tuple[dict[str, Any], dict[str, Any]]:
            with DeskClient.connect(desk_dir) as client:
                whole = client.request("command", name="queue", argv=argv)
                # a client that never says it reads "output" messages: told why, given no part
                client._next += 1
                client.send({"type": "request", "id": client._next, "op": "command",
                             "args": {"name": "queue", "argv": argv}})
                while (message := client.read(30))["type"] != "result":
                    assert message["type"] != "output"
                return whole, message

        whole, old = await asyncio.to_thread(routed)
        assert whole["code"] == 0 and whole["stdout"] == direct
        assert not old["ok"]
        reasons = " ".join(Refused.from_dict(old["refusal"]).reasons)
        assert "longer than this client reads" in reasons
    finally:
        await server.close()


def test_queue_through_the_desk_process_prints_what_the_desk_itself_prints(
        desk_dir: Path) -> None:
    """``mentiondesk queue`` through the desk process streams the rows (built a chunk at a time
    between the consoles' requests) and prints them here: the same lines, JSON rows and counts
    as the command run on the desk directly, with every marker."""
    from serverkit import cli, seed, stop_desk

    from tui.server.client import listening, start_server

    ids = seed(desk_dir, [f"my train was cancelled, please help ({i})" for i in range(40)]
               + ["My card number is 4111 1111 1111 1111, charged twice"])
    alone = {"MENTIONDESK_DESK_PROCESS": "direct"}  # the command reads the desk itself
    direct = {how: cli(desk_dir, "queue", *how, env=alone)
              for how in [(), ("--json",), ("--limit", "7")]}
    assert all(d.returncode == 0 for d in direct.values())
    assert not listening(desk_dir)  # no desk process was started
    start_server(desk_dir)
    assert cli(desk_dir, "assign", ids[3], "sam").returncode == 0
    assert cli(desk_dir, "handoff", ids[5], "refunds", "--note", "over to you").returncode == 0
    routed = {how: cli(desk_dir, "queue", *how) for how in direct}
    assert all(done.returncode == 0 for done in routed.values())
    stop_desk(desk_dir)
    direct_after = cli(desk_dir, "queue", "--json", env=alone)
    assert not listening(desk_dir)  # no desk process was started
    # before the actions: the same lines but for the two rows they changed
    changed = {ids[3], ids[5]}

    def lines(out: str) -> list[str]:
        return [line for line in out.splitlines() if line.split()[0] not in changed]

    assert lines(routed[()].stdout) == lines(direct[()].stdout)
    assert len(routed[("--limit", "7")].stdout.splitlines()) == 8  # seven rows and the counts
    routed_rows = [json.loads(line) for line in routed[("--json",)].stdout.splitlines()]
    assert {r["id"]: r["markers"] for r in routed_rows}[ids[3]].strip() == "●↩A"
    # and the JSON rows are the desk's own (seconds_left moves on between the two runs)
    assert direct_after.returncode == 0, direct_after.stderr

    def comparable(text: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds_left"}
                for line in text.splitlines()]

    assert comparable(routed[("--json",)].stdout) == comparable(direct_after.stdout)
