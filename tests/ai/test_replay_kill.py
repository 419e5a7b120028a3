"""kill -9 of a worker process running a tool loop (three model calls, two tools) served by
a local OpenAI-wire model server; a new worker process resumes it. Counted at the server:
no model call or tool that finished runs again. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import plait
from tests.procs import WorkerProcesses

from . import kill_app


class ModelServer(ThreadingHTTPServer):
    """Answers ``POST /v1/chat/completions`` by the number of tool results in the request:
    0 → call ``weather``, 1 → call ``invite``, 2 → the final answer. Counts each request by
    that turn (``hits``); a request of turn ``hold`` waits until ``release`` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.hold: int | None = None
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        turn = sum(1 for m in body["messages"] if m["role"] == "tool")
        with self.server.lock:
            self.server.hits[turn] += 1
            held = self.server.hold == turn
        if held:
            self.server.release.wait(30)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if turn < 2:
            name, args = [("weather", {"city": "Paris"}), ("invite", {"who": "Ada", "text": "hi"})][
                turn
            ]
            message["tool_calls"] = [
                {
                    "id": f"call-{turn}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            ]
        else:
            message["content"] = "Picnic at noon."
        answer = {
            "id": f"r{turn}",
            "model": "tiny",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10},
        }
        data = json.dumps(answer).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the worker was killed while this request was held
            pass


@pytest.fixture
def server() -> Iterator[ModelServer]:
    s = ModelServer()
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        s.release.set()
        s.shutdown()
        s.server_close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(tmp_path, "tests.ai.kill_app:engine")
    try:
        yield procs
    finally:
        procs.cleanup()


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[plait.Engine]:
    engine = plait.Engine(db_url, workflows=[kill_app.picnic])
    async with engine:
        yield engine


def _env(db_url: str, server: ModelServer, side: Path, **more: str) -> dict[str, str]:
    return {"PLAIT_AI_DB": db_url, "PLAIT_AI_SERVER": server.url, "PLAIT_AI_SIDE": str(side),
            **more}  # fmt: skip


async def _completed(workers: WorkerProcesses, client: plait.Engine, wid: str) -> None:
    async def done() -> bool:
        return (await client.get(wid)).status == "completed"

    await workers.until(done, 60, f"workflow {wid} completed")


async def _check_end(client: plait.Engine, side: Path) -> None:
    assert await client.handle("p").result(timeout=1) == "3 calls: Picnic at noon."
    assert side.read_text().splitlines() == ["weather Paris", "invite Ada"]  # each tool once
    journal = await client.journal("p")
    assert [(e.seq, e.kind, e.status) for e in journal] == [
        (1, "model", "completed"),
        (2, "step", "completed"),
        (3, "model", "completed"),
        (4, "step", "completed"),
        (5, "model", "completed"),
    ]
    rows = await client.ledger("p")
    assert [(r.seq, r.outcome, r.answered_by) for r in rows] == [
        (1, "ok", "local:tiny"),
        (3, "ok", "local:tiny"),
        (5, "ok", "local:tiny"),
    ]
    assert (await client.costs("p")).total.cost_usd == pytest.approx(3 * 120 / 1_000_000)


async def test_killed_between_calls(
    db_url: str, server: ModelServer, workers: WorkerProcesses, client: plait.Engine, tmp_path: Path
) -> None:
    side = tmp_path / "tools.txt"
    await client.start(kill_app.picnic, id="p")
    # The worker dies right after the second model call (position 3) is committed.
    first = workers.start_worker(
        _env(db_url, server, side, PLAIT_AI_KILL_AFTER="3"), concurrency=10, grace=5
    )
    assert first.wait(timeout=60) == -9, workers.log_text()
    assert dict(server.hits) == {0: 1, 1: 1}
    workers.start_worker(_env(db_url, server, side), concurrency=10, grace=5)
    await _completed(workers, client, "p")
    assert dict(server.hits) == {0: 1, 1: 1, 2: 1}  # three calls in all
    await _check_end(client, side)


async def test_killed_during_a_call(
    db_url: str, server: ModelServer, workers: WorkerProcesses, client: plait.Engine, tmp_path: Path
) -> None:
    side = tmp_path / "tools.txt"
    server.hold = 1  # the second model call gets no answer until the worker is dead
    await client.start(kill_app.picnic, id="p")
    first = workers.start_worker(_env(db_url, server, side), concurrency=10, grace=5)

    async def asked() -> bool:
        return server.hits[1] == 1

    await workers.until(asked, 60, "the second model call reached the server")
    first.kill()
    assert first.wait(timeout=10) == -9
    server.hold = None
    server.release.set()
    workers.start_worker(_env(db_url, server, side), concurrency=10, grace=5)
    await _completed(workers, client, "p")
    assert dict(server.hits) == {0: 1, 1: 2, 2: 1}  # only the interrupted call again
    await _check_end(client, side)
