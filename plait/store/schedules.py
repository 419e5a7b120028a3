"""Schedules in the SQL store: their rows, and the transaction that starts a schedule's ticks.

:class:`SQLSchedules` is a mixin of :class:`~plait.store.sql.SQLStore`. The engine computes
ticks (``plait/schedules.py``); the store keeps the definitions and starts workflows.

Invariants kept here:
- A tick is started at most once, however many workers look at the schedule together:
  ``start_scheduled`` locks the schedule row (PostgreSQL: ``FOR NO KEY UPDATE SKIP LOCKED``, so
  a worker passes over a schedule another is starting; SQLite: the write transaction), checks
  that its ``next_at`` and ``updated_at`` are still those the ticks were computed from (else
  another worker started them, or the definition changed: nothing is written), inserts the
  workflows and moves ``next_at`` on, in one transaction. The workflow ids are derived from
  the ticks and the insert is idempotent on the id, so even two such transactions cannot
  start one tick twice.
- A code declaration (``declare_schedule``) replaces the definition but keeps the operator's
  ``paused`` flag, and keeps ``next_at`` unless the timing (cron, interval, zone) changed.
"""

from __future__ import annotations

from collections.abc import Callable

from plait.errors import ScheduleAlreadyExists, ScheduleNotFound
from plait.store.executor import Pipelined
from plait.store.records import NewWorkflow, ScheduleRow
from plait.store.sqlbase import Conn, Row, SQLBase, dump_json, load_json
from plait.types import WorkflowEventKind

_COLUMNS = (
    "id, workflow, version, args, args_hash, blobs, cron, every_ms, timezone, catchup, queue,"
    " paused, next_at, last_at, last_workflow_id, source, created_at, updated_at"
)
_INSERT = f"INSERT INTO schedules ({_COLUMNS}) VALUES ({', '.join('?' * 18)})"


def _values(r: ScheduleRow) -> tuple[object, ...]:
    return (
        r.id,
        r.workflow,
        r.version,
        r.args,
        r.args_hash,
        dump_json(list(r.blobs)),
        r.cron,
        r.every_ms,
        r.timezone,
        r.catchup,
        r.queue,
        int(r.paused),
        r.next_at,
        r.last_at,
        r.last_workflow_id,
        r.source,
        r.created_at,
        r.updated_at,
    )


