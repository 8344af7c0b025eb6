"""A small real HTTP server on 127.0.0.1 for tests: stdlib ``ThreadingHTTPServer`` in a thread.

A test gives it a ``route(request) -> Reply`` function.  A reply body is bytes, or an iterable of
chunks written one by one (flushed) for streams; a chunk can also be ``Pause(seconds)`` (wait,
interrupted when the server stops) or ``DROP`` (close the socket right there, mid-body).
Every request is recorded (``server.requests``) so that tests can count what a client sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Pause:
    seconds: float


DROP = object()


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # wait before answering (a slow server)

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Reply:
        hdrs = {"Content-Type": "application/json; charset=utf-8"}
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        return cls(status, json.dumps(value).encode(), hdrs)


class FakeServer:
    def __init__(self, route: Callable[[Request], Reply]) -> None:
        self.route = route
        self.requests: list[Request] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection; streams end at close

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(request)
                try:
                    reply = server.route(request)
                except Exception as exc:  # a bug in a test route: answer 599 and say why
                    reply = Reply(599, repr(exc).encode())
                if reply.delay and server.closing.wait(reply.delay):
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, bytes):
                    if "Content-Length" not in reply.headers:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.end_headers()
                self.wfile.flush()
                for chunk in reply.body:
                    if chunk is DROP:
                        self.close_connection = True
                        return
                    if isinstance(chunk, Pause):
                        if server.closing.wait(chunk.seconds):
                            return
                        continue
                    if isinstance(chunk, str):
                        chunk = chunk.encode()
                    self.wfile.write(chunk)
                    self.wfile.flush()

            def _safe(self) -> None:
                try:
                    self._handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away: normal for streams

            do_GET = do_POST = do_PUT = do_DELETE = _safe

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.path == path)
