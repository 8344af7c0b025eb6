"""The runner connecting live sources (real servers on 127.0.0.1) to a desk and delivering its
outbox: batching, a crashing source, retries with the same idempotency key, once mode, and one
end-to-end run with the real Desk."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from fakes.collect import RecordingStatus
from fakes.desk import FakeDesk
from fakes.mastodon import FakeMastodon, Pause, Reply, sid, sse
from fakes.server import FakeServer

from tui.core.model import Mention
from tui.sources.base import FAILED, STOPPED, Source
from tui.sources.feed import FeedSource
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"


def mastodon(fake: FakeMastodon, **options) -> MastodonSource:
    source = MastodonSource(fake.url, token=TOKEN, stream_timeout=2.0, timeout=2.0,
                            backoff_base=0.01, backoff_cap=0.05, **options)
    source.status = RecordingStatus()
    return source


class Crashing(Source):
    name = "crashing"

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    async def run(self, emit) -> None:
        self.runs += 1
        raise RuntimeError("bug in a source")


def feed_server(n: int) -> FakeServer:
    lines = [json.dumps({"id": f"f{i}", "text": f"@northline lift out of order at stop {i}",
                         "author": f"rider{i}", "created_at": "2026-11-23T08:00:00Z"}) + "\n"
             for i in range(n)]
    return FakeServer(lambda req: Reply(200, [*lines, Pause(30)],
                                        {"Content-Type": "application/x-ndjson"}))


async def wait_for(condition, timeout: float = 5.0) -> None:
    async def loop() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def test_sources_feed_the_desk_in_batches_and_a_crash_stops_nothing():
    with FakeMastodon() as fake, feed_server(500) as feed:
        fake.publish(*(fake.notification(n) for n in range(1, 4)))
        fake.streams.append([":)\n", ("publish", fake.notification(4)),
                             sse("notification", fake.notification(4)), Pause(30)])
        desk = FakeDesk()
        seen: list = []
        crashing = Crashing()
        sources = [mastodon(fake), FeedSource(feed.url + "/stream", backoff_base=0.01),
                   crashing]
        runner = Runner(desk, sources, on_ingested=seen.extend, batch_seconds=0.02,
                        batch_size=200, restart_base=0.01, restart_cap=0.02)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(until=stop))
        await wait_for(lambda: len(desk.mentions) == 504)
        stop.set()
        await task
    keys = [i.mention.key for i in seen]
    assert len(keys) == len(set(keys)) == 504
    assert {m.id for m in desk.mentions.values()} >= {sid(n) for n in range(1, 5)}
    assert max(len(b) for b in desk.batches) <= 500 and len(desk.batches) < 504  # batched
    assert crashing.runs >= 2  # restarted after a backoff
    assert all(s.status.state == STOPPED for s in sources[:2])
    assert crashing.status.state in (FAILED, STOPPED)


async def test_a_poison_mention_costs_only_itself():
    desk = FakeDesk()
    desk.refuse = {"bad"}
    runner = Runner(desk, [])
    now = "2026-11-23T08:00:00Z"
    runner.emit([Mention.from_dict({"id": i, "text": "x", "author": "a", "created_at": now},
                                   source="s") for i in ("a", "bad", "c")])
    results = runner.flush()
    assert [r.mention.id for r in results] == ["a", "c"] and runner.dropped == 1


async def test_outbox_delivery_retries_with_the_same_key_and_fails_on_4xx():
    with FakeMastodon() as fake:
        fake.fault("/api/v1/statuses", "create-then-500")
        desk = FakeDesk()
        source = mastodon(fake, stream=False, poll_seconds=30)
        ok = desk.queue_reply(source=source.name, text="We're on it", in_reply_to_raw=sid(1))
        runner = Runner(desk, [source], retry_base=0.01, retry_cap=0.02, deliver_seconds=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(until=stop))
        await wait_for(lambda: desk.outbox.items[ok["id"]]["status"] == "sent")
        fake.fault("/api/v1/statuses",
                   Reply.json({"error": "Validation failed: Text can't be blank"}, 422))
        bad = desk.queue_reply(source=source.name, text=" ", in_reply_to_raw=sid(1))
        elsewhere = desk.queue_reply(source="bluesky:other.example", text="hi",
                                     in_reply_to_raw=None)
        await wait_for(lambda: desk.outbox.items[bad["id"]]["status"] == "failed")
        stop.set()
        await task
    sent = desk.outbox.items[ok["id"]]
    assert sent["attempts"] == 2 and sent["remote_id"] in fake.statuses
    assert fake.count("POST", "/api/v1/statuses") == 3  # 2 for the first item, 1 for the bad
    assert len(fake.statuses) == 1
    assert fake.idempotency.keys() == {ok["id"]}
    failed = desk.outbox.items[bad["id"]]
    assert failed["error"] == ("HTTP 422 Unprocessable Entity: "
                               "Validation failed: Text can't be blank")
    assert desk.outbox.items[elsewhere["id"]]["status"] == "pending"  # its source is not here


async def test_once_polls_each_source_ingests_and_delivers():
    with FakeMastodon() as fake, FakeServer(lambda r: Reply.json(
            {"items": [{"id": "j1", "text": "hello", "author": "ann",
                        "created_at": "2026-11-23T08:00:00Z"}]})) as feed:
        fake.publish(*(fake.notification(n) for n in range(1, 3)))
        desk = FakeDesk()
        source = mastodon(fake)
        item = desk.queue_reply(source=source.name, text="Thanks!", in_reply_to_raw=sid(1))
        runner = Runner(desk, [source, FeedSource(feed.url)])
        await runner.run(once=True)
    assert sorted(m.id for m in desk.mentions.values()) == sorted([sid(1), sid(2), "j1"])
    assert fake.count("GET", "/api/v1/streaming/user") == 0  # once: REST only
    assert desk.outbox.items[item["id"]]["status"] == "sent"


async def test_with_the_real_desk_mentions_are_triaged_and_replies_go_out(tmp_path):
    from tui.core.desk import Desk
    from tui.core.replies import load_replies
    from tui.core.rules import load_rules
    from tui.core.store import Store
    from tui.setup.boot import packaged_file

    replies = load_replies(packaged_file("replies.yaml"))
    rules = load_rules(packaged_file("rules.yaml"), reply_keys=set(replies.keys))
    store = Store(tmp_path / "data")
    desk = Desk(rules, replies, store, agent="sam", undo_seconds=0)
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, text="the lift at Northgate is broken, I use a "
                                                "wheelchair and I'm stuck on the platform"))
        source = mastodon(fake)
        results: list = []
        await Runner(desk, [source], on_ingested=results.extend).run(once=True)
        assert len(results) == 1 and results[0].new
        assert results[0].triage.category == "accessibility"
        conv_id = results[0].conv_id
        desk.reply(conv_id, "We're sending staff to help you now.")
        await Runner(desk, [mastodon(fake)]).run(once=True)
    posted = list(fake.statuses.values())
    assert len(posted) == 1
    assert posted[0]["form"]["in_reply_to_id"] == sid(1)
    assert posted[0]["form"]["status"].startswith("@admin ")
    items = desk.outbox.for_conversation(conv_id)
    assert [i["status"] for i in items] == ["sent"]
    store.close()


@pytest.mark.parametrize("spec", ["demo", "nonsense:x", "mastodon:"])
def test_registry_specs(spec, monkeypatch):
    from tui.sources.registry import make_source

    if spec == "demo":
        assert make_source("demo", options={"seed": 3}).name == "demo"
    else:
        with pytest.raises(ValueError, match="mastodon:URL"):
            make_source(spec)


def test_registry_builds_live_sources_with_options(monkeypatch, tmp_path):
    from tui.sources.registry import make_source

    monkeypatch.setenv("MENTIONDESK_MASTODON_TOKEN", TOKEN)
    monkeypatch.setenv("MENTIONDESK_BLUESKY_PASSWORD", "pw")
    m = make_source("mastodon:https://mastodon.example", options={"visibility": "unlisted"})
    assert m.name == "mastodon:https://mastodon.example" and m.visibility == "unlisted"
    b = make_source("bluesky:northline.example", options={"service": "http://127.0.0.1:9"})
    assert b.name == "bluesky:northline.example"
    f = make_source("feed:https://feed.example/x", options={"map": {"id": "ticket"}})
    assert f.mapping == {"id": "ticket"}
    with pytest.raises(ValueError, match="unknown option 'colour' for feed sources"):
        make_source("feed:https://feed.example/x", options={"colour": "red"})
    path = tmp_path / "history.jsonl"
    path.write_text("")
    assert make_source(f"replay:{path}").name == f"replay:{path}"


def test_ingest_command_prints_one_json_line_per_mention(tmp_path, monkeypatch, capsys):
    from tui.cli import main

    monkeypatch.setenv("MENTIONDESK_MASTODON_TOKEN", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, text="my refund for the cancelled train never came"),
                     fake.notification(2, status=False))
        code = main(["ingest", "--source", f"mastodon:{fake.url}", "--once",
                     "--data-dir", str(tmp_path / "data")])
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert [line["mention"] for line in lines] == [f"mastodon:{fake.url}|{sid(1)}"]
        assert lines[0]["category"] == "refund" and lines[0]["new"] is True
        assert set(lines[0]) == {"mention", "conv", "new", "category", "urgency", "deadline",
                                 "action", "team", "offline", "why"}
        assert f"mastodon:{fake.url}: live (caught up, 1 fetched); 1 received, 1 skipped" in err
        assert TOKEN not in out + err
        # The same pass again (a new process knows no marks): stored already, nothing printed.
        assert main(["ingest", "--source", f"mastodon:{fake.url}", "--once",
                     "--data-dir", str(tmp_path / "data")]) == 0
        assert capsys.readouterr().out == ""

    assert main(["ingest", "--source", "gopher:x", "--once",
                 "--data-dir", str(tmp_path / "data")]) == 2
    assert "unknown source 'gopher:x'" in capsys.readouterr().err


async def test_the_runner_lets_the_desk_checkpoint_while_it_runs(make_desk, tmp_path):
    from tui.core.store import Store

    store = Store(tmp_path)
    desk = make_desk(store)
    calls = []
    real = desk.maintain_in_background
    desk.maintain_in_background = lambda: calls.append(1) or real()
    desk.last_checkpoint -= timedelta(hours=2)  # due: a background checkpoint, polled to its end
    runner = Runner(desk, [], maintain_seconds=0.01)
    await runner.run(duration=0.5)
    assert len(calls) >= 3
    assert (tmp_path / "desk.json").exists() and not list(tmp_path.glob("journal-*.jsonl"))
    store.close()
