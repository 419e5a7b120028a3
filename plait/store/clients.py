"""The clients' workflow operations: start, read, signal, cancel and resume.

:class:`SQLClients` is a part of :class:`~plait.store.sql.SQLStore` (the hooks between the
parts are declared in :mod:`plait.store.sqlbase`). Each public coroutine is one transaction.

Invariants kept here:
- A client's operation on a workflow locks its row first (``_require``); a signal sender and
  a waiter both lock it before they touch the mailbox, so no wake-up is lost.
- ``create_workflow`` is idempotent by id: the same id with the same workflow and arguments
  returns the existing workflow; with others it raises ``WorkflowAlreadyExists``.
- A finished workflow takes no signal and no cancellation.
- ``cancel`` locks the whole tree (the workflow and its descendants) before it reads their
  statuses, ends those that never ran or are blocked, asks running ones to stop, wakes waiting
  ones, and cancels the tree's open human tasks, all in one transaction.
- ``resume`` drops the journal entry that failed the workflow, so that step runs again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from plait.errors import InvalidState, WorkflowAlreadyExists, WorkflowFinished, WorkflowNotFound
from plait.store.executor import Batched, Pipelined
from plait.store.records import FINISHED, Claimed, ListFilter, NewWorkflow, ResultRow
from plait.store.rows import (
    RESULT_COLUMNS,
    WORKFLOW_COLUMNS,
    built_info,
    claimed,
    entry,
    result_row,
    step_record,
    workflow_filters,
    workflow_info,
)
from plait.store.sqlbase import JOURNAL_COLUMNS, Conn, SQLBase, dump_json, load_json
from plait.types import (
    AttemptRecord,
    ErrorInfo,
    StepRecord,
    WorkflowEventKind,
    WorkflowInfo,
    WorkflowStatus,
    ms_to_datetime,
)

_INSERT_WORKFLOW = (
    "INSERT INTO workflows (id, name, version, queue, priority, concurrency_key, status,"
    " input, input_hash, available_at, deadline_at, parent_id, subject, attributes,"
    " created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, {subject}, '{{}}', ?, ?)"
    " ON CONFLICT (id) DO NOTHING"
)

_INSERT_TOP = _INSERT_WORKFLOW.format(subject="?")  # a workflow without a parent
# ``get_result`` for many ids (SQLite), bound to them as one JSON array: one statement text
_RESULTS = f"SELECT {RESULT_COLUMNS} FROM workflows WHERE id IN (SELECT value FROM json_each(?))"


# send_signal in one statement (PostgreSQL): w locks the row (signal senders and waiters
# both lock it before the mailbox: no lost wake-up), s puts the signal in the mailbox of a
# workflow that is not finished, u makes a workflow waiting for that name ready.
_SIGNAL = (
    "WITH w AS (SELECT id, status, waiting_on FROM workflows WHERE id = ? FOR NO KEY UPDATE),"
    " s AS (INSERT INTO signals (workflow_id, name, payload, dedup_key, created_at)"
    " SELECT id, ?, ?, NULL, ? FROM w"
    " WHERE status NOT IN ('completed', 'failed', 'cancelled')),"
    " u AS (UPDATE workflows SET status = 'pending', available_at = ?, updated_at = ?"
    " WHERE id = (SELECT id FROM w WHERE status = 'waiting'"
    " AND jsonb_exists(COALESCE(waiting_on::jsonb -> 'signals', '[]'::jsonb), ?)))"
    " SELECT status FROM w"
)


def _fresh_info(new: NewWorkflow, now: int) -> WorkflowInfo:
    """The row ``_insert_workflow`` just wrote for ``new`` (no parent), as ``get`` reads it:
    the columns it leaves out take the table's defaults."""
    created = ms_to_datetime(now)
    assert created is not None
    available = created if new.available_at <= now else ms_to_datetime(new.available_at)
    return built_info(
        id=new.id,
        name=new.name,
        version=new.version,
        status=WorkflowStatus.PENDING,
        queue=new.queue,
        priority=new.priority,
        created_at=created,
        updated_at=created,
        completed_at=None,
        parent_id=None,
        attempt=0,
        recoveries=0,
        cancel_requested=False,
        error=None,
        waiting_on=None,
        available_at=available,
        status_text=None,
        attributes={},
        concurrency_key=new.concurrency_key,
        lease_owner=None,
        input=new.input,
        output=None,
        subject=new.subject,
    )


