"""``mentiondesk serve``: the demo console in a browser, each tab its own temporary demo desk
(issue 13, item 10).  A real server child process on 127.0.0.1, a real HTTP client for the page
and real websockets for two tabs at once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import pytest
from conftest import ROOT

from tui.cli import main
from tui.cli.web import is_loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def tab_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("mentiondesk-serve-*/tab-*"))


async def open_tab(port: int, tmp: Path, seen: asyncio.Event, others: asyncio.Event) -> bytes:
    """One browser tab: the websocket the page opens, until the console has drawn the demo."""
    screen = b""
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=100&height=30") as ws:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                screen += message.data
            if b"demo" in screen and b"open" in screen:
                break
        seen.set()
        await asyncio.wait_for(others.wait(), 60)  # both tabs open at the same time
        assert len(tab_dirs(tmp)) == 2
    return screen


async def two_tabs(port: int, tmp: Path) -> list[bytes]:
    first, second = asyncio.Event(), asyncio.Event()
    both = asyncio.Event()

    async def watch() -> None:
        await first.wait()
        await second.wait()
        both.set()

    watcher = asyncio.create_task(watch())
    screens = await asyncio.wait_for(asyncio.gather(
        open_tab(port, tmp, first, both), open_tab(port, tmp, second, both)), 120)
    await watcher
    return screens


def test_two_tabs_each_get_their_own_demo_desk_deleted_on_close(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("MENTIONDESK_DATA_DIR", None)
    server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--port", str(port),
                               "--rate", "5"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        def page_ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1].decode()
                return False

        wait_for(page_ready, "the page")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert f"ws://127.0.0.1:{port}/ws" in page.text and "textual.js" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/static/js/textual.js",
                         timeout=10).status_code == 200

        screens = asyncio.run(two_tabs(port, tmp_path))
        assert all(b"demo" in screen for screen in screens)
        wait_for(lambda: tab_dirs(tmp_path) == [], "the tabs' desks to be deleted")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        assert list(tmp_path.glob("mentiondesk-serve-*")) == []
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_serve_refuses_a_data_directory_and_live_sources(tmp_path: Path, capsys,
                                                          monkeypatch) -> None:
    monkeypatch.delenv("MENTIONDESK_DATA_DIR", raising=False)
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    assert "never opens a data directory" in capsys.readouterr().err
    monkeypatch.setenv("MENTIONDESK_DATA_DIR", str(tmp_path))
    assert main(["serve"]) == 2
    monkeypatch.delenv("MENTIONDESK_DATA_DIR")
    assert main(["serve", "--source", "mastodon:https://mastodon.example"]) == 2
    assert "demo stream only" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_only_loopback_is_private() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


@pytest.mark.parametrize("flag", ["--host", "--port"])
def test_serve_options(flag) -> None:
    from tui.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    assert flag in build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
