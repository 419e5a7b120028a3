"""``resolve_model``: PLAIT_MODEL and model specs to providers, and the errors for bad ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plait.ai import ChatRequest, Message
from plait.ai.config import is_offline, resolve_model
from plait.ai.fallback import Fallback
from plait.ai.providers import AnthropicModel, OpenAIModel
from plait.errors import ConfigurationError
from tests.ai.wire import Reply, WireServer, wire_server

VARS = (
    "PLAIT_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OLLAMA_HOST",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "OPENAI_API_VERSION",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "PLAIT_MODEL_API_KEY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[WireServer]:
    with wire_server() as s:
        yield s


ASK = ChatRequest(messages=(Message(role="user", content="Hi"),))
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}


def test_openai_by_name() -> None:
    model = resolve_model("openai:gpt-4o-mini")
    assert isinstance(model, OpenAIModel) and model.name == "openai:gpt-4o-mini"
    assert "api.openai.com" in repr(model)


def test_plait_model_is_read_when_no_spec_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_MODEL", " anthropic:claude-sonnet-4-5 ")
    model = resolve_model()
    assert isinstance(model, AnthropicModel) and model.name == "anthropic:claude-sonnet-4-5"


def test_a_model_object_passes_through() -> None:
    model = OpenAIModel("x", base_url="http://127.0.0.1:1/v1")
    assert resolve_model(model) is model
    with pytest.raises(ConfigurationError, match="not int"):
        resolve_model(42)  # type: ignore[arg-type]


def test_nothing_configured_names_plait_model_and_an_example() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_model()
    assert "PLAIT_MODEL" in str(caught.value) and "openai:gpt-4o-mini" in str(caught.value)


def test_offline_explains_that_it_does_not_chat() -> None:
    with pytest.raises(ConfigurationError, match="offline has no chat model.*OfflineEmbedder"):
        resolve_model("offline")
    assert is_offline("offline") and is_offline(" OFFLINE ")
    assert not is_offline("openai:gpt-4o-mini") and not is_offline()


def test_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_model("gemini:pro")
    for known in ("openai:", "ollama:", "azure:", "anthropic:", "offline"):
        assert known in str(caught.value)
    with pytest.raises(ConfigurationError, match="start it with a provider"):
        resolve_model("gpt-4o-mini")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("openai:", "names no model"),
        ("openai:@http://127.0.0.1:1/v1", "names no model"),
        ("openai:qwen@127.0.0.1:1", "must be a URL"),
        ("openai:a,,openai:b", "empty entry"),
        ("azure:my-deployment", "AZURE_OPENAI_ENDPOINT"),
    ],
)
def test_malformed_specs_say_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        resolve_model(spec)


async def test_a_base_url_after_at_is_where_requests_go(server: WireServer) -> None:
    server.reply(Reply(body=ANSWER))
    model = resolve_model(f"openai:qwen2.5@{server.url}/v1")
    assert model.name == "openai:qwen2.5"
    assert (await model.complete(ASK)).text == "hi"
    assert server.seen[0].path == "/v1/chat/completions"
    assert server.seen[0].body["model"] == "qwen2.5"


async def test_the_openai_key_is_never_sent_to_a_server_named_by_url(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-real-openai-key")
    server.reply(Reply(body=ANSWER), Reply(body=ANSWER), Reply(body=ANSWER))
    await resolve_model(f"openai:qwen2.5@{server.url}/v1").complete(ASK)
    await resolve_model(f"ollama:qwen2.5@{server.url}").complete(ASK)
    monkeypatch.setenv("PLAIT_MODEL_API_KEY", "vllm-key")
    await resolve_model(f"openai:qwen2.5@{server.url}/v1").complete(ASK)
    assert [s.headers.get("authorization") for s in server.seen] == [
        None,
        None,
        "Bearer vllm-key",
    ]


async def test_openai_base_url_from_the_environment(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-meant-for-this-proxy")
    server.reply(Reply(body=ANSWER))
    await resolve_model("openai:local").complete(ASK)
    assert server.seen[0].path == "/v1/chat/completions"
    assert server.seen[0].headers["authorization"] == "Bearer sk-meant-for-this-proxy"


async def test_ollama_speaks_through_its_openai_compatible_v1(server: WireServer) -> None:
    server.reply(Reply(body=ANSWER), Reply(body=ANSWER))
    model = resolve_model(f"ollama:qwen2.5@{server.url}")
    assert model.name == "ollama:qwen2.5"
    await model.complete(ASK)
    await resolve_model(f"ollama:qwen2.5@{server.url}/v1").complete(ASK)
    assert [s.path for s in server.seen] == ["/v1/chat/completions"] * 2
    assert "authorization" not in server.seen[0].headers


def test_ollama_defaults_to_the_local_port_or_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "http://127.0.0.1:11434/v1" in repr(resolve_model("ollama:llama3.2"))
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9999")
    assert "http://127.0.0.1:9999/v1" in repr(resolve_model("ollama:llama3.2"))


async def test_azure_reads_its_key_endpoint_and_version(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-01-01-preview")
    server.reply(Reply(body=ANSWER))
    model = resolve_model(f"azure:prod-4o@{server.url}")
    assert model.name == "azure:prod-4o" and "azure-secret" not in repr(model)
    await model.complete(ASK)
    seen = server.seen[0]
    assert seen.path == "/openai/deployments/prod-4o/chat/completions"
    assert seen.query["api-version"] == ["2025-01-01-preview"]
    assert seen.headers["api-key"] == "azure-secret"


async def test_anthropic_reads_its_key_at_call_time(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = resolve_model(f"anthropic:claude-test@{server.url}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-secret")
    server.reply(
        Reply(body={"content": [{"type": "text", "text": "yo"}], "stop_reason": "end_turn"})
    )
    assert (await model.complete(ASK)).text == "yo"
    assert server.seen[0].headers["x-api-key"] == "ant-secret"


def test_a_comma_separated_list_is_a_fallback_in_order() -> None:
    model = resolve_model("openai:gpt-4o-mini, ollama:qwen2.5@http://127.0.0.1:11434")
    assert isinstance(model, Fallback)
    assert model.name == "openai:gpt-4o-mini,ollama:qwen2.5"
    assert [type(m) for m in model.models] == [OpenAIModel, OpenAIModel]
