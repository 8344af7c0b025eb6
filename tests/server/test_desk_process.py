"""The desk process with real processes and real sockets: start (tmux-style, racing starters),
stop, permissions, the protocol's hello/attach/requests, scripts through the desk process."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from serverkit import alive, cli, holder_pid, seed

from tui.core.store import Store
from tui.server.client import DeskClient, NotRunning, connect_or_start, start_server
from tui.server.protocol import VERSION, Refused, decode, encode


def test_started_in_the_background_then_stopped_cleanly(desk_dir: Path) -> None:
    [cid] = seed(desk_dir, ["my train was cancelled"])
    pid = start_server(desk_dir)
    assert pid is not None and holder_pid(desk_dir) == pid
    sock = desk_dir / "desk.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(desk_dir.stat().st_mode) == 0o700
    with DeskClient.connect(desk_dir) as client:
        assert client.server_pid == pid and client.role == "lead"
        snap = client.attach()
        assert [r["id"] for r in snap["rows"]] == [cid]
        assert snap["counts"]["open"] == 1
    done = cli(desk_dir, "server", "--stop")
    assert done.returncode == 0, done.stderr
    assert f"stopped the desk process {pid}" in done.stdout
    assert not alive(pid) and not sock.exists()
    assert (desk_dir / "desk.json").stat().st_size > 0  # a snapshot on the way out
    with pytest.raises(NotRunning):
        DeskClient.connect(desk_dir)


def test_racing_starters_end_on_one_desk_process(desk_dir: Path) -> None:
    seed(desk_dir, ["hello"])
    results: list[object] = []

    def starter() -> None:
        client = connect_or_start(desk_dir)
        results.append(client.server_pid)
        client.close()

    threads = [threading.Thread(target=starter) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1, results
    assert holder_pid(desk_dir) == results[0]
    # However many were started, exactly one ever served the directory.
    assert (desk_dir / "server.log").read_text().count(" serving ") == 1


def test_a_second_start_attaches_and_a_stale_socket_is_replaced(desk_dir: Path) -> None:
    seed(desk_dir, ["hello"])
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(desk_dir / "desk.sock"))  # what a kill -9 leaves behind
    stale.close()
    first = cli(desk_dir, "server")
    assert first.returncode == 0, first.stderr
    pid = holder_pid(desk_dir)
    again = cli(desk_dir, "server")
    assert f"the desk process {pid} already serves" in again.stdout
    status = cli(desk_dir, "server", "--status")
    assert f"desk process {pid} serves" in status.stdout and "1 open" in status.stdout


def test_protocol_mismatch_and_garbage_get_clear_refusals(desk_dir: Path) -> None:
    seed(desk_dir, ["hello"])
    start_server(desk_dir)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(desk_dir / "desk.sock"))
        s.sendall(encode({"type": "hello", "protocol": VERSION + 1}))
        reply = decode(s.makefile("rb").readline())
    assert reply["type"] == "refused" and reply["kind"] == "protocol"
    assert f"speaks protocol {VERSION}" in reply["reasons"][0]
    assert f"client speaks {VERSION + 1}" in reply["reasons"][0]
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(desk_dir / "desk.sock"))
        s.sendall(b"GET / HTTP/1.1\r\n")
        reply = decode(s.makefile("rb").readline())
    assert reply["kind"] == "protocol" and "not a JSON line" in reply["reasons"][0]
    with DeskClient.connect(desk_dir) as client:  # the desk carries on
        assert client.request("ping")["pid"] == client.server_pid


def test_requests_answer_with_results_or_typed_refusals(desk_dir: Path) -> None:
    [cid] = seed(desk_dir, ["my train was cancelled"])
    start_server(desk_dir)
    with DeskClient.connect(desk_dir, agent="sam") as client:
        value = client.request("note", conv_id=cid, text="called the depot")
        assert value["events"][0]["agent"] == "sam"
        assert value["events"][0]["os_user"] == client.welcome["os_user"]
        with pytest.raises(Refused) as err:
            client.request("note", conv_id=cid, text="  ")
        assert (err.value.kind, err.value.reasons) == ("refused", ["a note cannot be empty"])
        with pytest.raises(Refused) as err:
            client.request("note", conv_id="999", text="x")
        assert err.value.kind == "not_found" and "999" in err.value.reasons[0]
        with pytest.raises(Refused) as err:
            client.request("note", conv_id=cid, txt="x")
        assert err.value.kind == "usage" and "note takes conv_id, text" in err.value.reasons[0]
        with pytest.raises(Refused) as err:
            client.request("explode")
        assert err.value.kind == "usage"


def test_cli_commands_go_through_the_desk_process_and_reach_attached_clients(
        desk_dir: Path) -> None:
    [a, b] = seed(desk_dir, ["my train was cancelled", "where is my refund"])
    start_server(desk_dir)
    watcher = DeskClient.connect(desk_dir, agent="lee", client="console")
    watcher.attach()
    # The desk is held by the desk process: these would be refused (exit 3) if they opened it.
    done = cli(desk_dir, "assign", a, "kim", "--agent", "sam")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"assigned #{a} to kim\n"
    change = next(m for m in watcher.messages(timeout=10) if m["type"] == "change")
    assert change["rows"][a]["assigned"] == "kim"
    assert change["rows"][a]["last_event"]["agent"] == "sam"
    refused = cli(desk_dir, "handoff", b, "nosuchteam")
    assert refused.returncode == 1 and "refused: unknown team 'nosuchteam'" in refused.stderr
    queue = cli(desk_dir, "queue", "--json")
    rows = [json.loads(line) for line in queue.stdout.splitlines()]
    assert {r["id"]: r["assigned"] for r in rows} == {a: "kim", b: None}
    watcher.close()
    # Everything done through the desk process is in its store, with the OS user.
    stop = cli(desk_dir, "server", "--stop")
    assert stop.returncode == 0
    store = Store(desk_dir, read_only=True)
    events = store.load()["events"].values()
    store.close()
    assign = [e for e in events if e["kind"] == "assign"]
    assert [(e["agent"], e["details"]["to"]) for e in assign] == [("sam", "kim")]
    assert assign[0]["os_user"]


def test_scripts_start_the_desk_process_by_default(desk_dir: Path) -> None:
    [a] = seed(desk_dir, ["my train was cancelled"])
    done = cli(desk_dir, "note", a, "started by a script",
               env={"MENTIONDESK_DESK_PROCESS": None})  # the default, not the tests' direct
    assert done.returncode == 0, done.stderr
    pid = holder_pid(desk_dir)
    assert pid is not None and alive(pid) and pid != os.getpid()
    with DeskClient.connect(desk_dir) as client:
        assert client.server_pid == pid
    direct = cli(desk_dir, "show", a)  # finds the running one without being asked
    assert "note by" in direct.stdout and "started by a script" in direct.stdout


def test_presence_who_views_and_writes_reaches_every_client(desk_dir: Path) -> None:
    [cid] = seed(desk_dir, ["my train was cancelled"])
    start_server(desk_dir)
    sam = DeskClient.connect(desk_dir, agent="sam", client="console")
    sam.attach()
    kim = DeskClient.connect(desk_dir, agent="kim", client="console")
    snap = kim.attach()
    assert {p["agent"] for p in snap["presence"]} == {"sam", "kim"}  # who is on the desk
    assert sam.request("presence", conv=cid, doing="writing") == {"writing": []}
    seen = next(m for m in kim.messages(timeout=10) if m["type"] == "presence"
                and any(p["doing"] == "writing" for p in m["presence"]))
    assert [(p["agent"], p["conv"]) for p in seen["presence"] if p["doing"] == "writing"] == [
        ("sam", cid)]
    # Opening the composer on it warns kim with sam's name (the soft lock).
    assert kim.request("presence", conv=cid, doing="writing") == {"writing": ["sam"]}
    with pytest.raises(Refused) as err:
        kim.request("presence", conv=cid, doing="dancing")
    assert err.value.kind == "usage"
    sam.close()  # leaving the desk is presence too
    gone = next(m for m in kim.messages(timeout=10) if m["type"] == "presence"
                and {p["agent"] for p in m["presence"]} == {"kim"})
    assert gone["presence"][0]["conv"] == cid
    kim.close()


def test_each_agent_undoes_only_their_own_actions(desk_dir: Path) -> None:
    [a, b] = seed(desk_dir, ["my train was cancelled", "where is my refund"])
    start_server(desk_dir)
    assert cli(desk_dir, "tag", a, "delay", "--agent", "sam").returncode == 0
    assert cli(desk_dir, "note", b, "kim was here", "--agent", "kim").returncode == 0
    undo = cli(desk_dir, "undo", "--agent", "sam")  # kim's note is newer: untouched
    assert undo.returncode == 0, undo.stderr
    assert undo.stdout == f"undid tag on #{a}\n"
    with DeskClient.connect(desk_dir) as client:
        rows = {r["id"]: r for r in client.attach()["rows"]}
    assert rows[a]["tags"] == []
    assert rows[b]["last_event"] == {**rows[b]["last_event"], "kind": "note", "agent": "kim",
                                     "undone": False}
    nothing = cli(desk_dir, "undo", "--agent", "sam")
    assert nothing.returncode == 1 and "nothing to undo" in nothing.stderr


def test_a_limited_attach_draws_at_once_and_the_rest_follows(desk_dir: Path) -> None:
    convs = seed(desk_dir, [f"where is my refund {i}" for i in range(30)])
    start_server(desk_dir)
    with DeskClient.connect(desk_dir, client="console") as client:
        snap = client.attach(limit=5)
        assert len(snap["rows"]) == 5 and snap["more"] == 25
        ids = [r["id"] for r in snap["rows"]]
        while len(ids) < 30:
            message = next(client.messages(timeout=10))
            if message["type"] == "presence":  # its own arrival on the desk
                continue
            assert message["type"] == "rows"
            ids += list(message["rows"])
        assert message["more"] == 0
    with DeskClient.connect(desk_dir) as client:  # same order as the full snapshot
        assert ids == [r["id"] for r in client.attach()["rows"]]
    assert sorted(ids) == sorted(convs)


def test_an_auto_started_desk_process_stops_after_its_last_client(desk_dir: Path) -> None:
    [a] = seed(desk_dir, ["my train was cancelled"])
    pid = start_server(desk_dir, idle_seconds=1)
    with DeskClient.connect(desk_dir) as client:
        client.request("reply", conv_id=a, text="Sorry — a bus replaces the train.")
    deadline = time.monotonic() + 60
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)  # the pending reply waits in the store for the next desk process
    assert not (desk_dir / "desk.sock").exists()
    store = Store(desk_dir, read_only=True)
    items = list(store.load()["outbox"].values())
    store.close()
    assert [(i["conv_id"], i["status"]) for i in items] == [(a, "pending")]


def test_rules_reload_reaches_the_desk_process_and_never_kills_it(desk_dir: Path) -> None:
    seed(desk_dir, ["my train was cancelled"])
    pid = start_server(desk_dir)
    assert pid is not None
    done = cli(desk_dir, "rules", "reload")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30
    while "rules reloaded" not in (desk_dir / "server.log").read_text():
        assert time.monotonic() < deadline, (desk_dir / "server.log").read_text()
        time.sleep(0.05)
    assert alive(pid)  # SIGUSR1 was handled, not fatal
    with DeskClient.connect(desk_dir) as client:
        assert client.request("ping")["pid"] == pid
