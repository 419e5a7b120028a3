"""Stand-in for prov's retry loop (replaced when the providers branch is merged)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from plait.ai.errors import ModelError
from plait.ai.model import Model
from plait.ai.types import ChatRequest, ChatResponse, OnToken, Usage

Guard = Callable[[str, ChatRequest], AbstractAsyncContextManager[Callable[[Usage], None]]]


@dataclass(frozen=True)
class ModelRetry:
    max_attempts: int = 4
    initial_interval: float = 1.0
    backoff: float = 2.0

    def delay(self, attempt: int, error: ModelError) -> float | None:
        if attempt >= self.max_attempts or not error.retryable:
            return None
        if error.retry_after is not None:
            return error.retry_after
        return float(self.initial_interval * self.backoff ** (attempt - 1))


@dataclass(frozen=True)
class AttemptReport:
    model: str
    response: ChatResponse | None
    error: ModelError | None
    latency_ms: float


OnAttempt = Callable[[AttemptReport], Awaitable[None]]


async def call_with_retries(
    model: Model,
    request: ChatRequest,
    *,
    retry: ModelRetry | None = None,
    on_attempt: OnAttempt | None = None,
    guard: Guard | None = None,
    on_token: OnToken | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ChatResponse:
    policy = retry or ModelRetry()
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            if guard is None:
                response = await model.complete(request, on_token=on_token)
            else:
                async with guard(model.name, request) as settle:
                    response = await model.complete(request, on_token=on_token)
                    settle(response.usage)
        except ModelError as error:
            if on_attempt is not None:
                latency = (time.perf_counter() - started) * 1000
                await on_attempt(AttemptReport(model.name, None, error, latency))
            wait = policy.delay(attempt, error)
            if wait is None:
                raise
            await sleep(wait)
            continue
        if on_attempt is not None:
            await on_attempt(AttemptReport(response.model, response, None, response.latency_ms))
        return response
