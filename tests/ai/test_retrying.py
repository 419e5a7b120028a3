"""The retry policy, the guard and fallbacks, with models that fail on cue (no HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from plait.ai import (
    ChatRequest,
    ChatResponse,
    Message,
    Model,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    OnToken,
    Usage,
)
from plait.ai.fallback import Fallback
from plait.ai.retrying import AttemptReport, ModelRetry, call_with_retries
from plait.errors import InvalidArguments
from tests.ai.wire import Sleeps

ASK = ChatRequest(messages=(Message(role="user", content="Hi"),))


class Cue:
    """A model that raises or answers from a script, counting its calls."""

    def __init__(self, name: str, *script: ModelError | str) -> None:
        self.name = name
        self.script = list(script)
        self.calls = 0

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, ModelError):
            raise step
        if on_token is not None:
            on_token(step)
        return ChatResponse(
            text=step, model=self.name, usage=Usage(input_tokens=3, output_tokens=1)
        )


def test_a_cue_is_a_model() -> None:
    assert isinstance(Cue("x"), Model) and isinstance(Fallback(Cue("x")), Model)


def test_the_policy_is_checked_when_made() -> None:
    with pytest.raises(InvalidArguments, match="max_attempts"):
        ModelRetry(max_attempts=0)
    with pytest.raises(InvalidArguments, match="jitter"):
        ModelRetry(jitter=1.5)
    with pytest.raises(InvalidArguments, match="backoff"):
        ModelRetry(backoff=0.5)


def test_backoff_grows_to_its_cap_and_jitter_stays_in_bounds() -> None:
    policy = ModelRetry(max_attempts=10, initial_interval=1, backoff=2, max_interval=5, jitter=0)
    error = ModelServerError("x")
    assert [policy.delay(n, error) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert policy.delay(10, error) is None
    jittery = ModelRetry(jitter=0.2)
    waits = [jittery.delay(2, error) for _ in range(50)]
    assert all(w is not None and 1.6 <= w <= 2.4 for w in waits)
    assert len(set(waits)) > 1


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    policy = ModelRetry(max_retry_after=60)
    assert policy.delay(1, ModelRateLimited("x", retry_after=42)) == 42
    assert policy.delay(1, ModelRateLimited("x", retry_after=61)) is None
    assert policy.delay(1, ModelBadRequest("x")) is None


async def test_retryable_errors_are_retried_until_an_answer() -> None:
    model = Cue(
        "cue:a",
        ModelTimeout("t"),
        ModelResponseInvalid("garbled"),
        ModelRateLimited("r", retry_after=0.5),
        "ok",
    )
    sleeps = Sleeps()
    reports: list[AttemptReport] = []

    async def on_attempt(report: AttemptReport) -> None:
        reports.append(report)

    response = await call_with_retries(model, ASK, sleep=sleeps, on_attempt=on_attempt)
    assert response.text == "ok" and model.calls == 4
    assert sleeps.waits[2] == 0.5 and len(sleeps.waits) == 3
    assert [r.model for r in reports] == ["cue:a"] * 4
    assert [r.error is None for r in reports] == [False, False, False, True]
    assert all(r.latency_ms >= 0 for r in reports)


async def test_a_too_long_retry_after_ends_the_attempts_at_once() -> None:
    model = Cue("cue:a", ModelRateLimited("r", retry_after=3600), "never")
    sleeps = Sleeps()
    with pytest.raises(ModelRateLimited):
        await call_with_retries(model, ASK, sleep=sleeps)
    assert model.calls == 1 and sleeps.waits == []


async def test_the_guard_wraps_each_attempt_and_settles_what_was_used() -> None:
    model = Cue("cue:a", ModelServerError("busy", status=503), ModelTimeout("t"), "ok")
    entered: list[str] = []
    settled: list[Usage] = []

    @asynccontextmanager
    async def guard(name: str, request: ChatRequest) -> AsyncIterator[Callable[[Usage], None]]:
        entered.append(name)
        yield settled.append

    await call_with_retries(model, ASK, guard=guard, sleep=Sleeps())
    assert entered == ["cue:a"] * 3
    # A refused request settles nothing used; a timeout leaves the reservation; an answer settles.
    assert settled == [Usage(), Usage(input_tokens=3, output_tokens=1)]


async def test_a_fallback_member_over_its_limit_hands_over_to_the_next() -> None:
    first = Cue("cue:first", ModelRateLimited("r", retry_after=1), ModelRateLimited("r"))
    second = Cue("cue:second", "from second")
    tokens: list[str] = []
    sleeps = Sleeps()
    response = await call_with_retries(
        Fallback(first, second),
        ASK,
        retry=ModelRetry(max_attempts=2),
        sleep=sleeps,
        on_token=tokens.append,
    )
    assert response.model == "cue:second" and tokens == ["from second"]
    assert first.calls == 2 and sleeps.waits == [1]


async def test_a_bad_request_in_a_fallback_is_raised_not_routed_around() -> None:
    first = Cue("cue:first", ModelBadRequest("context too long"))
    second = Cue("cue:second", "never")
    with pytest.raises(ModelBadRequest, match="context too long"):
        await Fallback(first, second).complete(ASK)
    assert second.calls == 0


async def test_nested_fallbacks_walk_depth_first_and_name_everyone() -> None:
    inner = Fallback(Cue("cue:a", ModelTimeout("t")), Cue("cue:b", ModelTimeout("t")))
    outer = Fallback(inner, Cue("cue:c", "c answers"), retry=ModelRetry(max_attempts=1))
    assert outer.name == "cue:a,cue:b,cue:c"
    assert (await outer.complete(ASK)).model == "cue:c"
    failing = Fallback(Cue("cue:x", ModelTimeout("x slow")), retry=ModelRetry(max_attempts=1))
    with pytest.raises(ModelUnavailable, match="x slow"):
        await failing.complete(ASK)
