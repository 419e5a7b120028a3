"""A scripted model server on loopback for the provider tests (stdlib ``http.server``).

Each test queues the replies the server gives, in order, and reads back the requests it got
(path, query, headers, JSON body). A ``hang`` reply answers nothing until the server stops,
which is how a timeout is made without waiting for real seconds beyond the client's timeout.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[str] | None = None
    """Server-sent events, each the text of one event (``data: ...``), sent as a stream."""
    hang: bool = False


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class WireServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)


class _Handler(BaseHTTPRequestHandler):
    server: WireServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        parts = urlsplit(self.path)
        self.server.seen.append(
            Seen(
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
        )
        reply = self.server.replies.popleft() if self.server.replies else Reply(500, "unscripted")
        if reply.hang:
            self.server.release.wait(30)
            return
        if reply.events is not None:
            self.send_response(reply.status)
            self.send_header("content-type", "text/event-stream")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            for event in reply.events:
                self.wfile.write(event.encode() + b"\n\n")
                self.wfile.flush()
            return
        body = reply.body
        data = (
            body
            if isinstance(body, bytes)
            else body.encode()
            if isinstance(body, str)
            else json.dumps(body).encode()
        )
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def wire_server() -> Iterator[WireServer]:
    server = WireServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    """A loopback port nothing listens on (a connection to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sse(*items: Any, event: str | None = None) -> list[str]:
    """Events of JSON data (strings are sent as they are)."""
    out = []
    for item in items:
        data = item if isinstance(item, str) else json.dumps(item)
        prefix = f"event: {event}\n" if event else ""
        out.append(f"{prefix}data: {data}")
    return out


class Sleeps:
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
