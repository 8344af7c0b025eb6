"""Generic feeds (NDJSON, SSE, polled JSON) from a real HTTP server on 127.0.0.1, with faults."""

from __future__ import annotations

import asyncio
import json
from collections import deque

import pytest
from fakes.collect import Collector, RecordingStatus
from fakes.server import DROP, FakeServer, Pause, Reply

from tui.sources.base import LIVE, RETRYING, DeliveryError
from tui.sources.feed import FeedSource, apply_mapping

STATIONS = ["Kings Cross", "Northgate", "Riverside", "Old Mill", "Harbour"]


def mention(n: int, **extra) -> dict:
    return {"id": f"t{n}", "text": f"@northline the {STATIONS[n % 5]} train is late again #{n}",
            "author": {"handle": f"rider{n}", "name": f"Rider {n}"},
            "created_at": f"2026-11-23T08:{n % 60:02d}:00Z", **extra}


def line(n: int, **extra) -> str:
    return json.dumps(mention(n, **extra)) + "\n"


class Scripted(FakeServer):
    """Each GET takes the next scripted reply (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = deque(replies)
        super().__init__(self._next)

    def _next(self, request) -> Reply:
        return self.replies.popleft() if len(self.replies) > 1 else self.replies[0]


def make(server: FakeServer, path: str = "/feed", **options) -> FeedSource:
    options = {"stream_timeout": 0.5, "timeout": 2.0, "backoff_base": 0.01, "backoff_cap": 0.05,
               "poll_seconds": 0.05, **options}
    source = FeedSource(server.url + path, **options)
    source.status = RecordingStatus()
    return source


async def run_until(source, collector, condition) -> None:
    task = asyncio.create_task(source.run(collector))
    try:
        await collector.wait(condition)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.aclose()


NDJSON = {"Content-Type": "application/x-ndjson"}


async def test_ndjson_stream_survives_junk_drops_and_replays():
    first = [line(1), "\n", line(2), "{not json\n", "x" * 3000 + "\n", "\n", line(3),
             json.dumps({"id": "t9", "text": "no author"}) + "\n",
             line(4)[:30], DROP]  # dropped in the middle of a line
    second = [line(1), line(2), line(3), line(4), "\n", line(5), Pause(30)]  # replays history
    with Scripted(Reply(200, first, NDJSON), Reply(200, second, NDJSON)) as server:
        source = make(server, max_line=2000)
        got = Collector()
        await run_until(source, got, lambda ms: len(ms) == 5)
    assert got.ids == ["t1", "t2", "t3", "t4", "t5"]
    assert source.status.skipped == 3  # malformed, oversized, not a mention
    assert got.mentions[0].source == f"feed:{server.url}/feed"
    assert got.mentions[0].author.handle == "rider1"
    assert source.status.saw(LIVE, "streaming") and source.status.saw(RETRYING, "stream ended")


async def test_sse_feed_with_heartbeats_and_a_cut_off_event():
    first = [":ok\n\n", f"data: {json.dumps(mention(1))}\n\n", ":heartbeat\n",
             "event: mention\ndata: " + json.dumps(mention(2))[:20] + "\n",
             "data: " + json.dumps(mention(2))[20:] + "\n\n",  # data split over two lines
             f"data: {json.dumps(mention(3))}", DROP]  # never finished: not dispatched
    second = [f"data: {json.dumps(mention(3))}\n\n", ":heartbeat\n", Pause(30)]
    sse = {"Content-Type": "text/event-stream"}
    with Scripted(Reply(200, first, sse), Reply(200, second, sse)) as server:
        source = make(server)
        got = Collector()
        await run_until(source, got, lambda ms: len(ms) == 3)
    assert got.ids == ["t1", "t2", "t3"]


async def test_silent_stream_is_dead_and_reconnects():
    with Scripted(Reply(200, [line(1), Pause(30)], NDJSON),
                  Reply(200, [line(1), line(2), Pause(30)], NDJSON)) as server:
        source = make(server, stream_timeout=0.3)
        got = Collector()
        await run_until(source, got, lambda ms: len(ms) == 2)
    assert got.ids == ["t1", "t2"]
    assert source.status.saw(RETRYING, "stream silent for 0.3 s")


async def test_polled_json_with_a_field_map_and_faults():
    def ticket(n: int) -> dict:
        return {"ticket_id": f"T-{n}", "body": f"refund for the cancelled {n}:00 please",
                "user": {"name": f"pax{n}", "full": f"Passenger {n}"},
                "opened": f"2026-11-23T09:{n:02d}:00Z", "channel": "direct"}

    json_type = {"Content-Type": "application/json"}
    with Scripted(
        Reply(200, b"<html>down for maintenance</html>", {"Content-Type": "text/html"}),
        Reply.json({"error": "overloaded"}, 503),
        Reply(200, b"[]", json_type, delay=3.0),  # slower than the read timeout
        Reply(200, b'{"items": [', json_type),  # malformed
        Reply(200, json.dumps({"items": [ticket(1)] * 200}).encode(), json_type),  # oversized
        Reply.json({"items": [ticket(1), ticket(2)]}),
        Reply.json({"mentions": [ticket(1), ticket(2), ticket(3)]}),
    ) as server:
        source = make(server, timeout=0.3, max_body=5000,
                      mapping={"id": "ticket_id", "text": "body", "author": "user.name",
                               "created_at": "opened"})
        got = Collector()
        await run_until(source, got, lambda ms: len(ms) == 3)
    assert got.ids == ["T-1", "T-2", "T-3"]
    assert got.mentions[0].author.handle == "pax1" and got.mentions[0].channel == "direct"
    assert source.status.saw(RETRYING, "unexpected content type 'text/html'")
    assert source.status.saw(RETRYING, "HTTP 503")
    assert source.status.saw(RETRYING, "no data within the read timeout")
    assert source.status.saw(RETRYING, "malformed JSON")
    assert source.status.saw(RETRYING, "over the 5000-byte limit")
    assert source.status.skipped == 2  # the malformed and the oversized body


async def test_once_reads_one_document_and_feeds_cannot_post():
    with Scripted(Reply.json([mention(1), mention(2)])) as server:
        source = make(server)
        got = Collector()
        await source.poll(got)
        assert got.ids == ["t1", "t2"]
        with pytest.raises(DeliveryError, match="reply on the originating system") as refused:
            await source.deliver({"id": "x", "text": "hi"})
        assert refused.value.retry is False
        await source.aclose()


def test_mapping_keeps_unmapped_fields_and_follows_paths():
    data = {"n": {"who": [{"h": "ann"}]}, "text": "hi"}
    assert apply_mapping(data, {"author": "n.who.0.h", "id": "missing.path"}) == {
        **data, "author": "ann", "id": None}
