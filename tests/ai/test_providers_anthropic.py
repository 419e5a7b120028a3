"""The Anthropic Messages provider against a loopback server speaking its wire format."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from plait.ai import (
    ChatRequest,
    Message,
    ModelAuthError,
    ModelBadRequest,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
    ToolCall,
    ToolSpec,
)
from plait.ai.fallback import Fallback
from plait.ai.providers.anthropic import AnthropicModel
from plait.ai.providers.openai import OpenAIModel
from plait.ai.retrying import AttemptReport, ModelRetry, call_with_retries
from tests.ai.wire import Reply, Sleeps, WireServer, free_port, wire_server

KEY = "sk-ant-api03-secretsecretsecret"


@pytest.fixture
def server() -> Iterator[WireServer]:
    with wire_server() as s:
        yield s


def model(server: WireServer, **kw: object) -> AnthropicModel:
    kw.setdefault("api_key", KEY)
    return AnthropicModel("claude-test", base_url=server.url, **kw)  # type: ignore[arg-type]


def message(*blocks: dict, stop: str = "end_turn") -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": list(blocks),
        "stop_reason": stop,
        "usage": {"input_tokens": 20, "output_tokens": 4, "cache_read_input_tokens": 5},
    }


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def error(kind: str, said: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": said}}


ASK = ChatRequest(
    messages=(
        Message(role="system", content="Be brief."),
        Message(role="system", content="Be kind."),
        Message(role="user", content="Hi"),
    ),
    temperature=0.5,
    stop=("END",),
)


class Verdict(BaseModel):
    label: str
    score: int


async def test_a_message_is_sent_with_the_system_prompt_split_out(server: WireServer) -> None:
    server.reply(Reply(body=message(text("Hello"), text(" there"))))
    response = await model(server).complete(ASK)
    assert response.text == "Hello there"
    assert response.model == "anthropic:claude-test"
    assert response.usage.input_tokens == 25 and response.usage.output_tokens == 4
    assert response.finish_reason == "stop"
    seen = server.seen[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.body["system"] == "Be brief.\n\nBe kind."
    assert seen.body["messages"] == [{"role": "user", "content": [text("Hi")]}]
    assert seen.body["max_tokens"] == 4096
    assert seen.body["temperature"] == 0.5
    assert seen.body["stop_sequences"] == ["END"]


async def test_tool_use_and_tool_results_map_to_blocks(server: WireServer) -> None:
    use = {"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {"city": "Oslo"}}
    server.reply(Reply(body=message(text("Let me look."), use, stop="tool_use")))
    tool = ToolSpec(
        name="lookup",
        description="Find a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    request = ChatRequest(
        messages=(
            Message(role="user", content="Weather?"),
            Message(
                role="assistant",
                content="Checking.",
                tool_calls=(
                    ToolCall(id="toolu_0", name="lookup", arguments={"city": "Rome"}),
                    ToolCall(id="toolu_1", name="lookup", arguments={"city": "Bern"}),
                ),
            ),
            Message(role="tool", tool_call_id="toolu_0", content="sunny"),
            Message(role="tool", tool_call_id="toolu_1", content="rain"),
        ),
        tools=(tool,),
        max_tokens=100,
    )
    response = await model(server).complete(request)
    assert response.tool_calls == (
        ToolCall(id="toolu_2", name="lookup", arguments={"city": "Oslo"}),
    )
    assert response.text == "Let me look." and response.finish_reason == "tool_calls"
    body = server.seen[0].body
    assert body["tools"] == [
        {"name": "lookup", "description": "Find a city", "input_schema": tool.parameters}
    ]
    assert "tool_choice" not in body
    assert body["messages"] == [
        {"role": "user", "content": [text("Weather?")]},
        {
            "role": "assistant",
            "content": [
                text("Checking."),
                {"type": "tool_use", "id": "toolu_0", "name": "lookup", "input": {"city": "Rome"}},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"city": "Bern"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_0", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"},
            ],
        },
    ]


async def test_structured_output_goes_through_a_forced_tool(server: WireServer) -> None:
    answer = {"type": "tool_use", "id": "t", "name": "Verdict", "input": {"label": "y", "score": 2}}
    server.reply(Reply(body=message(answer, stop="tool_use")))
    request = ChatRequest(
        messages=(Message(role="user", content="Judge"),),
        output_schema=Verdict.model_json_schema(),
        output_name="Verdict",
    )
    response = await model(server).complete(request)
    assert Verdict.model_validate_json(response.text or "") == Verdict(label="y", score=2)
    assert response.tool_calls == () and response.finish_reason == "stop"
    body = server.seen[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "Verdict"}
    assert body["tools"][0]["name"] == "Verdict"
    assert body["tools"][0]["input_schema"] == Verdict.model_json_schema()


async def test_structured_output_beside_tools_lets_the_model_choose(server: WireServer) -> None:
    server.reply(Reply(body=message(text("hm"))))
    tool = ToolSpec(name="lookup", parameters={"type": "object"})
    request = ChatRequest(
        messages=(Message(role="user", content="Judge"),),
        output_schema=Verdict.model_json_schema(),
        tools=(tool,),
    )
    await model(server).complete(request)
    body = server.seen[0].body
    assert body["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in body["tools"]] == ["lookup", "answer"]


def events(*items: dict) -> list[str]:
    return [f"event: {item['type']}\ndata: {json.dumps(item)}" for item in items]


async def test_streaming_events_give_tokens_tool_input_and_usage(server: WireServer) -> None:
    stream = events(
        {"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": text("")},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    )
    server.reply(Reply(events=stream))
    tokens: list[str] = []
    response = await model(server).complete(ASK, on_token=tokens.append)
    assert tokens == ["Hi", "!"]
    assert response.text == "Hi!"
    assert response.tool_calls == (
        ToolCall(id="toolu_9", name="lookup", arguments={"city": "Oslo"}),
    )
    assert response.usage.input_tokens == 9 and response.usage.output_tokens == 7
    assert response.finish_reason == "tool_calls"
    assert server.seen[0].body["stream"] is True


async def test_an_error_event_mid_stream_is_classified(server: WireServer) -> None:
    stream = events(
        {"type": "message_start", "message": {"usage": {"input_tokens": 9}}},
        error("overloaded_error", "Overloaded"),
    )
    server.reply(Reply(events=stream))
    with pytest.raises(ModelServerError, match="Overloaded"):
        await model(server).complete(ASK, on_token=lambda _: None)


async def test_a_429_waits_as_asked_and_a_529_is_retried(server: WireServer) -> None:
    server.reply(
        Reply(429, error("rate_limit_error", "Too many"), headers={"retry-after": "3"}),
        Reply(529, error("overloaded_error", "Overloaded")),
        Reply(body=message(text("done"))),
    )
    sleeps = Sleeps()
    reports: list[AttemptReport] = []

    async def on_attempt(report: AttemptReport) -> None:
        reports.append(report)

    response = await call_with_retries(model(server), ASK, sleep=sleeps, on_attempt=on_attempt)
    assert response.text == "done"
    assert sleeps.waits[0] == 3.0 and len(sleeps.waits) == 2
    assert [type(r.error) for r in reports] == [ModelRateLimited, ModelServerError, type(None)]
    assert reports[1].error is not None and "Overloaded" in str(reports[1].error)


async def test_no_answer_in_time_is_a_timeout(server: WireServer) -> None:
    server.reply(Reply(hang=True))
    with pytest.raises(ModelTimeout):
        await model(server, timeout=0.2).complete(ASK)


async def test_malformed_json_is_an_invalid_response(server: WireServer) -> None:
    server.reply(Reply(body="not json at all"), Reply(body={"content": "not a list"}))
    with pytest.raises(ModelResponseInvalid, match="malformed JSON"):
        await model(server).complete(ASK)
    with pytest.raises(ModelResponseInvalid, match="without a content list"):
        await model(server).complete(ASK)


async def test_an_invalid_key_names_the_variable_and_is_not_retried(server: WireServer) -> None:
    server.reply(Reply(401, error("authentication_error", "invalid x-api-key")))
    sleeps = Sleeps()
    with pytest.raises(ModelAuthError) as caught:
        await call_with_retries(model(server), ASK, sleep=sleeps)
    assert "ANTHROPIC_API_KEY" in str(caught.value) and "invalid x-api-key" in str(caught.value)
    assert KEY not in str(caught.value) and "sk-ant" not in str(caught.value)
    assert sleeps.waits == [] and len(server.seen) == 1


async def test_a_missing_key_is_an_auth_error_before_anything_is_sent(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelAuthError, match="set ANTHROPIC_API_KEY"):
        await AnthropicModel("claude-test", base_url=server.url).complete(ASK)
    assert server.seen == []


async def test_a_bad_request_keeps_the_providers_words(server: WireServer) -> None:
    server.reply(Reply(400, error("invalid_request_error", "messages: roles must alternate")))
    with pytest.raises(ModelBadRequest, match="roles must alternate"):
        await model(server).complete(ASK)


async def test_anthropic_takes_over_when_the_openai_server_is_down(server: WireServer) -> None:
    down = OpenAIModel("gpt", base_url=f"http://127.0.0.1:{free_port()}/v1")
    server.reply(Reply(body=message(text("from claude"))))
    sleeps = Sleeps()
    response = await call_with_retries(
        Fallback(down, model(server)), ASK, retry=ModelRetry(max_attempts=2), sleep=sleeps
    )
    assert response.text == "from claude" and response.model == "anthropic:claude-test"
