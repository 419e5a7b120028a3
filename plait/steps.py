"""A step call inside a workflow: the durable operation behind ``@plait.step``.

``call_step`` reserves the step's position at the call site and returns an awaitable that
either replays the journaled outcome (result, ``StepFailed`` or the cancellation recorded
there) or runs the function under its retry policy and journals the outcome, with its last
attempt, in one fenced transaction. Earlier failed attempts are recorded as they happen.

Invariants kept here:
- Values the step may have been given (``ctx.now()``, ...) are durable before it runs.
- A first attempt that succeeded is the journal entry itself: no attempt row is written.
- Inside a step, ``plait.step`` calls are plain calls (the context variable is cleared);
  ``plait.limit`` and ``plait.current_engine()`` find the engine through ``engine_var``.
- A sync step runs in the engine's thread pool; its timeout is soft (a thread cannot be
  stopped), so a timed-out sync step is not retried.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from plait.current import InContext, engine_var, journal_var, step_var
from plait.errors import StepFailed, _Released, traceback_text
from plait.journal import Journal, mark
from plait.store.records import Attempt, Entry
from plait.types import EntryStatus

if TYPE_CHECKING:
    from plait.definitions import StepDef
    from plait.engine import Engine
    from plait.telemetry.hooks import StepAttempt


class _SoftTimeout(Exception):
    """A sync step overran its timeout; its thread may still run, so it is not retried."""


def call_step(
    journal: Journal, sd: StepDef[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Coroutine[Any, Any, Any]:
    """``sd(*args, **kwargs)`` inside a workflow: reserves its position now."""
    seq, entry = journal.reserve("step", sd.name)
    return _step(journal, seq, entry, sd, args, kwargs)


async def _step(
    journal: Journal,
    seq: int,
    entry: Entry | None,
    sd: StepDef[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    try:
        if entry is not None:
            return _replay(journal, seq, entry, sd)
        if journal.interrupting:
            await journal.interrupts(seq, None, "step", sd.name)
        engine = journal.engine
        if not sd.is_async or sd.timeout is not None or engine.telemetry is not None:
            return await _execute(journal, seq, sd, args, kwargs)
        # The common step (async, no timeout, no telemetry), its first attempt run here: no
        # coroutines between the workflow and the step's code or the store's future.
        if journal.dirty:  # values the step may be given (ctx.now(), ...) are durable first
            await journal.flush()
        started = journal.now_ms()
        scope = contextvars.copy_context()
        scope.run(_enter, engine, (seq, sd.name, 1), None)
        try:
            coro = sd.fn(*args, **kwargs)
            try:  # its first run: a step that awaits nothing ends in it
                waited = scope.run(coro.send, None)
            except StopIteration as finished:
                value = finished.value
            else:
                value = await InContext(coro, scope, waited)
            output = engine.codec.encode(value, what=f"step {sd.name!r}")
        except Exception as exc:
            await _failed(journal, seq, sd, exc, 1, started, started, None)
            return await _execute(journal, seq, sd, args, kwargs, started, 2)
        ended = journal.now_ms()
        done = Entry(
            seq,
            "step",
            sd.name,
            EntryStatus.COMPLETED,
            output=output,
            started_at=started,
            completed_at=ended,
        )
        try:
            cancel = await engine.store.record(
                journal.fence, ended, [*journal.take_pending(), done], [], journal.take_status()
            )
        except Exception as exc:
            raise journal.store_failed(exc)  # noqa: B904 - store_failed sets the cause
        journal.recorded(done, cancel)
        return value
    finally:
        journal.done()


def _replay(journal: Journal, seq: int, entry: Entry, sd: StepDef[..., Any]) -> Any:
    if entry.status == EntryStatus.CANCELLED:
        raise asyncio.CancelledError()
    if entry.status == EntryStatus.FAILED:
        err = entry.error or {}
        raise mark(
            StepFailed(
                sd.name,
                err.get("type", "Error"),
                err.get("message", ""),
                entry.attempts,
                err.get("traceback"),
            ),
            seq,
        )
    return journal.decode(entry.output, sd.return_type, f"step {sd.name!r}")


async def _execute(
    journal: Journal,
    seq: int,
    sd: StepDef[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    first_start: int | None = None,
    number: int = 1,
) -> Any:
    """Runs the step's attempts from ``number`` (``first_start``: when the first began)."""
    engine = journal.engine
    codec = engine.codec
    tel = engine.telemetry  # None unless traces or metrics are on (plait/telemetry)
    if first_start is None:
        if journal.dirty:  # values the step may be given (ctx.now(), ...) are durable first
            await journal.flush()
        first_start = journal.now_ms()
    while True:
        started = journal.now_ms()
        traced = None if tel is None else tel.step(journal.workflow_id, seq, sd.name, number)
        try:
            value = await _invoke(journal, seq, sd, args, kwargs, number, traced)
            output = codec.encode(value, what=f"step {sd.name!r}")
        except Exception as exc:
            await _failed(journal, seq, sd, exc, number, started, first_start, traced)
            number += 1
            continue
        except BaseException as exc:  # suspended, cancelled, handed back: not an outcome
            if traced is not None:
                traced.ended("interrupted", exc)
            raise
        if traced is not None:
            traced.ended("completed")
        ended = journal.now_ms()
        await journal.record(
            Entry(
                seq,
                "step",
                sd.name,
                EntryStatus.COMPLETED,
                output=output,
                attempts=number,
                started_at=first_start,
                completed_at=ended,
            ),
            # A first attempt that succeeded is the journal entry itself.
            () if number == 1 else [Attempt(seq, number, started, ended, None)],
            at=ended,
        )
        return value


