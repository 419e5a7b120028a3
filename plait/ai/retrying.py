"""The retry loop around ``Model.complete``: backoff, ``Retry-After``, fallbacks, a guard.

Rules this module keeps:

- Only errors whose class is ``retryable`` (rate limited, server error, timeout, invalid
  answer) are tried again, up to ``ModelRetry.max_attempts`` attempts per model. An auth error
  or a bad request raises at once: another attempt would fail the same way.
- A wait honours the provider's ``retry_after`` exactly when it is at most
  ``max_retry_after``; a longer one ends this model's attempts (waiting minutes inside a call is
  worse than failing over or failing); otherwise the wait is exponential with jitter.
- After its last attempt a single model raises its last error as it is. A ``Fallback`` then
  moves to its next member; when every member has failed, ``ModelUnavailable`` says what each
  one answered. An auth error or a bad request from a member is raised, not hidden behind the
  next member: a wrong key or a malformed request is something to fix, not to route around.
- Every attempt, failed or not, is reported once to ``on_attempt`` (for the ledger and the
  journal) with the name of the model that was tried.
- The ``guard`` (the rate limiter) wraps each attempt, never a wait. Its settle callable gets
  the real usage after an answer and ``Usage()`` after an error the provider answered with a
  status (a refused request consumed nothing); after a timeout or a lost connection it is not
  called, so the reservation stands (the provider may have done the work).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from plait.ai.errors import ModelError, ModelUnavailable
from plait.ai.model import Model
from plait.ai.types import ChatRequest, ChatResponse, OnToken, Usage
from plait.errors import InvalidArguments
from plait.frozen import Frozen

Guard = Callable[[str, ChatRequest], AbstractAsyncContextManager[Callable[[Usage], None]]]
"""Reserve capacity for one attempt at the named model; the yielded callable settles usage."""


class ModelRetry(Frozen):
    """How a model call is retried: attempts per model, backoff, and how long a wait may be."""

    max_attempts: int = 4
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float = 30.0
    jitter: float = 0.2
    """Each backoff wait is scaled by a random factor in ``[1 - jitter, 1 + jitter]``."""
    max_retry_after: float = 60.0
    """The longest ``Retry-After`` honoured; a longer one ends this model's attempts."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidArguments("ModelRetry.max_attempts must be at least 1")
        if self.initial_interval < 0 or self.max_interval < 0 or self.max_retry_after < 0:
            raise InvalidArguments("ModelRetry intervals must not be negative")
        if self.backoff < 1:
            raise InvalidArguments("ModelRetry.backoff must be at least 1")
        if not 0 <= self.jitter < 1:
            raise InvalidArguments("ModelRetry.jitter must be in [0, 1)")

    def delay(self, attempt: int, error: ModelError) -> float | None:
        """Seconds to wait after failed ``attempt`` (1-based), or None to stop trying."""
        if attempt >= self.max_attempts or not error.retryable:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        wait = min(self.max_interval, self.initial_interval * self.backoff ** (attempt - 1))
        return wait * random.uniform(1 - self.jitter, 1 + self.jitter)


class AttemptReport(Frozen):
    """One attempt at one model: its answer or its error, and how long it took."""

    model: str
    response: ChatResponse | None
    error: ModelError | None
    latency_ms: float


OnAttempt = Callable[[AttemptReport], Awaitable[None]]


@runtime_checkable
class ModelChain(Protocol):
    """Models tried in order, each with its own retries (``plait.ai.fallback.Fallback``)."""

    @property
    def name(self) -> str: ...

    @property
    def models(self) -> tuple[Model, ...]: ...

    @property
    def retry(self) -> ModelRetry | None: ...


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
    """Send ``request`` to ``model`` (walking a ``Fallback``'s members), retrying as above."""
    if isinstance(model, ModelChain):
        return await _walk(model, request, retry, on_attempt, guard, on_token, sleep)
    policy = retry or ModelRetry()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _attempt(model, request, on_attempt, guard, on_token)
        except ModelError as error:
            wait = policy.delay(attempt, error)
            if wait is None:
                raise
        await sleep(wait)


async def _attempt(
    model: Model,
    request: ChatRequest,
    on_attempt: OnAttempt | None,
    guard: Guard | None,
    on_token: OnToken | None,
) -> ChatResponse:
    if guard is None:
        return await _timed(model, request, on_attempt, on_token, None)
    async with guard(model.name, request) as settle:
        return await _timed(model, request, on_attempt, on_token, settle)


async def _timed(
    model: Model,
    request: ChatRequest,
    on_attempt: OnAttempt | None,
    on_token: OnToken | None,
    settle: Callable[[Usage], None] | None,
) -> ChatResponse:
    started = time.perf_counter()
    try:
        response = await model.complete(request, on_token=on_token)
    except ModelError as error:
        if settle is not None and error.status is not None:
            settle(Usage())
        if on_attempt is not None:
            latency = (time.perf_counter() - started) * 1000.0
            await on_attempt(AttemptReport(error.model or model.name, None, error, latency))
        raise
    if settle is not None:
        settle(response.usage)
    if on_attempt is not None:
        latency = response.latency_ms or (time.perf_counter() - started) * 1000.0
        await on_attempt(AttemptReport(response.model, response, None, latency))
    return response


async def _walk(
    fallback: ModelChain,
    request: ChatRequest,
    retry: ModelRetry | None,
    on_attempt: OnAttempt | None,
    guard: Guard | None,
    on_token: OnToken | None,
    sleep: Callable[[float], Awaitable[None]],
) -> ChatResponse:
    failures: list[ModelError] = []
    for member in fallback.models:
        try:
            return await call_with_retries(
                member,
                request,
                retry=retry or fallback.retry,
                on_attempt=on_attempt,
                guard=guard,
                on_token=on_token,
                sleep=sleep,
            )
        except ModelError as error:
            if not (error.retryable or isinstance(error, ModelUnavailable)):
                raise
            failures.append(error)
    said = "; ".join(str(error) for error in failures)
    raise ModelUnavailable(
        f"every model of {fallback.name} failed after its retries: {said}",
        model=fallback.name,
    ) from failures[-1]