class SQLClients(SQLBase):
    """The workflow operations clients call (a part of ``SQLStore``)."""

    # -- starting and inspecting -------------------------------------------------------
    async def create_workflow(
        self, new: NewWorkflow, now: int, by: str = "system"
    ) -> tuple[WorkflowInfo, bool]:
        # A partial, not a closure: a burst of starts holds one per start in flight.
        if self.dialect.writes_in_with and new.parent_id is None and not new.blobs:
            # pipelined: a burst of starts sends its INSERTs together
            return await self._run(Pipelined(functools.partial(self._send_create, new, now, by)))
        if new.parent_id is None and not new.blobs:
            return await self._run(Batched(self._create_many, (new, now, by)))
        return await self._run(functools.partial(self._create, new, now, by))

    def _create_many(
        self, conn: Conn, ops: list[tuple[NewWorkflow, int, str]]
    ) -> list[tuple[WorkflowInfo, bool]]:
        """``_create`` for a run of starts without a parent or blobs in one batch (SQLite):
        when every id is new, their INSERTs are one ``executemany``; otherwise (an id that
        exists, twice the same id) that is undone and each runs ``_create`` as it would
        alone."""
        if len(ops) > 1:
            rows = [(*self._workflow_values(new, now), now, now) for new, now, _ in ops]
            if self._all_or_none(conn, _INSERT_TOP, rows):
                started = WorkflowEventKind.STARTED
                for new, now, by in ops:
                    self._log_event(conn, new.id, started, by, {"name": new.name}, now)
                return [(_fresh_info(new, now), True) for new, now, _ in ops]
        return [self._create(new, now, by, conn) for new, now, by in ops]

    def _send_claimed_insert(
        self, new: NewWorkflow, now: int, by: str, worker_id: str, lease_ms: int, conn: Conn
    ) -> Callable[[], tuple[tuple[WorkflowInfo, bool], list[Claimed]]]:
        """The start and its claim as one INSERT (PostgreSQL): the row goes in ``running``,
        leased to ``worker_id`` at attempt 1, when nothing else would have been claimed
        first (its queue has no stored limits; no ready workflow of at least its priority
        waits on its queue); else ``pending``, as any start."""
        cur = self._x(
            conn,
            _INSERT_CLAIMED,
            _claimed_values(self._workflow_values(new, now), new, now, worker_id, lease_ms),
        )

        def receive() -> tuple[tuple[WorkflowInfo, bool], list[Claimed]]:
            row = cur.fetchone()
            if row is None:
                return (self._existing(conn, new, created=False), False), []
            self._log_event(conn, new.id, WorkflowEventKind.STARTED, by, {"name": new.name}, now)
            info = _fresh_info(new, now)
            if row["status"] != "running":
                return (info, True), []
            claimed = Claimed(
                id=new.id,
                name=new.name,
                version=new.version,
                input=new.input,
                attempt=1,
                cancel_requested=False,
                parent_id=None,
                queue=new.queue,
                journal=[],
            )
            return (dataclasses.replace(info, status=WorkflowStatus.RUNNING), True), [claimed]

        return receive

    def _send_create(
        self, new: NewWorkflow, now: int, by: str, conn: Conn
    ) -> Callable[[], tuple[WorkflowInfo, bool]]:
        """The send half of a start without a parent or blobs: the INSERT says with
        RETURNING whether it inserted, so nothing needs reading before the batch's next."""
        cur = self._x(
            conn,
            _INSERT_TOP + " RETURNING id",
            (*self._workflow_values(new, now), now, now),
        )

        def receive() -> tuple[WorkflowInfo, bool]:
            if cur.fetchone() is None:
                return self._existing(conn, new, created=False), False
            self._log_event(conn, new.id, WorkflowEventKind.STARTED, by, {"name": new.name}, now)
            return _fresh_info(new, now), True

        return receive

    def _create(self, new: NewWorkflow, now: int, by: str, conn: Conn) -> tuple[WorkflowInfo, bool]:
        created = self._insert_workflow(conn, new, now)
        if created:
            self._log_event(conn, new.id, WorkflowEventKind.STARTED, by, {"name": new.name}, now)
            if new.parent_id is None:
                # The row is what was just inserted: no need to read it back.
                return _fresh_info(new, now), True
        return self._existing(conn, new, created), created

    def _existing(self, conn: Conn, new: NewWorkflow, created: bool) -> WorkflowInfo:
        """The row of ``new``'s id; unless ``created``, it must be the same start."""
        row = self._one(
            conn, f"SELECT {WORKFLOW_COLUMNS}, input_hash FROM workflows WHERE id = ?", (new.id,)
        )
        assert row is not None
        if not created and (
            row["name"] != new.name
            or row["input_hash"] != new.input_hash
            or row["subject"] != new.subject
        ):
            what = (
                f"workflow {row['name']!r}"
                if row["name"] != new.name
                else "other arguments"
                if row["input_hash"] != new.input_hash
                else f"subject {row['subject']!r}"
            )
            raise WorkflowAlreadyExists(
                f"a workflow with id {new.id!r} already exists, started with {what}; "
                "use another id, or the same arguments to get the existing workflow"
            )
        return workflow_info(row)

    def _workflow_values(self, new: NewWorkflow, now: int) -> tuple[object, ...]:
        return (
            new.id,
            new.name,
            new.version,
            new.queue,
            new.priority,
            new.concurrency_key,
            new.input,
            new.input_hash,
            max(new.available_at, now),
            new.deadline_at,
            new.parent_id,
            new.subject,
        )

    def _insert_workflow(self, conn: Conn, new: NewWorkflow, now: int) -> bool:
        """Hook (see ``SQLBase``): inserts ``new`` unless its id exists; whether it did."""
        values = self._workflow_values(new, now)
        if new.parent_id is None:
            cur = self._x(conn, _INSERT_TOP, (*values, now, now))
        else:
            # A child is about its parent's subject unless it names its own.
            subject = "COALESCE(?, (SELECT p.subject FROM workflows p WHERE p.id = ?))"
            cur = self._x(
                conn, _INSERT_WORKFLOW.format(subject=subject), (*values, new.parent_id, now, now)
            )
        created = bool(cur.rowcount == 1)
        if created and new.blobs:
            self._adopt_blobs(conn, new.id, new.blobs, now)
        return created

    async def get(self, workflow_id: str) -> WorkflowInfo | None:
        def send(conn: Conn) -> Callable[[], WorkflowInfo | None]:
            cur = self._x(
                conn, f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = ?", (workflow_id,)
            )

            def receive() -> WorkflowInfo | None:
                row = cur.fetchone()
                return None if row is None else workflow_info(row)

            return receive

        # pipelined: the reads of many waiting results share a round trip
        return await self._run(Pipelined(send), write=False)

    async def get_result(self, workflow_id: str) -> ResultRow | None:
        if not self.dialect.writes_in_with:
            # a run of them in a batch is one statement (many waiters poll at once)
            return await self._run(Batched(self._results_many, workflow_id), write=False)

        def send(conn: Conn) -> Callable[[], ResultRow | None]:
            cur = self._x(
                conn, f"SELECT {RESULT_COLUMNS} FROM workflows WHERE id = ?", (workflow_id,)
            )

            def receive() -> ResultRow | None:
                row = cur.fetchone()
                return None if row is None else result_row(row)

            return receive

        # pipelined: the reads of many waiting results share a round trip
        return await self._run(Pipelined(send), write=False)

    def _results_many(self, conn: Conn, ids: list[str]) -> list[ResultRow | None]:
        """``get_result`` for a run of reads in one batch (SQLite): one SELECT for them all."""
        if len(ids) == 1:
            row = self._one(conn, f"SELECT {RESULT_COLUMNS} FROM workflows WHERE id = ?", ids)
            return [None if row is None else result_row(row)]
        rows = self._all(conn, _RESULTS, (dump_json(ids),))
        found = {r["id"]: result_row(r) for r in rows}
        return [found.get(i) for i in ids]

    async def list_workflows(self, flt: ListFilter) -> list[WorkflowInfo]:
        where, params = workflow_filters(
            self.dialect, flt.status, flt.name, flt.parent_id, flt.attributes, flt.subject
        )
        sql = f"SELECT {WORKFLOW_COLUMNS} FROM workflows"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        params.extend((flt.limit, flt.offset))
        return await self._run(
            lambda c: [workflow_info(r) for r in self._all(c, sql, params)], write=False
        )

    async def journal(self, workflow_id: str) -> list[StepRecord]:
        def op(conn: Conn) -> list[StepRecord]:
            self._require(conn, workflow_id)
            rows = self._all(
                conn,
                f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id = ? ORDER BY seq",
                (workflow_id,),
            )
            return [step_record(r) for r in rows]

        return await self._run(op, write=False)

    async def snapshot(self, workflow_id: str) -> Claimed | None:
        def op(conn: Conn) -> Claimed | None:
            r = self._one(
                conn,
                "SELECT id, name, version, input, attempt, cancel_requested, parent_id, queue,"
                " run, seq_base FROM workflows WHERE id = ?",
                (workflow_id,),
            )
            if r is None:
                return None
            rows = self._all(
                conn,
                f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id = ? ORDER BY seq",
                (workflow_id,),
            )
            return claimed(r, [entry(j) for j in rows])

        return await self._run(op, write=False)

    async def attempts(self, workflow_id: str) -> list[AttemptRecord]:
        def op(conn: Conn) -> list[AttemptRecord]:
            self._require(conn, workflow_id)
            # A step that succeeds at its first attempt has no step_attempts row (one INSERT
            # less per step): its journal entry holds that attempt's start and end.
            rows = self._all(
                conn,
                "SELECT workflow_id, seq, attempt, started_at, ended_at, error, worker_attempt"
                " FROM step_attempts WHERE workflow_id = ?"
                " UNION ALL SELECT j.workflow_id, j.seq, 1, j.started_at, j.completed_at, NULL,"
                " j.worker_attempt FROM journal j WHERE j.workflow_id = ? AND j.kind = 'step'"
                " AND j.status = 'completed' AND j.attempts = 1 AND NOT EXISTS (SELECT 1 FROM"
                " step_attempts a WHERE a.workflow_id = j.workflow_id AND a.seq = j.seq)"
                " ORDER BY seq, attempt",
                (workflow_id, workflow_id),
            )
            return [
                AttemptRecord(
                    workflow_id=r["workflow_id"],
                    seq=r["seq"],
                    attempt=r["attempt"],
                    started_at=ms_to_datetime(r["started_at"]),  # type: ignore[arg-type]
                    ended_at=ms_to_datetime(r["ended_at"]),  # type: ignore[arg-type]
                    error=ErrorInfo.from_json(load_json(r["error"])),
                    worker_attempt=r["worker_attempt"],
                )
                for r in rows
            ]

        return await self._run(op, write=False)

    # -- commands from clients ---------------------------------------------------------
    async def send_signal(
        self,
        workflow_id: str,
        name: str,
        payload: str | None,
        dedup_key: str | None,
        now: int,
        by: str = "system",
        blobs: tuple[str, ...] = (),
    ) -> bool:
        if self.dialect.writes_in_with and dedup_key is None and not blobs:
            # one statement, pipelined: a burst of signals shares round trips
            send = functools.partial(self._send_signal, workflow_id, name, payload, now, by)
            return await self._run(Pipelined(send))

        def op(conn: Conn) -> bool:
            row = self._require(conn, workflow_id)  # locks the row first: no lost wake-up
            if row["status"] in FINISHED:
                raise WorkflowFinished(
                    f"workflow {workflow_id!r} is {row['status']}; it takes no more signals"
                )
            sent = self._deliver(conn, row, name, payload, dedup_key, now)
            if sent:
                details = {"name": name, "dedup_key": dedup_key}
                self._log_event(conn, workflow_id, WorkflowEventKind.SIGNALLED, by, details, now)
                self._adopt_blobs(conn, workflow_id, blobs, now)
            return sent

        return await self._run(op)

    def _send_signal(
        self, workflow_id: str, name: str, payload: str | None, now: int, by: str, conn: Conn
    ) -> Callable[[], bool]:
        """``send_signal`` without a dedup key or blobs as one statement: the row lock, the
        signal (unless the workflow is finished) and the wake-up of a workflow waiting for
        that name, all on the row the lock found (``_deliver``'s rules)."""
        cur = self._x(conn, _SIGNAL, (workflow_id, name, payload, now, now, now, name))

        def receive() -> bool:
            row = cur.fetchone()
            if row is None:
                raise WorkflowNotFound(f"no workflow {workflow_id!r} in {self.url}")
            if row["status"] in FINISHED:
                raise WorkflowFinished(
                    f"workflow {workflow_id!r} is {row['status']}; it takes no more signals"
                )
            details = {"name": name, "dedup_key": None}
            self._log_event(conn, workflow_id, WorkflowEventKind.SIGNALLED, by, details, now)
            self._adopt_blobs(conn, workflow_id, (), now)  # the hook, as the plain path calls it
            return True

        return receive

    async def cancel(self, workflow_id: str, now: int, by: str = "system") -> WorkflowStatus:
        def op(conn: Conn) -> WorkflowStatus:
            root = self._require(conn, workflow_id)
            if root["status"] in FINISHED:
                raise WorkflowFinished(f"workflow {workflow_id!r} is already {root['status']}")
            rows = self._all(
                conn,
                "WITH RECURSIVE tree(id) AS (SELECT ? UNION ALL SELECT w.id FROM workflows w"
                " JOIN tree t ON w.parent_id = t.id) SELECT w.id, w.status, w.attempt,"
                " w.parent_id FROM workflows w JOIN tree t ON w.id = t.id"
                # Lock the tree, so each status read is the one the update below acts on.
                + (f"{self.dialect.for_update} OF w" if self.dialect.for_update else ""),
                (workflow_id,),
            )
            result = WorkflowStatus(root["status"])
            for row in rows:
                status = row["status"]
                if status in FINISHED:
                    continue
                never_ran = status == "pending" and row["attempt"] == 0
                if never_ran or status == "blocked":
                    self._end(
                        conn,
                        row["id"],
                        row["parent_id"],
                        "cancelled",
                        None,
                        {
                            "type": "Cancelled",
                            "message": "cancelled before it ran"
                            if never_ran
                            else "cancelled while blocked",
                        },
                        now,
                    )
                    new = WorkflowStatus.CANCELLED
                elif status == "running":
                    self._x(
                        conn,
                        "UPDATE workflows SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                        (now, row["id"]),
                    )
                    new = WorkflowStatus.RUNNING
                else:
                    self._x(
                        conn,
                        "UPDATE workflows SET cancel_requested = 1, status = 'pending',"
                        " available_at = ?, updated_at = ? WHERE id = ?",
                        (now, now, row["id"]),
                    )
                    new = WorkflowStatus.PENDING
                self._cancel_workflow_tasks(conn, row["id"], now, "the workflow was cancelled")
                via = None if row["id"] == workflow_id else workflow_id
                details = {"status": str(new), "via": via}
                self._log_event(conn, row["id"], WorkflowEventKind.CANCELLED, by, details, now)
                if row["id"] == workflow_id:
                    result = new
            return result

        return await self._run(op)

    async def resume(self, workflow_id: str, now: int, by: str = "system") -> None:
        def op(conn: Conn) -> None:
            row = self._require(conn, workflow_id)
            if row["status"] not in ("failed", "blocked"):
                raise InvalidState(
                    f"workflow {workflow_id!r} is {row['status']}; only failed or blocked "
                    "workflows can be resumed"
                )
            error = load_json(row["error"]) or {}
            if row["status"] == "failed" and error.get("seq") is not None:
                self._x(
                    conn,
                    "DELETE FROM step_attempts WHERE workflow_id = ? AND seq = ?",
                    (workflow_id, error["seq"]),
                )
                self._x(
                    conn,
                    "DELETE FROM journal WHERE workflow_id = ? AND seq = ?",
                    (workflow_id, error["seq"]),
                )
            self._x(
                conn,
                "UPDATE workflows SET status = 'pending', error = NULL, output = NULL,"
                " available_at = ?, recoveries = 0, cancel_requested = 0, completed_at = NULL,"
                " waiting_on = NULL, updated_at = ? WHERE id = ?",
                (now, now, workflow_id),
            )
            details = {"from": row["status"]}
            self._log_event(conn, workflow_id, WorkflowEventKind.RESUMED, by, details, now)

        await self._run(op)


