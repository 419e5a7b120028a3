"""Workflows and an engine for the crash tests, loaded by real worker processes.

A test starts ``python -m plait.cli worker tests.crash.app:engine`` with these variables:

- ``PLAIT_CRASH_DB``: the database (SQLite or PostgreSQL) shared by the test and workers.
- ``PLAIT_CRASH_SIDE``: the execution record (``tests/executions.py``): every step appends
  a line to it before its work, so an execution killed mid-step is counted too.
- ``PLAIT_CRASH_HOLD``: seconds a held step sleeps (a long step to kill or stop the worker in).
- ``PLAIT_CRASH_LEASE``, ``PLAIT_CRASH_MAX_RECOVERIES``: the engine's lease and crash-loop cap.
- ``PLAIT_CRASH_AT``: where the worker SIGKILLs itself (``record-before:<seq>``,
  ``record-after:<seq>``, ``finish-before``, ``suspend-before``, ``suspend-mid``,
  ``suspend-after``), written
  to ``PLAIT_CRASH_MARK`` as the id of the workflow it was running.

Kill points are wrapped around this engine's store here, never written into ``plait/``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import plait
from tests import executions


def _append(path: str, line: str) -> None:
    # One write(2) on an O_APPEND file: lines from several processes never interleave, and
    # the kernel keeps them across a SIGKILL.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def note(workflow_id: str, key: str) -> None:
    """Records the start of an execution of step ``key`` (of the running attempt)."""
    executions.begin(os.environ.get("PLAIT_CRASH_SIDE"), key)


# -- steps -------------------------------------------------------------------------------
@plait.step
async def act(workflow_id: str, key: str, hold: bool) -> str:
    note(workflow_id, key)
    if hold:
        await asyncio.sleep(float(os.environ.get("PLAIT_CRASH_HOLD", "0")))
    return f"{workflow_id}/{key}"


@plait.step
def act_in_thread(workflow_id: str, key: str, hold: bool) -> str:
    """``act`` as a sync step (run in a thread)."""
    note(workflow_id, key)
    if hold:
        time.sleep(float(os.environ.get("PLAIT_CRASH_HOLD", "0")))
    return f"{workflow_id}/{key}"


@plait.step
async def tick(workflow_id: str, key: str) -> str:
    note(workflow_id, key)
    await asyncio.sleep(0.02)
    return f"{workflow_id}/{key}"


@plait.step
async def poison(workflow_id: str) -> str:
    note(workflow_id, "poison")
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


# -- workflows ---------------------------------------------------------------------------
@plait.workflow
async def pipeline(ctx: plait.Context, steps: int, hold_at: int) -> list[str]:
    """``steps`` steps in a row; step number ``hold_at`` is held for PLAIT_CRASH_HOLD s."""
    executions.running(ctx)
    return [await act(ctx.workflow_id, f"s{i}", i == hold_at) for i in range(steps)]


@plait.workflow
async def threaded(ctx: plait.Context, steps: int, hold_at: int) -> list[str]:
    """``pipeline`` with sync steps."""
    executions.running(ctx)
    return [await act_in_thread(ctx.workflow_id, f"s{i}", i == hold_at) for i in range(steps)]


@plait.workflow
async def ticker(ctx: plait.Context, n: int) -> int:
    """Many short steps: a stopping worker hands it back at the next one."""
    executions.running(ctx)
    for i in range(n):
        await tick(ctx.workflow_id, f"t{i}")
    return n


@plait.workflow
async def waiter(ctx: plait.Context) -> int:
    """A step, a signal wait (the workflow suspends), a step."""
    executions.running(ctx)
    await act(ctx.workflow_id, "before", False)
    value = await ctx.wait_for_signal("go", type=int)
    await act(ctx.workflow_id, "after", False)
    return value


@plait.workflow
async def racer(ctx: plait.Context, rounds: int) -> list[int]:
    """Waits for signals ``go0``, ``go1``, ... one after the other. Each name is its own
    wake-up: a later signal does not wake a wait for an earlier one, so none can hide a
    lost one."""
    executions.running(ctx)
    return [await ctx.wait_for_signal(f"go{r}", type=int) for r in range(rounds)]


@plait.workflow
async def racer_beside(ctx: plait.Context, rounds: int) -> list[int]:
    """As ``racer``, but each wait runs beside a zero sleep: a wait with another operation in
    flight parks first and suspends in a second transaction (``Store.suspend``), which is
    the window a lost wake-up would fall in. A lone wait suspends in its own transaction."""
    executions.running(ctx)
    got = []
    for r in range(rounds):
        value, _ = await asyncio.gather(ctx.wait_for_signal(f"go{r}", type=int), ctx.sleep(0))
        got.append(value)
    return got


@plait.workflow
async def doomed(ctx: plait.Context) -> str:
    """Its second step kills the worker process, every time."""
    executions.running(ctx)
    await act(ctx.workflow_id, "first", False)
    await poison(ctx.workflow_id)
    return await act(ctx.workflow_id, "never", False)


WORKFLOWS = [pipeline, threaded, ticker, waiter, racer, racer_beside, doomed]


def make_engine(url: str) -> plait.Engine:
    return plait.Engine(
        url,
        workflows=WORKFLOWS,
        lease_ttl=timedelta(seconds=float(os.environ.get("PLAIT_CRASH_LEASE", "30"))),
        poll_interval=timedelta(milliseconds=50),
        max_recoveries=int(os.environ.get("PLAIT_CRASH_MAX_RECOVERIES", "5")),
    )


# -- kill points -------------------------------------------------------------------------
# Held by the first thread to die and never released: on PostgreSQL two executor threads
# can reach a kill point at once, and only one of them is the victim.
_DYING = threading.Lock()


def _die(workflow_id: str) -> None:
    _DYING.acquire()
    mark = os.environ.get("PLAIT_CRASH_MARK")
    if mark:
        _append(mark, workflow_id + "\n")
    os.kill(os.getpid(), signal.SIGKILL)


def install_crash(engine: plait.Engine, spec: str) -> None:
    """Makes the worker SIGKILL itself at the point ``spec`` names (see the module doc)."""
    store: Any = engine.store
    kind, _, arg = spec.partition(":")
    if kind in ("record-before", "record-after"):
        seq = int(arg)
        real_record = store.record

        async def record(fence: Any, now: int, entries: list[Any], *args: Any, **kw: Any) -> Any:
            hit = any(
                e.kind == "step" and e.seq == seq and e.status == "completed" for e in entries
            )
            if hit and kind == "record-before":
                _die(fence.workflow_id)  # the step's side effect happened, its result is lost
            result = await real_record(fence, now, entries, *args, **kw)
            if hit:
                _die(fence.workflow_id)  # the result is committed, the worker never goes on
            return result

        store.record = record
    elif kind == "finish-before":
        real_finish = store.finish

        async def finish(fence: Any, *args: Any, **kw: Any) -> Any:
            _die(fence.workflow_id)  # every step is recorded, the end is not
            return await real_finish(fence, *args, **kw)

        store.finish = finish
    elif kind in ("suspend-before", "suspend-mid", "suspend-after"):
        real_suspend = store.suspend
        executor = store._executor  # the store's transaction runner (a batch executor, or a pool)
        real_run = executor.run
        in_suspend: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            "in_suspend", default=None
        )

        async def run(fn: Callable[[Any], Any], *, write: bool = True) -> Any:
            wid = in_suspend.get()
            if wid is None:
                return await real_run(fn, write=write)

            def op(conn: Any) -> Any:
                result = fn(conn)
                # The suspension's writes are made in the open transaction, which is
                # committed only after this returns: dying here leaves them uncommitted.
                _die(wid)
                return result

            return await real_run(op, write=write)

        real_wait = store.wait

        async def suspending(real: Any, fence: Any, *args: Any, **kw: Any) -> Any:
            if kind == "suspend-before":
                _die(fence.workflow_id)
            token = in_suspend.set(fence.workflow_id if kind == "suspend-mid" else None)
            try:
                result = await real(fence, *args, **kw)
            finally:
                in_suspend.reset(token)
            _die(fence.workflow_id)
            return result

        async def suspend(fence: Any, *args: Any, **kw: Any) -> Any:
            return await suspending(real_suspend, fence, *args, **kw)

        async def wait(fence: Any, *args: Any, **kw: Any) -> Any:
            # A lone wait that cannot finish suspends the workflow in its own transaction.
            if kw.get("suspend"):
                return await suspending(real_wait, fence, *args, **kw)
            return await real_wait(fence, *args, **kw)

        executor.run = run
        store.suspend = suspend
        store.wait = wait
    else:
        raise ValueError(f"unknown PLAIT_CRASH_AT {spec!r}")


engine = make_engine(os.environ.get("PLAIT_CRASH_DB", "sqlite://:memory:"))
if os.environ.get("PLAIT_CRASH_AT"):
    install_crash(engine, os.environ["PLAIT_CRASH_AT"])
