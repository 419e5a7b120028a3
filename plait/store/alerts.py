"""Alerts in the store: finding the events to alert on, and the outbox they are sent from.

:class:`SQLAlerts` is a part of :class:`~plait.store.sql.SQLStore`. Each public coroutine is
one transaction; the SQL is portable. Nothing here runs on a workflow's path: workers call
these now and then (``plait/alerts/runner.py``), reading through partial indexes that only
failed and blocked workflows, open tasks with a deadline and expiry/escalation events enter.

Invariants kept here:
- An event is added once: ``alerts`` is unique on ``(kind, subject, channel)`` and rows are
  inserted with ``ON CONFLICT DO NOTHING``, so scanners on any number of workers, scanning
  overlapping windows, add each event once per channel. The subject names the event, not
  the thing: a workflow's failure in one attempt of one run (``<id>@<run>.<attempt>``; a
  resumed workflow that fails again is a new event), a task's passed deadline
  (``<task>@<due>``, the same whether the deadline was seen passing or the task expired),
  an escalation (``<task>#<event id>``).
- A pending row is sent by one sender at a time: a claim takes it (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL; SQLite serializes write transactions), moves ``next_at`` past a
  lease and bumps ``attempts``; a sender settles it only with the count it claimed it with,
  so a sender whose lease ran out (and whose row another took) cannot mark it.
- The scan mark only moves forward (``alert_marks``).
"""

from __future__ import annotations

from typing import Any

from plait.store.records import AlertEvent, AlertRow, NewAlert
from plait.store.sqlbase import Conn, Row, SQLBase, load_json

_COLUMNS = (
    "id, kind, subject, channel, workflow_id, workflow_name, task_id, message, at, "
    "created_at, status, attempts, next_at, sent_at, last_error"
)
_MARK = "scan"


def _details(text: str | None) -> dict[str, Any]:
    try:
        value = load_json(text)
    except ValueError:
        return {"type": "Error", "message": "(the error could not be read)"}
    return value if isinstance(value, dict) else {}


def _row(r: Row) -> AlertRow:
    return AlertRow(
        id=int(r["id"]),
        kind=r["kind"],
        subject=r["subject"],
        channel=r["channel"],
        workflow_id=r["workflow_id"],
        workflow_name=r["workflow_name"],
        task_id=r["task_id"],
        message=r["message"],
        at=int(r["at"]),
        created_at=int(r["created_at"]),
        status=r["status"],
        attempts=int(r["attempts"]),
        next_at=int(r["next_at"]),
        sent_at=None if r["sent_at"] is None else int(r["sent_at"]),
        last_error=r["last_error"],
    )


