"""Erasure of one person's data in the SQL store (``engine.erase_subject``).

:class:`SQLErasure` is a mixin of :class:`~plait.store.sql.SQLStore`. A subject's data lives
in the workflows started with ``subject=`` (and their children), their blobs and the records
filed under the subject. Erasure removes every payload there in one transaction and keeps the
shape: workflow rows, journal entries (kind, name, status, times), attempts, human tasks and
their audit trails stay, their payloads are gone.

Invariants kept here:
- One transaction: a reader sees the subject's data whole or erased, never half.
- A workflow that has not finished is ended ``cancelled`` first, its ``attempt`` (the fencing
  token) moved on, so a worker still running it can write nothing afterwards; its parent is
  told the child ended, as for any cancellation; its open human tasks are cancelled.
- A human task's journal entry loses its name (the task's title, free text); every other
  name is the code's (steps, signals, children) and stays.
- Error types stay (they say what kind of failure it was); error messages and tracebacks go,
  since they may quote the person's data.
- A blob goes when no reference outside the erased workflows and subject holds it.
- Each erased workflow gets an ``erased`` event (who, when) in its event log.
"""

from __future__ import annotations

import json
from typing import Any

from plait.store.records import FINISHED
from plait.store.sqlbase import Conn, SQLBase
from plait.types import ErasureReport, WorkflowEventKind

ERASED = "[erased]"
HUMAN_TASK = "human_task"  # the journal kind of ask_human, whose entry's name is the title


def _type_only(error_json: str | None) -> str | None:
    """An error kept as its type alone."""
    if error_json is None:
        return None
    try:
        kind = json.loads(error_json).get("type", "Error")
    except (ValueError, AttributeError):
        kind = "Error"
    return json.dumps({"type": kind, "message": ERASED})


def _strip_entries(journal_json: str) -> str:
    """A finished run's archived journal or attempts without outputs and error messages."""
    try:
        rows: list[dict[str, Any]] = json.loads(journal_json)
    except ValueError:
        return "[]"
    for row in rows:
        if row.get("kind") == HUMAN_TASK:
            row["name"] = ERASED
        if "output" in row:
            row["output"] = None
        if row.get("error") is not None:
            row["error"] = _type_only(
                row["error"] if isinstance(row["error"], str) else json.dumps(row["error"])
            )
    return json.dumps(rows)


