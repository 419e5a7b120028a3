"""The OpenAI-compatible provider against a loopback server speaking chat completions."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict

from plait.ai import (
    ChatRequest,
    Message,
    ModelAuthError,
    ModelBadRequest,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    ToolCall,
    ToolSpec,
)
from plait.ai.fallback import Fallback
from plait.ai.providers.openai import OpenAIModel
from plait.ai.retrying import AttemptReport, ModelRetry, call_with_retries
from tests.ai.wire import Reply, Sleeps, WireServer, free_port, sse, wire_server

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[WireServer]:
    with wire_server() as s:
        yield s


def model(server: WireServer, **kw: object) -> OpenAIModel:
    kw.setdefault("api_key", KEY)
    return OpenAIModel("gpt-test", base_url=f"{server.url}/v1", **kw)  # type: ignore[arg-type]


def completion(
    content: str | None = "hello", *, tool_calls: list[dict] | None = None, finish: str = "stop"
) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


ASK = ChatRequest(
    messages=(Message(role="system", content="Be brief."), Message(role="user", content="Hi")),
    temperature=0.2,
    max_tokens=50,
    stop=("END",),
)


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    score: int


async def test_a_completion_is_sent_and_read(server: WireServer) -> None:
    server.reply(Reply(body=completion("hello there")))
    response = await model(server).complete(ASK)
    assert response.text == "hello there"
    assert response.model == "openai:gpt-test"
    assert response.usage.input_tokens == 12 and response.usage.output_tokens == 3
    assert response.finish_reason == "stop"
    assert response.latency_ms > 0
    seen = server.seen[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.body["model"] == "gpt-test"
    assert seen.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert seen.body["temperature"] == 0.2
    assert seen.body["max_tokens"] == 50
    assert seen.body["stop"] == ["END"]
    assert "stream" not in seen.body


async def test_an_output_schema_is_sent_as_a_strict_json_schema(server: WireServer) -> None:
    server.reply(Reply(body=completion('{"label": "yes", "score": 3}')))
    request = ChatRequest(
        messages=(Message(role="user", content="Judge"),),
        output_schema=Verdict.model_json_schema(),
        output_name="Verdict",
    )
    response = await model(server).complete(request)
    assert Verdict.model_validate_json(response.text or "") == Verdict(label="yes", score=3)
    fmt = server.seen[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Verdict"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == Verdict.model_json_schema()


async def test_a_schema_strict_mode_cannot_take_is_sent_without_strict(server: WireServer) -> None:
    class Loose(BaseModel):
        label: str
        note: str = ""

    server.reply(Reply(body=completion('{"label": "x"}')))
    request = ChatRequest(
        messages=(Message(role="user", content="x"),), output_schema=Loose.model_json_schema()
    )
    await model(server).complete(request)
    assert server.seen[0].body["response_format"]["json_schema"]["strict"] is False


async def test_a_server_refusing_json_schema_gets_json_mode_from_then_on(
    server: WireServer,
) -> None:
    refusal = {"error": {"message": "response_format type json_schema is not supported"}}
    server.reply(
        Reply(400, refusal),
        Reply(body=completion('{"label": "a", "score": 1}')),
        Reply(body=completion('{"label": "b", "score": 2}')),
    )
    m = model(server)
    request = ChatRequest(
        messages=(Message(role="user", content="Judge"),),
        output_schema=Verdict.model_json_schema(),
    )
    first = await m.complete(request)
    second = await m.complete(request)
    assert (first.text, second.text) == ('{"label": "a", "score": 1}', '{"label": "b", "score": 2}')
    kinds = [s.body["response_format"]["type"] for s in server.seen]
    assert kinds == ["json_schema", "json_object", "json_object"]
    system = server.seen[1].body["messages"][0]
    assert system["role"] == "system" and '"score"' in system["content"]


async def test_json_schema_only_mode_does_not_fall_back(server: WireServer) -> None:
    server.reply(Reply(400, {"error": {"message": "response_format json_schema unsupported"}}))
    request = ChatRequest(
        messages=(Message(role="user", content="x"),), output_schema=Verdict.model_json_schema()
    )
    with pytest.raises(ModelBadRequest, match="json_schema unsupported"):
        await model(server, structured_output="json_schema").complete(request)
    assert len(server.seen) == 1


async def test_tools_are_offered_and_tool_calls_come_back(server: WireServer) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'},
    }
    server.reply(Reply(body=completion(None, tool_calls=[call], finish="tool_calls")))
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
                tool_calls=(ToolCall(id="call_0", name="lookup", arguments={"city": "Rome"}),),
            ),
            Message(role="tool", tool_call_id="call_0", content="sunny"),
        ),
        tools=(tool,),
    )
    response = await model(server).complete(request)
    assert response.tool_calls == (
        ToolCall(id="call_1", name="lookup", arguments={"city": "Oslo"}),
    )
    assert response.finish_reason == "tool_calls"
    body = server.seen[0].body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find a city",
                "parameters": tool.parameters,
            },
        }
    ]
    assistant, result = body["messages"][1], body["messages"][2]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": json.dumps({"city": "Rome"}),
    }
    assert result == {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_streaming_passes_tokens_and_assembles_the_answer(server: WireServer) -> None:
    events = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        "[DONE]",
    )
    server.reply(Reply(events=events))
    tokens: list[str] = []
    response = await model(server).complete(ASK, on_token=tokens.append)
    assert tokens == ["Hel", "lo"]
    assert response.text == "Hello"
    assert response.usage.input_tokens == 5 and response.usage.output_tokens == 2
    assert response.finish_reason == "stop"
    assert server.seen[0].body["stream"] is True


async def test_streamed_tool_calls_are_assembled_from_their_deltas(server: WireServer) -> None:
    def part(index: int, **fields: object) -> dict:
        return chunk({"tool_calls": [{"index": index, **fields}]})

    events = sse(
        part(0, id="call_a", type="function", function={"name": "lookup", "arguments": ""}),
        part(0, function={"arguments": '{"ci'}),
        part(1, id="call_b", type="function", function={"name": "clock", "arguments": "{}"}),
        part(0, function={"arguments": 'ty": "Oslo"}'}),
        chunk({}, "tool_calls"),
        "[DONE]",
    )
    server.reply(Reply(events=events))
    response = await model(server).complete(ASK, on_token=lambda _: None)
    assert response.tool_calls == (
        ToolCall(id="call_a", name="lookup", arguments={"city": "Oslo"}),
        ToolCall(id="call_b", name="clock", arguments={}),
    )
    assert response.text is None and response.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
    ],
)
async def test_a_429_is_retried_after_the_wait_the_server_asks(
    server: WireServer, headers: dict[str, str], wait: float
) -> None:
    server.reply(
        Reply(429, {"error": {"message": "Rate limit reached"}}, headers=headers),
        Reply(body=completion("finally")),
    )
    sleeps = Sleeps()
    reports: list[AttemptReport] = []

    async def on_attempt(report: AttemptReport) -> None:
        reports.append(report)

    response = await call_with_retries(model(server), ASK, sleep=sleeps, on_attempt=on_attempt)
    assert response.text == "finally"
    assert sleeps.waits == [wait]
    assert [type(r.error) for r in reports] == [ModelRateLimited, type(None)]
    assert reports[0].error is not None and reports[0].error.status == 429
    assert reports[1].response == response


async def test_retry_after_as_an_http_date_is_honoured(server: WireServer) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.reply(Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": when}))
    with pytest.raises(ModelRateLimited) as caught:
        await model(server).complete(ASK)
    assert caught.value.retry_after is not None and 17 <= caught.value.retry_after <= 20


async def test_a_server_error_then_success_backs_off_once(server: WireServer) -> None:
    server.reply(Reply(500, {"error": {"message": "boom"}}), Reply(body=completion("ok")))
    sleeps = Sleeps()
    response = await call_with_retries(model(server), ASK, sleep=sleeps)
    assert response.text == "ok"
    assert len(sleeps.waits) == 1 and 0.8 <= sleeps.waits[0] <= 1.2
    assert len(server.seen) == 2


async def test_server_errors_until_the_last_attempt_raise_the_last_error(
    server: WireServer,
) -> None:
    server.reply(*[Reply(503, {"error": {"message": "overloaded"}}) for _ in range(3)])
    sleeps = Sleeps()
    with pytest.raises(ModelServerError, match="HTTP 503: overloaded"):
        await call_with_retries(model(server), ASK, retry=ModelRetry(max_attempts=3), sleep=sleeps)
    assert len(server.seen) == 3
    assert len(sleeps.waits) == 2 and 1.6 <= sleeps.waits[1] <= 2.4


async def test_no_answer_in_time_is_a_timeout(server: WireServer) -> None:
    server.reply(Reply(hang=True))
    with pytest.raises(ModelTimeout, match="did not answer within 0.2 s"):
        await model(server, timeout=0.2).complete(ASK)


async def test_malformed_json_is_an_invalid_response_and_retried(server: WireServer) -> None:
    server.reply(Reply(body=b'{"choices": [tru'))
    with pytest.raises(ModelResponseInvalid, match="malformed JSON"):
        await model(server).complete(ASK)
    sleeps = Sleeps()
    server.reply(Reply(body={"unexpected": 1}), Reply(body=completion("fine")))
    response = await call_with_retries(model(server), ASK, sleep=sleeps)
    assert response.text == "fine" and len(sleeps.waits) == 1


async def test_malformed_tool_arguments_are_an_invalid_response(server: WireServer) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{nope"}}
    server.reply(Reply(body=completion(None, tool_calls=[call])))
    with pytest.raises(ModelResponseInvalid, match="malformed JSON arguments"):
        await model(server).complete(ASK)


async def test_an_invalid_key_is_not_retried_and_never_shown(server: WireServer) -> None:
    said = {"error": {"message": f"Incorrect API key provided: {KEY[:7]}***{KEY[-4:]}, or {KEY}"}}
    server.reply(Reply(401, said), Reply(body=completion("never")))
    sleeps = Sleeps()
    m = model(server)
    with pytest.raises(ModelAuthError) as caught:
        await call_with_retries(m, ASK, sleep=sleeps)
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "Incorrect API key" in message
    assert KEY not in message and KEY[:7] not in message and KEY[-4:] not in message
    assert KEY not in repr(m) and KEY not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert sleeps.waits == [] and len(server.seen) == 1


async def test_a_missing_key_for_openai_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelAuthError, match="set OPENAI_API_KEY"):
        await OpenAIModel("gpt-4o-mini").complete(ASK)


async def test_the_key_is_read_from_the_environment_and_local_servers_need_none(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply(Reply(body=completion()), Reply(body=completion()))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    await OpenAIModel("qwen2.5", base_url=f"{server.url}/v1").complete(ASK)
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    await OpenAIModel("qwen2.5", base_url=f"{server.url}/v1").complete(ASK)
    assert "authorization" not in server.seen[0].headers
    assert server.seen[1].headers["authorization"] == "Bearer from-env"


async def test_a_bad_request_keeps_the_providers_words_and_is_not_retried(
    server: WireServer,
) -> None:
    server.reply(Reply(404, {"error": {"message": "The model `gpt-nope` does not exist"}}))
    sleeps = Sleeps()
    with pytest.raises(ModelBadRequest, match="gpt-nope` does not exist") as caught:
        await call_with_retries(model(server), ASK, sleep=sleeps)
    assert caught.value.status == 404 and sleeps.waits == []


async def test_azure_uses_its_deployment_url_version_and_api_key_header(
    server: WireServer,
) -> None:
    server.reply(Reply(body=completion("from azure")))
    m = OpenAIModel.azure("my-dep", endpoint=server.url, api_key=KEY, api_version="2024-10-21")
    response = await m.complete(ASK)
    assert response.model == "azure:my-dep" and response.text == "from azure"
    seen = server.seen[0]
    assert seen.path == "/openai/deployments/my-dep/chat/completions"
    assert seen.query == {"api-version": ["2024-10-21"]}
    assert seen.headers["api-key"] == KEY and "authorization" not in seen.headers
    assert "max_completion_tokens" in seen.body and "max_tokens" not in seen.body


async def test_a_fallback_answers_when_the_first_server_is_down(server: WireServer) -> None:
    down = OpenAIModel("hosted", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=KEY)
    local = OpenAIModel("qwen2.5", base_url=f"{server.url}/v1", provider="ollama")
    server.reply(Reply(body=completion("local answer")))
    reports: list[AttemptReport] = []

    async def on_attempt(report: AttemptReport) -> None:
        reports.append(report)

    sleeps = Sleeps()
    response = await call_with_retries(
        Fallback(down, local),
        ASK,
        retry=ModelRetry(max_attempts=2),
        on_attempt=on_attempt,
        sleep=sleeps,
    )
    assert response.text == "local answer" and response.model == "ollama:qwen2.5"
    assert [r.model for r in reports] == ["openai:hosted", "openai:hosted", "ollama:qwen2.5"]
    assert isinstance(reports[0].error, ModelServerError)
    assert "cannot connect" in str(reports[0].error)
    assert len(sleeps.waits) == 1


async def test_a_fallback_with_every_member_down_is_unavailable(server: WireServer) -> None:
    server.reply(Reply(503, {"error": {"message": "busy"}}))
    down = OpenAIModel("a", base_url=f"http://127.0.0.1:{free_port()}/v1")
    busy = OpenAIModel("b", base_url=f"{server.url}/v1")
    with pytest.raises(ModelUnavailable) as caught:
        await Fallback(down, busy, retry=ModelRetry(max_attempts=1)).complete(ASK)
    assert "cannot connect" in str(caught.value) and "HTTP 503: busy" in str(caught.value)
    assert caught.value.model == "openai:a,openai:b"


async def test_a_fallback_raises_an_auth_error_instead_of_hiding_it(server: WireServer) -> None:
    with wire_server() as second:
        server.reply(Reply(401, {"error": {"message": "bad key"}}))
        second.reply(Reply(body=completion("should not be asked")))
        first = OpenAIModel("a", base_url=f"{server.url}/v1", api_key=KEY)
        backup = OpenAIModel("b", base_url=f"{second.url}/v1")
        with pytest.raises(ModelAuthError, match="bad key"):
            await Fallback(first, backup).complete(ASK)
        assert second.seen == []
