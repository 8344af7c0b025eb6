"""The desk protocol: versioned JSON lines over a Unix domain socket.

Every message is one JSON object on one line (UTF-8, ``\\n``-terminated, at most
``MAX_LINE`` bytes).  A session:

1. client → ``{"type": "hello", "protocol": 2, "agent": NAME|null, "client": "cli"|"console"}``
   server → ``{"type": "welcome", "protocol": 2, "agent", "role", "os_user", "server_pid"}``, or
   ``{"type": "refused", "kind": "protocol"|"identity", "reasons": [...]}`` and the server
   closes the connection.  A client of another protocol version gets a ``protocol`` refusal
   that names both versions.
2. client → ``{"type": "attach", "limit": N (optional), "replica": true (optional)}``; server →
   ``{"type": "snapshot", "seq", "rows", "more", "counts", "sources", "presence", "approvals"}``
   (with a limit: the first N rows, enough to draw a screen; without, at most ``SNAPSHOT_ROWS``
   so the line stays under MAX_LINE; the ``more`` others follow in
   ``{"type": "rows", "rows": {id: row}, "more"}`` messages) and then ``{"type": "change",
   "seq", "t", "rows", "counts"}`` messages as the desk changes (``t``: the desk process's clock
   when it sent them, Unix seconds; ``rows`` maps conversation id → row, or null when the
   conversation left the desk). A ``replica`` client (a console) gets no rows but the desk's
   hot tables (the store's shapes) in ``{"type": "state", "tables": {...}, "more": N}``
   messages (``"state": true`` in its snapshot; ``"conversations"``: how many it will hold):
   the first, right after the snapshot, holds every document of the conversations its first
   screen needs (the first ``limit`` of the queue), of those assigned to its agent and those
   waiting for approval, with their customers' other conversations, and the desk's ``meta``;
   the others (``STATE_CHUNK`` conversations each, most urgent first) follow between changes,
   each built when it is sent — never older than a change sent before it — until one says
   ``"more": 0``. In each change a replica gets ``docs``: every document of the changed
   conversations (``Desk.conversation_docs``), which it applies to its own copy. Requests
   ``docs`` (``conv_ids``) and ``next`` (``others``) serve a replica still loading. A
   request's changes are sent before its result. A client that fell behind its send budget
   gets a fresh ``snapshot`` with ``"resync": true`` instead of the changes it missed.
   Protocol 2 (progressive ``state``) replaced 1 (every ``state`` message before any change).
3. client → ``{"type": "request", "id": N, "op": NAME, "args": {...}}``; server →
   ``{"type": "result", "id": N, "ok": true, "value": ...}`` or ``{"type": "result", "id": N,
   "ok": false, "refusal": {"kind": KIND, "reasons": [...]}}`` where KIND is one of
   ``REFUSAL_KINDS``; a refusal from one of the desk's typed exceptions also names it
   (``"error": "Outgrown", "data": {"count": 2}``) so a client raises the same exception.
4. server → ``{"type": "alert", ...}`` and ``{"type": "presence", ...}`` at any time after attach.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

VERSION = 2  # 2: a replica's "state" arrives progressively, between changes
SOCKET = "desk.sock"  # inside the data directory
MAX_LINE = 8 * 1024 * 1024  # bytes; a longer line is a protocol error
# Typed refusals: "refused" (the desk's rules said no: reasons say why), "changed" (the
# conversation changed since the client saw it), "not_found", "usage" (bad arguments),
# "forbidden" (the agent's role may not), "protocol", "identity", "error" (a bug: see server.log).
REFUSAL_KINDS = ("refused", "changed", "not_found", "usage", "forbidden", "protocol",
                 "identity", "error")

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                            default=str)


class ProtocolError(Exception):
    """The peer sent something that is not this protocol; the message says what."""


class Refused(Exception):
    """A typed refusal from the desk process: ``kind`` (one of ``REFUSAL_KINDS``) and
    ``reasons`` in words an agent understands."""

    def __init__(self, kind: str, reasons: list[str] | str, *, error: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        # The desk's own exception, for a client that raises the same one (``RemoteDesk``):
        # its class name (``Outgrown``, ``AlreadyAnswered``, ...) and constructor data.
        self.error = error
        self.data = data or {}
        super().__init__("; ".join(self.reasons))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "reasons": self.reasons}
        if self.error:
            out["error"], out["data"] = self.error, self.data
        return out

    @classmethod
    def from_dict(cls, refusal: dict[str, Any]) -> Refused:
        return cls(refusal.get("kind", "error"), refusal.get("reasons") or ["refused"],
                   error=refusal.get("error"), data=refusal.get("data") or {})


MAX_SUN_PATH = 107  # bytes in a Unix socket path (Linux sun_path minus the NUL): unix(7)


def socket_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / SOCKET


def socket_fits(data_dir: Path | str) -> bool:
    """True when ``data_dir``'s socket path fits a Unix socket address (``MAX_SUN_PATH``)."""
    return len(os.fsencode(socket_path(data_dir))) <= MAX_SUN_PATH


def encode(message: dict[str, Any]) -> bytes:
    """One message as one line of bytes."""
    return (_ENCODER.encode(message) + "\n").encode("utf-8", "surrogatepass")


def decode(line: bytes) -> dict[str, Any]:
    """One line back to a message; ``ProtocolError`` when it is not a JSON object with a type."""
    try:
        message = json.loads(line.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"not a JSON line: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a message must be a JSON object with a \"type\"")
    return message


def hello(agent: str | None, client: str) -> dict[str, Any]:
    return {"type": "hello", "protocol": VERSION, "agent": agent, "client": client}


def version_mismatch(theirs: Any) -> Refused:
    return Refused("protocol", f"this desk process speaks protocol {VERSION}, the client "
                               f"speaks {theirs!r}: run the same mentiondesk version on both "
                               "sides (restart the desk with `mentiondesk server --stop`)")
