"""Bring your own LangChain chat model: ``LangChainModel(chat_model)`` is a plait ``Model``.

``langchain-core`` is optional: it is imported when a ``LangChainModel`` is made, and a clear
``ConfigurationError`` says how to install it when it is missing.

Mapping: plait messages become ``SystemMessage``/``HumanMessage``/``AIMessage`` (with its
``tool_calls``)/``ToolMessage``; tools are bound with ``bind_tools`` in the OpenAI function
format every integration accepts; an output schema is offered as one more tool that the model
is made to call (``tool_choice``), and its arguments, as JSON, are the answer's ``text``; a
chat model without tool support gets the schema in a system message instead. Usage comes from
``usage_metadata``. ``stop`` is passed through; temperature and max tokens are the LangChain
model's own settings (set them when you build it). With ``on_token`` the model is streamed.

Errors: the integration's exceptions are classified by their ``status_code`` (as the
``openai`` and ``anthropic`` SDK errors carry) or by their class name (``…Timeout…``,
``…RateLimit…``, ``…Authentication…``, ``…Connection…``); anything else is not a model error
plait understands and propagates unchanged (not retried). LangChain integrations often retry
on their own (``max_retries``); set that to 0 to leave retrying to plait.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from plait.ai.errors import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
)
from plait.ai.providers.http import Endpoint, classify_status, elapsed_ms, redact
from plait.ai.types import ChatRequest, ChatResponse, Message, OnToken, ToolCall, Usage
from plait.errors import ConfigurationError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage


def _require() -> None:
    try:
        import langchain_core  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "LangChainModel needs langchain-core: pip install 'plait[langchain]'"
        ) from None


class LangChainModel:
    """A LangChain ``BaseChatModel`` as a plait ``Model``; ``name`` defaults to its model name."""

    def __init__(self, chat_model: BaseChatModel, *, name: str | None = None) -> None:
        _require()
        self._chat = chat_model
        label = (
            getattr(chat_model, "model_name", None)
            or getattr(chat_model, "model", None)
            or type(chat_model).__name__
        )
        self._name = name or f"langchain:{label}"

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"LangChainModel({self._name!r})"

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        output_tool = _output_tool_name(request)
        messages = [_to_langchain(m) for m in request.messages]
        runnable: Any = self._chat
        tools = [_tool(t.name, t.description, t.parameters) for t in request.tools]
        if output_tool is not None:
            tools.append(
                _tool(
                    output_tool,
                    "Give the final answer as this tool's input.",
                    request.output_schema,
                )
            )
        if tools:
            choice = "any" if request.tools else output_tool
            try:
                runnable = self._chat.bind_tools(tools, tool_choice=choice)
            except NotImplementedError:
                if request.tools:
                    raise ModelBadRequest(
                        f"{self._name} does not support tools (bind_tools)", model=self._name
                    ) from None
                output_tool = None
                messages.insert(0, _schema_instruction(request))
        stop = list(request.stop) or None
        started = time.perf_counter()
        try:
            if on_token is None:
                message = await runnable.ainvoke(messages, stop=stop)
            else:
                message = await _stream(runnable, messages, stop, on_token)
        except ModelError:
            raise
        except Exception as exc:
            error = self._classify(exc)
            if error is None:
                raise
            raise error from None
        response = _read(self._name, message, output_tool)
        return response.model_copy(update={"latency_ms": elapsed_ms(started)})

    def _classify(self, exc: Exception) -> ModelError | None:
        said = redact(str(exc)) or type(exc).__name__
        kind = type(exc).__name__.lower()
        model = self._name
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and status >= 400:
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            endpoint = Endpoint(
                "its provider", model, "the key your LangChain model is configured with"
            )
            return classify_status(status, said, dict(headers), endpoint)
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "timeout" in kind:
            return ModelTimeout(f"{model} did not answer in time ({said})", model=model)
        if "ratelimit" in kind:
            return ModelRateLimited(f"{model} is rate limited ({said})", model=model)
        if "authentication" in kind or "permissiondenied" in kind:
            return ModelAuthError(f"{model} refused the credentials ({said})", model=model)
        if "connection" in kind or isinstance(exc, ConnectionError):
            return ModelServerError(f"{model}: connection failed ({said})", model=model)
        return None


async def _stream(
    runnable: Any, messages: list[Any], stop: list[str] | None, on_token: OnToken
) -> Any:
    total: Any = None
    async for chunk in runnable.astream(messages, stop=stop):
        piece = chunk.content if isinstance(chunk.content, str) else ""
        if piece:
            on_token(piece)
        total = chunk if total is None else total + chunk
    return total


def _tool(name: str, description: str, parameters: object) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def _output_tool_name(request: ChatRequest) -> str | None:
    if request.output_schema is None:
        return None
    raw = request.output_name or "answer"
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:64] or "answer"
    while name in {t.name for t in request.tools}:
        name = f"{name}_"
    return name


def _schema_instruction(request: ChatRequest) -> BaseMessage:
    from langchain_core.messages import SystemMessage

    return SystemMessage(
        content="Answer with one JSON object, and nothing else, that matches this JSON Schema:\n"
        + json.dumps(request.output_schema, sort_keys=True)
    )


def _to_langchain(message: Message) -> BaseMessage:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    content = message.content or ""
    if message.role == "system":
        return SystemMessage(content=content)
    if message.role == "user":
        return HumanMessage(content=content, name=message.name)
    if message.role == "tool":
        return ToolMessage(content=content, tool_call_id=message.tool_call_id or "")
    return AIMessage(
        content=content,
        tool_calls=[
            {"name": c.name, "args": dict(c.arguments), "id": c.id, "type": "tool_call"}
            for c in message.tool_calls
        ],
    )


def _read(model: str, message: AIMessage | None, output_tool: str | None) -> ChatResponse:
    from langchain_core.messages import AIMessage

    if not isinstance(message, AIMessage):
        raise ModelResponseInvalid(
            f"{model} returned {type(message).__name__}, not an AIMessage", model=model
        )
    content = message.content
    if isinstance(content, list):
        content = "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str) or part.get("type") == "text"
        )
    calls: list[ToolCall] = []
    answer: str | None = None
    for index, call in enumerate(message.tool_calls):
        if call["name"] == output_tool:
            answer = json.dumps(call["args"])
        else:
            call_id = call.get("id") or f"call_{index}"
            calls.append(ToolCall(id=call_id, name=call["name"], arguments=call["args"]))
    usage = message.usage_metadata
    finish = "tool_calls" if calls else "stop"
    return ChatResponse(
        text=answer if answer is not None else (content or None),
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=int(usage["input_tokens"]) if usage else 0,
            output_tokens=int(usage["output_tokens"]) if usage else 0,
        ),
        model=model,
        finish_reason=finish,
    )
