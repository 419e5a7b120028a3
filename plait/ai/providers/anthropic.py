"""The Anthropic Messages API provider (``POST /v1/messages``).

How plait's messages map to Anthropic's: system messages are joined into the ``system``
field; an assistant's tool calls become ``tool_use`` blocks; tool results become
``tool_result`` blocks in a user turn (consecutive results share one turn, as the API wants).
Structured output goes through a forced tool: the output schema is offered as a tool named
after ``output_name`` (default ``answer``) and ``tool_choice`` makes the model call it; its
input, as JSON, is the response's ``text``. With other tools offered too, ``tool_choice`` is
``any`` so the model either calls a tool or answers through the output tool.

Finish reasons are mapped to the OpenAI words the rest of plait uses: ``end_turn`` and
``stop_sequence`` → ``stop``, ``max_tokens`` → ``length``, ``tool_use`` → ``tool_calls``.
HTTP 529 (overloaded) is a ``ModelServerError``, retried like a 5xx.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

import httpx

from plait.ai.errors import ModelAuthError, ModelRateLimited, ModelServerError
from plait.ai.providers.http import (
    DEFAULT_TIMEOUT,
    Endpoint,
    JsonObject,
    Secret,
    elapsed_ms,
    invalid,
    load_event,
    parse_arguments,
    post_json,
    post_sse,
)
from plait.ai.types import ChatRequest, ChatResponse, Message, OnToken, ToolCall, Usage

ANTHROPIC_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires ``max_tokens``; this is sent when the request does not set it."""

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class AnthropicModel:
    """A Claude model through the Messages API; the key is ``api_key`` or ``ANTHROPIC_API_KEY``."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str = ANTHROPIC_URL,
        api_key: str | None = None,
        key_env: str = "ANTHROPIC_API_KEY",
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not model:
            raise ValueError("AnthropicModel needs a model name, e.g. 'claude-sonnet-4-5'")
        self._model = model
        self._base_url = base_url.rstrip("/")
        self._secret = Secret(api_key) if api_key else None
        self._key_env = key_env
        self._timeout = timeout
        self._client = client

    @property
    def name(self) -> str:
        return f"anthropic:{self._model}"

    def __repr__(self) -> str:
        return f"AnthropicModel({self.name!r}, base_url={self._base_url!r})"

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        endpoint = Endpoint(
            f"{self._base_url}/v1/messages", self.name, self._key_env, self._timeout
        )
        secret = self._secret
        if secret is None:
            value = os.environ.get(self._key_env)
            secret = Secret(value) if value else None
        if secret is None:
            raise ModelAuthError(
                f"{self.name} needs an API key: set {self._key_env}", model=self.name
            )
        headers = {
            "x-api-key": secret.reveal(),
            "anthropic-version": API_VERSION,
        }
        output_tool = _output_tool_name(request)
        payload = self._payload(request, output_tool)
        started = time.perf_counter()
        if on_token is None:
            data = await post_json(endpoint, headers, payload, secret=secret, client=self._client)
        else:
            payload["stream"] = True
            data = await _collect_stream(
                endpoint,
                on_token,
                post_sse(endpoint, headers, payload, secret=secret, client=self._client),
            )
        response = _read(endpoint, data, output_tool)
        return response.model_copy(update={"latency_ms": elapsed_ms(started)})

    def _payload(self, request: ChatRequest, output_tool: str | None) -> JsonObject:
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        payload: JsonObject = {
            "model": self._model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _turns([m for m in request.messages if m.role != "system"]),
        }
        if system:
            payload["system"] = "\n\n".join(system)
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.stop:
            payload["stop_sequences"] = list(request.stop)
        tools: list[JsonObject] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
        if output_tool is not None:
            tools.append(
                {
                    "name": output_tool,
                    "description": "Give the final answer as this tool's input.",
                    "input_schema": request.output_schema,
                }
            )
            payload["tool_choice"] = (
                {"type": "any"} if request.tools else {"type": "tool", "name": output_tool}
            )
        if tools:
            payload["tools"] = tools
        return payload


def _output_tool_name(request: ChatRequest) -> str | None:
    if request.output_schema is None:
        return None
    raw = request.output_name or "answer"
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:64] or "answer"
    taken = {t.name for t in request.tools}
    while name in taken:
        name = f"{name}_"
    return name


def _turns(messages: list[Message]) -> list[JsonObject]:
    """Anthropic's alternating turns: tool results ride in user turns; same roles merge."""
    turns: list[JsonObject] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks: list[JsonObject] = []
        if message.role == "tool":
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id or "",
                    "content": message.content or "",
                }
            )
        elif message.content:
            blocks.append({"type": "text", "text": message.content})
        for call in message.tool_calls:
            blocks.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _read(endpoint: Endpoint, data: JsonObject, output_tool: str | None) -> ChatResponse:
    content = data.get("content")
    if not isinstance(content, list):
        raise invalid(endpoint, "without a content list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    answer: str | None = None
    for block in content:
        if not isinstance(block, dict):
            raise invalid(endpoint, "a content block that is not an object")
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            name = str(block.get("name") or "")
            arguments = parse_arguments(endpoint, name, block.get("input"))
            if name == output_tool:
                answer = json.dumps(arguments)
            else:
                calls.append(
                    ToolCall(id=str(block.get("id") or name), name=name, arguments=arguments)
                )
    stop = data.get("stop_reason")
    finish = _FINISH.get(stop, stop) if isinstance(stop, str) else None
    if answer is not None and not calls:
        finish = "stop"
    return ChatResponse(
        text=answer if answer is not None else ("".join(texts) if texts else None),
        tool_calls=tuple(calls),
        usage=_usage(data.get("usage")),
        model=endpoint.model,
        finish_reason=finish,
    )


def _usage(raw: object) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    cached = int(raw.get("cache_creation_input_tokens") or 0) + int(
        raw.get("cache_read_input_tokens") or 0
    )
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0) + cached,
        output_tokens=int(raw.get("output_tokens") or 0),
    )