# The start and its claim in one statement (``_send_claimed_insert``): the columns of a
# start, plus the claim's (status, lease, attempt) when nothing would be claimed first.
_INSERT_CLAIMED = (
    "INSERT INTO workflows (id, name, version, queue, priority, concurrency_key, status,"
    " input, input_hash, available_at, deadline_at, parent_id, subject, attributes,"
    " created_at, updated_at, lease_owner, lease_expires_at, attempt)"
    " SELECT ?, ?, ?, ?, ?, ?, CASE WHEN c.free THEN 'running' ELSE 'pending' END,"
    " ?, ?, ?, ?, ?, ?, '{}', ?, ?, CASE WHEN c.free THEN ? END,"
    " CASE WHEN c.free THEN ?::bigint END, CASE WHEN c.free THEN 1 ELSE 0 END"
    " FROM (SELECT NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = ?"
    " AND (q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL))"
    " AND NOT EXISTS (SELECT 1 FROM workflows p WHERE p.status = 'pending' AND p.queue = ?"
    " AND p.available_at <= ? AND p.priority >= ?) AS free) c"
    " ON CONFLICT (id) DO NOTHING RETURNING status"
)


def _claimed_values(
    values: tuple[object, ...], new: NewWorkflow, now: int, worker_id: str, lease_ms: int
) -> tuple[object, ...]:
    return (
        *values,
        now,
        now,
        worker_id,
        now + lease_ms,
        new.queue,
        new.queue,
        now,
        new.priority,
    )
