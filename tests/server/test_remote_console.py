"""Consoles attached to a desk process (a real one, started in the background), driven through
Textual's pilot: two consoles and a CLI command each see the others' actions, presence and
assignments; kill -9 of the desk process shows "desk offline — reconnecting", keeps the open
draft, and the console comes back on a desk process it restarts itself.

The waits below are bounded polls, not timings: how fast a change reaches the other console
is measured by bench/bench_desk_process.py."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app_fixtures import make_app, notifications, screen_text, show
from serverkit import ROOT, alive, cli, holder_pid, seed

from tui.core.store import Store
from tui.server.client import start_server
from tui.server.remote import RemoteDesk, open_remote
from tui.setup.boot import Options

WAIT = 10.0  # seconds at most for a change to show (a loaded 2-core machine); typically ms


async def until(pilot: Any, check: Callable[[], Any], what: str, wait: float = WAIT) -> None:
    """Pump the pilot until ``check()`` is true (the replica applies messages on the loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not check():
        assert loop.time() < deadline, f"never happened: {what}"
        await pilot.pause(0.02)


def settle(*apps: Any) -> None:
    """Show the alerts still waiting for their cooldown: no timer may fire while two pilots
    shut down (Textual's timers need their own app's context)."""
    for app in apps:
        app.flush_alerts()


def attach(desk_dir: Path, agent: str) -> RemoteDesk:
    return open_remote(Options(data_dir=str(desk_dir), agent=agent), start=False)


def stored(data_dir: Path) -> dict:
    store = Store(data_dir, read_only=True)
    try:
        return store.load()
    finally:
        store.close()


async def test_two_consoles_and_a_script_see_each_other(desk_dir: Path) -> None:
    first, second, third = seed(desk_dir, ["my train was cancelled and nobody helps",
                                           "where is my refund", "lost my bag at the station"])
    start_server(desk_dir)
    sam, kim = attach(desk_dir, "sam"), attach(desk_dir, "kim")
    app_sam, app_kim = make_app(sam), make_app(kim)
    async with app_sam.run_test(size=(120, 30)) as ps, app_kim.run_test(size=(120, 30)) as pk:
        # Who is on the desk: each status bar names the other.
        await until(pk, lambda: "sam" in str(app_kim.query_one("#status").render()),
                    "kim's status bar names sam")
        await until(ps, lambda: "kim" in str(app_sam.query_one("#status").render()),
                    "sam's status bar names kim")
        # Sam looks at the first conversation and assigns it to himself (a).
        await show(app_sam, ps, first)
        await ps.press("a")
        assert sam.get(first).assigned == "sam"  # his replica shows his action at once
        await until(pk, lambda: kim.get(first).assigned == "sam", "kim sees the assignment")
        await until(pk, lambda: app_kim.queue_view.presence.get(first) == "◉",
                    "kim's queue marks the conversation sam views")
        await show(app_kim, pk, first)
        await until(pk, lambda: "sam is viewing" in screen_text(app_kim),
                    "kim's conversation pane says sam views it")
        assert "assigned sam" in screen_text(app_kim)
        # n for kim: never a conversation assigned to someone else.
        await pk.press("n")
        assert app_kim.selected != first
        # A script acts while both consoles run: both see it.
        done = await asyncio.to_thread(cli, desk_dir, "note", second, "called back, waiting",
                                       "--agent", "lee")
        assert done.returncode == 0, done.stderr
        for desk, pilot in ((sam, ps), (kim, pk)):
            await until(pilot, lambda d=desk: any(
                e.kind == "note" and e.agent == "lee" for e in d.events.values()),
                "the script's note reaches both consoles")
        # Sam opens the composer on the third: kim is warned when she opens hers.
        await show(app_sam, ps, third)
        await ps.press("r")
        await until(pk, lambda: app_kim.queue_view.presence.get(third) == "✍",
                    "kim's queue marks the conversation sam writes on")
        await show(app_kim, pk, third)
        await until(pk, lambda: "sam is writing a reply" in screen_text(app_kim),
                    "kim's pane says sam writes")
        await pk.press("r")
        await until(pk, lambda: any("sam is already replying" in n
                                    for n in notifications(app_kim)),
                    "kim is warned that sam is replying")
        # Sam sends first; kim's send is refused naming him (the simultaneous-send race).
        await ps.press(*"Sorry to hear that")
        await ps.press("ctrl+s")
        await until(ps, lambda: not sam.get(third).needs_reply, "sam's reply is done")
        await pk.press(*"On it")
        await pk.press("ctrl+s")
        await until(pk, lambda: "sam replied since you opened" in screen_text(app_kim),
                    "kim's composer shows the refusal")
        await pk.press("escape")
        # The "assigned to me" view (v) holds sam's conversation only.
        app_sam.apply_filter("assigned:me")
        assert list(app_sam.queue_view.queue) == [first]
        settle(app_sam, app_kim)
    sam.close()
    kim.close()
    done = await asyncio.to_thread(cli, desk_dir, "server", "--stop")
    assert done.returncode == 0, done.stderr
    tables = stored(desk_dir)
    # One answer went out on the third conversation: sam's; kim's was refused.
    assert [i["text"] for i in tables["outbox"].values() if i["conv_id"] == third] \
        == [next(e for e in tables["events"].values() if e["kind"] == "reply")["details"]
            ["text"]]
    assert {(e["kind"], e["agent"]) for e in tables["events"].values()} == {
        ("assign", "sam"), ("note", "lee"), ("reply", "sam")}


async def test_kill_9_of_the_desk_process_keeps_the_draft_and_reconnects(
        desk_dir: Path) -> None:
    [conv] = seed(desk_dir, ["my train was cancelled and nobody helps"])
    first_pid = start_server(desk_dir)
    desk = attach(desk_dir, "sam")
    app = make_app(desk)
    async with app.run_test(size=(120, 30)) as pilot:
        await show(app, pilot, conv)
        await pilot.press("r")
        await pilot.press(*"We are looking into it")

        def draft() -> str:
            return str(app.screen.query_one("#reply-text").text)

        typed = draft()
        assert "We are looking into it" in typed
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        await until(pilot, lambda: "desk offline — reconnecting" in screen_text(app),
                    "the status bar says the desk is offline")
        # The console restarts the desk process itself (as the next client would).
        await until(pilot, lambda: desk.online and desk.server_pid not in (0, first_pid),
                    "the console is back on a new desk process", wait=60)
        await until(pilot, lambda: "desk offline" not in screen_text(app),
                    "the status bar no longer says offline")
        assert not alive(first_pid)
        assert draft() == typed  # the open draft is kept
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not desk.get(conv).needs_reply, "the reply is done")
        new_pid = desk.server_pid
    desk.close()
    assert new_pid == holder_pid(desk_dir)
    done = await asyncio.to_thread(cli, desk_dir, "server", "--stop")
    assert done.returncode == 0, done.stderr
    events = stored(desk_dir)["events"]
    assert [e["kind"] for e in events.values()] == ["reply"]  # acknowledged, so saved


