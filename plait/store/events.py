"""The per-workflow event log in the SQL store: who started, signalled, cancelled or resumed.

:class:`SQLEvents` is a mixin of :class:`~plait.store.sql.SQLStore`. The client operations
(``create_workflow``, ``send_signal``, ``cancel``, ``resume``) and ``start_child`` call
:meth:`SQLEvents._log_event` inside their own operation, after their write. The row is not
written at once: it is kept with the batch's transaction and all rows of a batch are written
by one INSERT just before COMMIT (:class:`EventLogBackend` wraps the backend the executor
drives), so logging costs no statement per action. Invariants kept here:

- An event is committed exactly when its action is: the rows are written in the action's
  transaction; a batch that rolls back drops them (a new transaction starts with none), and
  an operation undone to its savepoint drops the rows it logged. A rejected action (unknown
  workflow, finished workflow, bad state) raises before it logs, and an action that writes
  nothing (the start of an existing equal workflow, a signal whose dedup key was used) logs
  nothing.
- Events are read in the order they were logged (``id``).
- A read of the log, and gc's delete of a workflow's rows, first write what the batch logged
  before them (``_flush_events``): they see what they would if each operation ran alone.
  Under savepoints (a failed batch run again) the rows logged before a savepoint are written
  before it is set, so undoing one operation never undoes another's events.

The log has no foreign key to ``workflows``: it outlives a workflow's deletion, so gc and
erasure can keep who did what.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from plait.errors import WorkflowNotFound
from plait.store.executor import Transactional
from plait.store.sqlbase import Conn, SQLBase, dump_json, load_json
from plait.types import WorkflowEvent, WorkflowEventKind, ms_to_datetime

C = TypeVar("C")
EventRow = tuple[str, str, str, int, str | None]

# Rows per INSERT: 5 parameters each stays under SQLite's oldest limit of 999 parameters.
_CHUNK = 150
# The rows logged in the transaction running on this thread. Each executor thread drives
# one backend of one store, so a thread's transaction is the only one that can log here.
_pending = threading.local()


class SQLEvents(SQLBase):
    """The event log's reads and the write the client operations share."""

    def _log_event(
        self,
        conn: Conn,
        workflow_id: str,
        kind: WorkflowEventKind,
        by: str,
        details: dict[str, Any],
        now: int,
    ) -> None:
        row = (
            workflow_id,
            str(kind),
            by,
            now,
            dump_json({k: v for k, v in details.items() if v is not None}),
        )
        rows: list[EventRow] | None = getattr(_pending, "rows", None)
        if rows is None:  # not under an EventLogBackend: write it now
            self._write_events(conn, [row])
        else:
            rows.append(row)

    def _flush_events(self, conn: Conn) -> None:
        """Writes the rows logged so far in this transaction now: an operation that reads
        or deletes event rows calls it first, so it sees (or deletes) what the operations
        before it in the same batch logged, as it would if each ran alone."""
        rows: list[EventRow] | None = getattr(_pending, "rows", None)
        if rows:
            self._write_events(conn, rows)
            rows.clear()  # the same list: it stays this transaction's

    def _write_events(self, conn: Conn, rows: list[EventRow]) -> None:
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            self._x(
                conn,
                "INSERT INTO workflow_events (workflow_id, kind, actor, at, details) VALUES "
                + ", ".join("(?, ?, ?, ?, ?)" for _ in chunk),
                [value for row in chunk for value in row],
            )

    async def events(self, workflow_id: str) -> list[WorkflowEvent]:
        def op(conn: Conn) -> list[WorkflowEvent]:
            self._flush_events(conn)
            rows = self._all(
                conn,
                "SELECT id, workflow_id, kind, actor, at, details FROM workflow_events"
                " WHERE workflow_id = ? ORDER BY id",
                (workflow_id,),
            )
            if (
                not rows
                and self._one(conn, "SELECT 1 AS x FROM workflows WHERE id = ?", (workflow_id,))
                is None
            ):
                raise WorkflowNotFound(f"no workflow {workflow_id!r} in {self.url}")
            return [
                WorkflowEvent(
                    id=r["id"],
                    workflow_id=r["workflow_id"],
                    kind=WorkflowEventKind(r["kind"]),
                    by=r["actor"],
                    at=ms_to_datetime(r["at"]),  # type: ignore[arg-type]
                    details=load_json(r["details"]) or {},
                )
                for r in rows
            ]

        return await self._run(op, write=False)


class EventLogBackend(Generic[C]):
    """A backend whose transactions write the event rows their operations logged, in one
    INSERT per batch just before COMMIT (see the module docstring)."""

    def __init__(self, inner: Transactional[C], store: SQLEvents) -> None:
        self._inner = inner
        self._store = store
        # The backend's pipeline mode, if it has one (see plait.store.executor); the event
        # rows are then sent together with COMMIT.
        self.pipeline: Callable[[C, bool], None] | None = getattr(inner, "pipeline", None)
        # And its one-round-trip batches (``one_trip``, see plait.store.executor), the
        # rows logged in them sent before their COMMIT.
        inner_trip = getattr(inner, "one_trip", None)
        self.one_trip: Callable[..., list[object] | None] | None = None
        if inner_trip is not None:
            self.one_trip = functools.partial(self._one_trip, inner_trip)
        self._rows: list[EventRow] = []

    def connect(self) -> C:
        return self._inner.connect()

    def begin(self, conn: C, write: bool) -> None:
        self._inner.begin(conn, write)
        self._rows = []  # whatever an earlier, rolled-back attempt logged is gone
        _pending.rows = self._rows

    def _one_trip(
        self,
        inner: Callable[..., list[object] | None],
        conn: C,
        sends: list[Callable[[C], Callable[[], Any]]],
        before_commit: Callable[[C], None],
    ) -> list[object] | None:
        self._rows = []
        _pending.rows = self._rows

        def send_rows(conn: C) -> None:
            self._write_pending(conn)
            before_commit(conn)

        return inner(conn, sends, send_rows)

    def _write_pending(self, conn: C) -> None:
        """Writes the rows logged so far and empties the list (the same list: the thread's
        ``_pending.rows`` stays this transaction's)."""
        if self._rows:
            self._store._write_events(conn, self._rows)
            self._rows.clear()

    def commit(self, conn: C) -> None:
        if self._rows and self.pipeline is not None:
            self.pipeline(conn, True)
        self._write_pending(conn)
        self._inner.commit(conn)

    def rollback(self, conn: C) -> None:
        self._rows.clear()
        self._inner.rollback(conn)

    def savepoint(self, conn: C, sql: str) -> None:
        # The executor runs each operation of a failed batch again in a savepoint; one that
        # fails is undone to it, and so are the rows it logged. The rows logged before the
        # savepoint are written first, outside it: an operation that flushes the log
        # (SQLEvents._flush_events) and is then undone must not take them with it.
        if sql.startswith("SAVEPOINT"):
            self._write_pending(conn)
        elif sql.startswith("ROLLBACK"):
            self._rows.clear()  # what the undone operation logged: all that is kept now
        self._inner.savepoint(conn, sql)

    def close(self, conn: C) -> None:
        self._inner.close(conn)

    def retryable(self, error: BaseException) -> bool:
        return self._inner.retryable(error)