class SQLAlerts(SQLBase):
    """The alert scan and outbox of a SQL store (a part of ``SQLStore``)."""

    async def alert_mark(self) -> int | None:
        """How far the scanners have looked (epoch ms), or ``None`` before the first scan."""
        row = await self._run(
            lambda c: self._one(c, "SELECT at FROM alert_marks WHERE name = ?", (_MARK,)),
            write=False,
        )
        return None if row is None else int(row["at"])

    async def alert_events(self, since: int, now: int) -> list[AlertEvent]:
        """The events at or after ``since`` (and, for deadlines, at or before ``now``):
        workflows failed or blocked, tasks still open past their deadline, tasks expired or
        escalated. Events already in the outbox are among them; adding them adds nothing."""

        def op(conn: Conn) -> list[AlertEvent]:
            found: list[AlertEvent] = []
            for r in self._all(
                conn,
                "SELECT id, name, status, run, attempt, error, updated_at FROM workflows"
                " WHERE status IN ('failed', 'blocked') AND updated_at >= ? ORDER BY updated_at",
                (since,),
            ):
                error = _details(r["error"])
                kind = "workflow_blocked" if r["status"] == "blocked" else "workflow_failed"
                if kind == "workflow_failed" and error.get("type") == "CrashLoop":
                    kind = "crash_loop"
                found.append(
                    AlertEvent(
                        kind=kind,
                        subject=f"{r['id']}@{r['run']}.{r['attempt']}",
                        at=int(r["updated_at"]),
                        workflow_id=r["id"],
                        workflow_name=r["name"],
                        task_id=None,
                        details={
                            "type": str(error.get("type", "Error")),
                            "message": str(error.get("message", "")),
                        },
                    )
                )
            for r in self._all(
                conn,
                "SELECT t.id, t.workflow_id, t.title, t.assignee, t.due_at, w.name"
                " FROM human_tasks t JOIN workflows w ON w.id = t.workflow_id"
                " WHERE t.status = 'open' AND t.due_at >= ? AND t.due_at <= ? ORDER BY t.due_at",
                (since, now),
            ):
                found.append(
                    _task_event("task_overdue", f"{r['id']}@{r['due_at']}", r["due_at"], r)
                )
            for r in self._all(
                conn,
                "SELECT e.id AS event_id, e.kind, e.at, t.id, t.workflow_id, t.title,"
                " t.assignee, t.due_at, w.name FROM task_events e"
                " JOIN human_tasks t ON t.id = e.task_id JOIN workflows w ON w.id = t.workflow_id"
                " WHERE e.kind IN ('expired', 'escalated') AND e.at >= ? ORDER BY e.at",
                (since,),
            ):
                if r["kind"] == "expired":
                    subject = f"{r['id']}@{r['due_at']}"
                    found.append(_task_event("task_overdue", subject, r["at"], r))
                else:
                    subject = f"{r['id']}#{r['event_id']}"
                    found.append(_task_event("task_escalated", subject, r["at"], r))
            return found

        return await self._run(op, write=False)

    async def add_alerts(self, alerts: list[NewAlert], mark: int, now: int) -> int:
        """Adds the alerts not in the outbox yet (pending, sendable at once) and moves the
        scan mark to ``mark`` unless it is further; returns how many were added."""

        def op(conn: Conn) -> int:
            added = 0
            for a in alerts:
                cur = self._x(
                    conn,
                    "INSERT INTO alerts (kind, subject, channel, workflow_id, workflow_name,"
                    " task_id, message, at, created_at, status, attempts, next_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)"
                    " ON CONFLICT (kind, subject, channel) DO NOTHING",
                    (
                        a.kind,
                        a.subject,
                        a.channel,
                        a.workflow_id,
                        a.workflow_name,
                        a.task_id,
                        a.message,
                        a.at,
                        now,
                        now,
                    ),
                )
                added += max(int(cur.rowcount), 0)
            self._x(
                conn,
                "INSERT INTO alert_marks (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE"
                " SET at = CASE WHEN excluded.at > alert_marks.at THEN excluded.at"
                " ELSE alert_marks.at END",
                (_MARK, mark),
            )
            return added

        return await self._run(op)

    async def claim_alerts(
        self, channels: tuple[str, ...], now: int, lease_ms: int, limit: int
    ) -> list[AlertRow]:
        """Takes up to ``limit`` pending alerts of ``channels`` due at ``now``: each is
        leased until ``now + lease_ms`` and its ``attempts`` counted up."""
        if not channels or limit <= 0:
            return []
        marks = ", ".join("?" for _ in channels)
        due = (
            "SELECT id FROM alerts WHERE status = 'pending' AND next_at <= ?"
            f" AND channel IN ({marks}) ORDER BY next_at, id LIMIT ?"
        )
        # Mostly there is nothing to send: a read says so without taking SQLite's write lock.
        if not await self._run(lambda c: self._all(c, due, (now, *channels, 1)), write=False):
            return []

        def op(conn: Conn) -> list[AlertRow]:
            lock = self.dialect.for_update + self.dialect.skip_locked
            ids = [r["id"] for r in self._all(conn, due + lock, (now, *channels, limit))]
            if not ids:
                return []
            rows = self._all(
                conn,
                "UPDATE alerts SET attempts = attempts + 1, next_at = ?"
                f" WHERE id IN ({', '.join('?' for _ in ids)}) RETURNING {_COLUMNS}",
                (now + lease_ms, *ids),
            )
            return sorted((_row(r) for r in rows), key=lambda a: a.id)

        return await self._run(op)

    async def settle_alert(
        self, alert_id: int, attempts: int, now: int, error: str | None, retry_at: int | None
    ) -> bool:
        """Records how sending the alert claimed with ``attempts`` went: sent (no
        ``error``), pending again from ``retry_at``, or failed for good (``retry_at`` is
        ``None``). ``False`` when that claim no longer holds the row (nothing written)."""

        def op(conn: Conn) -> bool:
            if error is None:
                sql = "UPDATE alerts SET status = 'sent', sent_at = ?"
                params: tuple[object, ...] = (now,)
            elif retry_at is not None:
                sql = "UPDATE alerts SET next_at = ?, last_error = ?"
                params = (retry_at, error)
            else:
                sql = "UPDATE alerts SET status = 'failed', last_error = ?"
                params = (error,)
            cur = self._x(
                conn,
                sql + " WHERE id = ? AND attempts = ? AND status = 'pending'",
                (*params, alert_id, attempts),
            )
            return int(cur.rowcount) == 1

        return await self._run(op)

    async def list_alerts(self, status: str | None, limit: int) -> list[AlertRow]:
        """The outbox, newest first; of one status, or all."""
        where, params = ("WHERE status = ? ", (status,)) if status else ("", ())
        rows = await self._run(
            lambda c: self._all(
                c,
                f"SELECT {_COLUMNS} FROM alerts {where}ORDER BY id DESC LIMIT ?",
                (*params, limit),
            ),
            write=False,
        )
        return [_row(r) for r in rows]


def _task_event(kind: str, subject: str, at: int, r: Row) -> AlertEvent:
    return AlertEvent(
        kind=kind,
        subject=subject,
        at=int(at),
        workflow_id=r["workflow_id"],
        workflow_name=r["name"],
        task_id=r["id"],
        details={"title": r["title"], "assignee": r["assignee"], "due_at": r["due_at"]},
    )