async def test_approval_between_an_agent_console_and_a_lead_console(desk_dir: Path) -> None:
    from test_approvals import team_config

    config = team_config(desk_dir)
    try:
        a, b = seed(desk_dir, ["my train was cancelled", "where is my refund"])
        start_server(desk_dir, ["--config", str(config)])

        def console(agent: str) -> RemoteDesk:
            return open_remote(Options(data_dir=str(desk_dir), agent=agent,
                                       config=str(config)), start=False)

        sam, lee = console("sam"), console("lee")
        assert (sam.role, lee.role) == ("agent", "lead")
        app_sam, app_lee = make_app(sam), make_app(lee)
        async with app_sam.run_test(size=(120, 30)) as ps, \
                app_lee.run_test(size=(120, 30)) as pl:
            await show(app_sam, ps, a)
            await ps.press("r")
            await ps.press("ctrl+s")  # the suggested reply, as it stands
            # Nothing went out: the dialog closes saying it waits for a lead.
            await until(ps, lambda: len(app_sam.screen_stack) == 1, "the composer closes")
            assert any("waits for a lead's approval" in n for n in notifications(app_sam))
            assert sam.get(a).needs_reply  # the customer's clock keeps running
            # The lead's console hears of it at once.
            await until(pl, lambda: any("APPROVAL" in n and f"#{a}" in n
                                        for n in notifications(app_lee)),
                        "the lead's console shows the approval waiting")
            # The lead approves it in the console: P lists what waits, with its words.
            [item] = lee.approvals_waiting()
            await pl.press("P")
            await until(pl, lambda: type(app_lee.screen).__name__ == "ApprovalsScreen",
                        "the approvals open")
            words = lee.approval_text(item)
            assert words and words[:25] in screen_text(app_lee)
            assert f"#{a}" in screen_text(app_lee) and "by sam" in screen_text(app_lee)
            await pl.press("a")
            await until(ps, lambda: not sam.get(a).needs_reply,
                        "the approved reply reaches sam's console as his reply")
            await until(pl, lambda: "no reply waits for approval" in screen_text(app_lee),
                        "the lead's list empties")
            await pl.press("escape")
            # Rejected with a note: the note reaches the author's console.
            await show(app_sam, ps, b)
            await ps.press("r")
            await ps.press("ctrl+s")
            await until(pl, lambda: len(lee.approvals_waiting()) == 1, "the second one waits")
            await pl.press("P")  # returned with a note, in the console too
            await until(pl, lambda: type(app_lee.screen).__name__ == "ApprovalsScreen",
                        "the approvals open again")
            await until(pl, lambda: f"#{b}" in screen_text(app_lee), "the second one shows")
            await pl.press("r")
            await pl.press("enter")  # no note: refused, said in the dialog
            await until(pl, lambda: "say why in a note" in screen_text(app_lee),
                        "a return needs a note")
            await pl.press(*"use the refunds reply", "enter")
            await until(ps, lambda: any("use the refunds reply" in n
                                        for n in notifications(app_sam)),
                        "the lead's note reaches sam's console")
            settle(app_sam, app_lee)
        sam.close()
        lee.close()
    finally:
        config.unlink()


