"""Reading and writing mention histories: JSON Lines (the interchange format) and CSV exports.

JSON Lines (``.jsonl``, ``.ndjson``, ``.json``)
------------------------------------------------
UTF-8, one JSON object per line.  Blank lines and lines starting with ``#`` are skipped.

Fields (required: ``id``, ``text``, ``author``, ``created_at``):

- ``id`` — unique within the source (string or number).
- ``text`` — the message, plain text.
- ``author`` — a handle string (``"@ana"`` or ``"ana"``) or an object
  ``{"handle", "name", "followers", "verified", "language"}`` of which only ``handle`` is required.
- ``created_at`` — when the customer posted it: ISO 8601 (``2025-03-03T08:15:00Z``; no offset
  means UTC), epoch seconds, or Twitter's ``Tue Oct 31 22:10:47 +0000 2017``.  SLA clocks start
  here.
- ``channel`` — ``public`` (default) or ``direct`` (``dm`` is accepted).
- ``in_reply_to`` — id of the mention this one answers (same source).
- ``thread`` — id of the thread's first mention (default: the mention's own id).
- ``url``, ``language`` (``fr``, ``cy``...), ``raw_id`` (the network's own id).
- ``source`` — where it came from (``demo``, ``mastodon:https://...``); default: the source
  given to the reader, else ``import``.  ``id`` is unique per source.
- ``received_at`` — when it reached the desk (default: when the file is read).
- ``edited``, ``deleted`` — booleans.

Unknown fields are ignored.  Example::

    {"id": "1", "author": "ana", "created_at": "2025-03-03T08:15:00Z", "text": "my 08:02 is late"}
    {"id": "2", "author": {"handle": "tash", "followers": 48200, "verified": true},
     "channel": "direct", "created_at": 1741000000, "text": "..."}   (one line in the file)

A malformed line (not JSON, not an object, a required field missing, a bad timestamp, not UTF-8)
is reported as ``Skipped(path, line, reason)`` and the reading goes on with the next line.

CSV (``.csv``)
--------------
UTF-8 (a byte-order mark is fine) with a header row.  Columns named like the fields below are
used directly; ``--map field=column,...`` takes a field from a differently named column
(mapping overrides the same-named column; unmapped fields still use same-named columns).
CSV fields: ``id text author created_at channel in_reply_to thread url language source
received_at author_name followers verified`` (``author`` is the handle; ``verified`` accepts
true/yes/1).  Empty cells count as absent.  Ids written by spreadsheet tools as ``123.0`` are read
as ``123``.  The "customer support on Twitter" export reads with::

    --map id=tweet_id,author=author_id,in_reply_to=in_response_to_tweet_id

(``text`` and ``created_at`` already have their names).  Only ``field=column`` is supported: a
constant value is not a mapping.  An unknown field, or a
column missing from the header, is a ``ValueError`` naming it and listing the available ones.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import tempfile
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .model import Mention

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
REQUIRED = ("id", "text", "author", "created_at")
CSV_FIELDS = (
    *REQUIRED, "channel", "in_reply_to", "thread", "url", "language", "source", "received_at",
    "author_name", "followers", "verified",
)
MAX_LINE = 1_000_000  # bytes; a longer line is skipped rather than parsed
_FLOAT_ID = re.compile(r"^(\d+)\.0+$")
_ID_FIELDS = ("id", "in_reply_to", "thread")

# A CSV cell may legitimately hold a long text; the stdlib default (128 KiB) is enough for
# mentions but raise it so one oversized cell is skipped by us with a reason, not by csv.Error.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that could not be read: where it was and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(text: str | bytes) -> Any:
    """One JSON record, for every reader of stranger-supplied JSON (files, feeds, networks).

    Raises ``ValueError`` with a one-line reason for anything that is not a usable record:
    malformed JSON, nesting too deep for the parser (100k ``[``), an integer too long to
    convert (CPython's 4,300-digit limit).  Lone surrogates (``"\\ud800"``, which no UTF-8
    output can carry) become U+FFFD."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg} at column {e.colno}") from None
    except RecursionError:
        raise ValueError("not a usable record: JSON nested too deeply") from None
    except ValueError as e:  # e.g. "Exceeds the limit (4300 digits) for integer string ..."
        raise ValueError(f"not a usable record: {str(e).split(';')[0]}") from None
    return _scrub(data)


def _scrub(data: Any) -> Any:
    """Replace lone surrogates in every string of ``data`` (iteratively: no recursion)."""
    if isinstance(data, str):
        return _SURROGATE.sub("\ufffd", data)
    if not isinstance(data, (dict, list)):
        return data
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, str):
                if _SURROGATE.search(value):
                    node[key] = _SURROGATE.sub("\ufffd", value)
            elif isinstance(value, (dict, list)):
                stack.append(value)
            if isinstance(node, dict) and isinstance(key, str) and _SURROGATE.search(key):
                node[_SURROGATE.sub("\ufffd", key)] = node.pop(key)
    return data


