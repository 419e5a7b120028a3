"""What ``/metrics`` reads from the database: counts that describe the system's health now.

:class:`SQLMetrics` is a part of :class:`~plait.store.sql.SQLStore`. ``health`` is one read
transaction of a few grouped counts (no payload is read), so a scrape every 15 s costs the
database little; each count is served by an index the claim or the inbox already needs
(``workflows_status``, ``workflows_ready``, ``workflows_leases``, ``human_tasks_inbox``).
"""

from __future__ import annotations

from plait.store.records import HealthSnapshot
from plait.store.sqlbase import Conn, SQLBase


class SQLMetrics(SQLBase):
    """The health counts of a SQL store (a part of ``SQLStore``)."""

    async def health(self, now: int) -> HealthSnapshot:
        def op(conn: Conn) -> HealthSnapshot:
            workflows = [
                (r["name"], r["status"], int(r["n"]))
                for r in self._all(
                    conn,
                    "SELECT name, status, count(*) AS n FROM workflows GROUP BY name, status",
                )
            ]
            ready = [
                (r["queue"], int(r["n"]))
                for r in self._all(
                    conn,
                    "SELECT queue, count(*) AS n FROM workflows"
                    " WHERE status IN ('pending', 'waiting') AND available_at <= ?"
                    " GROUP BY queue",
                    (now,),
                )
            ]
            leases = self._one(
                conn,
                "SELECT sum(CASE WHEN lease_expires_at <= ? THEN 1 ELSE 0 END) AS expired,"
                " sum(CASE WHEN recoveries > 0 THEN 1 ELSE 0 END) AS recovering"
                " FROM workflows WHERE status = 'running'",
                (now,),
            )
            tasks = [
                (r["assignee"] or "", int(r["n"]), int(r["oldest"]), int(r["overdue"] or 0))
                for r in self._all(
                    conn,
                    "SELECT assignee, count(*) AS n, min(created_at) AS oldest,"
                    " sum(CASE WHEN due_at <= ? THEN 1 ELSE 0 END) AS overdue"
                    " FROM human_tasks WHERE status = 'open' GROUP BY assignee",
                    (now,),
                )
            ]
            return HealthSnapshot(
                workflows=workflows,
                ready=ready,
                expired_leases=int((leases and leases["expired"]) or 0),
                recovering=int((leases and leases["recovering"]) or 0),
                tasks=tasks,
            )

        return await self._run(op, write=False)