async def test_a_desk_larger_than_one_message_reaches_a_console_whole(
        desk_dir: Path, make_desk: Any, monkeypatch: Any) -> None:
    import tui.server.server as server_module
    from tui.server.server import DeskServer

    monkeypatch.setattr(server_module, "STATE_CHUNK", 7)  # many "state" messages
    desk = make_desk(data_dir=desk_dir, demo=25)
    server = DeskServer(desk, desk_dir)
    await server.start()
    try:
        remote = RemoteDesk(desk.rules, desk.replies, desk_dir, start=False)
        await asyncio.to_thread(remote.connect)
        assert list(remote.queue) == list(desk.queue)
        assert set(remote.events) == set(desk.events)
        assert {k: c.header() for k, c in remote.conversations.items()} == \
            {k: c.header() for k, c in desk.conversations.items()}
        # An action here reaches the replica through the change stream, in the same shapes.
        conv = desk.queue[0]
        desk.note(conv, "checked the CCTV request", agent="ana")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not any(e.kind == "note" for e in remote.events.values()):
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
            remote.pump()
        assert remote.get(conv).header() == desk.get(conv).header()
        remote.close()
    finally:
        await server.close()


def test_a_note_draft_reaches_the_desk_process_and_goes_with_the_note(desk_dir: Path) -> None:
    (first,) = seed(desk_dir, ["where is my refund"])
    start_server(desk_dir)
    sam = attach(desk_dir, "sam")
    try:
        sam.save_note_draft(first, "note", "refund of 12.50 approved")
        sam.save_note_draft(first, "handoff", "for refunds", team="refunds")
        # A fresh replica of the same agent (another console): from the desk process's tables.
        other = attach(desk_dir, "sam")
        kim = attach(desk_dir, "kim")
        try:
            assert other.agent == "sam" and kim.agent == "kim"
            assert other.note_draft_for(first, "note")["text"] == "refund of 12.50 approved"
            assert other.note_draft_for(first, "handoff")["team"] == "refunds"
            assert other.draft_for(first, "direct") is None  # never a reply draft
            # A note draft belongs to its agent: kim never gets sam's words.
            assert kim.note_draft_for(first, "note") is None
            assert kim.note_draft_for(first, "handoff") is None
        finally:
            other.close()
            kim.close()
        sam.note(first, "refund of 12.50 approved")
        assert sam.note_draft_for(first, "note") is None
        again = attach(desk_dir, "sam")
        try:
            assert again.note_draft_for(first, "note") is None
            assert again.note_draft_for(first, "handoff") is not None
        finally:
            again.close()
    finally:
        sam.close()


