"""Reading histories: JSON Lines and mapped CSV, malformed records skipped with their line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui.core.interchange import Skipped, parse_map, read_history, write_jsonl
from tui.core.model import DIRECT, PUBLIC, Author, Mention

DATA = Path(__file__).resolve().parents[1] / "data"
SUPPORT_MAP = "id=tweet_id,author=author_id,in_reply_to=in_response_to_tweet_id"


def split(records):
    records = list(records)
    return ([r for r in records if isinstance(r, Mention)],
            [r for r in records if isinstance(r, Skipped)])


def test_jsonl_sample_reads_mentions_and_reports_bad_lines():
    mentions, skipped = split(read_history(DATA / "history.jsonl"))
    assert [m.id for m in mentions] == ["h1", "h2", "h3", "h4", "h5", "h8"]
    assert [(s.line, s.path) for s in skipped] == [(n, str(DATA / "history.jsonl"))
                                                   for n in (8, 9, 10)]
    assert "timestamp" in skipped[0].reason or "yesterday" in skipped[0].reason
    assert "author" in skipped[1].reason
    assert skipped[2].reason.startswith("not JSON")
    assert str(skipped[2]).startswith(f"{DATA / 'history.jsonl'}:10: ")

    by_id = {m.id: m for m in mentions}
    tash = by_id["h2"].author
    assert (tash.handle, tash.followers, tash.verified) == ("travelwithtash", 48200, True)
    assert by_id["h3"].channel == DIRECT and by_id["h1"].channel == PUBLIC
    assert by_id["h3"].author.handle == "rhys_llew"
    assert by_id["h3"].created_at == datetime(2025, 3, 3, 8, 10, tzinfo=UTC)
    assert by_id["h4"].in_reply_to == "h1"
    assert by_id["h5"].created_at == datetime(2025, 3, 3, 8, 10, tzinfo=UTC)  # no offset: UTC
    assert by_id["h5"].language == "cy"
    assert all(m.source == "import" for m in mentions)


def test_source_and_received_at_defaults(tmp_path):
    when = datetime(2025, 1, 1, tzinfo=UTC)
    p = tmp_path / "h.ndjson"
    p.write_text('{"id": 1, "author": "a", "created_at": 0, "text": "x"}\n'
                 '{"id": 2, "author": "b", "created_at": 0, "text": "y", "source": "demo",'
                 ' "received_at": "2025-02-02T00:00:00Z"}\n', encoding="utf-8")
    a, b = read_history(p, source="mastodon:https://social.example", received_at=when)
    assert a.source == "mastodon:https://social.example" and a.id == "1"
    assert a.received_at == when
    assert b.source == "demo" and b.received_at == datetime(2025, 2, 2, tzinfo=UTC)


def test_hostile_text_is_cleaned_and_bad_bytes_skip_one_line(tmp_path):
    p = tmp_path / "h.jsonl"
    evil = {"id": "e", "author": {"handle": "x\u202e\x1b[31m", "name": "[b]n[/b]"},
            "created_at": "2025-03-03T08:00:00Z", "text": "hi\x1b]8;;http://e.example\x07there\x07"}
    with p.open("wb") as f:
        f.write(b'\xef\xbb\xbf{"id": "bom", "author": "a", "created_at": 1, "text": "first"}\n')
        f.write(b'{"id": "latin1", "author": "a", "created_at": 1, "text": "caf\xe9"}\n')
        f.write(json.dumps(evil).encode() + b"\r\n")
        f.write(b"[1, 2]\n")
    mentions, skipped = split(read_history(p))
    assert [m.id for m in mentions] == ["bom", "e"]
    assert mentions[1].text == "hithere" and "\x1b" not in mentions[1].author.handle
    assert [(s.line, s.reason) for s in skipped] == [
        (2, "not UTF-8 text"), (4, "a mention must be a JSON object")]


def test_reading_streams_lazily(tmp_path):
    p = tmp_path / "big.jsonl"
    line = '{"id": "%d", "author": "a", "created_at": %d, "text": "t"}\n'
    p.write_text("".join(line % (i, i) for i in range(20_000)), encoding="utf-8")
    it = read_history(p)
    first = next(it)
    assert first.id == "0"
    # the reader holds one line, not the file: the underlying handle is mid-file
    frame = it.gi_frame
    assert frame is not None and frame.f_locals["fh"].tell() < p.stat().st_size
    it.close()


def test_csv_with_map_reads_support_export():
    mentions, skipped = split(read_history(DATA / "support.csv", parse_map(SUPPORT_MAP),
                                           source="twitter"))
    assert [m.id for m in mentions] == ["101", "102", "103", "105", "106"]
    assert [(s.line, "not a date" in s.reason) for s in skipped] == [(6, True)]
    by_id = {m.id: m for m in mentions}
    assert by_id["102"].in_reply_to == "101"  # "101.0" from the spreadsheet export
    assert by_id["101"].author.handle == "115712" and by_id["101"].source == "twitter"
    assert by_id["101"].created_at == datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)
    assert by_id["103"].text == ("@northline how do I claim a refund for my ticket?\n"
                                 "the form keeps erroring")


def test_csv_without_map_uses_field_named_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("id,author,created_at,text,channel,followers,verified,author_name,extra\n"
                 "1,@ana,2025-03-03T08:00:00Z,hello,direct,12000,yes,Ana M,zzz\n"
                 ",,,,,,,,\n"
                 "2,bob,2025-03-03T08:01:00Z,,public,,,,\n", encoding="utf-8")
    mentions, skipped = split(read_history(p))
    (ana,) = mentions
    assert ana.channel == DIRECT and ana.author == Author("ana", "Ana M", 12000, True)
    assert [(s.line, s.reason) for s in skipped] == [(4, "missing required field 'text'")]


def test_bad_map_names_the_column_and_lists_the_available_ones():
    with pytest.raises(ValueError) as e:
        read_history(DATA / "support.csv", {"id": "tweetid"})
    msg = str(e.value)
    assert "'tweetid'" in msg and "tweet_id" in msg and "in_response_to_tweet_id" in msg
    with pytest.raises(ValueError, match="no column for 'id', 'author'"):
        read_history(DATA / "support.csv")
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        parse_map("id=tweet_id,colour=c")
    with pytest.raises(ValueError, match="not field=column"):
        parse_map("id")
    assert parse_map(" id = tweet_id , text=body,") == {"id": "tweet_id", "text": "body"}
    assert parse_map(None) == {}


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown file type '\.txt'"):
        read_history(tmp_path / "x.txt")
    with pytest.raises(OSError):
        read_history(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="CSV files only"):
        read_history(DATA / "history.jsonl", {"id": "x"})
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no header"):
        read_history(tmp_path / "empty.csv")


def test_write_jsonl_round_trips(tmp_path):
    mentions, _ = split(read_history(DATA / "history.jsonl"))
    out = tmp_path / "sub" / "copy.jsonl"
    assert write_jsonl(iter(mentions), out) == len(mentions)
    again, skipped = split(read_history(out))
    assert skipped == []
    assert [m.to_dict() for m in again] == [m.to_dict() for m in mentions]
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temp file left behind


@pytest.mark.parametrize("field, value", [
    ("created_at", "yesterday"), ("created_at", 12345678901234567890), ("created_at", "1e400"),
    ("created_at", "9999-99-99"), ("created_at", True), ("received_at", "nope"),
    ("sent_at", "31/12/2025"), ("created_at", "\x1b[31mred"),
])
def test_a_skipped_record_names_the_field_and_the_fix(tmp_path, field, value):
    record = {"id": "1", "text": "hi", "author": "amy", "created_at": "2026-01-01T00:00:00Z",
              field: value}
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(record) + "\n")
    [skipped] = list(read_history(path))
    assert isinstance(skipped, Skipped)
    assert skipped.reason.startswith(f"{field}: ")
    assert "ISO 8601" in skipped.reason and "\x1b" not in skipped.reason
    assert "%a" not in skipped.reason  # no strptime format in the message
