"""A running workflow's end: ``finish`` and what follows the end's status write (the parent
told in the same transaction, open human tasks and waits closed).

:class:`SQLEnds` is a part of :class:`~plait.store.sql.SQLStore` (the hooks between the parts
are declared in :mod:`plait.store.sqlbase`); the rest of a running workflow's writes are in
:mod:`plait.store.runs`. ``finish`` is on the hot path: on PostgreSQL it is one statement
pipelined with the batch's others, and for a workflow without a parent (``alone``) first
one that also needs no open human task, so that nothing is read before COMMIT and a batch
of such ends and step records is one round trip; on SQLite a run of finishes in one batch is
one ``executemany`` of the fenced end (``_FINISH``) when every one of them can take it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from plait.store.executor import Batched, Later, Pipelined
from plait.store.records import CHILD_SIGNAL, END_DEDUP, FINISHED, Entry, Fence
from plait.store.sqlbase import INSERT_ENTRY, Conn, SQLBase, dump_json, entry_params
from plait.types import WorkflowStatus


class SQLEnds(SQLBase):
    """How a running workflow ends (a part of ``SQLStore``)."""

    async def finish(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        status: WorkflowStatus,
        output: str | None,
        error: dict[str, Any] | None,
        *,
        alone: bool = False,
    ) -> None:
        if self.dialect.writes_in_with:  # one statement, pipelined with the batch's others
            if alone and status != WorkflowStatus.CANCELLED:
                # Nothing to do after the end's write unless the workflow has open human
                # tasks: that one statement, final, so that a batch of such ends and step
                # records is one round trip. If it finds the row held otherwise (open tasks,
                # a lost lease), nothing was written: the full path below says which.
                done = await self._run(
                    Pipelined(
                        functools.partial(
                            self._send_short_finish, fence, now, pending, str(status), output, error
                        ),
                        functools.partial(self._recover_short_finish, fence, now, str(status)),
                    )
                )
                if done:
                    return
            send = functools.partial(self._send_finish, fence, now, pending, str(status))
            await self._run(Pipelined(functools.partial(send, output, error)))
            return

        await self._run(
            Batched(self._finish_many, (fence, now, pending, str(status), output, error))
        )

    def _finish_many(self, conn: Conn, ops: list[_Finish]) -> list[None]:
        """``_finish`` for a run of finishes in one batch: when every one's short path applies,
        their UPDATEs are one ``executemany`` (and their pending entries another); otherwise
        that is undone and each runs ``_finish`` as it would alone."""
        if len(ops) > 1:
            rows = [
                _finish_row(f, now, status, output, error)
                for f, now, _, status, output, error in ops
            ]
            if self._all_or_none(conn, _FINISH, rows):
                pending = [entry_params(f, e) for f, _, es, *_ in ops for e in es]
                if pending:
                    conn.executemany(INSERT_ENTRY, pending)
                for f, now, _, status, output, error in ops:
                    self._end_after(
                        conn, f.workflow_id, None, status, output, error, now, tasks=False
                    )
                return [None] * len(ops)
        for op in ops:
            self._finish(*op, conn)
        return [None] * len(ops)

    def _finish(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        status: str,
        output: str | None,
        error: dict[str, Any] | None,
        conn: Conn,
    ) -> None:
        """``finish`` where ``WITH`` may not write (SQLite, whose write transactions are
        serialized). The common case is one statement: the end's UPDATE, fenced, which finds
        the row only if this attempt holds the lease and the workflow has no parent and no
        open human tasks (nothing else to do then but close a cancelled one's waits). If it
        updated nothing, the full fence runs (``LeaseLostError``: nothing written), then the
        parent is read and ``_end`` runs. The pending entries follow the UPDATE in the same
        transaction (an error in them undoes it)."""
        cur = self._x(conn, _FINISH, _finish_row(fence, now, status, output, error))
        wid = fence.workflow_id
        if cur.rowcount == 1:
            self._append(conn, fence, pending)
            self._end_after(conn, wid, None, status, output, error, now, tasks=False)
            return
        self._fence_append(conn, fence, now, pending)
        row = self._one(conn, "SELECT parent_id FROM workflows WHERE id = ?", (wid,))
        self._end(conn, wid, row["parent_id"] if row else None, status, output, error, now)

    def _end(
        self,
        conn: Conn,
        workflow_id: str,
        parent_id: str | None,
        status: str,
        output: str | None,
        error: dict[str, Any] | None,
        now: int,
    ) -> None:
        """Sets a final (or blocked) status and tells the parent when the child has ended."""
        self._x(
            conn,
            "UPDATE workflows SET status = ?, output = ?, error = ?, lease_owner = NULL,"
            " lease_expires_at = NULL, available_at = NULL, waiting_on = NULL,"
            " completed_at = ?, updated_at = ? WHERE id = ?",
            (*_end_values(now, status, output, error), workflow_id),
        )
        self._end_after(conn, workflow_id, parent_id, status, output, error, now, tasks=True)

    def _send_finish(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        status: str,
        output: str | None,
        error: dict[str, Any] | None,
        conn: Conn,
    ) -> Callable[[], Later | None]:
        """``finish`` as a pipelined operation: the fence, the pending entries and the end
        in one statement, then what ``_end`` does after its UPDATE, if anything."""
        read = self._send_fenced(conn, fence, pending, _end_values(now, status, output, error))

        def receive() -> Later | None:
            row = read()
            tasks = bool(row["open_tasks"])
            wid = fence.workflow_id
            if self._end_after(conn, wid, row["parent_id"], status, output, error, now, tasks):
                return self._then(conn, None)
            return None

        return receive

    def _send_short_finish(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        status: str,
        output: str | None,
        error: dict[str, Any] | None,
        conn: Conn,
    ) -> Callable[[], bool]:
        """``finish`` of a workflow without a parent and without open human tasks: the
        fence, the pending entries and the end in one statement; whether it found the row
        (if not, it wrote nothing)."""
        end = _end_values(now, status, output, error)
        read = self._send_fenced(conn, fence, pending, end, alone=True)
        return lambda: read() is not None

    def _recover_short_finish(
        self, fence: Fence, now: int, status: str, conn: Conn
    ) -> tuple[bool, object]:
        """Whether ``_send_short_finish`` wrote the end (its batch's link broke after
        COMMIT was sent): the row has that attempt, status and time, and no lease."""
        row = self._one(
            conn,
            "SELECT 1 AS x FROM workflows WHERE id = ? AND attempt = ? AND status = ?"
            " AND updated_at = ? AND lease_owner IS NULL",
            (fence.workflow_id, fence.attempt, status, now),
        )
        return row is not None, row is not None

    def _end_after(
        self,
        conn: Conn,
        workflow_id: str,
        parent_id: str | None,
        status: str,
        output: str | None,
        error: dict[str, Any] | None,
        now: int,
        tasks: bool,
    ) -> bool:
        """What ``_end`` does after the status UPDATE (``tasks``: the workflow may have open
        human tasks); whether it wrote anything."""
        final = status in FINISHED
        wrote = False
        if tasks and status in ("completed", "cancelled"):  # failed and blocked: resumable
            self._cancel_workflow_tasks(conn, workflow_id, now, f"the workflow {status}")
            wrote = True
        if status == "cancelled":
            wrote = True
            # Waits still open end with the workflow: a sibling of the wait that delivered the
            # cancellation may have been cut off before its own write committed.
            self._x(
                conn,
                "UPDATE journal SET status = 'cancelled', completed_at = ?"
                " WHERE workflow_id = ? AND status = 'waiting'",
                (now, workflow_id),
            )
        if final and parent_id is not None:
            wrote = True
            parent = self._one(
                conn,
                f"SELECT id, status, waiting_on FROM workflows WHERE id = ?"
                f"{self.dialect.for_update}",
                (parent_id,),
            )
            if parent is not None and parent["status"] not in FINISHED:
                payload = dump_json({"status": status, "output": output, "error": error})
                self._deliver(
                    conn,
                    parent,
                    CHILD_SIGNAL + workflow_id,
                    payload,
                    f"{END_DEDUP}{workflow_id}:{now}",
                    now,
                )
        return wrote


# ``_finish``'s short path: the end's UPDATE, fenced, for a workflow without a parent or
# open human tasks.
_FINISH = (
    "UPDATE workflows SET status = ?, output = ?, error = ?, lease_owner = NULL,"
    " lease_expires_at = NULL, available_at = NULL, waiting_on = NULL,"
    " completed_at = ?, updated_at = ?, recoveries = 0"
    " WHERE id = ? AND attempt = ? AND status = ? AND parent_id IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM human_tasks h WHERE h.workflow_id = workflows.id"
    " AND h.status = 'open')"
)
# A finish as ``_finish_many`` takes it: fence, now, pending, status, output, error.
_Finish = tuple[Fence, int, list[Entry], str, str | None, dict[str, Any] | None]


def _finish_row(
    fence: Fence, now: int, status: str, output: str | None, error: dict[str, Any] | None
) -> tuple[object, ...]:
    """``_FINISH``'s parameters for one finish."""
    return (*_end_values(now, status, output, error), fence.workflow_id, fence.attempt, "running")


def _end_values(
    now: int, status: str, output: str | None, error: dict[str, Any] | None
) -> tuple[object, ...]:
    """An end's status, output, error, completed_at (none while blocked) and updated_at."""
    return (status, output, dump_json(error), now if status in FINISHED else None, now)
