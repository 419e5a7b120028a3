"""Workers: claim runnable workflows, run them, keep their leases alive, shut down cleanly.

A worker claims up to ``concurrency`` workflows at a time in one statement that also takes
over workflows whose lease expired (a dead worker's). Each claim increments the workflow's
``attempt``, the fencing token every later write is checked against. A heartbeat renews all
of the worker's leases in one statement and learns of cancellation requests. On the same
host, a worker that finds another worker's process gone expires its leases at once instead of
waiting out the lease. On shutdown a worker stops claiming; its workflows stop at their next
durable point and are handed back (``pending``) so another worker continues them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from plait.alerts import AlertRunner
from plait.clock import duration_ms
from plait.context import Context
from plait.current import InContext, engine_var, journal_var, run_var, workflow_var
from plait.definitions import WorkflowDef
from plait.errors import (
    PlaitError,
    SerializationError,
    _LeaseLost,
    _Released,
    traceback_text,
)
from plait.journal import Journal
from plait.outcome import (
    Blocked,
    Cancelled,
    Completed,
    ContinuedAsNew,
    Failed,
    Outcome,
    Released,
    Suspended,
)
from plait.retention import retention_loop
from plait.store.records import Claimed, Fence, LeaseLostError, NewWorkflow
from plait.types import Duration, WorkflowStatus
from plait.wakeups import Completion

if TYPE_CHECKING:
    from plait.engine import Engine

log = logging.getLogger("plait.worker")

CLAIM_BATCH = 50  # workflows claimed in one statement at most


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid from the original)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False  # killed, not yet reaped
        return start is None or fields[19] == start
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    """Runs workflows of its engine. Use ``async with engine.worker():`` or ``await
    worker.run()`` (until ``stop()``, SIGTERM in the CLI)."""

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int = 100,
        queues: list[str] | tuple[str, ...] | None = None,
        shutdown_grace: Duration = timedelta(seconds=10),
    ) -> None:
        if concurrency < 1:
            raise PlaitError(f"worker concurrency must be >= 1, got {concurrency}")
        self.engine = engine
        self.concurrency = concurrency
        self.queues = tuple(queues) if queues else None
        self.grace = duration_ms(shutdown_grace, "shutdown_grace") / 1000
        self.hostname = socket.gethostname()
        self.id = f"{self.hostname}:{os.getpid()}:{os.urandom(4).hex()}"
        self._running: dict[str, tuple[asyncio.Task[None], Journal | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stopped = asyncio.Event()
        # Runs whose end made no other workflow runnable (a final status, no parent): their
        # end wakes the claim loop only when it frees the worker's last slot.
        self._quiet: set[str] = set()
        self._ended: set[str] = set()  # runs whose end was recorded, until their task is done
        self._local = 0  # slots held by claims in flight (the claim loop's, start_here's)

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Registers the worker and starts its claim and heartbeat loops.

        A worker restarted after a crash takes over in two store round trips, not four: its
        registration goes out with the read of this host's workers, and the expiry of the dead
        ones' leases just ahead of the first claim (on SQLite each pair is then usually one
        group commit). Should that claim run before the expiry committed (PostgreSQL's
        connections run operations side by side), the expiry wakes the claim loop, which
        claims again."""
        e = self.engine
        info = {
            "hostname": self.hostname,
            "pid": os.getpid(),
            "process_start": _process_start(os.getpid()),
            "workflows": [f"{n}@{v}" for n, v in e.registered_pairs],
            "queues": None if self.queues is None else list(self.queues),
            "concurrency": self.concurrency,
        }
        registered, dead = await asyncio.gather(
            e.store.register_worker(self.id, info, e.clock.now_ms()),
            self._dead_workers(),
            return_exceptions=True,
        )
        if isinstance(registered, BaseException):
            raise registered
        if isinstance(dead, BaseException):
            raise dead
        expiry = asyncio.create_task(self._expire(dead)) if dead else None
        e.store.subscribe(e.beacon.fire)  # hints from other processes (PostgreSQL)
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="plait-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="plait-heartbeat"),
            asyncio.create_task(retention_loop(e), name="plait-retention"),
            asyncio.create_task(self._schedule_loop(), name="plait-schedules"),
        ]
        e.local_workers.append(self)
        if e.alerts is not None:  # a periodic scan, apart from the workflows' path
            runner = AlertRunner(e.store, e.clock, e.alerts)
            self._tasks.append(asyncio.create_task(runner.run(), name="plait-alerts"))
        if expiry is not None:
            try:
                await expiry
            except Exception:  # the heartbeat reaps again
                log.exception("worker %s: taking over dead workers failed; retrying", self.id)

    async def run(self) -> None:
        """Runs until ``stop()`` is called."""
        await self.start()
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stops claiming; running workflows stop at their next durable point (or finish
        within the grace period) and are handed back for another worker."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        if self in self.engine.local_workers:
            self.engine.local_workers.remove(self)
        for task in self._tasks[:1]:
            task.cancel()
        for _, journal in self._running.values():
            if journal is not None:
                journal.drain()
        running = [t for t, _ in self._running.values()]
        if running:
            _, late = await asyncio.wait(running, timeout=self.grace)
            for task, journal in list(self._running.values()):
                if task in late:
                    if journal is not None:  # drained before the cancellation reaches it
                        journal.drain()
                    task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
                for wid, (task, _) in list(self._running.items()):
                    if task.done():  # cancelled before it started: execute() never ran
                        self._finished(wid)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.engine.store.unregister_worker(self.id)
        self._stopped.set()

    # -- loops -------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        e = self.engine
        overdue = False
        while not self._stopping:
            try:
                mark = e.beacon.mark()
                free = self.concurrency - len(self._running) - self._local
                # Claim in bounded batches and come back at once while batches are full, so
                # workers woken together share a burst instead of the first taking it all.
                batch = min(free, CLAIM_BATCH)
                claimed = await self.claim_once(batch) if batch > 0 else []
                if batch > 0 and len(claimed) == batch:
                    await asyncio.sleep(0)  # let the claimed runs start first
                    continue
                timeout = e.poll_interval
                if free > len(claimed):
                    due = await e.store.next_due(self.queues)
                    if due is not None:
                        timeout = min(timeout, max(0.0, (due - e.clock.now_ms()) / 1000))
                if timeout <= 0 and not claimed:
                    # Due but not claimed twice in a row: work this worker cannot run (other
                    # code versions) or another worker's lock. Poll instead of spinning.
                    timeout = e.poll_interval if overdue else 0.0
                    overdue = True
                else:
                    overdue = False
                if timeout > 0:
                    await e.beacon.wait(timeout, since=mark)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: claiming failed; retrying", self.id)
                await asyncio.sleep(e.poll_interval)

    def runs(self) -> list[asyncio.Task[None]]:
        """The tasks of the workflows this worker runs now."""
        return [task for task, _ in self._running.values()]

    async def claim_once(self, limit: int) -> list[Claimed]:
        e = self.engine
        # The slots this claim may fill count as taken while it is in flight, so a start in
        # this process (``takes``/``start_here``) cannot claim beside it past concurrency.
        self._local += limit
        try:
            claimed = await e.store.claim(
                self.id,
                e.registered_pairs,
                self.queues,
                limit,
                e.clock.now_ms(),
                e.lease_ms,
                e.max_recoveries,
            )
        finally:
            self._local -= limit
        self._adopt(claimed)
        return claimed

    def _adopt(self, claimed: list[Claimed]) -> None:
        for c in claimed:
            task = asyncio.create_task(self.execute(c), name=f"plait-wf-{c.id}")
            self._running[c.id] = (task, None)  # execute() calls _finished when it ends

    def runs_here(self, workflow_id: str) -> bool:
        """Whether this worker runs the workflow now and has not recorded its end (its end
        here will fire ``engine.endings``)."""
        return workflow_id in self._running and workflow_id not in self._ended

    def takes(self, new: NewWorkflow) -> bool:
        """Whether a start of ``new`` in this process may claim for this worker in the start's
        own transaction (``start_here``): the worker runs, has a free slot and no such claim
        in flight (a burst of starts goes the ordinary way: the claim loop takes it in
        batches), and the workflow is ready now, registered here, on a queue this worker
        serves that this engine declares no limits for, without a concurrency key."""
        e = self.engine
        return (
            not self._stopping
            and self._local == 0
            and len(self._running) < self.concurrency
            and (self.queues is None or new.queue in self.queues)
            and new.queue not in e.queues
            and new.concurrency_key is None
            and new.parent_id is None
            and (new.name, new.version) in e.registry
            and new.available_at <= e.clock.now_ms()
        )

    async def start_here(self, new: NewWorkflow, by: str) -> tuple[bool, bool]:
        """Starts ``new`` and claims (one workflow, the ordinary claim) in one transaction,
        so the new workflow runs without a second commit and the claim loop's wake-up;
        returns ``(created, the new workflow was claimed)``. A task of its own, shielded: a
        caller cancelled after the commit does not leave a claimed run that nobody runs
        (this worker's heartbeats would keep its lease alive)."""
        self._local += 1
        return await asyncio.shield(asyncio.ensure_future(self._start_here(new, by)))

    async def _start_here(self, new: NewWorkflow, by: str) -> tuple[bool, bool]:
        e = self.engine
        try:
            (_, created), claimed = await e.store.start_and_claim(
                new,
                e.clock.now_ms(),
                by,
                self.id,
                e.registered_pairs,
                self.queues,
                1,
                e.lease_ms,
                e.max_recoveries,
            )
        finally:
            self._local -= 1
        if self._stopping:  # stopped meanwhile: hand the claimed runs back at once
            for c in claimed:
                await e.store.release(Fence(c.id, c.attempt, self.id, e.lease_ms), e.clock.now_ms())
            e.wake()
            return created, False
        self._adopt(claimed)
        return created, any(c.id == new.id for c in claimed)

    def _finished(self, workflow_id: str) -> None:
        full = len(self._running) + self._local >= self.concurrency  # the loop saw no slot
        self._running.pop(workflow_id, None)
        self._ended.discard(workflow_id)
        if workflow_id in self._quiet:
            # Nothing to claim that was not claimable before (no parent to tell, no timer
            # or wait): a claim now would find nothing unless this run held the last slot.
            self._quiet.discard(workflow_id)
            if not full:
                return
        self.engine.wake()

    async def _heartbeat_loop(self) -> None:
        e = self.engine
        interval = e.lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                cancelled = await e.store.heartbeat(self.id, e.clock.now_ms(), e.lease_ms)
                for wid in cancelled:
                    journal = self._running.get(wid, (None, None))[1]
                    if journal is not None:
                        journal.request_cancel()
                await self.reap_dead_workers()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: heartbeat failed; retrying", self.id)

    async def _schedule_loop(self) -> None:
        """Starts the workflows of due schedule ticks, then sleeps until the next tick
        (bounded by the poll interval, so a schedule added elsewhere is seen)."""
        e = self.engine
        while not self._stopping:
            wait = e.poll_interval
            try:
                later = await e.schedules.fire_due()
                if later is not None:
                    wait = min(wait, max(0.0, (later - e.clock.now_ms()) / 1000))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: starting scheduled workflows failed; retrying", self.id)
            await asyncio.sleep(wait)

    async def reap_dead_workers(self) -> int:
        """Expires the leases of workers on this host whose process has died."""
        return await self._expire(await self._dead_workers())

    async def _dead_workers(self) -> list[str]:
        """The workers registered on this host whose process has died."""
        return [
            wid
            for wid, pid, start in await self.engine.store.workers_on(self.hostname)
            if wid != self.id and not _alive(pid, start)
        ]

    async def _expire(self, dead: list[str]) -> int:
        """Expires the leases of ``dead`` workers, so their workflows are claimed now."""
        if not dead:
            return 0
        e = self.engine
        n = await e.store.expire_workers(dead, e.clock.now_ms())
        if n and e.telemetry is not None:
            e.telemetry.leases_recovered(n)
        if n:
            log.warning("took over %d workflow(s) of dead worker(s) %s", n, ", ".join(dead))
            e.wake()
        return n

    # -- running one workflow ----------------------------------------------------------
    async def execute(self, claimed: Claimed) -> None:
        """Runs a claimed workflow until it ends, suspends, is released or loses its lease."""
        e = self.engine
        segment = None
        try:
            wf = e.registry.get((claimed.name, claimed.version))
            journal = Journal(e, claimed, self.id)
            if claimed.id in self._running:
                self._running[claimed.id] = (self._running[claimed.id][0], journal)
            run_var.set((claimed.id, claimed.name, claimed.attempt))  # this task's: for logs
            tel = e.telemetry  # None unless traces or metrics are on (plait/telemetry)
            segment = None if tel is None else tel.segment(claimed, self.id)
            if wf is None:  # cannot happen: the claim filters on registered pairs
                raise PlaitError(
                    f"workflow {claimed.name!r} {claimed.version!r} is not "
                    "registered with this worker"
                )
            try:
                args = e.decode_args(wf, claimed.input)
            except SerializationError as exc:
                outcome = journal.conclude(journal.block(exc))
            else:
                outcome = journal.conclude(await self._run(journal, wf, args))
            if segment is not None:
                segment.ended(outcome)
            await self._settle(journal, outcome)
        except (_LeaseLost, LeaseLostError) as exc:
            if segment is not None:
                segment.failed("lease_lost", exc)
            log.warning("workflow %s: lease lost (another worker took it over)", claimed.id)
        except Exception as exc:
            if segment is not None:
                segment.failed("not_recorded", exc)
            log.exception("workflow %s: the worker could not record its outcome", claimed.id)
        finally:
            if segment is not None:
                segment.close()
            self._finished(claimed.id)  # here, not in a done callback: a loop turn less

    async def _run(self, journal: Journal, wf: WorkflowDef[..., Any], args: list[Any]) -> object:
        """Runs the workflow's coroutine in this task, in the run's own context; returns what
        it returned or raised. No task of its own: ``stop()`` past its grace period drains the
        journal, then cancels this task, and the cancellation reaches the run where it
        waits."""
        scope = run_scope(self.engine, journal)
        journal.start()
        try:
            result: object = await InContext(wf.fn(Context(journal), *args), scope)
        except BaseException as exc:
            result = exc
        finally:
            journal.end()
        task = asyncio.current_task()
        if journal.draining and task is not None and task.cancelling():
            return _Released()  # the worker is stopping past its grace period
        return result

    async def _settle(self, journal: Journal, outcome: Outcome) -> None:
        """Records how the run ended: one store call per outcome (and, for an end, the last
        ``set_status`` before it, so it stays visible)."""
        e, store, fence = self.engine, self.engine.store, journal.fence
        now = e.clock.now_ms()
        match outcome:
            case Suspended(recorded=True):
                pass  # a lone wait already suspended it in its own transaction
            case Suspended(wait=wait):
                await store.suspend(fence, now, journal.take_pending(), wait, journal.take_status())
            case Released():
                await store.release(fence, now)
                e.wake()
            case ContinuedAsNew(input=new_input, input_hash=input_hash):
                last = journal.take_status()
                if last is not None:  # the last ctx.set_status of the run stays visible
                    await store.record(fence, now, journal.take_pending(), [], last)
                await store.continue_as_new(
                    fence, now, journal.take_pending(), new_input, input_hash
                )
                e.wake(journal.queue)
            case Blocked(error=err):
                await self._finish(
                    journal,
                    WorkflowStatus.BLOCKED,
                    None,
                    _error(err),  # its traceback shows the line that no longer replays
                )
                log.error("workflow %s is blocked: %s", journal.workflow_id, err)
            case Cancelled():
                await self._finish(
                    journal,
                    WorkflowStatus.CANCELLED,
                    None,
                    {"type": "Cancelled", "message": "the workflow was cancelled"},
                )
            case Failed(error=exc):
                await self._finish(journal, WorkflowStatus.FAILED, None, _error(exc))
            case Completed(output=output):
                await self._finish(journal, WorkflowStatus.COMPLETED, output, None)

    async def _finish(
        self,
        journal: Journal,
        status: WorkflowStatus,
        output: str | None,
        error: dict[str, Any] | None,
    ) -> None:
        e, fence = self.engine, journal.fence
        now = e.clock.now_ms()
        last = journal.take_status()
        if last is not None:  # the last ctx.set_status before the end stays visible
            await e.store.record(fence, now, journal.take_pending(), [], last)
        pending, alone = journal.take_pending(), journal.parent_id is None
        await e.store.finish(fence, now, pending, status, output, error, alone=alone)
        self._ended.add(journal.workflow_id)
        if journal.parent_id is None and status != WorkflowStatus.BLOCKED:
            self._quiet.add(journal.workflow_id)
        completed = Completion(output) if status == WorkflowStatus.COMPLETED else None
        e.endings.fire(journal.workflow_id, completed)


def run_scope(engine: Engine, journal: Journal) -> contextvars.Context:
    """A copy of the current context for a run of ``journal``'s workflow (its code, and
    the tasks it makes, see this run and engine)."""
    scope = contextvars.copy_context()
    scope.run(_enter_run, engine, journal)
    return scope


def _enter_run(engine: Engine, journal: Journal) -> None:
    journal_var.set(journal)
    engine_var.set(engine)
    workflow_var.set(journal.workflow_id)


def start_run(
    engine: Engine, journal: Journal, wf: WorkflowDef[..., Any], args: list[Any]
) -> asyncio.Task[Any]:
    """Starts the workflow's coroutine on ``journal`` as a task with the run's context
    (replay-check's runs; the worker runs its own in the claim's task)."""
    scope = run_scope(engine, journal)
    task = asyncio.get_running_loop().create_task(wf.fn(Context(journal), *args), context=scope)
    journal.start(task)
    return task


def _error(exc: BaseException) -> dict[str, Any]:
    err: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": traceback_text(exc),
    }
    seq = getattr(exc, "plait_seq", None)
    if seq is not None:
        err["seq"] = seq
    return err