def test_two_agents_drafting_one_conversation_keep_their_own_words(desk_dir: Path) -> None:
    """A real desk process, two real clients of two agents on one conversation: each gets
    back only their own draft (also a fresh console of the same agent), the second's typing
    never overwrites the first's, and one sending leaves the other's draft alone."""
    (first,) = seed(desk_dir, ["where is my refund"])
    start_server(desk_dir)
    sam, kim = attach(desk_dir, "sam"), attach(desk_dir, "kim")
    try:
        assert (sam.agent, kim.agent) == ("sam", "kim")
        sam.save_draft(first, "sam: refund approved, 3 to 5 days")
        kim.save_draft(first, "kim: checking with finance")  # kim goes on past the soft lock
        assert sam.draft_for(first, "public")["text"] == "sam: refund approved, 3 to 5 days"
        assert kim.draft_for(first, "public")["text"] == "kim: checking with finance"
        for name, words in (("sam", "sam: refund approved, 3 to 5 days"),
                            ("kim", "kim: checking with finance")):
            fresh = attach(desk_dir, name)  # from the desk process's tables
            try:
                assert fresh.draft_for(first, "public")["text"] == words
            finally:
                fresh.close()
        kim.reply(first, "kim: checking with finance, back within the hour")
        fresh_sam, fresh_kim = attach(desk_dir, "sam"), attach(desk_dir, "kim")
        try:
            assert fresh_sam.draft_for(first, "public")["text"] == \
                "sam: refund approved, 3 to 5 days"
            assert fresh_kim.draft_for(first, "direct") is None
        finally:
            fresh_sam.close()
            fresh_kim.close()
    finally:
        sam.close()
        kim.close()
    drafts = stored(desk_dir)["drafts"]
    assert [d["text"] for d in drafts.values()] == ["sam: refund approved, 3 to 5 days"]


def test_a_rules_reload_reaches_every_attached_console(desk_dir: Path, tmp_path: Path) -> None:
    """`mentiondesk rules reload` changes the desk process's rules; the consoles' replicas
    follow at once (labels, levels, canned replies come from their rules), and a console that
    attaches later gets the reloaded text, not the file it would read itself."""
    from conftest import ROOT

    seed(desk_dir, ["my train was cancelled"])
    assert start_server(desk_dir) is not None
    sam = attach(desk_dir, "sam")
    told: list[dict[str, Any]] = []
    sam.watchers.append(told.append)
    try:
        changed = tmp_path / "rules.yaml"
        text = (ROOT / "rules.yaml").read_text(encoding="utf-8").replace(
            "description: Someone may be at risk right now",
            "description: Safety first — someone may be at risk", 1)
        changed.write_text(text, encoding="utf-8")
        done = cli(desk_dir, "rules", "reload", "--rules", str(changed))
        assert done.returncode == 0, done.stderr

        def follows(remote: RemoteDesk) -> bool:
            remote.pump()
            return remote.rules.levels["critical"].description.startswith("Safety first")

        end = time.monotonic() + WAIT
        while not follows(sam):
            assert time.monotonic() < end, "the attached console never followed the reload"
            time.sleep(0.02)
        assert any(m.get("type") == "rules" and "reloaded" in str(m.get("summary"))
                   for m in told), told
        assert str(sam.rules.path) == str(changed)
        kim = attach(desk_dir, "kim")  # attaches after the reload
        try:
            end = time.monotonic() + WAIT
            while not follows(kim):
                assert time.monotonic() < end, "a later console kept its own rules file"
                time.sleep(0.02)
        finally:
            kim.close()
    finally:
        sam.close()
        stop = cli(desk_dir, "server", "--stop")
        assert stop.returncode == 0, stop.stderr


async def test_what_the_store_repaired_shows_on_the_console_attached(desk_dir: Path) -> None:
    seed(desk_dir, ["where is my refund"])
    with (desk_dir / "journal.jsonl").open("ab") as f:
        f.write(b'0badc0de {"s": 999, "t": "mentions", "k": "x')  # torn by a crash
    start_server(desk_dir)
    desk = attach(desk_dir, "sam")  # the first client: the desk process tells it
    app = make_app(desk)
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.pause()
            assert any(n.startswith("recovered:") and "torn" in n for n in notifications(app))
            settle(app)
    finally:
        desk.close()



def test_a_start_that_finds_a_stopping_desk_process_goes_on_when_it_has_gone(
        desk_dir: Path) -> None:
    """What a console's reconnect meets after `server --stop` on a large desk: the stopping
    desk process still holds the data directory for seconds (its checkpoint and state image)
    and will never listen again.  A real process holding the store's lock as one (a
    ``server`` argv) stands in for it; the start must go on once it has gone — not wait out
    the 60 s start timeout."""
    import subprocess
    import sys

    from tui.server.client import connect_or_start

    seed(desk_dir, ["my train was cancelled"])
    holding = "import sys, time; from tui.core.store import Store; s = Store(sys.argv[2]); " \
              "print('held', flush=True); time.sleep(3); s.close()"
    holder = subprocess.Popen([sys.executable, "-c", holding, "server", str(desk_dir)],
                              stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        client = connect_or_start(desk_dir, client="console")
        took = time.monotonic() - started
        client.close()
        assert took < 20, f"attached after {took:.1f} s"
        assert holder.wait(10) == 0
    finally:
        holder.kill()
        holder.wait()
