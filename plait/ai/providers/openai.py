"""The OpenAI-compatible chat completions provider: OpenAI, Azure OpenAI and local servers.

One ``complete`` is one ``POST …/chat/completions`` (streamed as server-sent events when an
``on_token`` observer is given). Ollama, vLLM, llama.cpp's server and LM Studio speak the same
wire format at their ``/v1`` URL; Azure differs only in its URL (a deployment and an
``api-version``) and its ``api-key`` header.

Structured output: an ``output_schema`` is sent as ``response_format`` ``json_schema`` (with
``strict`` when the schema allows it: every object closed and all its properties required).
``structured_output="auto"`` (the default) falls back, once per model object, to
``json_object`` mode with the schema in a system message when the server refuses
``json_schema`` with a 400 that names it; this second request is the one exception to "one
request per call", and the refused one did no work. Finish reasons are the server's own
(``stop``, ``length``, ``tool_calls``, ``content_filter``).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import aclosing
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from plait.ai.errors import ModelAuthError, ModelBadRequest, ModelError
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

StructuredOutput = Literal["auto", "json_schema", "json_object"]

OPENAI_URL = "https://api.openai.com/v1"


class OpenAIModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` is the API root (``https://api.openai.com/v1``, ``http://127.0.0.1:11434/v1``);
    the key is ``api_key`` or, when that is None, the ``key_env`` environment variable read at
    each call. A key is required for api.openai.com and Azure; local servers need none.
    ``provider`` is the prefix of ``name`` (``openai:gpt-4o-mini``, ``ollama:qwen2.5``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_URL,
        api_key: str | None = None,
        key_env: str = "OPENAI_API_KEY",
        provider: str = "openai",
        timeout: float = DEFAULT_TIMEOUT,
        structured_output: StructuredOutput = "auto",
        key_required: bool | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not model:
            raise ValueError("OpenAIModel needs a model name, e.g. OpenAIModel('gpt-4o-mini')")
        self._model = model
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._secret = Secret(api_key) if api_key else None
        self._key_env = key_env
        self._timeout = timeout
        self._structured: StructuredOutput = structured_output
        host = urlsplit(self._base_url).hostname or ""
        hosted = host == "api.openai.com"
        self._key_required = hosted if key_required is None else key_required
        self._max_tokens_field = "max_completion_tokens" if hosted else "max_tokens"
        self._client = client
        self._url = f"{self._base_url}/chat/completions"
        self._params: dict[str, str] | None = None
        self._key_header = "authorization"

    @classmethod
    def azure(
        cls,
        deployment: str,
        *,
        endpoint: str,
        api_key: str | None = None,
        api_version: str = "2024-10-21",
        timeout: float = DEFAULT_TIMEOUT,
        structured_output: StructuredOutput = "auto",
        client: httpx.AsyncClient | None = None,
    ) -> OpenAIModel:
        """An Azure OpenAI deployment (``https://RESOURCE.openai.azure.com``), ``api-key`` auth."""
        root = endpoint.rstrip("/")
        self = cls(
            deployment,
            base_url=f"{root}/openai/deployments/{deployment}",
            api_key=api_key,
            key_env="AZURE_OPENAI_API_KEY",
            provider="azure",
            timeout=timeout,
            structured_output=structured_output,
            key_required=True,
            client=client,
        )
        self._params = {"api-version": api_version}
        self._key_header = "api-key"
        self._max_tokens_field = "max_completion_tokens"
        return self

    @property
    def name(self) -> str:
        return f"{self._provider}:{self._model}"

    def __repr__(self) -> str:
        return f"OpenAIModel({self.name!r}, base_url={self._base_url!r})"

    # -- the call ---------------------------------------------------------------------------

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        endpoint = Endpoint(self._url, self.name, self._key_env, self._timeout)
        secret = self._key()
        started = time.perf_counter()
        mode = self._mode(request)
        try:
            response = await self._send(endpoint, secret, request, mode, on_token)
        except ModelBadRequest as exc:
            if not (mode == "json_schema" and self._structured == "auto" and _refuses(exc)):
                raise
            self._structured = "json_object"
            response = await self._send(endpoint, secret, request, "json_object", on_token)
        return response.model_copy(update={"latency_ms": elapsed_ms(started)})

    def _mode(self, request: ChatRequest) -> StructuredOutput | None:
        if request.output_schema is None:
            return None
        return "json_object" if self._structured == "json_object" else "json_schema"

    def _key(self) -> Secret | None:
        secret = self._secret
        if secret is None:
            value = os.environ.get(self._key_env)
            secret = Secret(value) if value else None
        if secret is None and self._key_required:
            raise ModelAuthError(
                f"{self.name} needs an API key: set {self._key_env}", model=self.name
            )
        return secret

    def _headers(self, secret: Secret | None) -> dict[str, str]:
        if secret is None:
            return {}
        if self._key_header == "authorization":
            return {"authorization": f"Bearer {secret.reveal()}"}
        return {self._key_header: secret.reveal()}

    async def _send(
        self,
        endpoint: Endpoint,
        secret: Secret | None,
        request: ChatRequest,
        mode: StructuredOutput | None,
        on_token: OnToken | None,
    ) -> ChatResponse:
        payload = self._payload(request, mode)
        headers = self._headers(secret)
        if on_token is None:
            data = await post_json(
                endpoint, headers, payload, secret=secret, params=self._params, client=self._client
            )
            return self._read(endpoint, data)
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
        stream = _Stream(endpoint, on_token)
        events = post_sse(
            endpoint, headers, payload, secret=secret, params=self._params, client=self._client
        )
        async with aclosing(events) as lines:
            async for _event, line in lines:
                if line.strip() == "[DONE]":
                    break
                stream.feed(load_event(endpoint, line))
        return stream.response()

    # -- wire format ------------------------------------------------------------------------

    def _payload(self, request: ChatRequest, mode: StructuredOutput | None) -> JsonObject:
        messages = [_message(m) for m in request.messages]
        payload: JsonObject = {"model": self._model, "messages": messages}
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.max_tokens is not None:
            payload[self._max_tokens_field] = request.max_tokens
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        schema = request.output_schema
        if schema is not None and mode == "json_schema":
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(request),
                    "schema": schema,
                    "strict": is_strict_compatible(schema),
                },
            }
        elif schema is not None:
            payload["response_format"] = {"type": "json_object"}
            instruction = (
                "Answer with one JSON object, and nothing else, that matches this JSON Schema:\n"
                + json.dumps(schema, sort_keys=True)
            )
            payload["messages"] = [{"role": "system", "content": instruction}, *messages]
        return payload

    def _read(self, endpoint: Endpoint, data: JsonObject) -> ChatResponse:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise invalid(endpoint, "without choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise invalid(endpoint, "a choice without a message")
        calls = []
        for raw in message.get("tool_calls") or []:
            function = raw.get("function") if isinstance(raw, dict) else None
            if not isinstance(function, dict) or not function.get("name"):
                raise invalid(endpoint, "a tool call without a function name")
            name = str(function["name"])
            arguments = parse_arguments(endpoint, name, function.get("arguments"))
            calls.append(ToolCall(id=str(raw.get("id") or name), name=name, arguments=arguments))
        content = message.get("content")
        return ChatResponse(
            text=content if isinstance(content, str) and (content or not calls) else None,
            tool_calls=tuple(calls),
            usage=_usage(data.get("usage")),
            model=self.name,
            finish_reason=choice.get("finish_reason"),
        )


class _Stream:
    """Assembles a streamed completion: text deltas in order, tool calls by their index."""

    def __init__(self, endpoint: Endpoint, on_token: OnToken) -> None:
        self.endpoint = endpoint
        self.on_token = on_token
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None

    def feed(self, chunk: JsonObject) -> None:
        if "error" in chunk:
            error = chunk["error"]
            said = error.get("message") if isinstance(error, dict) else error
            raise invalid(self.endpoint, f"an error in its stream: {said}")
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            piece = delta.get("content")
            if isinstance(piece, str) and piece:
                self.text.append(piece)
                self.on_token(piece)
            for part in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(
                    int(part.get("index", len(self.calls))), {"id": "", "name": "", "args": []}
                )
                function = part.get("function") or {}
                slot["id"] = part.get("id") or slot["id"]
                slot["name"] = function.get("name") or slot["name"]
                if function.get("arguments"):
                    slot["args"].append(function["arguments"])

    def response(self) -> ChatResponse:
        calls = []
        for _index, slot in sorted(self.calls.items()):
            if not slot["name"]:
                raise invalid(self.endpoint, "a streamed tool call without a name")
            arguments = parse_arguments(self.endpoint, slot["name"], "".join(slot["args"]))
            calls.append(
                ToolCall(id=slot["id"] or slot["name"], name=slot["name"], arguments=arguments)
            )
        return ChatResponse(
            text="".join(self.text) if self.text else None,
            tool_calls=tuple(calls),
            usage=self.usage,
            model=self.endpoint.model,
            finish_reason=self.finish_reason,
        )


def _message(message: Message) -> JsonObject:
    out: JsonObject = {"role": message.role, "content": message.content}
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
        out["content"] = message.content or ""
    if message.name and message.role in ("user", "system"):
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return out


def _usage(raw: object) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
    )


def _schema_name(request: ChatRequest) -> str:
    raw = request.output_name or str(request.output_schema.get("title") or "answer")  # type: ignore[union-attr]
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)
    return cleaned[:64] or "answer"


def _refuses(exc: ModelError) -> bool:
    said = str(exc).lower()
    return "response_format" in said or "json_schema" in said


def is_strict_compatible(schema: object) -> bool:
    """Whether OpenAI's ``strict`` mode accepts ``schema``: every object closed, all required."""
    if isinstance(schema, list):
        return all(is_strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            return False
        if isinstance(properties, dict) and set(schema.get("required") or ()) != set(properties):
            return False
    return all(is_strict_compatible(value) for value in schema.values())