def parse_map(spec: str | None) -> dict[str, str]:
    """``"id=tweet_id,text=text"`` → ``{"id": "tweet_id", "text": "text"}``.

    Raises ``ValueError`` for a malformed pair or a field mentiondesk does not know.
    """
    mapping: dict[str, str] = {}
    if not spec or not spec.strip():
        return mapping
    for pair in spec.split(","):
        pair = pair.strip()
        if not pair:
            continue
        field, sep, column = pair.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise ValueError(f"--map: {pair!r} is not field=column")
        if field not in CSV_FIELDS:
            raise ValueError(
                f"--map: unknown field {field!r}; fields are: {', '.join(CSV_FIELDS)}")
        if field in mapping:
            raise ValueError(f"--map: field {field!r} is mapped twice")
        mapping[field] = column
    return mapping


def read_history(
    path: str | Path,
    mapping: dict[str, str] | None = None,
    source: str | None = None,
    *,
    received_at: datetime | None = None,
) -> Generator[Mention | Skipped, None, None]:
    """Stream the mentions of a history file, and a ``Skipped`` for each unreadable record.

    The format follows the extension (.jsonl/.ndjson/.json → JSON Lines, .csv → CSV).
    ``mapping`` (CSV only) maps fields to columns, see the module docstring.  ``source`` names the
    source of records that do not say.  ``received_at`` is used for records without one (default:
    the time each is read).  Raises ``OSError`` if the file cannot be opened and ``ValueError``
    for an unknown extension or a mapping that does not fit the CSV header — before yielding
    anything.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        if mapping:
            raise ValueError("--map applies to CSV files only")
        fh: Any = path.open("rb")
        return _read_jsonl(fh, str(path), source, received_at)
    if suffix in CSV_SUFFIXES:
        fh = path.open("r", encoding="utf-8-sig", errors="replace", newline="")
        try:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: empty CSV file (no header row)")
            columns = _resolve_columns([h.strip() for h in header], mapping or {}, str(path))
        except BaseException:
            fh.close()
            raise
        return _read_csv(fh, reader, columns, str(path), source, received_at)
    raise ValueError(
        f"{path}: unknown file type {suffix or '(no extension)'!r}; "
        f"use .jsonl, .ndjson, .json (JSON Lines) or .csv")


def _read_jsonl(fh: Any, path: str, source: str | None,
                received_at: datetime | None) -> Generator[Mention | Skipped, None, None]:
    with fh:
        for number, raw in enumerate(fh, start=1):
            if len(raw) > MAX_LINE:
                yield Skipped(path, number, f"line longer than {MAX_LINE} bytes")
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield Skipped(path, number, "not UTF-8 text")
                continue
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                data = load_json(line)
            except ValueError as e:
                yield Skipped(path, number, str(e))
                continue
            yield _mention(data, path, number, source, received_at)


def _resolve_columns(header: list[str], mapping: dict[str, str], path: str) -> dict[str, int]:
    """Field → column index, checked against the header once, before any row is read."""
    available = ", ".join(h for h in header if h) or "(none)"
    for field in mapping:
        if field not in CSV_FIELDS:
            raise ValueError(f"--map: unknown field {field!r}; fields are: {', '.join(CSV_FIELDS)}")
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    columns: dict[str, int] = {}
    for field in CSV_FIELDS:
        column = mapping.get(field, field)
        if column in index:
            columns[field] = index[column]
        elif field in mapping:
            raise ValueError(f"{path}: no column {column!r} (mapped to {field!r}); "
                             f"available columns: {available}")
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise ValueError(
            f"{path}: no column for {', '.join(repr(f) for f in missing)}; available columns: "
            f"{available}; use --map field=column (e.g. --map id=tweet_id)")
    return columns


def _read_csv(fh: Any, reader: Any, columns: dict[str, int], path: str, source: str | None,
              received_at: datetime | None) -> Generator[Mention | Skipped, None, None]:
    with fh:
        while True:
            start = reader.line_num + 1  # a quoted cell may span lines: report where the row starts
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield Skipped(path, start, f"bad CSV: {e}")
                continue
            if not row or all(not cell.strip() for cell in row):
                continue
            data: dict[str, Any] = {}
            for field, i in columns.items():
                if i < len(row) and row[i].strip() != "":
                    value = row[i] if field == "text" else row[i].strip()
                    if field in _ID_FIELDS:
                        value = _FLOAT_ID.sub(r"\1", value)
                    data[field] = value
            author = data.pop("author", None)
            extra = {k: data.pop(k) for k in ("author_name", "followers", "verified") if k in data}
            if author is not None:
                data["author"] = {
                    "handle": author,
                    "name": extra.get("author_name", ""),
                    "followers": extra.get("followers", 0),
                    "verified": str(extra.get("verified", "")).strip().lower()
                    in ("1", "true", "yes", "y"),
                }
            yield _mention(data, path, start, source, received_at)


def _mention(data: Any, path: str, line: int, source: str | None,
             received_at: datetime | None) -> Mention | Skipped:
    try:
        return Mention.from_dict(data, source=source, received_at=received_at)
    except (ValueError, TypeError, OverflowError, OSError, RecursionError) as e:
        # OverflowError/OSError: epoch seconds out of the platform's range
        return Skipped(path, line, str(e) or type(e).__name__)


def write_jsonl(mentions: Iterable[Mention], path: str | Path) -> int:
    """Write mentions as JSON Lines (the interchange format), atomically; return how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for m in mentions:
                out.write(json.dumps(m.to_dict(), ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return count
