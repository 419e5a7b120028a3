"""``continue_as_new`` in the SQL store: a workflow's run ends and the next starts, at once.

One fenced transaction: the run's pending entries are appended, its journal and step
attempts are moved into ``workflow_runs`` (one row per finished run, so the runs stay linked
and readable), the consumed signals are dropped (their payloads are in the moved journal),
open human tasks of the run are cancelled, and the workflow row becomes ``pending`` with the
new arguments, ``run + 1`` and no lease, so any worker claims the next run at once. The next
run's journal positions continue after the last one's (``seq_base``), so the ids made of a
position (human tasks, children, idempotency keys) stay unique within the workflow. Signals
not yet consumed stay in the mailbox for the next run. A crash before the commit leaves the
old run as it was (it is replayed and continues again); after it, the new run exists.
"""

from __future__ import annotations

import json

from plait.store.records import Entry, Fence, FinishedRun
from plait.store.rows import step_record
from plait.store.sqlbase import JOURNAL_COLUMNS, Conn, SQLBase, load_json
from plait.types import AttemptRecord, ErrorInfo, ms_to_datetime

ATTEMPT_COLUMNS = "workflow_id, seq, attempt, started_at, ended_at, error, worker_attempt"


class SQLContinuation(SQLBase):
    """``continue_as_new`` and the finished runs of a workflow."""

    async def continue_as_new(
        self, fence: Fence, now: int, pending: list[Entry], input: str, input_hash: str
    ) -> int:
        def op(conn: Conn) -> int:
            self._fence(conn, fence, now)
            self._append(conn, fence, pending)
            wid = fence.workflow_id
            row = self._one(
                conn, "SELECT run, input, created_at, seq_base FROM workflows WHERE id = ?", (wid,)
            )
            assert row is not None  # the fence found it
            last = self._one(
                conn, "SELECT MAX(ended_at) AS at FROM workflow_runs WHERE workflow_id = ?", (wid,)
            )
            started = last["at"] if last is not None and last["at"] is not None else None
            journal = self._all(
                conn,
                f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id = ? ORDER BY seq",
                (wid,),
            )
            attempts = self._all(
                conn,
                f"SELECT {ATTEMPT_COLUMNS} FROM step_attempts WHERE workflow_id = ?"
                " ORDER BY seq, attempt",
                (wid,),
            )
            last_seq = max([row["seq_base"], *(r["seq"] for r in journal)])
            self._x(
                conn,
                "INSERT INTO workflow_runs (workflow_id, run, input, journal, attempts,"
                " started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    wid,
                    row["run"],
                    row["input"],
                    json.dumps([dict(r) for r in journal]),
                    json.dumps([dict(r) for r in attempts]),
                    started if started is not None else row["created_at"],
                    now,
                ),
            )
            self._x(conn, "DELETE FROM step_attempts WHERE workflow_id = ?", (wid,))
            self._x(conn, "DELETE FROM journal WHERE workflow_id = ?", (wid,))
            self._x(
                conn,
                "DELETE FROM signals WHERE workflow_id = ? AND consumed_seq IS NOT NULL",
                (wid,),
            )
            self._cancel_workflow_tasks(conn, wid, now, "the workflow continued as new")
            self._x(
                conn,
                "UPDATE workflows SET run = run + 1, seq_base = ?, input = ?, input_hash = ?,"
                " status = 'pending', output = NULL, error = NULL, waiting_on = NULL,"
                " available_at = ?, lease_owner = NULL, lease_expires_at = NULL,"
                " recoveries = 0, updated_at = ? WHERE id = ?",
                (last_seq, input, input_hash, now, now, wid),
            )
            return int(row["run"]) + 1

        return await self._run(op)

    async def finished_runs(self, workflow_id: str) -> list[FinishedRun]:
        def op(conn: Conn) -> list[FinishedRun]:
            self._require(conn, workflow_id)
            rows = self._all(
                conn,
                "SELECT workflow_id, run, input, journal, attempts, started_at, ended_at"
                " FROM workflow_runs WHERE workflow_id = ? ORDER BY run",
                (workflow_id,),
            )
            return [
                FinishedRun(
                    workflow_id=r["workflow_id"],
                    run=r["run"],
                    input=r["input"],
                    started_at=r["started_at"],
                    ended_at=r["ended_at"],
                    journal=[step_record(e) for e in json.loads(r["journal"])],
                    attempts=[_attempt(a) for a in json.loads(r["attempts"])],
                )
                for r in rows
            ]

        return await self._run(op, write=False)


def _attempt(a: dict[str, object]) -> AttemptRecord:
    return AttemptRecord(
        workflow_id=str(a["workflow_id"]),
        seq=int(a["seq"]),  # type: ignore[call-overload]
        attempt=int(a["attempt"]),  # type: ignore[call-overload]
        started_at=ms_to_datetime(a["started_at"]),  # type: ignore[arg-type]
        ended_at=ms_to_datetime(a["ended_at"]),  # type: ignore[arg-type]
        error=ErrorInfo.from_json(load_json(a["error"])),  # type: ignore[arg-type]
        worker_attempt=int(a["worker_attempt"]),  # type: ignore[call-overload]
    )
