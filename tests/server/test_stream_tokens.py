"""Tokens reach the workflow page of a real ``plait server --worker`` (a subprocess) as the
model sends them: an OpenAI-compatible test server streams a haiku in pieces, the page's
token stream (``/workflows/{id}/tokens``, server-sent events) hands them on in order and
says when the call ended, and the journal records the final answer once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.ai.wire import Reply, sse, wire_server
from tests.server.running import running_server

PIECES = ["old ", "pond, ", "a frog"]


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def read_tokens(lines, timeout: float = 30) -> tuple[list[tuple[int, str]], int | None]:
    """The ``token`` events of a stream until its ``done`` event."""
    tokens: list[tuple[int, str]] = []
    kind = None
    deadline = time.monotonic() + timeout
    for line in lines:
        assert time.monotonic() < deadline, tokens
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
            if kind == "token":
                tokens.append((data["seq"], data["text"]))
            elif kind == "done":
                return tokens, data["seq"]
    return tokens, None


@pytest.mark.backends("sqlite")
def test_the_workflow_page_streams_a_running_calls_tokens(
    tmp_path: Path,
    users_file: Path,
    tokens: dict[str, str],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    viewer = {"Authorization": f"Bearer {tokens['vera']}"}
    operator = {"Authorization": f"Bearer {tokens['olga']}"}
    with wire_server() as model_server:
        model_server.reply(
            Reply(
                events=sse(
                    chunk({"role": "assistant", "content": ""}),
                    *(chunk({"content": p}) for p in PIECES),
                    chunk({}, "stop"),
                    {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}},
                    "[DONE]",
                )
            )
        )
        monkeypatch.setenv("PLAIT_TEST_MODEL", f"openai:haiku-1@{model_server.url}/v1")
        with running_server(
            tmp_path, users_file, db_url, app="tests.server.ai_app:engine"
        ) as server:
            url = server.url
            with httpx.Client(timeout=30) as client:
                r = client.post(
                    f"{url}/api/workflows",
                    headers=operator,
                    json={"workflow": "haiku", "args": ["frogs"], "id": "h1"},
                )
                assert r.status_code == 201, r.text
                page = client.get(f"{url}/workflows/h1", headers=viewer).text
                assert 'data-tokens="/workflows/h1/tokens"' in page
                with client.stream("GET", f"{url}/workflows/h1/tokens", headers=viewer) as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    lines = stream.iter_lines()
                    assert next(lines) == "retry: 3000"  # subscribed: now let the call start
                    r = client.post(
                        f"{url}/api/workflows/h1/signal", headers=operator, json={"name": "go"}
                    )
                    assert r.status_code == 200, r.text
                    got, done_seq = read_tokens(lines)
                assert [text for _, text in got] == PIECES
                assert {seq for seq, _ in got} == {done_seq} and done_seq is not None
                deadline = time.monotonic() + 30
                while (detail := client.get(f"{url}/api/workflows/h1", headers=viewer).json())[
                    "info"
                ]["status"] != "completed":
                    assert time.monotonic() < deadline, detail
                    time.sleep(0.1)
                assert detail["info"]["output"] == "old pond, a frog"
                (entry,) = [e for e in detail["journal"] if e["kind"] == "model"]
                assert entry["seq"] == done_seq
                assert entry["output"]["response"]["text"] == "old pond, a frog"
                assert entry["output"]["usage"] == {"input_tokens": 12, "output_tokens": 7}
            assert len(model_server.seen) == 1 and model_server.seen[0].body["stream"] is True
            assert server.stop() == 0, server.log_text()