class SQLErasure(SQLBase):
    """``erase_subject``."""

    async def erase_subject(self, subject: str, by: str, now: int) -> ErasureReport:
        def op(conn: Conn) -> ErasureReport:
            rows = self._all(
                conn,
                "WITH RECURSIVE tree(id) AS (SELECT id FROM workflows WHERE subject = ?"
                " UNION SELECT w.id FROM workflows w JOIN tree t ON w.parent_id = t.id)"
                " SELECT w.id, w.status, w.parent_id FROM workflows w JOIN tree t ON w.id = t.id"
                + (f"{self.dialect.for_update} OF w" if self.dialect.for_update else ""),
                (subject,),
            )
            ids = [r["id"] for r in rows]
            cancelled = []
            for r in rows:
                if r["status"] not in FINISHED:
                    self._x(
                        conn,
                        "UPDATE workflows SET attempt = attempt + 1 WHERE id = ?",
                        (r["id"],),
                    )
                    self._end(
                        conn,
                        r["id"],
                        r["parent_id"],
                        "cancelled",
                        None,
                        {"type": "Cancelled", "message": "cancelled to erase its subject's data"},
                        now,
                    )
                    cancelled.append(r["id"])
            for wid in ids:
                self._erase_workflow(conn, wid, now)
                self._log_event(conn, wid, WorkflowEventKind.ERASED, by, {"subject": subject}, now)
            records = self._x(conn, "DELETE FROM records WHERE subject = ?", (subject,)).rowcount
            blobs = self._erase_blobs(conn, ids, subject)
            return ErasureReport(
                subject=subject,
                workflows=tuple(ids),
                cancelled=tuple(cancelled),
                records=int(records or 0),
                blobs=blobs,
            )

        return await self._run(op)

    async def describe_subject(self, subject: str) -> dict[str, int]:
        def op(conn: Conn) -> dict[str, int]:
            ids = [
                r["id"]
                for r in self._all(
                    conn,
                    "WITH RECURSIVE tree(id) AS (SELECT id FROM workflows WHERE subject = ?"
                    " UNION SELECT w.id FROM workflows w JOIN tree t ON w.parent_id = t.id)"
                    " SELECT id FROM tree",
                    (subject,),
                )
            ]
            records = self._one(
                conn, "SELECT count(*) AS n FROM records WHERE subject = ?", (subject,)
            )
            marks = ", ".join("?" for _ in ids)
            owned = "subject = ?" + (f" OR workflow_id IN ({marks})" if ids else "")
            blobs = self._one(
                conn,
                f"SELECT count(DISTINCT digest) AS n FROM blob_refs WHERE {owned}",
                (subject, *ids),
            )
            return {
                "workflows": len(ids),
                "records": int(records["n"]) if records else 0,
                "blobs": int(blobs["n"]) if blobs else 0,
            }

        return await self._run(op, write=False)

    def _erase_workflow(self, conn: Conn, wid: str, now: int) -> None:
        row = self._one(conn, "SELECT error FROM workflows WHERE id = ?", (wid,))
        self._x(
            conn,
            "UPDATE workflows SET input = 'null', input_hash = ?, output = NULL, error = ?,"
            " status_text = NULL, attributes = '{}', waiting_on = NULL, updated_at = ?"
            " WHERE id = ?",
            (ERASED, _type_only(row["error"] if row else None), now, wid),
        )
        for table, key in (("journal", "seq"), ("step_attempts", "seq, attempt")):
            for r in self._all(
                conn,
                f"SELECT {key}, error FROM {table} WHERE workflow_id = ? AND error IS NOT NULL",
                (wid,),
            ):
                cond = "seq = ?" if table == "journal" else "seq = ? AND attempt = ?"
                keys = (r["seq"],) if table == "journal" else (r["seq"], r["attempt"])
                self._x(
                    conn,
                    f"UPDATE {table} SET error = ? WHERE workflow_id = ? AND {cond}",
                    (_type_only(r["error"]), wid, *keys),
                )
        self._x(conn, "UPDATE journal SET output = NULL WHERE workflow_id = ?", (wid,))
        # A human task's entry is named by its title, free text that may name the person.
        self._x(
            conn,
            "UPDATE journal SET name = ? WHERE workflow_id = ? AND kind = ?",
            (ERASED, wid, HUMAN_TASK),
        )
        self._x(conn, "UPDATE signals SET payload = NULL WHERE workflow_id = ?", (wid,))
        self._x(
            conn,
            "UPDATE human_tasks SET title = ?, proposal = NULL, context = NULL, answer = NULL,"
            " changes = NULL, comment = NULL, updated_at = ? WHERE workflow_id = ?",
            (ERASED, now, wid),
        )
        self._x(conn, "UPDATE task_events SET payload = '{}' WHERE workflow_id = ?", (wid,))
        for r in self._all(
            conn,
            "SELECT run, journal, attempts FROM workflow_runs WHERE workflow_id = ?",
            (wid,),
        ):
            self._x(
                conn,
                "UPDATE workflow_runs SET input = 'null', journal = ?, attempts = ?"
                " WHERE workflow_id = ? AND run = ?",
                (_strip_entries(r["journal"]), _strip_entries(r["attempts"]), wid, r["run"]),
            )

    def _erase_blobs(self, conn: Conn, ids: list[str], subject: str) -> int:
        marks = ", ".join("?" for _ in ids)
        owned = "subject = ?" + (f" OR workflow_id IN ({marks})" if ids else "")
        digests = [
            r["digest"]
            for r in self._all(
                conn, f"SELECT DISTINCT digest FROM blob_refs WHERE {owned}", (subject, *ids)
            )
        ]
        self._x(conn, f"DELETE FROM blob_refs WHERE {owned}", (subject, *ids))
        gone = 0
        for digest in digests:
            held = self._one(
                conn, "SELECT 1 AS x FROM blob_refs WHERE digest = ? LIMIT 1", (digest,)
            )
            if held is None:
                gone += self._x(conn, "DELETE FROM blobs WHERE digest = ?", (digest,)).rowcount
        return gone
