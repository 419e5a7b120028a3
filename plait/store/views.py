"""What the server reads: counts, pages of workflows, the workers, and the change feed.

:class:`SQLViews` is a mixin of :class:`~plait.store.sql.SQLStore`; like the rest of the
store, each public coroutine is one transaction and the SQL is portable (``?`` placeholders,
row values, no dialect-specific functions).

Invariants kept here:
- A page is newest first in the total order (``created_at`` DESC, ``id`` DESC) and the next
  page starts strictly after the last row's keyset, so rows inserted between two pages
  neither repeat a row nor hide one (new rows are newer: they sort before the cursor). The
  order is served by the index ``workflows_page (created_at, id)`` (migration 007).
- Every write transaction this process commits (a batch in which an operation run with
  ``_run(write=True)`` succeeded) fires the change hooks once, on the event loop after the
  commit, never inside it (the executor's commit hook); on PostgreSQL ``_changed`` also
  sends a coalesced hint to other processes. Hints are never needed for correctness: the change
  feed reads changes by their time (``changes``) and works by polling alone.
- A journal entry is written only while its workflow is ``running`` (every journal write is
  fenced), and a workflow leaves ``running`` by an update that sets ``updated_at``; so the
  journal changes at or after ``since`` are those of workflows running now or updated at or
  after ``since``, which the feed reads through indexes instead of scanning the journal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from plait.store.executor import Executor
from plait.store.records import ChangeRow, HeldRow, PageFilter, WorkerRow
from plait.store.rows import WORKFLOW_COLUMNS, workflow_filters, workflow_info
from plait.store.sqlbase import Conn, Dialect, SQLBase, load_json
from plait.types import WorkflowInfo

T = TypeVar("T")
log = logging.getLogger("plait.store")


class SQLViews(SQLBase):
    """The server's reads of a SQL store (a mixin of ``SQLStore``)."""

    def __init__(self, url: str, dialect: Dialect, executor: Executor) -> None:
        super().__init__(url, dialect, executor)
        self._change_hooks: list[Callable[[], None]] = []

    # -- change hooks ------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        await super().open(migrate=migrate)
        # After migrating (that changes no workflow). Once per committed batch, not once
        # per operation: no coroutine wraps each store call (a burst of starts holds
        # thousands in flight).
        self._executor.set_commit_hook(self._changed)

    def _changed(self) -> None:
        """After a write committed: wakes this process's change subscribers."""
        if not self._change_hooks:
            return
        for wake in list(self._change_hooks):
            try:
                wake()
            except Exception:  # a hint must never fail the write that sent it
                log.exception("a change callback failed")

    def subscribe_changes(self, wake: Callable[[], None]) -> Callable[[], None]:
        self._change_hooks.append(wake)

        def unsubscribe() -> None:
            if wake in self._change_hooks:
                self._change_hooks.remove(wake)

        return unsubscribe

    # -- counts and pages --------------------------------------------------------------
    async def count_workflows(self, name: str | None) -> list[tuple[str, str, int]]:
        sql = "SELECT name, status, count(*) AS n FROM workflows"
        params: list[object] = []
        if name is not None:
            sql += " WHERE name = ?"
            params.append(name)
        sql += " GROUP BY name, status"
        rows = await self._run(lambda c: self._all(c, sql, params), write=False)
        return [(r["name"], r["status"], int(r["n"])) for r in rows]

    async def count_versions(self) -> list[tuple[str, str, str, int]]:
        sql = (
            "SELECT name, version, status, count(*) AS n FROM workflows"
            " WHERE status IN ('pending', 'running', 'waiting', 'blocked')"
            " GROUP BY name, version, status"
        )
        rows = await self._run(lambda c: self._all(c, sql, ()), write=False)
        return [(r["name"], r["version"], r["status"], int(r["n"])) for r in rows]

    async def page_workflows(self, flt: PageFilter) -> list[WorkflowInfo]:
        where, params = workflow_filters(
            self.dialect, flt.status, flt.name, flt.parent_id, flt.attributes
        )
        if flt.since is not None:
            where.append("created_at >= ?")
            params.append(flt.since)
        if flt.until is not None:
            where.append("created_at < ?")
            params.append(flt.until)
        if flt.after is not None:
            where.append("(created_at, id) < (?, ?)")
            params.extend(flt.after)
        sql = f"SELECT {WORKFLOW_COLUMNS} FROM workflows"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(flt.limit)
        rows = await self._run(lambda c: self._all(c, sql, params), write=False)
        return [workflow_info(r) for r in rows]

    # -- workers -----------------------------------------------------------------------
    async def list_workers(self) -> list[WorkerRow]:
        def op(conn: Conn) -> list[WorkerRow]:
            workers = self._all(
                conn,
                "SELECT id, hostname, pid, info, started_at, heartbeat_at FROM workers"
                " ORDER BY started_at, id",
            )
            held: dict[str, list[HeldRow]] = {w["id"]: [] for w in workers}
            if held:
                marks = ", ".join("?" for _ in held)
                for r in self._all(
                    conn,
                    "SELECT id, name, updated_at, lease_owner FROM workflows"
                    f" WHERE status = 'running' AND lease_owner IN ({marks})"
                    " ORDER BY updated_at, id",
                    list(held),
                ):
                    held[r["lease_owner"]].append(HeldRow(r["id"], r["name"], r["updated_at"]))
            return [
                WorkerRow(
                    id=w["id"],
                    hostname=w["hostname"],
                    pid=w["pid"],
                    info=load_json(w["info"]) or {},
                    started_at=w["started_at"],
                    heartbeat_at=w["heartbeat_at"],
                    holds=tuple(held[w["id"]]),
                )
                for w in workers
            ]

        return await self._run(op, write=False)

    # -- the change feed ---------------------------------------------------------------
    async def changes(
        self,
        since: int,
        after: tuple[int, str, int] | None,
        workflow_id: str | None,
        limit: int,
    ) -> list[ChangeRow]:
        params: list[Any] = [since]
        status_sql = (
            "SELECT 'status' AS kind, id AS workflow_id, -1 AS seq, updated_at AS at, name,"
            " status, NULL AS entry_kind FROM workflows WHERE updated_at >= ?"
        )
        if workflow_id is not None:
            status_sql += " AND id = ?"
            params.append(workflow_id)
        journal_sql = (
            "SELECT 'journal' AS kind, workflow_id, seq, COALESCE(completed_at, started_at)"
            " AS at, name, status, kind AS entry_kind FROM journal"
            " WHERE COALESCE(completed_at, started_at) >= ?"
        )
        params.append(since)
        if workflow_id is not None:
            journal_sql += " AND workflow_id = ?"
            params.append(workflow_id)
        else:  # see the module docstring: only these workflows can have new entries
            journal_sql += (
                " AND workflow_id IN (SELECT id FROM workflows WHERE status = 'running'"
                " UNION SELECT id FROM workflows WHERE updated_at >= ?)"
            )
            params.append(since)
        sql = f"SELECT * FROM ({status_sql} UNION ALL {journal_sql}) c"
        if after is not None:
            sql += " WHERE (c.at, c.workflow_id, c.seq) > (?, ?, ?)"
            params.extend(after)
        sql += " ORDER BY c.at, c.workflow_id, c.seq LIMIT ?"
        params.append(limit)
        rows = await self._run(lambda c: self._all(c, sql, params), write=False)
        return [
            ChangeRow(
                kind=r["kind"],
                workflow_id=r["workflow_id"],
                seq=int(r["seq"]),
                at=int(r["at"]),
                name=r["name"],
                status=r["status"],
                entry_kind=r["entry_kind"],
            )
            for r in rows
        ]