def _row(r: Row) -> ScheduleRow:
    return ScheduleRow(
        id=r["id"],
        workflow=r["workflow"],
        version=r["version"],
        args=r["args"],
        args_hash=r["args_hash"],
        blobs=tuple(load_json(r["blobs"]) or ()),
        cron=r["cron"],
        every_ms=r["every_ms"],
        timezone=r["timezone"],
        catchup=r["catchup"],
        queue=r["queue"],
        paused=bool(r["paused"]),
        next_at=r["next_at"],
        last_at=r["last_at"],
        last_workflow_id=r["last_workflow_id"],
        source=r["source"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


class SQLSchedules(SQLBase):
    """Schedule definitions, and starting their ticks (see the module docstring)."""

    def _schedule(self, conn: Conn, schedule_id: str, lock: bool) -> ScheduleRow | None:
        row = self._one(
            conn,
            f"SELECT {_COLUMNS} FROM schedules WHERE id = ?"
            + (self.dialect.for_update if lock else ""),
            (schedule_id,),
        )
        return None if row is None else _row(row)

    async def declare_schedule(self, row: ScheduleRow, now: int) -> ScheduleRow:
        def op(conn: Conn) -> ScheduleRow:
            # Workers opening together race to declare: the insert waits for (PostgreSQL)
            # or follows (SQLite) another's, and then finds the row there.
            cur = self._x(conn, _INSERT + " ON CONFLICT (id) DO NOTHING", _values(row))
            if cur.rowcount == 1:
                return row
            old = self._schedule(conn, row.id, lock=True)
            assert old is not None  # a delete would have to come between: not with the lock
            same_timing = (row.cron, row.every_ms, row.timezone) == (
                old.cron,
                old.every_ms,
                old.timezone,
            )
            new = ScheduleRow(
                **{
                    **row.__dict__,
                    "paused": old.paused,
                    "next_at": old.next_at if same_timing else row.next_at,
                    "last_at": old.last_at,
                    "last_workflow_id": old.last_workflow_id,
                    "created_at": old.created_at,
                }
            )
            if _values(new)[:13] == _values(old)[:13] and new.source == old.source:
                return old  # unchanged: nothing written, updated_at kept
            self._x(
                conn,
                "UPDATE schedules SET workflow = ?, version = ?, args = ?, args_hash = ?,"
                " blobs = ?, cron = ?, every_ms = ?, timezone = ?, catchup = ?, queue = ?,"
                " next_at = ?, source = ?, updated_at = ? WHERE id = ?",
                (*_values(new)[1:11], new.next_at, new.source, now, row.id),
            )
            return ScheduleRow(**{**new.__dict__, "updated_at": now})

        return await self._run(op)

    async def add_schedule(self, row: ScheduleRow, now: int) -> ScheduleRow:
        def op(conn: Conn) -> ScheduleRow:
            cur = self._x(conn, _INSERT + " ON CONFLICT (id) DO NOTHING", _values(row))
            if cur.rowcount != 1:
                raise ScheduleAlreadyExists(
                    f"a schedule {row.id!r} exists already in {self.url}; delete it first "
                    "or choose another id"
                )
            return row

        return await self._run(op)

    async def get_schedule(self, schedule_id: str) -> ScheduleRow | None:
        return await self._run(lambda c: self._schedule(c, schedule_id, lock=False), write=False)

    async def list_schedules(self) -> list[ScheduleRow]:
        return await self._run(
            lambda c: [
                _row(r) for r in self._all(c, f"SELECT {_COLUMNS} FROM schedules ORDER BY id")
            ],
            write=False,
        )

    async def pause_schedule(
        self, schedule_id: str, paused: bool, next_at: int | None, now: int
    ) -> ScheduleRow:
        def op(conn: Conn) -> ScheduleRow:
            old = self._schedule(conn, schedule_id, lock=True)
            if old is None:
                raise ScheduleNotFound(f"no schedule {schedule_id!r} in {self.url}")
            if old.paused == paused:
                return old
            new_next = old.next_at if next_at is None else next_at
            self._x(
                conn,
                "UPDATE schedules SET paused = ?, next_at = ? WHERE id = ?",
                (int(paused), new_next, schedule_id),
            )
            return ScheduleRow(**{**old.__dict__, "paused": paused, "next_at": new_next})

        return await self._run(op)

    async def delete_schedule(self, schedule_id: str) -> bool:
        def op(conn: Conn) -> bool:
            cur = self._x(conn, "DELETE FROM schedules WHERE id = ?", (schedule_id,))
            return bool(cur.rowcount)

        return await self._run(op)

    async def due_schedules(self, now: int, limit: int) -> tuple[list[ScheduleRow], int | None]:
        def send(conn: Conn) -> Callable[[], tuple[list[ScheduleRow], int | None]]:
            due = self._x(
                conn,
                f"SELECT {_COLUMNS} FROM schedules WHERE paused = 0 AND next_at <= ?"
                " ORDER BY next_at LIMIT ?",
                (now, limit),
            )
            later = self._x(
                conn,
                "SELECT MIN(next_at) AS at FROM schedules WHERE paused = 0 AND next_at > ?",
                (now,),
            )

            def receive() -> tuple[list[ScheduleRow], int | None]:
                rows = [_row(r) for r in due.fetchall()]
                at = later.fetchone()
                return rows, None if at is None else at["at"]

            return receive

        # Every worker asks this each poll interval, mostly of an empty table: pipelined, the
        # two reads join the batch's other statements instead of costing round trips of
        # their own (on PostgreSQL a plain operation ends the batch's pipeline).
        return await self._run(Pipelined(send), write=False)

    async def start_scheduled(
        self,
        schedule_id: str,
        expect: tuple[int, int] | None,
        starts: list[tuple[int, NewWorkflow]],
        next_at: int | None,
        by: str,
        now: int,
    ) -> list[str] | None:
        """Starts the workflows of ``starts`` (tick, workflow) and moves ``next_at`` on;
        ``expect`` (``next_at``, ``updated_at``) as read, or ``None`` (a manual trigger).
        ``None`` when the ticks were started by another worker or the schedule changed."""

        def op(conn: Conn) -> list[str] | None:
            lock = self.dialect.for_update + (self.dialect.skip_locked if expect else "")
            row = self._one(
                conn,
                f"SELECT next_at, updated_at, paused FROM schedules WHERE id = ?{lock}",
                (schedule_id,),
            )
            if row is None and expect is None:
                raise ScheduleNotFound(f"no schedule {schedule_id!r} in {self.url}")
            if row is None or (
                expect is not None
                and (row["paused"] or (row["next_at"], row["updated_at"]) != expect)
            ):
                return None  # another worker started these ticks, or the definition changed
            started = []
            for _, new in starts:
                if self._insert_workflow(conn, new, now):
                    details = {"name": new.name, "schedule": schedule_id}
                    self._log_event(conn, new.id, WorkflowEventKind.STARTED, by, details, now)
                    started.append(new.id)
            last = starts[-1] if starts else None
            self._x(
                conn,
                "UPDATE schedules SET next_at = COALESCE(?, next_at),"
                " last_at = COALESCE(?, last_at), last_workflow_id = COALESCE(?, last_workflow_id)"
                " WHERE id = ?",
                (
                    next_at,
                    None if last is None else last[0],
                    None if last is None else last[1].id,
                    schedule_id,
                ),
            )
            return started

        return await self._run(op)
