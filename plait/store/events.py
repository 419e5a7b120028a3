"""The per-workflow event log in the SQL store: who started, signalled, cancelled or resumed.

:class:`SQLEvents` is a mixin of :class:`~plait.store.sql.SQLStore`. The client operations
(``create_workflow``, ``send_signal``, ``cancel``, ``resume``) call :meth:`SQLEvents._log_event`
inside their own transaction, after their write, so:

- an event exists exactly when its action was committed: a rejected action (unknown
  workflow, finished workflow, bad state) raises before it logs, and an action that writes
  nothing (the start of an existing equal workflow, a signal whose dedup key was used) logs
  nothing;
- events are read in the order they were written (``id``).

The log has no foreign key to ``workflows``: it outlives a workflow's deletion, so gc and
erasure can keep who did what.
"""

from __future__ import annotations

from typing import Any

from plait.errors import WorkflowNotFound
from plait.store.sqlbase import Conn, SQLBase, dump_json, load_json
from plait.types import WorkflowEvent, WorkflowEventKind, ms_to_datetime


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
        self._x(
            conn,
            "INSERT INTO workflow_events (workflow_id, kind, actor, at, details)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                workflow_id,
                str(kind),
                by,
                now,
                dump_json({k: v for k, v in details.items() if v is not None}),
            ),
        )

    async def events(self, workflow_id: str) -> list[WorkflowEvent]:
        def op(conn: Conn) -> list[WorkflowEvent]:
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
