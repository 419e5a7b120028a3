"""The live change stream of a real ``plait server`` (subprocess, with a worker): a client
sees a workflow's changes as server-sent events while it runs; a client that goes away
leaves nothing behind; the server stopping ends open streams, and the server exits 0."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.server.running import running_server


def read_events(lines, until, timeout: float = 30) -> list[dict]:
    """The ``change`` events from a stream's lines, until ``until(events)`` is true."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    kind = None
    for line in lines:
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: ") and kind == "change":
            events.append(json.loads(line[len("data: ") :]))
            if until(events):
                return events
        assert time.monotonic() < deadline, events
    return events


@pytest.mark.backends("sqlite")
def test_a_stream_shows_a_workflow_running_and_ends_when_the_server_stops(
    tmp_path: Path, users_file: Path, tokens: dict[str, str], db_url: str
) -> None:
    viewer = {"Authorization": f"Bearer {tokens['vera']}"}
    operator = {"Authorization": f"Bearer {tokens['olga']}"}
    with running_server(tmp_path, users_file, db_url) as server:
        url = server.url
        # the app module's extensions are served (plait_server_extensions was called)
        assert httpx.get(f"{url}/hiring/whoami", headers=viewer).json() == {"name": "vera"}
        r = httpx.get(f"{url}/api/events/stream", timeout=5)
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
        r = httpx.get(f"{url}/api/events/stream", params={"workflow_id": ""}, headers=viewer)
        assert r.status_code == 422 and r.json()["field"] == "workflow_id"

        # a client that goes away: the server carries on
        with httpx.stream("GET", f"{url}/api/events/stream", headers=viewer, timeout=10) as gone:
            assert gone.status_code == 200
            assert gone.headers["content-type"].startswith("text/event-stream")

        with httpx.Client(timeout=30) as client:
            with client.stream(
                "GET", f"{url}/api/events/stream", params={"workflow_id": "s1"}, headers=viewer
            ) as stream:
                lines = stream.iter_lines()
                r = client.post(
                    f"{url}/api/workflows",
                    headers=operator,
                    json={"workflow": "waiter", "args": [1], "id": "s1"},
                )
                assert r.status_code == 201
                seen = read_events(
                    lines,
                    lambda evs: any(
                        e["kind"] == "status" and e["status"] == "waiting" for e in evs
                    ),
                )
                client.post(
                    f"{url}/api/workflows/s1/signal",
                    headers=operator,
                    json={"name": "go", "payload": 2},
                )
                seen += read_events(
                    lines,
                    lambda evs: any(
                        e["kind"] == "status" and e["status"] == "completed" for e in evs
                    ),
                )
                assert {e["workflow_id"] for e in seen} == {"s1"}
                statuses = [e["status"] for e in seen if e["kind"] == "status"]
                assert statuses[-1] == "completed"
                assert any(e["kind"] == "journal" and e["entry_kind"] for e in seen)

                # the server stops while the stream is open: the stream ends, the server exits 0
                started = time.monotonic()
                assert server.stop(timeout=30) == 0, server.log_text()
                assert time.monotonic() - started < 20
                for _ in lines:
                    pass  # ends instead of hanging
        log = server.log_text()
        assert "Traceback" not in log, log