async def _collect_stream(
    endpoint: Endpoint, on_token: OnToken, events: AsyncGenerator[tuple[str, str], None]
) -> JsonObject:
    """Rebuild the non-streamed message shape from the stream's events."""
    message: JsonObject = {"content": [], "usage": {}}
    partial: dict[int, list[str]] = {}
    async with aclosing(events) as stream:
        async for event, data in stream:
            item = load_event(endpoint, data)
            kind = item.get("type", event)
            if kind == "message_start":
                start = item.get("message") or {}
                message["usage"] = dict(start.get("usage") or {})
            elif kind == "content_block_start":
                block = dict(item.get("content_block") or {})
                if block.get("type") == "tool_use":
                    block["input"] = {}
                message["content"].append(block)
            elif kind == "content_block_delta":
                _delta(endpoint, message, partial, item, on_token)
            elif kind == "content_block_stop":
                index = int(item.get("index", len(message["content"]) - 1))
                if index in partial:
                    block = _block(endpoint, message, index)
                    block["input"] = parse_arguments(
                        endpoint, str(block.get("name")), "".join(partial.pop(index))
                    )
            elif kind == "message_delta":
                delta = item.get("delta") or {}
                if delta.get("stop_reason"):
                    message["stop_reason"] = delta["stop_reason"]
                message["usage"].update(item.get("usage") or {})
            elif kind == "error":
                raise _stream_error(endpoint, item)
    return message


def _block(endpoint: Endpoint, message: JsonObject, index: int) -> JsonObject:
    blocks = message["content"]
    if not 0 <= index < len(blocks):
        raise invalid(endpoint, f"a stream delta for an unknown content block {index}")
    block: JsonObject = blocks[index]
    return block


def _delta(
    endpoint: Endpoint,
    message: JsonObject,
    partial: dict[int, list[str]],
    item: JsonObject,
    on_token: OnToken,
) -> None:
    index = int(item.get("index", 0))
    delta = item.get("delta") or {}
    block = _block(endpoint, message, index)
    if delta.get("type") == "text_delta":
        piece = str(delta.get("text") or "")
        block["text"] = str(block.get("text") or "") + piece
        if piece:
            on_token(piece)
    elif delta.get("type") == "input_json_delta":
        partial.setdefault(index, []).append(str(delta.get("partial_json") or ""))


def _stream_error(endpoint: Endpoint, item: JsonObject) -> Exception:
    error = item.get("error") or {}
    kind = str(error.get("type") or "error")
    said = f"{kind}: {error.get('message') or ''}".strip()
    if kind == "rate_limit_error":
        return ModelRateLimited(f"{endpoint.model} is rate limited ({said})", model=endpoint.model)
    if kind in ("overloaded_error", "api_error"):
        return ModelServerError(
            f"{endpoint.model} failed mid-stream ({said})", model=endpoint.model
        )
    return invalid(endpoint, f"an error in its stream ({said})")
