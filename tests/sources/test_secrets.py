"""Secrets never reach the data directory, logs or exports.

A real run against a fake Mastodon server on 127.0.0.1: ingest with a token from the
environment, reply, deliver the reply (the token goes over the wire in a header), export — then
every byte in the data directory and every line printed is searched for the token."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fakes.mastodon import FakeMastodon

from tui.cli import main

TOKEN = "test-token-s3cret"  # the token the fake server accepts


def test_the_token_is_never_written_anywhere(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    monkeypatch.setenv("MENTIONDESK_MASTODON_TOKEN", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text("agent: night-op\nundo_seconds: 0\n")
    data = tmp_path / "data"
    common = ["--data-dir", str(data), "--config", str(config)]
    caplog.set_level(logging.DEBUG)
    printed = []
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, text="my refund for the cancelled train never came"))
        source = f"mastodon:{fake.url}"
        assert main(["ingest", "--source", source, "--once", *common]) == 0
        conv = json.loads(capsys.readouterr().out.splitlines()[0])["conv"]
        assert main(["reply", conv, "--suggested", *common]) == 0
        assert main(["ingest", "--source", source, "--once", *common]) == 0  # delivers it
        printed.append(capsys.readouterr())
        assert main(["outbox", "--all", "--json", *common]) == 0
        (item,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        # sent: the server accepted it, and it refuses any request without the bearer token
        assert item["status"] == "sent" and item["remote_id"]
    for command in (["export"], ["export", "--format", "csv"], ["report"], ["review"]):
        assert main([*command, *common]) == 0
        printed.append(capsys.readouterr())
    files = [p for p in data.rglob("*") if p.is_file()]
    assert files, "the desk wrote nothing?"
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), f"token found in {path}"
    for out in printed:
        assert TOKEN not in out.out + out.err
    assert TOKEN not in caplog.text
