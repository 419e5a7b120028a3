"""The workers' operations: registering, leases, and a running workflow's writes (the claim
is in :mod:`plait.store.claims`).

:class:`SQLRuns` is a part of :class:`~plait.store.sql.SQLStore` (the hooks between the parts
are declared in :mod:`plait.store.sqlbase`). Each public coroutine is one transaction; ``record``,
``wait``, ``suspend`` and ``claim`` are the hot path, so each runs the fewest statements it can.

Invariants kept here:
- Every write for a running workflow starts with the fence (``_fence``): it checks the
  claimed ``attempt`` still holds the lease, takes the row lock, and returns
  ``cancel_requested``. Zero rows means the lease was lost: nothing is written.
- A wait finishes in its own transaction when it can (a signal in the mailbox, a passed
  time); a workflow suspends waiting only after its mailbox was looked at under its row lock,
  so a signal sent meanwhile always wakes it (no lost wake-up).
- A cancellation is delivered once: after the workflow has recorded it, neither the request
  nor a passed deadline wakes it again.
- Lock order is parent before child, workflow row before anything else. A workflow's end
  (completed, failed, cancelled) is delivered to its parent's mailbox in the same transaction.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from plait.store.executor import Batched, Later, Pipelined
from plait.store.records import (
    Attempt,
    Entry,
    Fence,
    LeaseLostError,
    NewWorkflow,
    Wait,
    WaitOutcome,
)
from plait.store.sqlbase import Conn, SQLBase, dump_json, queue_clause
from plait.types import EntryStatus, WorkflowEventKind


class SQLRuns(SQLBase):
    """The operations of workers and of running workflows (a part of ``SQLStore``)."""

    async def next_due(self, queues: tuple[str, ...] | None) -> int | None:
        def send(conn: Conn) -> Callable[[], int | None]:
            q, params = queue_clause(queues)
            ready = self._send_next_ready(conn, queues)  # as the queues' limits allow
            lease = self._x(
                conn,
                f"SELECT min(lease_expires_at) AS t FROM workflows WHERE status = 'running'{q}",
                params,
            )

            def receive() -> int | None:
                first = ready()
                row = lease.fetchone()
                times = [t for t in (first, row and row["t"]) if t is not None]
                return min(times) if times else None

            return receive

        # pipelined: the queues' limits and the leases are read in one round trip
        return await self._run(Pipelined(send), write=False)

    # -- workers and leases--------------------------------------------------------------------
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
                    dump_json(info),
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
        if entries and not attempts and not updates and status is None:
            # a step's result, the common case: run with the batch's others
            if not self.dialect.writes_in_with:
                return await self._run(Batched(self._record_many, (fence, now, entries)))
            return await self._run(
                Pipelined(
                    functools.partial(
                        self._send_fenced_append, fence=fence, now=now, entries=entries
                    ),
                    recover=functools.partial(self._recover_append, fence, entries),
                )
            )

        def op(conn: Conn) -> bool:
            cancel = self._fence_append(conn, fence, now, entries)[0]
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
                        dump_json(a.error),
                        fence.attempt,
                    ),
                )
            self._set_status(conn, fence.workflow_id, status)
            return cancel

        return await self._run(op)

    def _recover_append(
        self, fence: Fence, entries: Sequence[Entry], conn: Conn
    ) -> tuple[bool, object]:
        """Whether ``_send_fenced_append``'s entries were written by this attempt (the
        batch's link broke after its COMMIT was sent), and then what it returns (whether
        cancellation was requested), read now; else the ``LeaseLostError`` it raises when
        it writes nothing."""
        written = self._one(
            conn,
            "SELECT w.cancel_requested FROM journal j JOIN workflows w ON w.id = j.workflow_id"
            " WHERE j.workflow_id = ? AND j.seq = ? AND j.worker_attempt = ?",
            (fence.workflow_id, entries[0].seq, fence.attempt),
        )
        if written is None:
            lost = LeaseLostError(
                f"attempt {fence.attempt} of workflow {fence.workflow_id!r} lost its lease"
            )
            return False, lost
        return True, bool(written["cancel_requested"])

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

        def send(conn: Conn) -> Callable[[], WaitOutcome | Later]:
            entries = [*pending, entry] if create else pending
            read = self._send_fence_entries(conn, fence, now, entries)
            sig_cur = None
            if signals:  # sent after the fence: read under the row lock
                marks = ", ".join("?" for _ in signals)
                first = (
                    "FROM signals WHERE workflow_id = ? AND consumed_seq IS NULL"
                    f" AND name IN ({marks}) ORDER BY id LIMIT 1"
                )
                if self.dialect.writes_in_with:
                    # Found and consumed in one statement (a found signal is always
                    # consumed). If the fence fails, the operation fails and this is undone:
                    # only the lease holder's consumption commits.
                    sig_cur = self._x(
                        conn,
                        f"UPDATE signals SET consumed_seq = ? WHERE id = (SELECT id {first})"
                        " RETURNING id, name, payload",
                        (entry.seq, fence.workflow_id, *signals),
                    )
                else:
                    sig_cur = self._x(
                        conn,
                        f"SELECT id, name, payload {first}",
                        (fence.workflow_id, *signals),
                    )
            return lambda: self._waited(
                conn, fence, now, entry, signals, suspend, status, read, sig_cur
            )

        # pipelined: the fence, the entries and the mailbox read go out together
        return await self._run(Pipelined(send))

    def _waited(
        self,
        conn: Conn,
        fence: Fence,
        now: int,
        entry: Entry,
        signals: tuple[str, ...],
        suspend: bool,
        status: tuple[str | None, str | None] | None,
        read: Callable[[], tuple[bool, tuple[int | None] | None]],
        sig_cur: Any,
    ) -> WaitOutcome | Later:
        """The receive half of ``wait``."""
        cancel, deadline = read()
        sig = sig_cur.fetchone() if sig_cur is not None else None
        if sig is not None:
            if not self.dialect.writes_in_with:  # else consumed by the statement that found it
                self._x(
                    conn,
                    "UPDATE signals SET consumed_seq = ? WHERE id = ?",
                    (entry.seq, sig["id"]),
                )
            done = dataclasses.replace(
                entry,
                status=EntryStatus.COMPLETED,
                completed_at=now,
                output=dump_json({"signal": sig["name"], "payload": sig["payload"]}),
            )
            return self._complete(
                conn, fence, done, WaitOutcome("signal", sig["name"], sig["payload"])
            )
        if entry.wake_at is not None and entry.wake_at <= now:
            state = "timeout" if signals else "elapsed"
            done = dataclasses.replace(
                entry,
                status=EntryStatus.COMPLETED,
                completed_at=now,
                output=dump_json({"timeout": True}) if signals else None,
            )
            return self._complete(conn, fence, done, WaitOutcome(state))
        if not suspend:
            return WaitOutcome("park")
        self._set_status(conn, fence.workflow_id, status)
        wait = Wait(signals, entry.wake_at)
        cur = self._suspend(conn, fence, now, wait, cancel, checked=True, deadline=deadline)
        if not self.dialect.writes_in_with:
            return WaitOutcome("suspended")

        def check() -> WaitOutcome:  # as in _complete: a claim may have come in between
            if cur.fetchone() is None:
                raise LeaseLostError(
                    f"attempt {fence.attempt} of workflow {fence.workflow_id!r} lost its lease"
                )
            return WaitOutcome("suspended")

        return Later(check)

    def _complete(
        self, conn: Conn, fence: Fence, done: Entry, outcome: WaitOutcome
    ) -> WaitOutcome | Later:
        """Records the wait's entry ``done`` (completed); returns ``outcome``. Pipelined
        (PostgreSQL), this runs after the batch sent every operation's first half: a claim
        among them may have taken the lease over since this operation's fence (a worker
        taking back its own expired lease), so the UPDATE checks the attempt again, and a
        stale one fails the operation (the batch then runs again operation by operation)."""
        if not self.dialect.writes_in_with:
            self._update_entry(conn, fence, done)
            return outcome
        cur = self._x(
            conn,
            "UPDATE journal SET status = ?, output = ?, error = ?, completed_at = ?,"
            " worker_attempt = ? WHERE workflow_id = ? AND seq = ? AND EXISTS (SELECT 1 FROM"
            " workflows w WHERE w.id = ? AND w.attempt = ? AND w.status = 'running')"
            " RETURNING seq",
            (
                done.status,
                done.output,
                dump_json(done.error),
                done.completed_at,
                fence.attempt,
                fence.workflow_id,
                done.seq,
                fence.workflow_id,
                fence.attempt,
            ),
        )

        def check() -> WaitOutcome:
            if cur.fetchone() is None:
                raise LeaseLostError(
                    f"attempt {fence.attempt} of workflow {fence.workflow_id!r} lost its lease"
                )
            return outcome

        return Later(check)

    async def start_child(
        self, fence: Fence, now: int, pending: list[Entry], entry: Entry, child: NewWorkflow
    ) -> str:
        def op(conn: Conn) -> str:
            self._fence_append(conn, fence, now, [*pending, entry])
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
            cancel, deadline = self._fence_append(conn, fence, now, pending)
            self._set_status(conn, fence.workflow_id, status)
            self._suspend(conn, fence, now, wait, cancel, deadline=deadline)

        await self._run(op)

    def _suspend(
        self,
        conn: Conn,
        fence: Fence,
        now: int,
        wait: Wait,
        cancel: bool,
        checked: bool = False,
        deadline: tuple[int | None] | None = None,
    ) -> Any:
        """Makes a fenced, running workflow wait for ``wait``, or ready again at once if what
        it waits for is already there (``checked``: the mailbox was just looked at;
        ``deadline``: the workflow's ``deadline_at``, if the fence read it). The UPDATE
        checks the attempt again; on PostgreSQL its cursor returns the row's id when it
        wrote (the pipelined wait reads it: nothing is written for a stale attempt)."""
        if deadline is None:
            row = self._one(
                conn, "SELECT deadline_at FROM workflows WHERE id = ?", (fence.workflow_id,)
            )
            deadline = (row["deadline_at"] if row is not None else None,)
        # A cancellation is delivered once: after the workflow has seen it (and caught
        # it), neither the request nor the passed deadline may wake it again.
        deadline_at = deadline[0]
        delivered = (cancel or deadline_at is not None) and (
            self._one(
                conn,
                "SELECT 1 AS x FROM journal WHERE workflow_id = ? AND status = 'cancelled' LIMIT 1",
                (fence.workflow_id,),
            )
            is not None
        )
        cancel = cancel and not delivered
        until = wait.until
        if deadline_at is not None and not delivered:
            until = deadline_at if until is None else min(until, deadline_at)
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
        returning = " RETURNING id" if self.dialect.writes_in_with else ""
        return self._x(
            conn,
            "UPDATE workflows SET status = ?, available_at = ?, waiting_on = ?,"
            " lease_owner = NULL, lease_expires_at = NULL, updated_at = ?"
            f" WHERE id = ? AND attempt = ?{returning}",
            (
                "pending" if ready else "waiting",
                now if ready else until,
                None if ready else dump_json(waiting_on),
                now,
                fence.workflow_id,
                fence.attempt,
            ),
        )
