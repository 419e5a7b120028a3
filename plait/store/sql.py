"""The store's workflow logic, written once in portable SQL for every backend.

:class:`SQLStore` is the whole store: the workflow operations here, human tasks
(:mod:`plait.store.tasks`) and queue limits (:mod:`plait.store.limits`), all on the plumbing
and primitives of :class:`~plait.store.sqlbase.SQLBase`. Each public coroutine is one
transaction run by the backend's executor (group commit); the functions inside run on the
executor's thread with the backend's DB-API connection.

Invariants kept here:
- Every write for a running workflow starts with the fence (``_fence``): it checks the
  claimed ``attempt`` still holds the lease, takes the row lock, and returns
  ``cancel_requested``. Zero rows means the lease was lost: nothing is written.
- Signal senders and waiters lock the workflow row before touching the mailbox, so a signal
  sent while a workflow suspends always wakes it (no lost wake-up).
- Lock order is parent before child, workflow row before anything else.
- A workflow's end (completed, failed, cancelled) is delivered to its parent's mailbox in the
  same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

from plait.errors import (
    InvalidState,
    WorkflowAlreadyExists,
    WorkflowFinished,
)
from plait.store.app_records import SQLRecords
from plait.store.blobs import SQLBlobs
from plait.store.events import SQLEvents
from plait.store.limits import SQLLimits
from plait.store.records import (
    CHILD_SIGNAL,
    END_DEDUP,
    FINISHED,
    Attempt,
    Claimed,
    Entry,
    Fence,
    ListFilter,
    NewWorkflow,
    Wait,
    WaitOutcome,
)
from plait.store.sqlbase import (
    JOURNAL_COLUMNS,
    Conn,
    Row,
    _j,
    _unj,
)
from plait.store.tasks import SQLTasks
from plait.types import (
    AttemptRecord,
    EntryStatus,
    ErrorInfo,
    StepRecord,
    WorkflowEventKind,
    WorkflowInfo,
    WorkflowStatus,
    ms_to_datetime,
)

T = TypeVar("T")


_WF_COLUMNS = (
    "id, name, version, status, queue, priority, created_at, updated_at, completed_at, "
    "parent_id, attempt, recoveries, cancel_requested, error, waiting_on, available_at, "
    "status_text, attributes, concurrency_key, lease_owner, input, output, subject"
)


class SQLStore(SQLTasks, SQLLimits, SQLEvents, SQLRecords, SQLBlobs):
    """A :class:`~plait.store.base.Store` over any SQL database a :class:`Dialect` covers."""

    url: str

    # -- starting and inspecting -------------------------------------------------------
    async def create_workflow(
        self, new: NewWorkflow, now: int, by: str = "system"
    ) -> tuple[WorkflowInfo, bool]:
        return await self._run(lambda c: self._create(c, new, now, by))

    def _create(self, conn: Conn, new: NewWorkflow, now: int, by: str) -> tuple[WorkflowInfo, bool]:
        created = self._insert_workflow(conn, new, now)
        if created:
            self._log_event(conn, new.id, WorkflowEventKind.STARTED, by, {"name": new.name}, now)
        row = self._one(
            conn, f"SELECT {_WF_COLUMNS}, input_hash FROM workflows WHERE id = ?", (new.id,)
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
        return _info(row), created

    def _insert_workflow(self, conn: Conn, new: NewWorkflow, now: int) -> bool:
        cur = self._x(
            conn,
            "INSERT INTO workflows (id, name, version, queue, priority, concurrency_key, status,"
            " input, input_hash, available_at, deadline_at, parent_id, subject, attributes,"
            " created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, '{}', ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (
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
                now,
                now,
            ),
        )
        created = bool(cur.rowcount == 1)
        if created:
            self._adopt_blobs(conn, new.id, new.blobs, now)
        return created

    async def get(self, workflow_id: str) -> WorkflowInfo | None:
        def op(conn: Conn) -> WorkflowInfo | None:
            row = self._one(
                conn, f"SELECT {_WF_COLUMNS} FROM workflows WHERE id = ?", (workflow_id,)
            )
            return None if row is None else _info(row)

        return await self._run(op, write=False)

    async def list_workflows(self, flt: ListFilter) -> list[WorkflowInfo]:
        where: list[str] = []
        params: list[object] = []
        if flt.status:
            where.append(f"status IN ({', '.join('?' for _ in flt.status)})")
            params.extend(str(s) for s in flt.status)
        if flt.name is not None:
            where.append("name = ?")
            params.append(flt.name)
        if flt.parent_id is not None:
            where.append("parent_id = ?")
            params.append(flt.parent_id)
        if flt.subject is not None:
            where.append("subject = ?")
            params.append(flt.subject)
        for key, value in flt.attributes:
            expr = self.dialect.json_text("attributes", "?")
            where.append(f"{expr} = ?")
            params.extend([key] * expr.count("?") + [value])
        sql = f"SELECT {_WF_COLUMNS} FROM workflows"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        params.extend((flt.limit, flt.offset))
        return await self._run(lambda c: [_info(r) for r in self._all(c, sql, params)], write=False)

    async def journal(self, workflow_id: str) -> list[StepRecord]:
        def op(conn: Conn) -> list[StepRecord]:
            self._require(conn, workflow_id)
            rows = self._all(
                conn,
                f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id = ? ORDER BY seq",
                (workflow_id,),
            )
            return [_step_record(r) for r in rows]

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
                    error=ErrorInfo.from_json(_unj(r["error"])),
                    worker_attempt=r["worker_attempt"],
                )
                for r in rows
            ]

        return await self._run(op, write=False)

    async def next_due(self, queues: tuple[str, ...] | None) -> int | None:
        def op(conn: Conn) -> int | None:
            q, params = _queue_clause(queues)
            ready = self._next_ready(conn, queues)  # as the queues' limits allow
            lease = self._one(
                conn,
                f"SELECT min(lease_expires_at) AS t FROM workflows WHERE status = 'running'{q}",
                params,
            )
            times = [t for t in (ready, lease and lease["t"]) if t is not None]
            return min(times) if times else None

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
            error = _unj(row["error"]) or {}
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

    # -- workers -----------------------------------------------------------------------
    async def register_worker(self, worker_id: str, info: dict[str, Any], now: int) -> None:
        await self._run(
            lambda c: self._x(
                c,
                "INSERT INTO workers (id, hostname, pid, process_start, info, started_at,"
                " heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    worker_id,
                    info.get("hostname"),
                    info.get("pid"),
                    info.get("process_start"),
                    _j(info),
                    now,
                    now,
                ),
            )
        )

    async def unregister_worker(self, worker_id: str) -> None:
        await self._run(lambda c: self._x(c, "DELETE FROM workers WHERE id = ?", (worker_id,)))

    async def workers_on(self, hostname: str) -> list[tuple[str, int, str | None]]:
        rows = await self._run(
            lambda c: self._all(
                c, "SELECT id, pid, process_start FROM workers WHERE hostname = ?", (hostname,)
            ),
            write=False,
        )
        return [(r["id"], r["pid"], r["process_start"]) for r in rows]

    async def expire_workers(self, worker_ids: Iterable[str], now: int) -> int:
        """Expires the leases of workers known to be dead, so their workflows are taken now."""
        ids = list(worker_ids)
        if not ids:
            return 0

        def op(conn: Conn) -> int:
            marks = ", ".join("?" for _ in ids)
            cur = self._x(
                conn,
                f"UPDATE workflows SET lease_expires_at = ? WHERE status = 'running'"
                f" AND lease_owner IN ({marks})",
                (now - 1, *ids),
            )
            self._x(conn, f"DELETE FROM workers WHERE id IN ({marks})", ids)
            return int(cur.rowcount)

        return await self._run(op)

    async def claim(
        self,
        worker_id: str,
        pairs: tuple[tuple[str, str], ...],
        queues: tuple[str, ...] | None,
        limit: int,
        now: int,
        lease_ms: int,
        max_recoveries: int,
    ) -> list[Claimed]:
        if not pairs or limit <= 0:
            return []
        return await self._run(
            lambda c: self._claim(c, worker_id, pairs, queues, limit, now, lease_ms, max_recoveries)
        )

    def _claim(
        self,
        conn: Conn,
        worker_id: str,
        pairs: tuple[tuple[str, str], ...],
        queues: tuple[str, ...] | None,
        limit: int,
        now: int,
        lease_ms: int,
        max_recoveries: int,
    ) -> list[Claimed]:
        q, qparams = _queue_clause(queues)
        pair_sql = ", ".join("(?, ?)" for _ in pairs)
        pair_params = [x for pair in pairs for x in pair]
        lock = self.dialect.for_update + self.dialect.skip_locked
        # A lease is over at lease_expires_at, the time next_due reports for it.
        expired = self._all(
            conn,
            "SELECT id, recoveries, parent_id FROM workflows WHERE status = 'running'"
            f" AND lease_expires_at <= ?{q} AND (name, version) IN (VALUES {pair_sql})"
            f" ORDER BY lease_expires_at LIMIT ?{lock}",
            (now, *qparams, *pair_params, limit),
        )
        ids: list[str] = []
        for row in expired:
            if row["recoveries"] + 1 > max_recoveries:
                self._end(
                    conn,
                    row["id"],
                    row["parent_id"],
                    "failed",
                    None,
                    {
                        "type": "CrashLoop",
                        "message": (
                            f"the workflow's worker died {row['recoveries'] + 1} times while "
                            f"running it (max_recoveries={max_recoveries}); fix the cause, then "
                            "resume it"
                        ),
                    },
                    now,
                )
            else:
                ids.append(row["id"])
        if len(ids) < limit:  # ready ones, as the queues' limits allow (plait/store/limits.py)
            ids.extend(self._claim_ready(conn, queues, pairs, limit - len(ids), now))
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = self._all(
            conn,
            "UPDATE workflows SET"
            " recoveries = recoveries + (CASE WHEN status = 'running' THEN 1 ELSE 0 END),"
            " status = 'running', lease_owner = ?, lease_expires_at = ?, attempt = attempt + 1,"
            " cancel_requested = (CASE WHEN deadline_at IS NOT NULL AND deadline_at <= ?"
            " THEN 1 ELSE cancel_requested END), waiting_on = NULL, updated_at = ?"
            f" WHERE id IN ({marks})"
            " RETURNING id, name, version, input, attempt, cancel_requested, parent_id, queue",
            (worker_id, now + lease_ms, now, now, *ids),
        )
        journals: dict[str, list[Entry]] = {r["id"]: [] for r in rows}
        for j in self._all(
            conn,
            f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id IN ({marks})"
            " ORDER BY workflow_id, seq",
            ids,
        ):
            journals[j["workflow_id"]].append(_entry(j))
        return [
            Claimed(
                id=r["id"],
                name=r["name"],
                version=r["version"],
                input=r["input"],
                attempt=r["attempt"],
                cancel_requested=bool(r["cancel_requested"]),
                parent_id=r["parent_id"],
                queue=r["queue"],
                journal=journals[r["id"]],
            )
            for r in rows
        ]

    async def heartbeat(self, worker_id: str, now: int, lease_ms: int) -> set[str]:
        """Extends the worker's leases; returns the ids whose cancellation was requested."""

        def op(conn: Conn) -> set[str]:
            self._x(conn, "UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker_id))
            self._x(
                conn,
                "UPDATE workflows SET cancel_requested = 1 WHERE status = 'running'"
                " AND lease_owner = ? AND deadline_at IS NOT NULL AND deadline_at <= ?",
                (worker_id, now),
            )
            rows = self._all(
                conn,
                "UPDATE workflows SET lease_expires_at = ? WHERE status = 'running'"
                " AND lease_owner = ? RETURNING id, cancel_requested",
                (now + lease_ms, worker_id),
            )
            return {r["id"] for r in rows if r["cancel_requested"]}

        return await self._run(op)

    async def release(self, fence: Fence, now: int) -> None:
        await self._run(
            lambda c: self._x(
                c,
                "UPDATE workflows SET status = 'pending', lease_owner = NULL,"
                " lease_expires_at = NULL, available_at = ?, updated_at = ?"
                " WHERE id = ? AND attempt = ? AND status = 'running'",
                (now, now, fence.workflow_id, fence.attempt),
            )
        )

    def _set_status(
        self, conn: Conn, workflow_id: str, status: tuple[str | None, str | None] | None
    ) -> None:
        if status is not None:
            self._x(
                conn,
                "UPDATE workflows SET status_text = ?, attributes = ? WHERE id = ?",
                (status[0], status[1] or "{}", workflow_id),
            )

    async def record(
        self,
        fence: Fence,
        now: int,
        entries: list[Entry],
        attempts: list[Attempt],
        status: tuple[str | None, str | None] | None = None,
        updates: list[Entry] | None = None,
    ) -> bool:
        """Appends journal entries (and updates waiting ones) for a running workflow."""

        def op(conn: Conn) -> bool:
            cancel = self._fence(conn, fence, now)
            self._append(conn, fence, entries)
            for e in updates or ():
                self._update_entry(conn, fence, e)
            for a in attempts:
                self._x(
                    conn,
                    "INSERT INTO step_attempts (workflow_id, seq, attempt, started_at, ended_at,"
                    " error, worker_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (workflow_id, seq, attempt) DO NOTHING",
                    (
                        fence.workflow_id,
                        a.seq,
                        a.attempt,
                        a.started_at,
                        a.ended_at,
                        _j(a.error),
                        fence.attempt,
                    ),
                )
            self._set_status(conn, fence.workflow_id, status)
            return cancel

        return await self._run(op)

    async def wait(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        signals: tuple[str, ...],
        create: bool,
        suspend: bool = False,
        status: tuple[str | None, str | None] | None = None,
    ) -> WaitOutcome:
        """Finishes a wait now if it can (a signal, a passed deadline); else parks it, or with
        ``suspend`` (the run has nothing else in flight) suspends the workflow at once, in
        this transaction ("suspended")."""

        def op(conn: Conn) -> WaitOutcome:
            cancel = self._fence(conn, fence, now)
            self._append(conn, fence, [*pending, entry] if create else pending)
            if signals:
                marks = ", ".join("?" for _ in signals)
                sig = self._one(
                    conn,
                    "SELECT id, name, payload FROM signals WHERE workflow_id = ? AND"
                    f" consumed_seq IS NULL AND name IN ({marks}) ORDER BY id LIMIT 1",
                    (fence.workflow_id, *signals),
                )
                if sig is not None:
                    self._x(
                        conn,
                        "UPDATE signals SET consumed_seq = ? WHERE id = ?",
                        (entry.seq, sig["id"]),
                    )
                    done = dataclasses.replace(
                        entry,
                        status=EntryStatus.COMPLETED,
                        completed_at=now,
                        output=_j({"signal": sig["name"], "payload": sig["payload"]}),
                    )
                    self._update_entry(conn, fence, done)
                    return WaitOutcome("signal", sig["name"], sig["payload"])
            if entry.wake_at is not None and entry.wake_at <= now:
                state = "timeout" if signals else "elapsed"
                done = dataclasses.replace(
                    entry,
                    status=EntryStatus.COMPLETED,
                    completed_at=now,
                    output=_j({"timeout": True}) if signals else None,
                )
                self._update_entry(conn, fence, done)
                return WaitOutcome(state)
            if not suspend:
                return WaitOutcome("park")
            self._set_status(conn, fence.workflow_id, status)
            self._suspend(conn, fence, now, Wait(signals, entry.wake_at), cancel, checked=True)
            return WaitOutcome("suspended")

        return await self._run(op)

    async def start_child(
        self, fence: Fence, now: int, pending: list[Entry], entry: Entry, child: NewWorkflow
    ) -> str:
        def op(conn: Conn) -> str:
            self._fence(conn, fence, now)
            self._append(conn, fence, [*pending, entry])
            if self._insert_workflow(conn, child, now):
                details = {"name": child.name, "parent": fence.workflow_id}
                self._log_event(conn, child.id, WorkflowEventKind.STARTED, "system", details, now)
            return child.id

        return await self._run(op)

    async def suspend(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        wait: Wait,
        status: tuple[str | None, str | None] | None = None,
    ) -> None:
        def op(conn: Conn) -> None:
            cancel = self._fence(conn, fence, now)
            self._append(conn, fence, pending)
            self._set_status(conn, fence.workflow_id, status)
            self._suspend(conn, fence, now, wait, cancel)

        await self._run(op)

    def _suspend(
        self, conn: Conn, fence: Fence, now: int, wait: Wait, cancel: bool, checked: bool = False
    ) -> None:
        """Makes a fenced, running workflow wait for ``wait``, or ready again at once if what
        it waits for is already there (``checked``: the mailbox was just looked at)."""
        row = self._one(
            conn, "SELECT deadline_at FROM workflows WHERE id = ?", (fence.workflow_id,)
        )
        # A cancellation is delivered once: after the workflow has seen it (and caught
        # it), neither the request nor the passed deadline may wake it again.
        deadline = row["deadline_at"] if row is not None else None
        delivered = (cancel or deadline is not None) and (
            self._one(
                conn,
                "SELECT 1 AS x FROM journal WHERE workflow_id = ? AND status = 'cancelled' LIMIT 1",
                (fence.workflow_id,),
            )
            is not None
        )
        cancel = cancel and not delivered
        until = wait.until
        if deadline is not None and not delivered:
            until = deadline if until is None else min(until, deadline)
        ready = cancel
        if wait.signals and not ready and not checked:
            marks = ", ".join("?" for _ in wait.signals)
            ready = (
                self._one(
                    conn,
                    "SELECT 1 AS x FROM signals WHERE workflow_id = ? AND consumed_seq IS NULL"
                    f" AND name IN ({marks}) LIMIT 1",
                    (fence.workflow_id, *wait.signals),
                )
                is not None
            )
        waiting_on = {"signals": list(wait.signals), "until": wait.until}
        self._x(
            conn,
            "UPDATE workflows SET status = ?, available_at = ?, waiting_on = ?,"
            " lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
            (
                "pending" if ready else "waiting",
                now if ready else until,
                None if ready else _j(waiting_on),
                now,
                fence.workflow_id,
            ),
        )

    async def finish(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        status: WorkflowStatus,
        output: str | None,
        error: dict[str, Any] | None,
    ) -> None:
        def op(conn: Conn) -> None:
            self._fence(conn, fence, now)
            self._append(conn, fence, pending)
            row = self._one(
                conn, "SELECT parent_id FROM workflows WHERE id = ?", (fence.workflow_id,)
            )
            self._end(
                conn,
                fence.workflow_id,
                row["parent_id"] if row else None,
                str(status),
                output,
                error,
                now,
            )

        await self._run(op)

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
        final = status in FINISHED
        self._x(
            conn,
            "UPDATE workflows SET status = ?, output = ?, error = ?, lease_owner = NULL,"
            " lease_expires_at = NULL, available_at = NULL, waiting_on = NULL,"
            " completed_at = ?, updated_at = ? WHERE id = ?",
            (status, output, _j(error), now if final else None, now, workflow_id),
        )
        if status in ("completed", "cancelled"):  # failed and blocked ones may be resumed
            self._cancel_workflow_tasks(conn, workflow_id, now, f"the workflow {status}")
        if final and parent_id is not None:
            parent = self._one(
                conn,
                f"SELECT id, status, waiting_on FROM workflows WHERE id = ?"
                f"{self.dialect.for_update}",
                (parent_id,),
            )
            if parent is not None and parent["status"] not in FINISHED:
                payload = _j({"status": status, "output": output, "error": error})
                self._deliver(
                    conn,
                    parent,
                    CHILD_SIGNAL + workflow_id,
                    payload,
                    f"{END_DEDUP}{workflow_id}:{now}",
                    now,
                )


def _queue_clause(queues: tuple[str, ...] | None) -> tuple[str, list[object]]:
    if not queues:
        return "", []
    return f" AND queue IN ({', '.join('?' for _ in queues)})", list(queues)


def _entry(r: Row) -> Entry:
    return Entry(
        seq=r["seq"],
        kind=r["kind"],
        name=r["name"],
        status=r["status"],
        output=r["output"],
        error=_unj(r["error"]),
        wake_at=r["wake_at"],
        attempts=r["attempts"],
        started_at=r["started_at"],
        completed_at=r["completed_at"],
        fingerprint=r["fingerprint"],
    )


def _step_record(r: Row) -> StepRecord:
    return StepRecord(
        workflow_id=r["workflow_id"],
        seq=r["seq"],
        kind=r["kind"],
        name=r["name"],
        status=EntryStatus(r["status"]),
        output=_unj(r["output"]),
        error=ErrorInfo.from_json(_unj(r["error"])),
        wake_at=ms_to_datetime(r["wake_at"]),
        attempts=r["attempts"],
        worker_attempt=r["worker_attempt"],
        started_at=ms_to_datetime(r["started_at"]),  # type: ignore[arg-type]
        completed_at=ms_to_datetime(r["completed_at"]),
        fingerprint=r["fingerprint"],
    )


def _info(r: Row) -> WorkflowInfo:
    return WorkflowInfo(
        id=r["id"],
        name=r["name"],
        version=r["version"],
        status=WorkflowStatus(r["status"]),
        queue=r["queue"],
        priority=r["priority"],
        created_at=ms_to_datetime(r["created_at"]),  # type: ignore[arg-type]
        updated_at=ms_to_datetime(r["updated_at"]),  # type: ignore[arg-type]
        completed_at=ms_to_datetime(r["completed_at"]),
        parent_id=r["parent_id"],
        attempt=r["attempt"],
        recoveries=r["recoveries"],
        cancel_requested=bool(r["cancel_requested"]),
        error=ErrorInfo.from_json(_unj(r["error"])),
        waiting_on=_unj(r["waiting_on"]),
        available_at=ms_to_datetime(r["available_at"]),
        status_text=r["status_text"],
        attributes=_unj(r["attributes"]) or {},
        concurrency_key=r["concurrency_key"],
        lease_owner=r["lease_owner"],
        input=r["input"],
        output=r["output"],
        subject=r["subject"],
    )
