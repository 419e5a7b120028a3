"""Human tasks in the store: the task table, its audit trail, and its deadlines.

:class:`SQLTasks` is a part of :class:`~plait.store.sql.SQLStore`; like the rest of the
store, each public coroutine is one transaction and the SQL is portable.

Invariants kept here:
- Lock order is the workflow row, then the task row, in every transaction that touches a
  task (``_fence`` for the running workflow, ``_require`` for a client), as for signals.
- A task is created in the same transaction as its journal entry; its id is
  ``"<workflow id>:<seq>"``.
- An answer is accepted only by ``UPDATE human_tasks ... WHERE id = ? AND status = 'open'``
  and is put in the workflow's mailbox (signal ``plait:task:<id>``) in that transaction, so
  of two people answering at once exactly one wins, and no answer is lost.
- Deadlines are a function of what the creating transaction wrote (``due_at``, the
  ``on_timeout`` policy, the reminder offsets) and of the clock. Each transition (reminded,
  escalated, expired) is applied once, with its event, by whichever transaction holding the
  workflow row first sees it due; the workflow's journal entry records only the outcome, so
  a replay never repeats a transition.
- Cancelling a workflow, or its completion, cancels its open tasks in the same transaction.
- A completed task is re-opened (``reopen_task``) only by its running workflow, fenced, when
  the answer no longer decodes into the form and nothing in the journal was started after
  the answer was received; the answer stays in the ``reopened`` event.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from plait.errors import (
    InvalidState,
    TaskNotFound,
)
from plait.store.records import (
    TASK_SIGNAL,
    Actor,
    Entry,
    Fence,
    NewTask,
    TaskEventRow,
    TaskFilter,
    TaskOutcome,
    TaskRow,
)
from plait.store.rows import entry as entry_of
from plait.store.sqlbase import JOURNAL_COLUMNS, Conn, Row, SQLBase
from plait.store.taskrows import (
    TASK_COLUMNS,
    check_actor,
    dumps,
    iso,
    next_reminder,
    not_open,
    task_row,
)
from plait.types import EntryStatus

T = TypeVar("T")


class SQLTasks(SQLBase):
    """The human-task operations of a SQL store (a part of ``SQLStore``)."""

    # -- the workflow's side (fenced) ----------------------------------------------------
    async def wait_task(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        new: NewTask | None,
        deliver_cancel: bool,
    ) -> TaskOutcome:
        """Creates the task (when ``new`` is given, with its journal entry), then finishes
        the wait if it can: the answer in the mailbox, a passed deadline, a cancellation.
        Records reminders and escalations that are due on the way."""

        def op(conn: Conn) -> TaskOutcome:
            cancel = self._fence(conn, fence, now)
            task_id = f"{fence.workflow_id}:{entry.seq}"
            if cancel and deliver_cancel:  # cancelled since the run began: deliver it here
                mark = dataclasses.replace(entry, status=EntryStatus.CANCELLED, completed_at=now)
                if new is None:
                    self._append(conn, fence, pending)
                    self._update_entry(conn, fence, mark)
                else:
                    self._append(conn, fence, [*pending, mark])
                self._cancel_tasks(conn, "id", task_id, now, "the workflow was cancelled")
                return TaskOutcome("cancelled")
            if new is None:
                self._append(conn, fence, pending)
            else:
                self._append(conn, fence, [*pending, entry])
                self._create_task(conn, new, now)
            task = self._task(conn, task_id)
            if task is None:
                raise InvalidState(
                    f"the journal of workflow {fence.workflow_id!r} waits for human task "
                    f"{task_id!r}, which does not exist"
                )
            answer = self._one(
                conn,
                "SELECT id, payload FROM signals WHERE workflow_id = ? AND name = ?"
                " AND consumed_seq IS NULL ORDER BY id LIMIT 1",
                (fence.workflow_id, TASK_SIGNAL + task_id),
            )
            if answer is not None:
                self._x(
                    conn,
                    "UPDATE signals SET consumed_seq = ? WHERE id = ?",
                    (entry.seq, answer["id"]),
                )
                return self._settle(conn, fence, entry, now, "completed", answer["payload"])
            task = self._advance(conn, task, now, remind=True)
            if task.status == "cancelled":
                mark = dataclasses.replace(entry, status=EntryStatus.CANCELLED, completed_at=now)
                self._update_entry(conn, fence, mark)
                return TaskOutcome("cancelled")
            if task.status == "expired":
                state = "expired" if task.answer is None else "default"
                return self._settle(conn, fence, entry, now, state, task.answer)
            if task.status == "completed":  # answered, but the answer was consumed: re-read
                return self._settle(conn, fence, entry, now, "completed", task.answer)
            times = [t for t in (task.due_at, task.remind_at) if t is not None]
            wake = min(times) if times else None
            self._x(
                conn,
                "UPDATE journal SET wake_at = ? WHERE workflow_id = ? AND seq = ?",
                (wake, fence.workflow_id, entry.seq),
            )
            return TaskOutcome("park", wake_at=wake)

        return await self._run(op)

    async def reopen_task(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        seq: int,
        errors: list[tuple[str, str]],
    ) -> Entry | None:
        """Re-opens the completed task of the wait at ``seq`` whose answer does not decode
        into the form any more: the task is open again, its journal entry waiting, and a
        ``reopened`` event keeps the answer and ``errors``. Returns the waiting entry, or
        ``None`` (nothing written but ``pending``) when the task is not completed or the
        workflow has gone on since it received the answer."""

        def op(conn: Conn) -> Entry | None:
            self._fence(conn, fence, now)
            task_id = f"{fence.workflow_id}:{seq}"
            row = self._one(
                conn,
                f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id = ? AND seq = ?",
                (fence.workflow_id, seq),
            )
            task = self._task(conn, task_id)
            # Entries started after the answer was received were computed from it: the
            # workflow cannot take another answer without changing what it recorded.
            later = row is not None and self._one(
                conn,
                "SELECT 1 AS x FROM journal WHERE workflow_id = ? AND seq > ?"
                " AND started_at >= ? LIMIT 1",
                (fence.workflow_id, seq, row["completed_at"] or 0),
            )
            self._append(conn, fence, pending)
            if row is None or later or task is None or task.status != "completed":
                return None
            waiting = dataclasses.replace(
                entry_of(row), status=EntryStatus.WAITING, output=None, completed_at=None
            )
            self._update_entry(conn, fence, waiting)
            remind_at = next_reminder(task.due_at, json.loads(task.remind_offsets), now)
            self._x(
                conn,
                "UPDATE human_tasks SET status = 'open', answer = NULL, changes = NULL,"
                " completed_by = NULL, comment = NULL, completed_at = NULL, remind_at = ?,"
                " updated_at = ? WHERE id = ?",
                (remind_at, now, task_id),
            )
            payload: dict[str, Any] = {
                "errors": [{"field": field, "why": why} for field, why in errors],
                "answer": task.answer,
                "answered_by": task.completed_by,
            }
            if task.comment is not None:
                payload["comment"] = task.comment
            self._event(conn, task_id, fence.workflow_id, "reopened", None, now, payload)
            return waiting

        return await self._run(op)

    def _settle(
        self, conn: Conn, fence: Fence, entry: Entry, now: int, state: str, payload: str | None
    ) -> TaskOutcome:
        output = dumps({"outcome": state, "payload": payload})
        done = dataclasses.replace(
            entry, status=EntryStatus.COMPLETED, completed_at=now, output=output
        )
        self._update_entry(conn, fence, done)
        return TaskOutcome(state, output=output)

    def _create_task(self, conn: Conn, new: NewTask, now: int) -> None:
        remind_at = next_reminder(new.due_at, new.remind_offsets, now)
        values = (
            new.workflow_id,
            new.seq,
            new.title,
            new.assignee,
            new.form_name,
            new.form_schema,
            new.proposal,
            new.context,
            dumps(new.on_timeout),
            dumps(list(new.remind_offsets)),
            new.due_at,
            remind_at,
            now,
            now,
        )
        # A task exists already only when resume() discarded the journal entry of a wait
        # that failed the workflow (a deadline): asking again reopens it.
        reopened = self._one(conn, "SELECT id FROM human_tasks WHERE id = ?", (new.id,))
        if reopened is None:
            self._x(
                conn,
                "INSERT INTO human_tasks (workflow_id, seq, title, assignee, form_name,"
                " form_schema, proposal, context, on_timeout, remind_offsets, due_at,"
                " remind_at, created_at, updated_at, id, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
                (*values, new.id),
            )
        else:
            self._x(
                conn,
                "UPDATE human_tasks SET workflow_id = ?, seq = ?, title = ?, assignee = ?,"
                " form_name = ?, form_schema = ?, proposal = ?, context = ?, on_timeout = ?,"
                " remind_offsets = ?, due_at = ?, remind_at = ?, created_at = ?,"
                " updated_at = ?, status = 'open', claimed_by = NULL, answer = NULL,"
                " changes = NULL, completed_by = NULL, comment = NULL, completed_at = NULL"
                " WHERE id = ?",
                (*values, new.id),
            )
        payload: dict[str, Any] = {"assignee": new.assignee, "due_at": iso(new.due_at)}
        if reopened is not None:
            payload["reopened"] = True
        self._event(conn, new.id, new.workflow_id, "created", None, now, payload)

    def _advance(self, conn: Conn, task: TaskRow, now: int, *, remind: bool) -> TaskRow:
        """Applies the deadline transitions due at ``now`` (escalations, expiry) and, when
        ``remind``, the reminder due; each one with its event. The workflow row is locked."""
        offsets: list[int] = json.loads(task.remind_offsets)
        while task.status == "open" and task.due_at is not None and task.due_at <= now:
            policy = json.loads(task.on_timeout)
            if policy["kind"] == "escalate":
                due = task.due_at + int(policy["due"])
                remind_at = next_reminder(due, offsets, now)
                self._x(
                    conn,
                    "UPDATE human_tasks SET assignee = ?, claimed_by = NULL, due_at = ?,"
                    " remind_at = ?, on_timeout = ?, updated_at = ? WHERE id = ?",
                    (policy["to"], due, remind_at, dumps(policy["then"]), now, task.id),
                )
                self._event(
                    conn,
                    task.id,
                    task.workflow_id,
                    "escalated",
                    None,
                    now,
                    {"from": task.assignee, "to": policy["to"], "due_at": iso(due)},
                )
                task = dataclasses.replace(
                    task,
                    assignee=policy["to"],
                    claimed_by=None,
                    due_at=due,
                    remind_at=remind_at,
                    on_timeout=dumps(policy["then"]),
                    updated_at=now,
                )
                continue
            default = policy.get("value") if policy["kind"] == "default" else None
            self._x(
                conn,
                "UPDATE human_tasks SET status = 'expired', answer = ?, remind_at = NULL,"
                " completed_at = ?, updated_at = ? WHERE id = ?",
                (default, now, now, task.id),
            )
            self._event(
                conn,
                task.id,
                task.workflow_id,
                "expired",
                None,
                now,
                {"due_at": iso(task.due_at), "default": policy["kind"] == "default"},
            )
            task = dataclasses.replace(
                task,
                status="expired",
                answer=default,
                remind_at=None,
                completed_at=now,
                updated_at=now,
            )
        reminder_due = task.remind_at is not None and task.remind_at <= now
        if remind and task.status == "open" and reminder_due:  # missed reminders make one event
            remind_at = next_reminder(task.due_at, offsets, now)
            self._x(
                conn,
                "UPDATE human_tasks SET remind_at = ?, updated_at = ? WHERE id = ?",
                (remind_at, now, task.id),
            )
            self._event(
                conn,
                task.id,
                task.workflow_id,
                "reminded",
                None,
                now,
                {"assignee": task.assignee, "due_at": iso(task.due_at)},
            )
            task = dataclasses.replace(task, remind_at=remind_at, updated_at=now)
        return task

    def _cancel_tasks(self, conn: Conn, column: str, value: str, now: int, reason: str) -> None:
        """Cancels the open tasks whose ``column`` (``id`` or ``workflow_id``) is ``value``;
        the caller holds the workflow row."""
        assert column in ("id", "workflow_id")
        rows = self._all(
            conn,
            f"SELECT id, workflow_id FROM human_tasks WHERE {column} = ? AND status = 'open'"
            " ORDER BY seq",
            (value,),
        )
        for r in rows:
            self._x(
                conn,
                "UPDATE human_tasks SET status = 'cancelled', remind_at = NULL,"
                " completed_at = ?, updated_at = ? WHERE id = ?",
                (now, now, r["id"]),
            )
            self._event(conn, r["id"], r["workflow_id"], "cancelled", None, now, {"reason": reason})

    def _cancel_workflow_tasks(self, conn: Conn, workflow_id: str, now: int, reason: str) -> None:
        """Hook (see ``SQLBase``) for ``SQLClients.cancel`` and ``SQLEnds._end``: cancels the
        workflow's open tasks."""
        self._cancel_tasks(conn, "workflow_id", workflow_id, now, reason)

    # -- clients -----------------------------------------------------------------------
    async def get_task(self, task_id: str) -> TaskRow | None:
        return await self._run(lambda c: self._task(c, task_id), write=False)

    async def list_tasks(self, flt: TaskFilter) -> list[TaskRow]:
        where: list[str] = []
        params: list[object] = []
        if flt.status:
            where.append(f"status IN ({', '.join('?' for _ in flt.status)})")
            params.extend(flt.status)
        if flt.assignees:
            where.append(f"assignee IN ({', '.join('?' for _ in flt.assignees)})")
            params.extend(flt.assignees)
        if flt.workflow_id is not None:
            where.append("workflow_id = ?")
            params.append(flt.workflow_id)
        overdue = "(status = 'open' AND due_at IS NOT NULL AND due_at < ?)"
        if flt.overdue is not None:
            where.append(overdue if flt.overdue else f"NOT {overdue}")
            params.append(flt.now)
        sql = f"SELECT {TASK_COLUMNS} FROM human_tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = "created_at, workflow_id, seq"
        if flt.urgent:  # overdue ones first, the most overdue first; then the oldest
            # (no NULL in the keys: the dialects sort NULLs at opposite ends)
            order = f"CASE WHEN {overdue} THEN 0 ELSE 1 END, CASE WHEN {overdue} THEN due_at"
            order += " ELSE 0 END, created_at, workflow_id, seq"
            params.extend((flt.now, flt.now))
        sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
        params.extend((flt.limit, flt.offset))
        rows = await self._run(lambda c: self._all(c, sql, params), write=False)
        return [task_row(r) for r in rows]

    async def complete_task(
        self,
        task_id: str,
        answer: str,
        changes: str | None,
        changed: list[str],
        actor: Actor,
        comment: str | None,
        now: int,
    ) -> TaskRow:
        """Records the answer and delivers it to the workflow, or raises and writes nothing."""

        def op(conn: Conn) -> TaskRow:
            workflow, task = self._open_task(conn, task_id, now, actor, "complete", claims=True)
            cur = self._x(
                conn,
                "UPDATE human_tasks SET status = 'completed', answer = ?, changes = ?,"
                " completed_by = ?, comment = ?, remind_at = NULL, completed_at = ?,"
                " updated_at = ? WHERE id = ? AND status = 'open'",
                (answer, changes, actor.name, comment, now, now, task_id),
            )
            if cur.rowcount != 1:
                current = self._task(conn, task_id)
                raise not_open(current or task)
            payload: dict[str, Any] = {"changed": changed}
            if comment is not None:
                payload["comment"] = comment
            self._event(conn, task_id, task.workflow_id, "completed", actor.name, now, payload)
            self._deliver(conn, workflow, TASK_SIGNAL + task_id, answer, None, now)
            done = self._task(conn, task_id)
            assert done is not None
            return done

        return await self._run(op)

    async def claim_task(self, task_id: str, actor: Actor, now: int) -> TaskRow:
        def op(conn: Conn) -> TaskRow:
            _, task = self._open_task(conn, task_id, now, actor, "claim", claims=True)
            if task.claimed_by == actor.name:
                return task
            self._x(
                conn,
                "UPDATE human_tasks SET claimed_by = ?, updated_at = ? WHERE id = ?",
                (actor.name, now, task_id),
            )
            self._event(
                conn,
                task_id,
                task.workflow_id,
                "claimed",
                actor.name,
                now,
                {"previous": task.claimed_by} if task.claimed_by else {},
            )
            return dataclasses.replace(task, claimed_by=actor.name, updated_at=now)

        return await self._run(op)

    async def reassign_task(self, task_id: str, to: str, actor: Actor, now: int) -> TaskRow:
        def op(conn: Conn) -> TaskRow:
            _, task = self._open_task(conn, task_id, now, actor, "reassign", claims=False)
            if task.assignee == to and task.claimed_by is None:
                return task
            self._x(
                conn,
                "UPDATE human_tasks SET assignee = ?, claimed_by = NULL, updated_at = ?"
                " WHERE id = ?",
                (to, now, task_id),
            )
            self._event(
                conn,
                task_id,
                task.workflow_id,
                "reassigned",
                actor.name,
                now,
                {"from": task.assignee, "to": to},
            )
            return dataclasses.replace(task, assignee=to, claimed_by=None, updated_at=now)

        return await self._run(op)

    async def task_events(
        self,
        task_id: str | None,
        workflow_id: str | None,
        kinds: tuple[str, ...],
        after: int | None,
        limit: int,
    ) -> list[TaskEventRow]:
        where: list[str] = []
        params: list[object] = []
        if task_id is not None:
            where.append("task_id = ?")
            params.append(task_id)
        if workflow_id is not None:
            where.append("workflow_id = ?")
            params.append(workflow_id)
        if kinds:
            where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
            params.extend(kinds)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        sql = "SELECT id, task_id, workflow_id, kind, actor, at, payload FROM task_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        rows = await self._run(lambda c: self._all(c, sql, params), write=False)
        return [
            TaskEventRow(
                id=r["id"],
                task_id=r["task_id"],
                workflow_id=r["workflow_id"],
                kind=r["kind"],
                actor=r["actor"],
                at=r["at"],
                payload=json.loads(r["payload"]),
            )
            for r in rows
        ]

    # -- helpers -----------------------------------------------------------------------
    def _task(self, conn: Conn, task_id: str) -> TaskRow | None:
        row = self._one(conn, f"SELECT {TASK_COLUMNS} FROM human_tasks WHERE id = ?", (task_id,))
        return None if row is None else task_row(row)

    def _open_task(
        self, conn: Conn, task_id: str, now: int, actor: Actor, action: str, *, claims: bool
    ) -> tuple[Row, TaskRow]:
        """Locks the task's workflow row, then reads the task, applies deadlines that have
        passed, and checks that it is open and that ``actor`` may ``action`` it."""
        found = self._one(conn, "SELECT workflow_id FROM human_tasks WHERE id = ?", (task_id,))
        if found is None:
            raise TaskNotFound(f"no human task {task_id!r} in {self.url}")
        workflow = self._require(conn, found["workflow_id"])  # lock order: workflow first
        task = self._task(conn, task_id)
        assert task is not None  # tasks go only with their workflow, whose row we hold
        task = self._advance(conn, task, now, remind=False)
        if task.status != "open":
            raise not_open(task)
        check_actor(task, actor, action, claims=claims)
        return workflow, task

    def _event(
        self,
        conn: Conn,
        task_id: str,
        workflow_id: str,
        kind: str,
        actor: str | None,
        now: int,
        payload: dict[str, Any],
    ) -> None:
        self._x(
            conn,
            "INSERT INTO task_events (task_id, workflow_id, kind, actor, at, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (task_id, workflow_id, kind, actor, now, dumps(payload)),
        )
