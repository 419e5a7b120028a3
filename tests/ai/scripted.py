"""A scripted chat model for the AI layer's tests: answers from a function of the request,
counts every request it is sent (``calls``) and keeps them (``requests``)."""

from __future__ import annotations

from collections.abc import Callable

from plait.ai import ChatRequest, ChatResponse, ModelError, OnToken, ToolCall, Usage


class Scripted:
    """A ``plait.ai.Model``: ``answer(request, n)`` (``n``: the 1-based request number)
    returns a ``ChatResponse``, a text, or raises a ``ModelError``."""

    def __init__(
        self,
        answer: Callable[[ChatRequest, int], ChatResponse | str],
        *,
        name: str = "test:scripted",
        usage: Usage = Usage(input_tokens=1000, output_tokens=100),
        tokens: list[str] | None = None,
    ) -> None:
        self._name = name
        self.answer = answer
        self.usage = usage
        self.tokens = tokens
        self.calls = 0
        self.requests: list[ChatRequest] = []
        self.streamed: list[bool] = []  # whether each request was asked to stream

    @property
    def name(self) -> str:
        return self._name

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        self.calls += 1
        self.requests.append(request)
        self.streamed.append(on_token is not None)
        got = self.answer(request, self.calls)
        if isinstance(got, ChatResponse):
            return got
        if on_token is not None:
            for piece in self.tokens or [got]:
                on_token(piece)
        return ChatResponse(text=got, model=self._name, usage=self.usage, latency_ms=5.0)


def says(*texts: str) -> Callable[[ChatRequest, int], str]:
    """Answers the n-th request with ``texts[n-1]`` (the last one after that)."""
    return lambda request, n: texts[min(n, len(texts)) - 1]


def fails_then(error: ModelError, times: int, text: str) -> Callable[[ChatRequest, int], str]:
    """Raises ``error`` for the first ``times`` requests, then answers ``text``."""

    def answer(request: ChatRequest, n: int) -> str:
        if n <= times:
            raise error
        return text

    return answer


def tool_call(name: str, call_id: str, **arguments: object) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)  # type: ignore[arg-type]
