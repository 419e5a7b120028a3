"""The workflow context: journal cursor, replay, and every durable operation.

A workflow run replays its journal from the top. Each durable operation (step, sleep,
signal wait, child, ``now``/``uuid``/``random``, patch marker) reserves the next sequence
number *synchronously, at the call site*, so the positions of operations started together
under ``asyncio.gather`` follow program order, not scheduling order. At its position an
operation either

- finds a journal entry: its kind and name must match (else ``NondeterminismError`` and the
  workflow is parked ``blocked``), and its recorded outcome is returned or raised again; or
- finds none: it runs for real and its outcome is committed before the workflow goes on.

A wait that cannot finish now *parks*. When every operation in flight has parked, the run
suspends: the parked awaits are unwound with a private ``BaseException`` (user code cannot
swallow it with ``except Exception``), the store records what the workflow waits for and
releases the lease, and the coroutine is dropped. Waiting costs a row, not a worker.

Cancellation is delivered once, at the first durable operation that is not a replay, as
``asyncio.CancelledError``; the position is journaled so a replay raises it at the same place.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import json
import logging
import random as _random
import uuid as _uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from plait.clock import duration_ms, to_ms
from plait.current import context_var, engine_var
from plait.definitions import StepDef, WorkflowDef
from plait.errors import (
    ChildWorkflowFailed,
    ConfigurationError,
    NondeterminismError,
    PlaitError,
    SerializationError,
    StepFailed,
    WaitTimeout,
    _LeaseLost,
    _Released,
    _StoreUnavailable,
    _Suspend,
    traceback_text,
)
from plait.human.ask import ask_human as _ask_human
from plait.human.forms import Approval, OnTimeout
from plait.store.records import (
    CHILD_SIGNAL,
    RESERVED_PREFIX,
    Attempt,
    Claimed,
    Entry,
    Fence,
    LeaseLostError,
    Wait,
)
from plait.types import Duration, EntryStatus

if TYPE_CHECKING:
    from plait.engine import Engine

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("plait.workflow")


@dataclasses.dataclass
class _Parked:
    future: asyncio.Future[None]
    signals: tuple[str, ...]
    wake_at: int | None


class _ReplayAwareLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def __init__(self, logger: logging.Logger, ctx: Context) -> None:
        super().__init__(logger, {"workflow_id": ctx.workflow_id})
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return not self._ctx.is_replaying and self.logger.isEnabledFor(level)


class _SoftTimeout(Exception):
    """A sync step overran its timeout; its thread may still run, so it is not retried."""


def _type_name(annotation: Any) -> str:
    return str(getattr(annotation, "__qualname__", annotation))


def _mark(exc: BaseException, seq: int) -> BaseException:
    exc.plait_seq = seq  # type: ignore[attr-defined]
    return exc


class ChildHandle:
    """A child workflow started with ``ctx.start_child``; ``await handle.result()``."""

    def __init__(self, ctx: Context, child_id: str, wf: WorkflowDef[..., Any]) -> None:
        self._ctx = ctx
        self.id = child_id
        self._wf = wf

    def result(self, *, timeout: Duration | None = None) -> Coroutine[Any, Any, Any]:
        """Waits durably for the child to end; returns its result or raises
        ``ChildWorkflowFailed``."""
        seq, entry = self._ctx._reserve("child_result", self._wf.name)
        return self._ctx._child_result(seq, entry, self.id, self._wf, timeout)


class Context:
    """Handed to every workflow run: the durable operations a workflow may perform."""

    def __init__(self, engine: Engine, claimed: Claimed, worker_id: str) -> None:
        self._engine = engine
        self.workflow_id = claimed.id
        self.workflow_name = claimed.name
        self.queue = claimed.queue
        self.attempt = claimed.attempt
        self._fence = Fence(claimed.id, claimed.attempt, worker_id, engine.lease_ms)
        self._journal: dict[int, Entry] = {e.seq: e for e in claimed.journal}
        self._max_recorded = max(self._journal, default=0)
        self._next = 1
        self._pending: list[Entry] = []
        self._status: tuple[str | None, str | None] | None = None
        self._live = 0
        self._parked: list[_Parked] = []
        self._quiescence_scheduled = False
        self.cancel_requested = claimed.cancel_requested
        self._cancel_delivered = any(e.status == EntryStatus.CANCELLED for e in claimed.journal)
        self.suspending = False
        self.draining = False
        self.blocked: PlaitError | None = None
        self.task: asyncio.Task[Any] | None = None  # the run, set by the worker
        self.suspended = False  # the store already recorded the suspension
        self.logger: logging.LoggerAdapter[logging.Logger] = _ReplayAwareLogger(log, self)

    # -- properties ----------------------------------------------------------------------
    @property
    def is_replaying(self) -> bool:
        """True while the run is re-reading operations the journal already holds."""
        return self._next <= self._max_recorded

    @property
    def idempotency_key(self) -> str:
        """``"<workflow_id>:<seq>"`` of the next durable operation: the same on every replay,
        so an external API given it (e-mail Message-ID, payment key) acts once."""
        return f"{self.workflow_id}:{self._next}"

    # -- bookkeeping ---------------------------------------------------------------------
    def _now(self) -> int:
        return self._engine.clock.now_ms()

    def _reserve(self, kind: str, name: str) -> tuple[int, Entry | None]:
        if self.blocked is not None:
            raise self.blocked
        if self.suspending:
            raise _Suspend()
        seq = self._next
        self._next += 1
        entry = self._journal.get(seq)
        if entry is not None and (entry.kind != kind or entry.name != name):
            self.blocked = NondeterminismError(
                f"workflow {self.workflow_id!r} does not replay its journal: at position {seq}"
                f" the journal recorded {entry.kind} {entry.name!r}, but the code now calls "
                f"{kind} {name!r}. Restore the old code path, or guard the change with "
                "ctx.patched(...), then resume the workflow"
            )
            raise self.blocked
        if kind not in ("now", "uuid", "random", "patch"):
            self._live += 1
        return seq, entry

    def _done(self) -> None:
        self._live -= 1
        self._check_quiescent()

    def _check_quiescent(self) -> None:
        if self._parked and self._live == len(self._parked) and not self._quiescence_scheduled:
            self._quiescence_scheduled = True
            asyncio.get_running_loop().call_soon(self._quiescence_pass, 0)

    def _quiescence_pass(self, n: int) -> None:
        # Give tasks that are ready a few loop turns to start new operations first.
        ended = self.task is not None and self.task.done()
        if not (self._parked and self._live == len(self._parked)) or self.suspending or ended:
            # A run that already returned or raised (e.g. caught an error from gather beside
            # a parked wait) has ended: its leftover waits are dropped, not suspended on.
            self._quiescence_scheduled = False
            return
        if n < 3:
            asyncio.get_running_loop().call_soon(self._quiescence_pass, n + 1)
            return
        self._quiescence_scheduled = False
        self.suspending = True
        for p in self._parked:
            if not p.future.done():
                p.future.set_exception(_Suspend())

    def wait_plan(self) -> Wait:
        """What the suspended run waits for: the union of its parked waits."""
        signals: list[str] = []
        until: int | None = None
        for p in self._parked:
            signals.extend(s for s in p.signals if s not in signals)
            if p.wake_at is not None:
                until = p.wake_at if until is None else min(until, p.wake_at)
        return Wait(tuple(signals), until)

    def take_pending(self) -> list[Entry]:
        pending, self._pending = self._pending, []
        return pending

    def take_status(self) -> tuple[str | None, str | None] | None:
        status, self._status = self._status, None
        return status

    async def _store(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except LeaseLostError:
            raise _LeaseLost() from None
        except PlaitError:
            raise
        except Exception as exc:  # the database, not the workflow, failed
            log.error(
                "workflow %s: the store failed (%s: %s); stopping this run",
                self.workflow_id,
                type(exc).__name__,
                exc,
            )
            raise _StoreUnavailable() from exc

    async def _interrupts(self, seq: int, entry: Entry | None, kind: str, name: str) -> None:
        """Runs before an operation executes for real: suspension, shutdown, cancellation."""
        if self.suspending:
            raise _Suspend()
        if self.draining:
            raise _Released()
        if self.cancel_requested and not self._cancel_delivered:
            self._cancel_delivered = True
            now = self._now()
            mark = Entry(seq, kind, name, EntryStatus.CANCELLED, started_at=now, completed_at=now)
            if entry is None:
                await self._store(
                    self._engine.store.record(
                        self._fence, now, [*self.take_pending(), mark], [], self.take_status()
                    )
                )
            else:
                await self._store(
                    self._engine.store.record(
                        self._fence,
                        now,
                        self.take_pending(),
                        [],
                        self.take_status(),
                        updates=[
                            dataclasses.replace(
                                entry, status=EntryStatus.CANCELLED, completed_at=now
                            )
                        ],
                    )
                )
            self._journal[seq] = mark
            raise asyncio.CancelledError()

    async def _park(self, signals: tuple[str, ...], wake_at: int | None) -> None:
        parked = _Parked(asyncio.get_running_loop().create_future(), signals, wake_at)
        self._parked.append(parked)
        self._check_quiescent()
        await parked.future  # only ever completes by raising _Suspend

    def _decode(self, stored: str | None, annotation: Any, what: str) -> Any:
        try:
            return self._engine.codec.decode(stored, annotation, what=what)
        except SerializationError as exc:
            self.blocked = exc
            raise

    # -- steps -------------------------------------------------------------------------
    def _step_call(
        self, sd: StepDef[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        seq, entry = self._reserve("step", sd.name)
        return self._step(seq, entry, sd, args, kwargs)

    async def _step(
        self,
        seq: int,
        entry: Entry | None,
        sd: StepDef[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        try:
            if entry is not None:
                return self._replay_step(seq, entry, sd)
            await self._interrupts(seq, None, "step", sd.name)
            return await self._execute(seq, sd, args, kwargs)
        finally:
            self._done()

    def _replay_step(self, seq: int, entry: Entry, sd: StepDef[..., Any]) -> Any:
        if entry.status == EntryStatus.CANCELLED:
            raise asyncio.CancelledError()
        if entry.status == EntryStatus.FAILED:
            err = entry.error or {}
            raise _mark(
                StepFailed(
                    sd.name,
                    err.get("type", "Error"),
                    err.get("message", ""),
                    entry.attempts,
                    err.get("traceback"),
                ),
                seq,
            )
        return self._decode(entry.output, sd.return_type, f"step {sd.name!r}")

    async def _execute(
        self, seq: int, sd: StepDef[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        store, codec = self._engine.store, self._engine.codec
        if self._pending or self._status is not None:
            # Values the step may be given (ctx.now(), ...) are durable before it runs.
            self.cancel_requested |= await self._store(
                store.record(self._fence, self._now(), self.take_pending(), [], self.take_status())
            )
        first_start = self._now()
        number = 0
        while True:
            number += 1
            started = self._now()
            try:
                value = await self._invoke(sd, args, kwargs)
                output = codec.encode(value, what=f"step {sd.name!r}")
            except Exception as exc:
                ended = self._now()
                error = {
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "traceback": traceback_text(exc),
                }
                if isinstance(exc, _SoftTimeout):
                    error["type"] = "TimeoutError"
                attempt = Attempt(seq, number, started, ended, error)
                if (
                    number < sd.retry.max_attempts
                    and sd.retry.should_retry(exc)
                    and not isinstance(exc, _SoftTimeout)
                ):
                    self.cancel_requested |= await self._store(
                        store.record(
                            self._fence, ended, self.take_pending(), [attempt], self.take_status()
                        )
                    )
                    await self._engine.clock.sleep(
                        sd.retry.interval(number, self._engine.random.random())
                    )
                    if self.draining:
                        raise _Released() from None
                    continue
                await self._record_step(
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
                    attempt,
                )
                raise _mark(
                    StepFailed(
                        sd.name, error["type"], error["message"], number, error["traceback"]
                    ),
                    seq,
                ) from None
            ended = self._now()
            await self._record_step(
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
                Attempt(seq, number, started, ended, None),
            )
            return value

    async def _record_step(self, entry: Entry, attempt: Attempt) -> None:
        """Journals a step's outcome with its last attempt (one fenced transaction). A first
        attempt that succeeded is the journal entry itself: no attempt row is written."""
        first_success = entry.status == EntryStatus.COMPLETED and attempt.attempt == 1
        self.cancel_requested |= await self._store(
            self._engine.store.record(
                self._fence,
                entry.completed_at or self._now(),
                [*self.take_pending(), entry],
                [] if first_success else [attempt],
                self.take_status(),
            )
        )
        self._journal[entry.seq] = entry

    async def _invoke(
        self, sd: StepDef[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # Inside a step, plait.step calls are plain calls: clear the current context.
        # plait.limit and plait.current_engine() find the engine through engine_var.
        scope = contextvars.copy_context()
        scope.run(context_var.set, None)
        scope.run(engine_var.set, self._engine)
        loop = asyncio.get_running_loop()
        if sd.is_async:
            task = loop.create_task(sd.fn(*args, **kwargs), context=scope)
            if sd.timeout is None:
                return await task
            try:
                return await asyncio.wait_for(task, sd.timeout)
            except TimeoutError:
                raise TimeoutError(f"step {sd.name!r} took longer than {sd.timeout} s") from None
        call = functools.partial(scope.run, functools.partial(sd.fn, *args, **kwargs))
        future = loop.run_in_executor(self._engine.threads, call)
        if sd.timeout is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), sd.timeout)
        except TimeoutError:
            raise _SoftTimeout(
                f"sync step {sd.name!r} took longer than {sd.timeout} s; its thread may still "
                "be running, so it is not retried"
            ) from None

    # -- waits -------------------------------------------------------------------------
    async def _wait(
        self,
        seq: int,
        entry: Entry | None,
        kind: str,
        name: str,
        signals: tuple[str, ...],
        wake_at: int | None,
    ) -> dict[str, Any] | None:
        """Waits durably; returns the completed entry's output (``None`` for a timer)."""
        if entry is not None and entry.status == EntryStatus.COMPLETED:
            return None if entry.output is None else dict(json.loads(entry.output))
        if entry is not None and entry.status == EntryStatus.CANCELLED:
            raise asyncio.CancelledError()
        await self._interrupts(seq, entry, kind, name)
        create = entry is None
        if entry is None:
            entry = Entry(
                seq, kind, name, EntryStatus.WAITING, wake_at=wake_at, started_at=self._now()
            )
        if not create and not signals and entry.wake_at is not None and entry.wake_at > self._now():
            await self._park(signals, entry.wake_at)  # a timer not due yet: no store call
        # With nothing else in flight, a wait that cannot finish suspends the workflow in the
        # same transaction (one commit instead of two).
        alone = self.task is not None and self._live == 1 and not self._parked
        outcome = await self._store(
            self._engine.store.wait(
                self._fence,
                self._now(),
                self.take_pending(),
                entry,
                signals,
                create,
                suspend=alone,
                status=self.take_status() if alone else None,
            )
        )
        if outcome.state == "suspended":
            self._journal[seq] = entry
            self.suspending = self.suspended = True
            raise _Suspend()
        if outcome.state == "park":
            self._journal[seq] = entry
            await self._park(signals, entry.wake_at)
        if outcome.state == "signal":
            result: dict[str, Any] | None = {
                "signal": outcome.signal_name,
                "payload": outcome.payload,
            }
        else:
            result = {"timeout": True} if signals else None
        self._journal[seq] = dataclasses.replace(
            entry,
            status=EntryStatus.COMPLETED,
            output=None if result is None else json.dumps(result),
        )
        return result

    def sleep(self, duration: Duration) -> Coroutine[Any, Any, None]:
        """Sleeps durably (days are fine): the workflow suspends and costs nothing meanwhile."""
        wake = self._now() + duration_ms(duration, "ctx.sleep(duration)")
        return self._sleep(wake)

    def sleep_until(self, when: datetime) -> Coroutine[Any, Any, None]:
        """Sleeps durably until ``when`` (an aware datetime; naive is taken as UTC)."""
        return self._sleep(to_ms(when))

    def _sleep(self, wake_at: int) -> Coroutine[Any, Any, None]:
        seq, entry = self._reserve("sleep", "sleep")

        async def run() -> None:
            try:
                await self._wait(seq, entry, "sleep", "sleep", (), wake_at)
            finally:
                self._done()

        return run()

    @overload
    def wait_for_signal(
        self, name: str, *, timeout: Duration | None = None, type: type[T]
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def wait_for_signal(
        self, name: str, *, timeout: Duration | None = None, type: None = None
    ) -> Coroutine[Any, Any, Any]: ...

    @overload
    def wait_for_signal(
        self, name: Sequence[str], *, timeout: Duration | None = None, type: Any = None
    ) -> Coroutine[Any, Any, tuple[str, Any]]: ...

    def wait_for_signal(
        self, name: str | Sequence[str], *, timeout: Duration | None = None, type: Any = None
    ) -> Coroutine[Any, Any, Any]:
        """Waits durably for a signal sent with ``engine.signal``; returns its payload
        (decoded as ``type``), or ``(name, payload)`` when given several names.
        Signals sent before the wait are kept. Raises ``plait.WaitTimeout`` after
        ``timeout``."""
        names = (name,) if isinstance(name, str) else tuple(name)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigurationError("wait_for_signal needs a signal name or a list of names")
        if any(n.startswith(RESERVED_PREFIX) for n in names):
            raise ConfigurationError(
                f"signal names starting with {RESERVED_PREFIX!r} are reserved for plait"
            )
        wake = None if timeout is None else self._now() + duration_ms(timeout, "timeout")
        seq, entry = self._reserve("signal", ",".join(names))

        async def run() -> Any:
            try:
                out = await self._wait(seq, entry, "signal", ",".join(names), names, wake)
                assert out is not None
                if out.get("timeout"):
                    raise _mark(
                        WaitTimeout(
                            f"no signal {' or '.join(repr(n) for n in names)} reached workflow "
                            f"{self.workflow_id!r} before its timeout"
                        ),
                        seq,
                    )
                try:
                    payload = self._engine.codec.decode(
                        out["payload"], type if type is not None else Any, what="x"
                    )
                except SerializationError:
                    # The sender's mistake, not the code's: raised in the workflow (which may
                    # catch it); resuming a workflow failed by it waits for a new signal.
                    raise _mark(
                        SerializationError(
                            f"signal {out['signal']!r} sent to workflow {self.workflow_id!r} "
                            f"carried a payload that does not fit {_type_name(type)}: "
                            f"{out['payload']}"
                        ),
                        seq,
                    ) from None
                return payload if isinstance(name, str) else (out["signal"], payload)
            finally:
                self._done()

        return run()

    # -- children ----------------------------------------------------------------------
    def start_child(
        self, wf: WorkflowDef[..., R], *args: Any, queue: str | None = None
    ) -> Coroutine[Any, Any, ChildHandle]:
        """Starts a child workflow (id ``"<parent id>:<seq>"``); returns its handle."""
        if not isinstance(wf, WorkflowDef):
            raise ConfigurationError(f"start_child takes a @plait.workflow, not {wf!r}")
        wf.bind(args)
        seq, entry = self._reserve("child", wf.name)
        return self._start_child(seq, entry, wf, args, queue)

    async def _start_child(
        self,
        seq: int,
        entry: Entry | None,
        wf: WorkflowDef[..., Any],
        args: tuple[Any, ...],
        queue: str | None,
    ) -> ChildHandle:
        try:
            if entry is not None:
                if entry.status == EntryStatus.CANCELLED:
                    raise asyncio.CancelledError()
                return ChildHandle(self, json.loads(entry.output or "null"), wf)
            await self._interrupts(seq, None, "child", wf.name)
            child_id = f"{self.workflow_id}:{seq}"
            new = self._engine._new_workflow(
                wf, args, id=child_id, queue=queue or self.queue, parent_id=self.workflow_id
            )
            now = self._now()
            done = Entry(
                seq,
                "child",
                wf.name,
                EntryStatus.COMPLETED,
                output=json.dumps(child_id),
                started_at=now,
                completed_at=now,
            )
            await self._store(
                self._engine.store.start_child(self._fence, now, self.take_pending(), done, new)
            )
            self._journal[seq] = done
            self._engine._wake()
            return ChildHandle(self, child_id, wf)
        finally:
            self._done()

    def child(
        self, wf: WorkflowDef[..., R], *args: Any, queue: str | None = None
    ) -> Coroutine[Any, Any, R]:
        """Starts a child workflow and waits durably for its result."""
        start = self.start_child(wf, *args, queue=queue)
        seq, entry = self._reserve("child_result", wf.name)

        async def run() -> R:
            try:
                handle = await start
            except BaseException:
                self._done()  # the result wait reserved above will never run
                raise
            result: R = await self._child_result(seq, entry, handle.id, wf, None)
            return result

        return run()

    async def _child_result(
        self,
        seq: int,
        entry: Entry | None,
        child_id: str,
        wf: WorkflowDef[..., Any],
        timeout: Duration | None,
    ) -> Any:
        try:
            wake = None if timeout is None else self._now() + duration_ms(timeout, "timeout")
            signal = CHILD_SIGNAL + child_id
            out = await self._wait(seq, entry, "child_result", wf.name, (signal,), wake)
            assert out is not None
            if out.get("timeout"):
                raise _mark(WaitTimeout(f"child workflow {child_id!r} did not end in time"), seq)
            end = json.loads(out["payload"])
            if end["status"] == "completed":
                return self._decode(end["output"], wf.return_type, f"child {child_id!r}")
            err = end.get("error") or {}
            raise _mark(
                ChildWorkflowFailed(
                    child_id,
                    err.get("type", end["status"]),
                    err.get("message", end["status"]),
                    err.get("traceback"),
                ),
                seq,
            )
        finally:
            self._done()

    # -- human tasks (plait/human/ask.py) ----------------------------------------------------
    @overload
    def ask_human(
        self,
        title: str,
        *,
        form: None = None,
        proposal: Approval | Mapping[str, object] | None = None,
        context: Mapping[str, object] | None = None,
        assignee: str | None = None,
        due: Duration | datetime | None = None,
        on_timeout: OnTimeout = "raise",
        remind: Duration | Collection[Duration] | None = None,
    ) -> Coroutine[Any, Any, Approval]: ...

    @overload
    def ask_human(
        self,
        title: str,
        *,
        form: type[T],
        proposal: T | Mapping[str, object] | None = None,
        context: Mapping[str, object] | None = None,
        assignee: str | None = None,
        due: Duration | datetime | None = None,
        on_timeout: OnTimeout = "raise",
        remind: Duration | Collection[Duration] | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    def ask_human(
        self,
        title: str,
        *,
        form: type[Any] | None = None,
        proposal: object = None,
        context: Mapping[str, object] | None = None,
        assignee: str | None = None,
        due: Duration | datetime | None = None,
        on_timeout: OnTimeout = "raise",
        remind: Duration | Collection[Duration] | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Asks a person, or anyone in a group (``assignee``), and waits durably for the
        answer: an instance of ``form`` (a Pydantic model or dataclass), or
        ``plait.Approval`` without one. ``proposal`` is offered for editing; the task keeps
        it, the answer and the fields that changed. ``context`` is shown with the task.
        ``due`` (a duration or a datetime) with ``on_timeout``: ``"raise"``
        (``plait.WaitTimeout``), ``plait.Default(value)`` or ``plait.Escalate(to=...,
        due=...)``. ``remind`` (durations before the deadline) records ``reminded`` task
        events the application turns into e-mails."""
        return _ask_human(
            self,
            title,
            form=form,
            proposal=proposal,
            context=context,
            assignee=assignee,
            due=due,
            on_timeout=on_timeout,
            remind=remind,
        )

    # -- recorded values ---------------------------------------------------------------
    def _value(self, kind: str, make: Callable[[], Any], annotation: Any) -> Any:
        seq, entry = self._reserve(kind, kind)
        if entry is not None:
            return self._decode(entry.output, annotation, f"ctx.{kind}()")
        value = make()
        now = self._now()
        e = Entry(
            seq,
            kind,
            kind,
            EntryStatus.COMPLETED,
            output=self._engine.codec.encode(value, what=f"ctx.{kind}()"),
            started_at=now,
            completed_at=now,
        )
        self._pending.append(e)
        self._journal[seq] = e
        return value

    def now(self) -> datetime:
        """The current time, journaled: the same value on every replay."""
        return self._value(  # type: ignore[no-any-return]
            "now", lambda: datetime.fromtimestamp(self._now() / 1000, tz=UTC), datetime
        )

    def uuid(self) -> _uuid.UUID:
        """A random UUID, journaled."""
        return self._value("uuid", _uuid.uuid4, _uuid.UUID)  # type: ignore[no-any-return]

    def random(self) -> float:
        """A random float in [0, 1), journaled."""
        return self._value("random", _random.random, float)  # type: ignore[no-any-return]

    def patched(self, patch_id: str) -> bool:
        """True where new code runs: in new runs, and in runs that reached this point with
        the patch. False in runs that passed this point before the patch existed."""
        if self.blocked is not None:
            raise self.blocked
        seq = self._next
        entry = self._journal.get(seq)
        if entry is not None and entry.kind == "patch" and entry.name == patch_id:
            self._next += 1
            return True
        if entry is not None or seq <= self._max_recorded:
            return False  # this run passed here before the patch: keep the old path
        self._reserve("patch", patch_id)
        now = self._now()
        mark = Entry(
            seq, "patch", patch_id, EntryStatus.COMPLETED, started_at=now, completed_at=now
        )
        self._pending.append(mark)
        self._journal[seq] = mark
        return True

    def set_status(self, text: str | None, **attributes: str | int | float | bool) -> None:
        """Records what the workflow is doing ("scored 12/25", stage="outreach");
        ``engine.list(...)`` filters on the attributes."""
        self._status = (text, json.dumps({k: v for k, v in attributes.items()}))
