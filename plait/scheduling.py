"""``engine.schedules``: the schedules API, and the firing of due ticks that workers do.

Every worker calls :meth:`Schedules.fire_due` in a loop of its own (``plait/worker.py``),
sleeping until the next tick (bounded by the poll interval, so schedules added by another
process are seen). ``TestEngine.run_until_idle`` calls it at the fake clock's time.

Invariants kept here:
- A tick is started once across all workers: the ticks are computed from the schedule row
  as read, and the store starts them only if the row is unchanged, under its lock, in one
  transaction with deterministic workflow ids (``plait/store/schedules.py``).
- Workflows a tick starts are logged as started ``by="schedule:<id>"`` (a manual trigger:
  by whoever triggered it), their event details name the schedule, and their ids are
  ``<schedule id>@<tick>``.
- Code-declared schedules are written when the engine opens: the definition in code wins,
  an operator's pause is kept. A schedule removed from the code stays in the database (and
  keeps starting workflows) until it is deleted (``plait schedules delete``).
- Ticks that pass while a schedule is paused are never caught up: a resumed schedule goes
  on from the next tick after the resume.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from plait.blobs import blob_digests
from plait.definitions import WorkflowDef
from plait.errors import ConfigurationError, ScheduleNotFound
from plait.schedules import (
    Catchup,
    Schedule,
    ScheduleInfo,
    Timing,
    iso,
    tick_id,
    ticks_to_start,
)
from plait.store.records import NewWorkflow, ScheduleRow
from plait.types import ms_to_datetime

if TYPE_CHECKING:
    from plait.engine import Engine
    from plait.handle import WorkflowHandle

log = logging.getLogger("plait.schedules")

DUE_BATCH = 50  # schedules looked at in one pass


def check_schedules(schedules: Iterable[Schedule]) -> tuple[Schedule, ...]:
    """``Engine(schedules=...)`` checked: schedules, each id once."""
    found: dict[str, Schedule] = {}
    for s in schedules:
        if not isinstance(s, Schedule):
            raise ConfigurationError(
                f"Engine(schedules=...) takes plait.Schedule objects, not {s!r}"
            )
        if s.id in found:
            raise ConfigurationError(f"two schedules have the id {s.id!r}; give each its own")
        found[s.id] = s
    return tuple(found.values())


class Schedules:
    """The schedules of one engine (``engine.schedules``): list, add, pause, resume,
    delete, trigger."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- definitions -----------------------------------------------------------------
    def _row(self, schedule: Schedule, source: str) -> ScheduleRow:
        e = self._engine
        wf = schedule.workflow
        if not isinstance(wf, WorkflowDef):
            found = e.registry_by_name.get(wf)
            if found is None:
                known = ", ".join(sorted(e.registry_by_name)) or "none"
                raise ConfigurationError(
                    f"schedule {schedule.id!r}: no workflow named {wf!r} is registered "
                    f"(known: {known}); the engine needs the workflow's code (--app)"
                )
            wf = found
        plain, sealed, input_hash = e.encode_input(wf, schedule.args)
        now = e.clock.now_ms()
        timing = schedule.timing
        return ScheduleRow(
            id=schedule.id,
            workflow=wf.name,
            version=wf.version,
            args=sealed,
            args_hash=input_hash,
            blobs=blob_digests(plain),
            cron=timing.cron,
            every_ms=timing.every_ms,
            timezone=timing.timezone,
            catchup=str(schedule.catchup),
            queue=schedule.queue,
            paused=schedule.paused,
            next_at=timing.after(now),
            last_at=None,
            last_workflow_id=None,
            source=source,
            created_at=now,
            updated_at=now,
        )

    def info(self, row: ScheduleRow) -> ScheduleInfo:
        """A stored schedule as the public record (arguments as plain JSON)."""
        created, updated = ms_to_datetime(row.created_at), ms_to_datetime(row.updated_at)
        assert created is not None and updated is not None
        return ScheduleInfo(
            id=row.id,
            workflow=row.workflow,
            version=row.version,
            args=self._engine.codec.loads(row.args),
            cron=row.cron,
            every=Timing(row.cron, row.every_ms, row.timezone).every,
            timezone=row.timezone,
            catchup=Catchup(row.catchup),
            queue=row.queue,
            paused=row.paused,
            next_run_at=None if row.paused else ms_to_datetime(row.next_at),
            last_run_at=ms_to_datetime(row.last_at),
            last_workflow_id=row.last_workflow_id,
            source=row.source,
            created_at=created,
            updated_at=updated,
        )

    async def declare(self, schedules: Iterable[Schedule]) -> None:
        """Writes code-declared schedules (at engine open): the code's definition wins,
        an operator's pause stays."""
        e = self._engine
        for s in schedules:
            await e.store.declare_schedule(self._row(s, "code"), e.clock.now_ms())

    async def add(self, schedule: Schedule) -> ScheduleInfo:
        """Adds a schedule at run time (kept until deleted); ``ScheduleAlreadyExists``."""
        if not isinstance(schedule, Schedule):
            raise ConfigurationError(f"schedules.add() takes a plait.Schedule, not {schedule!r}")
        e = self._engine
        row = await e.store.add_schedule(self._row(schedule, "api"), e.clock.now_ms())
        e.wake()
        return self.info(row)

    async def list(self) -> builtins.list[ScheduleInfo]:
        """Every schedule, by id."""
        return [self.info(r) for r in await self._engine.store.list_schedules()]

    async def get(self, schedule_id: str) -> ScheduleInfo:
        """One schedule; ``ScheduleNotFound``."""
        return self.info(await self._require(schedule_id))

    async def _require(self, schedule_id: str) -> ScheduleRow:
        e = self._engine
        row = await e.store.get_schedule(schedule_id)
        if row is None:
            raise ScheduleNotFound(f"no schedule {schedule_id!r} in {e.url}")
        return row

    async def pause(self, schedule_id: str) -> ScheduleInfo:
        """Stops starting workflows until ``resume``; ``ScheduleNotFound``."""
        e = self._engine
        return self.info(await e.store.pause_schedule(schedule_id, True, None, e.clock.now_ms()))

    async def resume(self, schedule_id: str) -> ScheduleInfo:
        """Starts again from the next tick after now (ticks during the pause are not caught
        up); ``ScheduleNotFound``."""
        e = self._engine
        row = await self._require(schedule_id)
        now = e.clock.now_ms()
        timing = Timing(row.cron, row.every_ms, row.timezone)
        info = self.info(await e.store.pause_schedule(schedule_id, False, timing.after(now), now))
        e.wake()
        return info

    async def delete(self, schedule_id: str) -> None:
        """Deletes a schedule (its workflows stay); ``ScheduleNotFound``. A code-declared
        schedule comes back when an engine declaring it opens."""
        e = self._engine
        if not await e.store.delete_schedule(schedule_id):
            raise ScheduleNotFound(f"no schedule {schedule_id!r} in {e.url}")

    async def trigger(self, schedule_id: str, *, by: str = "system") -> WorkflowHandle[Any]:
        """Starts the schedule's workflow now, once, paused or not, as ``<id>@<now>``; its
        next tick stays as it was."""
        e = self._engine
        if not isinstance(by, str) or not by:
            raise ConfigurationError(f"by= names who acts (a user name or 'system'), not {by!r}")
        row = await self._require(schedule_id)
        now = e.clock.now_ms()
        new = _workflow(row, now, now)
        await e.store.start_scheduled(schedule_id, None, [(now, new)], None, by, now)
        e.wake(new.queue)
        return e.handle(new.id)

    # -- firing (workers) --------------------------------------------------------------
    async def fire_due(self) -> int | None:
        """Starts the workflows of every due tick (by each schedule's catch-up policy);
        returns when the next tick is due (epoch ms), ``None`` when no schedule runs."""
        e = self._engine
        now = e.clock.now_ms()
        due, later = await e.store.due_schedules(now, DUE_BATCH)
        queues: set[str] = set()
        for row in due:
            try:
                timing = Timing(row.cron, row.every_ms, row.timezone)
                ticks, dropped = ticks_to_start(timing, Catchup(row.catchup), row.next_at, now)
                next_at = timing.after(now)
                starts = [(t, _workflow(row, t, now)) for t in ticks]
                started = await e.store.start_scheduled(
                    row.id,
                    (row.next_at, row.updated_at),
                    starts,
                    next_at,
                    f"schedule:{row.id}",
                    now,
                )
            except Exception:
                log.exception("schedule %s: starting its due ticks failed; retrying", row.id)
                continue
            if started is None:
                continue  # another worker started these ticks
            if started:
                queues.add(starts[0][1].queue)
            later = next_at if later is None else min(later, next_at)
            if dropped:
                _log_dropped(row, ticks, now)
        for queue in queues:
            e.wake(queue)
        return now if len(due) == DUE_BATCH else later


def _workflow(row: ScheduleRow, tick: int, now: int) -> NewWorkflow:
    return NewWorkflow(
        id=tick_id(row.id, tick),
        name=row.workflow,
        version=row.version,
        input=row.args,
        input_hash=row.args_hash,
        queue=row.queue or "default",
        available_at=now,
        blobs=row.blobs,
    )


def _log_dropped(row: ScheduleRow, ticks: builtins.list[int], now: int) -> None:
    since = iso(row.next_at)
    if row.catchup == Catchup.ALL:
        log.warning(
            "schedule %s missed more than %d ticks since %s; started the latest %d only",
            row.id,
            len(ticks),
            since,
            len(ticks),
        )
    else:
        log.info(
            "schedule %s: ticks missed since %s not started (catchup=%s); started %s",
            row.id,
            since,
            row.catchup,
            ", ".join(iso(t) for t in ticks) or "none",
        )