async def _failed(
    journal: Journal,
    seq: int,
    sd: StepDef[..., Any],
    exc: Exception,
    number: int,
    started: int,
    first_start: int,
    traced: StepAttempt | None,
) -> None:
    """Attempt ``number`` raised ``exc``: records it and returns when the step is retried
    (after the retry's pause); else records the step failed and raises ``StepFailed``."""
    ended = journal.now_ms()
    error = {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": traceback_text(exc),
    }
    if isinstance(exc, _SoftTimeout):
        error["type"] = "TimeoutError"
    attempt = Attempt(seq, number, started, ended, error)
    retry = (
        number < sd.retry.max_attempts
        and sd.retry.should_retry(exc)
        and not isinstance(exc, _SoftTimeout)
    )
    if traced is not None:
        traced.ended("retry" if retry else "failed", exc)
    if retry:
        engine = journal.engine
        await journal.record(None, [attempt], at=ended)
        await engine.clock.sleep(sd.retry.interval(number, engine.random.random()))
        if journal.draining:
            raise _Released() from None
        return
    await journal.record(
        Entry(
            seq,
            "step",
            sd.name,
            EntryStatus.FAILED,
            error=error,
            attempts=number,
            started_at=first_start,
            completed_at=ended,
        ),
        [attempt],
        at=ended,
    )
    raise mark(
        StepFailed(sd.name, error["type"], error["message"], number, error["traceback"]),
        seq,
    ) from None


async def _invoke(
    journal: Journal,
    seq: int,
    sd: StepDef[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    number: int,
    traced: StepAttempt | None,
) -> Any:
    # Inside a step, plait.step calls are plain calls: clear the current run.
    scope = contextvars.copy_context()
    scope.run(_enter, journal.engine, (seq, sd.name, number), traced)
    if sd.is_async:
        if sd.timeout is None:  # no task of its own: run it in this one, in its context
            return await InContext(sd.fn(*args, **kwargs), scope)
        task = asyncio.get_running_loop().create_task(sd.fn(*args, **kwargs), context=scope)
        try:
            return await asyncio.wait_for(task, sd.timeout)
        except TimeoutError:
            raise TimeoutError(f"step {sd.name!r} took longer than {sd.timeout} s") from None
    loop = asyncio.get_running_loop()
    call = functools.partial(scope.run, functools.partial(sd.fn, *args, **kwargs))
    future = loop.run_in_executor(journal.engine.threads, call)
    if sd.timeout is None:
        return await future
    try:
        return await asyncio.wait_for(asyncio.shield(future), sd.timeout)
    except TimeoutError:
        raise _SoftTimeout(
            f"sync step {sd.name!r} took longer than {sd.timeout} s; its thread may still "
            "be running, so it is not retried"
        ) from None


def _enter(engine: Engine, step: tuple[int, str, int], traced: StepAttempt | None) -> None:
    """Run in the step's context copy: no current run, this engine and step."""
    journal_var.set(None)
    engine_var.set(engine)
    step_var.set(step)
    if traced is not None:  # the attempt's span is current while the step's code runs
        traced.make_current()
