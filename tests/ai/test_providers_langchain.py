"""The LangChain adapter: a user's ``BaseChatModel`` answering as a plait ``Model``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel

from plait.ai import (
    ChatRequest,
    Message,
    Model,
    ModelAuthError,
    ModelBadRequest,
    ModelRateLimited,
    ModelTimeout,
    ToolCall,
    ToolSpec,
)
from plait.ai.providers.langchain import LangChainModel
from plait.ai.retrying import call_with_retries
from tests.ai.wire import Sleeps


class Scripted(BaseChatModel):
    """A chat model that answers from a script and keeps what it was sent."""

    answers: list[Any]
    seen: list[tuple[list[BaseMessage], dict[str, Any]]] = []
    model_name: str = "scripted-1"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tools=tools, tool_choice=tool_choice)

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self.seen.append((messages, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        kw["stop"] = stop
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kw))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        answer = self._next(messages, kw)
        for word in str(answer.content).split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
        for index, call in enumerate(answer.tool_calls):
            chunk = AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {"name": call["name"], "args": '{"city": ', "id": call["id"], "index": index},
                ],
            )
            yield ChatGenerationChunk(message=chunk)
            rest = AIMessageChunk(
                content="",
                tool_call_chunks=[{"name": None, "args": '"Oslo"}', "id": None, "index": index}],
            )
            yield ChatGenerationChunk(message=rest)
        usage = answer.usage_metadata
        if usage:
            yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))


def usage(i: int, o: int) -> Any:
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


class Verdict(BaseModel):
    label: str
    score: int


ASK = ChatRequest(
    messages=(
        Message(role="system", content="Be brief."),
        Message(role="user", content="Hi"),
    ),
    stop=("END",),
)


async def test_a_langchain_model_answers_with_usage() -> None:
    chat = Scripted(answers=[AIMessage(content="Hello", usage_metadata=usage(8, 2))], seen=[])
    model = LangChainModel(chat)
    assert isinstance(model, Model) and model.name == "langchain:scripted-1"
    response = await model.complete(ASK)
    assert response.text == "Hello" and response.model == "langchain:scripted-1"
    assert response.usage.input_tokens == 8 and response.usage.output_tokens == 2
    messages, kwargs = chat.seen[0]
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    assert [m.content for m in messages] == ["Be brief.", "Hi"]
    assert kwargs["stop"] == ["END"]


async def test_tools_are_bound_and_tool_calls_map_both_ways() -> None:
    proposal = AIMessage(
        content="",
        tool_calls=[{"name": "lookup", "args": {"city": "Oslo"}, "id": "c2", "type": "tool_call"}],
    )
    chat = Scripted(answers=[proposal], seen=[])
    tool = ToolSpec(name="lookup", description="Find", parameters={"type": "object"})
    request = ChatRequest(
        messages=(
            Message(role="user", content="Weather?"),
            Message(
                role="assistant",
                tool_calls=(ToolCall(id="c1", name="lookup", arguments={"city": "Rome"}),),
            ),
            Message(role="tool", tool_call_id="c1", content="sunny"),
        ),
        tools=(tool,),
    )
    response = await LangChainModel(chat, name="mine:lc").complete(request)
    assert response.tool_calls == (ToolCall(id="c2", name="lookup", arguments={"city": "Oslo"}),)
    assert response.finish_reason == "tool_calls" and response.model == "mine:lc"
    messages, kwargs = chat.seen[0]
    assert kwargs["tools"][0]["function"]["name"] == "lookup"
    assert isinstance(messages[1], AIMessage)
    assert messages[1].tool_calls[0]["args"] == {"city": "Rome"}
    assert isinstance(messages[2], ToolMessage) and messages[2].tool_call_id == "c1"


async def test_structured_output_through_a_forced_tool() -> None:
    answer = AIMessage(
        content="",
        tool_calls=[{"name": "Verdict", "args": {"label": "y", "score": 4}, "id": "t"}],
    )
    chat = Scripted(answers=[answer], seen=[])
    request = ChatRequest(
        messages=(Message(role="user", content="Judge"),),
        output_schema=Verdict.model_json_schema(),
        output_name="Verdict",
    )
    response = await LangChainModel(chat).complete(request)
    assert Verdict.model_validate_json(response.text or "") == Verdict(label="y", score=4)
    assert response.tool_calls == ()
    _messages, kwargs = chat.seen[0]
    assert kwargs["tool_choice"] == "Verdict"


async def test_a_model_without_tool_support_gets_the_schema_in_a_system_message() -> None:
    chat = GenericFakeChatModel(messages=iter(['{"label": "n", "score": 0}']))
    request = ChatRequest(
        messages=(Message(role="user", content="Judge"),), output_schema=Verdict.model_json_schema()
    )
    response = await LangChainModel(chat).complete(request)
    assert Verdict.model_validate_json(response.text or "") == Verdict(label="n", score=0)
    with pytest.raises(ModelBadRequest, match="does not support tools"):
        await LangChainModel(chat).complete(
            ChatRequest(messages=ASK.messages, tools=(ToolSpec(name="t", parameters={}),))
        )


async def test_streaming_passes_tokens_and_assembles_tool_calls() -> None:
    answer = AIMessage(
        content="Looking it up",
        tool_calls=[{"name": "lookup", "args": {"city": "Oslo"}, "id": "c9"}],
        usage_metadata=usage(4, 6),
    )
    chat = Scripted(answers=[answer], seen=[])
    tokens: list[str] = []
    request = ChatRequest(
        messages=ASK.messages, tools=(ToolSpec(name="lookup", parameters={"type": "object"}),)
    )
    response = await LangChainModel(chat).complete(request, on_token=tokens.append)
    assert tokens == ["Looking ", "it ", "up "]
    assert response.text == "Looking it up "
    assert response.tool_calls == (ToolCall(id="c9", name="lookup", arguments={"city": "Oslo"}),)
    assert response.usage.output_tokens == 6


class RateLimitError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status_code = 429


class AuthenticationError(Exception):
    pass


async def test_integration_errors_are_classified_and_retried_as_plait_errors() -> None:
    chat = Scripted(
        answers=[RateLimitError("slow down"), TimeoutError("read"), AIMessage(content="ok")],
        seen=[],
    )
    sleeps = Sleeps()
    response = await call_with_retries(LangChainModel(chat), ASK, sleep=sleeps)
    assert response.text == "ok" and len(sleeps.waits) == 2
    chat = Scripted(answers=[RateLimitError("slow down")], seen=[])
    with pytest.raises(ModelRateLimited):
        await LangChainModel(chat).complete(ASK)
    chat = Scripted(answers=[TimeoutError("read")], seen=[])
    with pytest.raises(ModelTimeout):
        await LangChainModel(chat).complete(ASK)


async def test_an_auth_error_is_not_retried_and_unknown_errors_propagate() -> None:
    chat = Scripted(answers=[AuthenticationError("Incorrect API key sk-abcdef123456")], seen=[])
    sleeps = Sleeps()
    with pytest.raises(ModelAuthError) as caught:
        await call_with_retries(LangChainModel(chat), ASK, sleep=sleeps)
    assert "sk-abcdef123456" not in str(caught.value) and sleeps.waits == []
    chat = Scripted(answers=[KeyError("a bug in the integration")], seen=[])
    with pytest.raises(KeyError):
        await call_with_retries(LangChainModel(chat), ASK, sleep=sleeps)
