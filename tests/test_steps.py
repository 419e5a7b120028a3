"""Steps: decorator forms, plain calls outside a workflow, sync steps in threads, retry
policies (attempts, backoff on the fake clock, non_retryable, retry_on), StepFailed (same on
replay), per-attempt records and step timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

import plait
from plait.testing import TestEngine

calls: Counter[str] = Counter()
seen: list[object] = []
engine_ref: list[TestEngine] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    seen.clear()
    engine_ref.clear()


# -- decorator forms and plain calls ------------------------------------------------------


@plait.step
async def double(x: int) -> int:
    calls["double"] += 1
    return 2 * x


@plait.step(name="triple-step")
def triple(x: int) -> int:
    calls["triple"] += 1
    seen.append(threading.current_thread().name)
    return 3 * x


async def test_step_outside_a_workflow_is_a_plain_call() -> None:
    assert await double(4) == 8
    assert triple(4) == 12  # a sync step stays sync: no coroutine, no thread
    assert seen == [threading.current_thread().name]
    assert calls == {"double": 1, "triple": 1}


def test_step_names_default_to_qualname_and_can_be_overridden() -> None:
    assert double.name == "double"
    assert triple.name == "triple-step"
    assert isinstance(double, plait.StepDef)


def test_step_rejects_a_bad_retry_option() -> None:
    with pytest.raises(plait.ConfigurationError, match="plait.Retry"):
        plait.step(retry=3)(lambda: None)  # type: ignore[arg-type]


@plait.workflow
async def mixed(ctx: plait.Context, x: int) -> list[int]:
    return [await double(x), await triple(x)]


async def test_async_and_sync_steps_are_journaled_and_sync_ones_run_in_a_thread(
    test_engine: TestEngine,
) -> None:
    test_engine.register(mixed)
    h = await test_engine.start(mixed, 5)
    await test_engine.run_until_idle()
    assert await h.result() == [10, 15]
    assert seen and seen[0] != threading.current_thread().name
    assert seen[0].startswith("plait-step")
    journal = await test_engine.journal(h.id)
    assert [(e.seq, e.kind, e.name, e.status) for e in journal] == [
        (1, "step", "double", "completed"),
        (2, "step", "triple-step", "completed"),
    ]
    assert [e.output for e in journal] == [10, 15]


@plait.step
async def inner(x: int) -> int:
    calls["inner"] += 1
    return x + 1


@plait.step
async def outer(x: int) -> int:
    # A step called inside a step is a plain call, not a second journal entry.
    return await inner(x) * 10


@plait.workflow
async def nested(ctx: plait.Context) -> int:
    return await outer(1)


async def test_a_step_called_inside_a_step_is_a_plain_call(test_engine: TestEngine) -> None:
    test_engine.register(nested)
    h = await test_engine.start(nested)
    await test_engine.run_until_idle()
    assert await h.result() == 20
    assert [e.name for e in await test_engine.journal(h.id)] == ["outer"]


_mark: contextvars.ContextVar[str] = contextvars.ContextVar("test_steps_mark", default="unset")


@plait.step
async def sets_a_variable(x: int) -> str:
    before = _mark.get()
    _mark.set(f"step {x}")  # the step's own: never seen by the workflow or the next step
    await asyncio.sleep(0)
    return f"{before}/{_mark.get()}"


@plait.workflow
async def variables(ctx: plait.Context) -> list[str]:
    _mark.set("workflow")
    got = [await sets_a_variable(1), await sets_a_variable(2)]
    return [*got, _mark.get()]


async def test_a_steps_context_variables_stay_its_own(test_engine: TestEngine) -> None:
    test_engine.register(variables)
    h = await test_engine.start(variables)
    await test_engine.run_until_idle()
    assert await h.result() == ["workflow/step 1", "workflow/step 2", "workflow"]


# -- retry --------------------------------------------------------------------------------


def test_retry_defaults_and_validation() -> None:
    r = plait.Retry()
    assert (r.max_attempts, r.initial_interval, r.backoff, r.max_interval, r.jitter) == (
        3,
        timedelta(seconds=1),
        2.0,
        timedelta(seconds=60),
        0.2,
    )
    with pytest.raises(plait.ConfigurationError, match="max_attempts"):
        plait.Retry(max_attempts=0)
    with pytest.raises(plait.ConfigurationError, match="backoff"):
        plait.Retry(backoff=0.5)
    with pytest.raises(plait.ConfigurationError, match="jitter"):
        plait.Retry(jitter=2)
    with pytest.raises(plait.ConfigurationError, match="initial_interval"):
        plait.Retry(initial_interval=timedelta(seconds=-1))
    with pytest.raises(dataclasses_frozen_error()):
        r.max_attempts = 5  # type: ignore[misc]
    # numbers of seconds are accepted as durations
    assert plait.Retry(initial_interval=0.5, jitter=0).interval(1, 0.3) == 0.5


def dataclasses_frozen_error() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


FLAKY_FAILURES = 2


@plait.step(
    retry=plait.Retry(max_attempts=4, initial_interval=timedelta(seconds=10), backoff=3.0, jitter=0)
)
async def flaky() -> str:
    calls["flaky"] += 1
    engine_ref[0].clock.advance(timedelta(seconds=2))  # each attempt "takes" 2 s
    if calls["flaky"] <= FLAKY_FAILURES:
        raise ConnectionError(f"down #{calls['flaky']}")
    return "up"


@plait.workflow
async def uses_flaky(ctx: plait.Context) -> str:
    return await flaky()


async def test_retry_counts_attempts_backs_off_on_the_fake_clock_and_records_each_attempt(
    test_engine: TestEngine,
) -> None:
    engine_ref.append(test_engine)
    test_engine.register(uses_flaky)
    h = await test_engine.start(uses_flaky)
    t0 = test_engine.clock.now()
    started = time.monotonic()
    await test_engine.run_until_idle()
    assert time.monotonic() - started < 20  # 30 s of backoff did not happen for real
    assert await h.result() == "up"
    assert calls["flaky"] == 3

    attempts = await test_engine.attempts(h.id)
    assert [(a.seq, a.attempt) for a in attempts] == [(1, 1), (1, 2), (1, 3)]
    assert [a.error.type if a.error else None for a in attempts] == [
        "ConnectionError",
        "ConnectionError",
        None,
    ]
    assert attempts[0].error is not None and attempts[0].error.message == "down #1"
    assert all(a.duration == timedelta(seconds=2) for a in attempts)
    # backoff: 10 s after the first failure, 30 s after the second (jitter 0)
    assert attempts[0].started_at == t0
    assert attempts[1].started_at - attempts[0].ended_at == timedelta(seconds=10)
    assert attempts[2].started_at - attempts[1].ended_at == timedelta(seconds=30)

    (entry,) = await test_engine.journal(h.id)
    assert entry.status == plait.EntryStatus.COMPLETED and entry.attempts == 3


def test_retry_interval_is_capped_and_jittered() -> None:
    r = plait.Retry(initial_interval=1, backoff=2, max_interval=5, jitter=0.2)
    assert r.interval(1, 0.5) == pytest.approx(1)
    assert r.interval(3, 0.5) == pytest.approx(4)
    assert r.interval(10, 0.5) == pytest.approx(5)
    assert r.interval(10, 0.0) == pytest.approx(4)
    assert r.interval(10, 0.999999) == pytest.approx(6, rel=1e-4)


class Permanent(Exception):
    pass


@plait.step(retry=plait.Retry(max_attempts=5, non_retryable=(Permanent,)))
async def permanent() -> None:
    calls["permanent"] += 1
    raise Permanent("card declined")


@plait.step(retry=plait.Retry(max_attempts=5, retry_on=(KeyError,), initial_interval=1))
async def only_key_errors(kind: str) -> str:
    calls[kind] += 1
    if kind == "value":
        raise ValueError("bad value")
    if calls[kind] < 3:
        raise KeyError("missing")
    return "ok"


@plait.step(
    retry=plait.Retry(max_attempts=5, retry_on=lambda e: "transient" in str(e), initial_interval=1)
)
async def predicate(message: str) -> None:
    calls[message] += 1
    raise RuntimeError(message)


@plait.step
async def no_retry_policy() -> None:
    calls["no_retry_policy"] += 1
    raise RuntimeError("once")


@plait.workflow
async def retry_kinds(ctx: plait.Context) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, call in [
        ("permanent", permanent),
        ("value", lambda: only_key_errors("value")),
        ("key", lambda: only_key_errors("key")),
        ("transient", lambda: predicate("transient glitch")),
        ("fatal", lambda: predicate("fatal")),
        ("none", no_retry_policy),
    ]:
        try:
            out[name] = await call()
        except plait.StepFailed as exc:
            out[name] = [exc.error_type, exc.message, exc.attempts]
    return out


async def test_non_retryable_retry_on_and_no_policy(test_engine: TestEngine) -> None:
    test_engine.register(retry_kinds)
    h = await test_engine.start(retry_kinds)
    await test_engine.run_until_idle()
    assert await h.result() == {
        "permanent": ["Permanent", "card declined", 1],
        "value": ["ValueError", "bad value", 1],
        "key": "ok",
        "transient": ["RuntimeError", "transient glitch", 5],
        "fatal": ["RuntimeError", "fatal", 1],
        "none": ["RuntimeError", "once", 1],
    }
    assert calls["permanent"] == 1
    assert calls["value"] == 1
    assert calls["key"] == 3
    assert calls["transient glitch"] == 5
    assert calls["fatal"] == 1
    assert calls["no_retry_policy"] == 1


# -- StepFailed ---------------------------------------------------------------------------


class QuotaExceeded(Exception):
    pass


@plait.step(retry=plait.Retry(max_attempts=2, initial_interval=1))
async def over_quota() -> str:
    calls["over_quota"] += 1
    raise QuotaExceeded(f"quota exceeded (call {calls['over_quota']})")


@plait.workflow
async def handles_failure(ctx: plait.Context) -> str:
    try:
        await over_quota()
    except plait.StepFailed as exc:
        seen.append((exc.step, exc.error_type, exc.message, exc.attempts, str(exc)))
    await ctx.sleep(timedelta(hours=1))  # forces a replay of the failed step
    return "handled"


async def test_step_failed_carries_type_and_message_and_is_the_same_on_replay(
    test_engine: TestEngine,
) -> None:
    test_engine.register(handles_failure)
    h = await test_engine.start(handles_failure)
    await test_engine.run_until_idle()
    assert await h.result() == "handled"
    assert calls["over_quota"] == 2  # both attempts on the first run, none on replay
    assert len(seen) == 2  # the except block ran on the first run and on the replay
    assert seen[0] == seen[1]
    assert seen[0] == (
        "over_quota",
        "QuotaExceeded",
        "quota exceeded (call 2)",
        2,
        "step 'over_quota' failed after 2 attempt(s): QuotaExceeded: quota exceeded (call 2)",
    )
    (entry, _sleep) = await test_engine.journal(h.id)
    assert entry.status == plait.EntryStatus.FAILED
    assert entry.error is not None
    assert (entry.error.type, entry.error.message) == ("QuotaExceeded", "quota exceeded (call 2)")
    attempts = await test_engine.attempts(h.id)
    assert [a.error.message for a in attempts if a.error] == [
        "quota exceeded (call 1)",
        "quota exceeded (call 2)",
    ]


@plait.workflow
async def lets_failure_escape(ctx: plait.Context) -> str:
    return await over_quota()


async def test_uncaught_step_failure_fails_the_workflow(test_engine: TestEngine) -> None:
    test_engine.register(lets_failure_escape)
    h = await test_engine.start(lets_failure_escape)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed) as info:
        await h.result()
    assert info.value.error_type == "StepFailed"
    assert "QuotaExceeded" in info.value.message
    assert info.value.traceback and "over_quota" in info.value.traceback
    wf = await test_engine.get(h.id)
    assert wf.status == plait.WorkflowStatus.FAILED
    assert wf.error is not None and wf.error.seq == 1


# -- timeouts -----------------------------------------------------------------------------


@plait.step(timeout=timedelta(milliseconds=50), retry=plait.Retry(max_attempts=2, jitter=0))
async def hangs() -> None:
    calls["hangs"] += 1
    await asyncio.sleep(60)


@plait.step(timeout=0.05, retry=plait.Retry(max_attempts=3))
def hangs_in_thread() -> None:
    calls["hangs_in_thread"] += 1
    time.sleep(0.3)


@plait.workflow
async def timeouts(ctx: plait.Context) -> list[object]:
    out: list[object] = []
    for call in (hangs, hangs_in_thread):
        try:
            await call()
        except plait.StepFailed as exc:
            out.append([exc.error_type, exc.attempts, exc.message])
    return out


async def test_step_timeout_async_is_retried_sync_is_soft_and_not_retried(
    test_engine: TestEngine,
) -> None:
    test_engine.register(timeouts)
    h = await test_engine.start(timeouts)
    started = time.monotonic()
    await test_engine.run_until_idle()
    assert time.monotonic() - started < 30  # the 60 s hangs were cut short
    (async_failure, sync_failure) = await h.result()
    assert async_failure[:2] == ["TimeoutError", 2]
    assert "took longer than 0.05 s" in async_failure[2]
    assert calls["hangs"] == 2
    assert sync_failure[:2] == ["TimeoutError", 1]
    assert "not retried" in sync_failure[2]
    assert calls["hangs_in_thread"] == 1
