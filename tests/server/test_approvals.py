"""Approvals end to end with real processes: an agent's reply waits for a lead, the lead (on
another client) sees it live and approves (it goes out through the outbox) or rejects it with a
note that reaches the author; the customer's clock keeps running meanwhile."""

from __future__ import annotations

import json
import os
from pathlib import Path

from serverkit import cli, seed

from tui.server.client import DeskClient, start_server
from tui.server.identity import login_of


def team_config(desk_dir: Path) -> Path:
    me = login_of(os.getuid())
    path = desk_dir.parent / f"{desk_dir.name}.yaml"
    path.write_text(f"""
agents:
  sam: {{os_user: {me}, role: agent}}
  lee: {{os_user: {me}, role: lead}}
approval:
  roles: [agent]
""")
    return path


def wait_for(client: DeskClient, kind: str) -> dict:
    return next(m for m in client.messages(timeout=30) if m.get("kind") == kind
                or m.get("type") == kind)


def test_agent_reply_waits_for_a_lead_then_approve_and_reject(desk_dir: Path) -> None:
    config = team_config(desk_dir)
    try:
        a, b, c = seed(desk_dir, ["my train was cancelled", "where is my refund",
                                  "the lift at Leeds is broken again"])
        start_server(desk_dir, ["--config", str(config)])
        lead = DeskClient.connect(desk_dir, agent="lee", client="console")
        lead.attach()
        author = DeskClient.connect(desk_dir, agent="sam", client="console")
        author.attach()
        opts = ("--config", str(config))

        done = cli(desk_dir, "reply", a, "Sorry — a replacement bus leaves at 10:40.",
                   "--agent", "sam", *opts)
        assert done.returncode == 0, done.stderr
        assert "waiting for a lead's approval (ap" in done.stdout
        aid = done.stdout.split("(")[1].split(")")[0]
        alert = wait_for(lead, "approval")  # the lead sees it live
        assert alert["approval"] == aid and alert["conv_id"] == a
        change = next(m for m in lead.messages(timeout=30) if m["type"] == "change")
        assert change["rows"][a]["approval"] == aid
        assert change["rows"][a]["needs_reply"] is True  # the customer's clock runs on
        listed = cli(desk_dir, "approvals", "--agent", "lee", *opts)
        assert aid in listed.stdout and f"#{a} by sam" in listed.stdout
        assert cli(desk_dir, "outbox", "--json", *opts).stdout == ""  # nothing sent yet

        refused = cli(desk_dir, "approve", aid, "--agent", "sam", *opts)
        assert refused.returncode == 1 and "only a lead may approve" in refused.stderr
        ok = cli(desk_dir, "approve", aid, "--agent", "lee", *opts)
        assert ok.returncode == 0, ok.stderr
        assert f"approved {aid}: sam's reply on #{a}" in ok.stdout
        outbox = cli(desk_dir, "outbox", "--json", *opts).stdout
        assert "replacement bus" in outbox and f'"conv_id": "{a}"' in outbox
        again = cli(desk_dir, "approve", aid, "--agent", "lee", *opts)
        assert again.returncode == 1 and "already approved by lee" in again.stderr

        # Reject with a note: the reply goes back to its author, nothing is sent.
        done = cli(desk_dir, "reply", b, "Refunds take 90 days lol", "--agent", "sam", *opts)
        aid2 = done.stdout.split("(")[1].split(")")[0]
        no_note = cli(desk_dir, "reject", aid2, "--note", " ", "--agent", "lee", *opts)
        assert no_note.returncode == 1 and "say why in a note" in no_note.stderr
        ok = cli(desk_dir, "reject", aid2, "--note", "Use the refunds canned reply",
                 "--agent", "lee", *opts)
        assert ok.returncode == 0, ok.stderr
        back = wait_for(author, "rejected")
        assert back["conv_id"] == b and "lee returned your reply" in back["message"]
        assert "Use the refunds canned reply" in back["message"]
        outbox = cli(desk_dir, "outbox", "--json", *opts).stdout
        assert "90 days" not in outbox
        show = cli(desk_dir, "queue", "--json", *opts).stdout
        assert f'"id": "{b}", "status": "open", "needs_reply": true' in show
        # A lead's own reply never waits.
        lead_reply = cli(desk_dir, "reply", b, "Refunds are paid within 5 days.", "--agent",
                         "lee", *opts)
        assert lead_reply.stdout.startswith(f"replied on #{b}"), lead_reply.stdout
        # "--suggested": the lead sees (and approves) the words, rendered when it was asked
        held = cli(desk_dir, "reply", c, "--suggested", "--agent", "sam", *opts)
        assert "waiting for a lead's approval" in held.stdout, held.stderr
        listed = cli(desk_dir, "approvals", "--json", "--agent", "lee", *opts).stdout
        [item] = [json.loads(line) for line in listed.splitlines()]
        words = item["args"]["argv"]["text"]
        assert words and item["args"]["argv"]["suggested"] is False
        assert words[:30] in cli(desk_dir, "approvals", "--agent", "lee", *opts).stdout
        assert cli(desk_dir, "approve", item["id"], "--agent", "lee", *opts).returncode == 0
        assert words[:30] in cli(desk_dir, "outbox", "--json", *opts).stdout
        # the audit export names the OS login behind every agent's action
        export = cli(desk_dir, "export", *opts).stdout.splitlines()
        done_by = {(r["who"], r["details"].get("os_user"))
                   for r in map(json.loads, export) if r["type"] == "event"}
        me = login_of(os.getuid())
        assert ("lee", me) in done_by and ("sam", me) in done_by
        lead.close()
        author.close()
    finally:
        config.unlink()
