"""The AI layer's vocabulary: messages, tool calls, requests, responses and token usage.

Providers translate these to and from their wire formats (one HTTP call per ``complete``);
the durable model call (``plait.ai.chat``) journals them. Everything here is JSON-encodable
and frozen, so a request hashes to a stable fingerprint and a response replays unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, JsonValue

Role = Literal["system", "user", "assistant", "tool"]

OnToken = Callable[[str], None]
"""Called with each piece of text as a streaming provider receives it (observers only)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(_Frozen):
    """A tool call the model proposes: the provider's call id, the tool's name, its arguments."""

    id: str
    name: str
    arguments: dict[str, JsonValue]


class Message(_Frozen):
    """One chat message. ``tool_call_id`` answers a tool call (``role="tool"``)."""

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


class ToolSpec(_Frozen):
    """A tool offered to the model: its name, what it does, and its arguments' JSON Schema."""

    name: str
    description: str = ""
    parameters: dict[str, JsonValue]


class Usage(_Frozen):
    """Tokens a call consumed, as the provider reported them."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ChatRequest(_Frozen):
    """Everything one model call sends. ``output_schema`` asks for a JSON object of that schema."""

    messages: tuple[Message, ...]
    output_schema: dict[str, JsonValue] | None = None
    output_name: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


class ChatResponse(_Frozen):
    """What one model call returned. ``model`` names who answered, as ``provider:model``."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    model: str
    finish_reason: str | None = None
    latency_ms: float = 0.0
