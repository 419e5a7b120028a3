"""Garbage collection in the SQL store: deleting ended workflows, orphans and old records.

:class:`SQLGc` is a mixin of :class:`~plait.store.sql.SQLStore`. ``engine.gc`` and the
retention policies (``plait/retention.py``) call it in batches, each batch one transaction,
so a large collection never holds one huge transaction and a reader sees a workflow whole or
gone.

What a workflow is, for gc: a *tree*, a top-level workflow with its children (and theirs).
A tree is collected when every workflow in it has ended (completed, failed or cancelled) and
the last of them ended before the cutoff; its name is the top-level workflow's. A child is
never collected on its own: a parent that still runs may read it (the UI links it), and the
children's rows go with their parent's (``parent_id`` cascades), so deleting a parent whose
child still ran would delete a running workflow.

Invariants kept here:
- Only ended trees go, re-checked inside the batch's transaction under the rows' locks (a
  resumed workflow is no longer ended). On PostgreSQL the candidates are taken with
  ``SKIP LOCKED``: a tree some other transaction holds is left for the next run. Several
  collectors running at once therefore delete each tree once; a delete is idempotent.
- Everything that belongs to a collected workflow goes in the same transaction: journal,
  step attempts, signals, human tasks and their events, finished runs, model-ledger rows,
  blob references, and its event log — except ``erased`` events, the proof that an erasure
  happened. A ``collected`` event (who, when, name, status, end time) is written in its place
  as a tombstone: ``engine.events(id)`` still answers for a collected workflow.
- A blob goes with the workflows when no reference holds it any more and it was last stored
  or adopted before the cutoff (so a put racing the collection keeps it: the same rule as
  ``collect_blobs``); a later orphan collection takes the others.
- A dry run reads the same rows and counts them; it writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from plait.store.records import FINISHED, GcBatch, GcFilter
from plait.store.sqlbase import Conn, Row, SQLBase
from plait.types import WorkflowEventKind, ms_to_datetime

# The tables of a workflow's data, children of ``workflows`` first (the order they are
# deleted in); each keyed by ``workflow_id``.
WORKFLOW_TABLES = (
    "task_events",
    "human_tasks",
    "signals",
    "step_attempts",
    "journal",
    "workflow_runs",
    "model_ledger",
    "blob_refs",
)
_CHUNK = 400  # ids per IN (...): well under SQLite's oldest limit of 999 parameters
_FINISHED_SQL = ", ".join(f"'{s}'" for s in FINISHED)


def ms_to_iso(ms: int) -> str:
    when = ms_to_datetime(ms)
    return when.isoformat() if when else ""


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


class SQLGc(SQLBase):
    """``collect_workflows``, ``collect_orphans``, ``collect_records``."""

    async def collect_workflows(self, flt: GcFilter, now: int, by: str, delete: bool) -> GcBatch:
        def op(conn: Conn) -> GcBatch:
            roots = self._gc_roots(conn, flt, delete)
            if not roots:
                return GcBatch(deleted={}, last=None)
            last = (roots[-1]["completed_at"], roots[-1]["id"])
            trees = [self._gc_tree(conn, root["id"], flt.before, delete) for root in roots]
            rows = [r for tree in trees for r in tree]
            ids = [r["id"] for r in rows]
            deleted = self._gc_delete(conn, ids, flt.before, delete) if ids else {}
            if delete:
                for r in rows:  # the tombstones: what each collected workflow was
                    details = {
                        "name": r["name"],
                        "status": r["status"],
                        "ended_at": ms_to_iso(r["completed_at"]),
                        "parent_id": r["parent_id"],
                    }
                    self._log_event(conn, r["id"], WorkflowEventKind.COLLECTED, by, details, now)
            return GcBatch(deleted=deleted, last=last)

        return await self._run(op, write=delete)

    def _gc_roots(self, conn: Conn, flt: GcFilter, delete: bool) -> list[Row]:
        where = [
            "parent_id IS NULL",
            f"status IN ({_FINISHED_SQL})",
            "completed_at < ?",
        ]
        params: list[object] = [flt.before]
        if flt.name is not None:
            where.append("name = ?")
            params.append(flt.name)
        if flt.exclude:
            where.append(f"name NOT IN ({_marks(len(flt.exclude))})")
            params.extend(flt.exclude)
        if flt.after is not None:
            where.append("(completed_at > ? OR (completed_at = ? AND id > ?))")
            params.extend((flt.after[0], flt.after[0], flt.after[1]))
        lock = ""
        if delete and self.dialect.for_update:
            lock = " FOR UPDATE" + self.dialect.skip_locked
        return self._all(
            conn,
            "SELECT id, completed_at FROM workflows WHERE "
            + " AND ".join(where)
            + f" ORDER BY completed_at, id LIMIT ?{lock}",
            (*params, flt.limit),
        )

    def _gc_tree(self, conn: Conn, root: str, before: int, delete: bool) -> list[Row]:
        """The rows of ``root``'s tree if all of it ended before ``before``, else []."""
        rows = self._all(
            conn,
            "WITH RECURSIVE tree(id) AS (SELECT CAST(? AS TEXT)"
            " UNION SELECT w.id FROM workflows w JOIN tree t ON w.parent_id = t.id)"
            " SELECT w.id, w.name, w.status, w.parent_id, w.completed_at"
            " FROM workflows w JOIN tree t ON w.id = t.id",
            (root,),
        )
        for r in rows:
            if r["status"] not in FINISHED or r["completed_at"] is None:
                return []
            if r["completed_at"] >= before:
                return []
        ids = [r["id"] for r in rows if r["id"] != root]
        if delete and self.dialect.for_update and ids:
            for part in _chunks(ids):
                self._all(
                    conn,
                    f"SELECT id FROM workflows WHERE id IN ({_marks(len(part))}) FOR UPDATE",
                    tuple(part),
                )
        return rows

    def _gc_delete(self, conn: Conn, ids: list[str], before: int, delete: bool) -> dict[str, int]:
        deleted: dict[str, int] = {}

        def apply(table: str, cond: str, params: Sequence[object]) -> None:
            sql = (
                f"DELETE FROM {table} WHERE {cond}"
                if delete
                else f"SELECT count(*) AS n FROM {table} WHERE {cond}"
            )
            cur = self._x(conn, sql, params)
            n = cur.rowcount if delete else cur.fetchone()["n"]
            deleted[table] = deleted.get(table, 0) + int(n or 0)

        # Events logged earlier in this batch (a cancel, say) are rows like the others.
        self._flush_events(conn)
        digests: set[str] = set()
        for part in _chunks(ids):
            marks = _marks(len(part))
            digests.update(
                r["digest"]
                for r in self._all(
                    conn,
                    f"SELECT DISTINCT digest FROM blob_refs WHERE workflow_id IN ({marks})",
                    tuple(part),
                )
            )
        for part in _chunks(ids):
            marks = _marks(len(part))
            for table in WORKFLOW_TABLES:
                apply(table, f"workflow_id IN ({marks})", part)
            apply(
                "workflow_events",
                f"workflow_id IN ({marks}) AND kind <> '{WorkflowEventKind.ERASED}'",
                part,
            )
        # A blob the collected workflows held goes when nothing else holds it (in a dry run
        # their references are still there: count those held only by them).
        for digest in sorted(digests):
            held_elsewhere = self._gc_held_elsewhere(conn, digest, ids, delete)
            if held_elsewhere:
                continue
            apply("blobs", "digest = ? AND touched_at < ?", (digest, before))
        if delete:
            for part in _chunks(ids):  # a parent's delete takes its children with it
                self._x(conn, f"DELETE FROM workflows WHERE id IN ({_marks(len(part))})", part)
        deleted["workflows"] = len(ids)  # every one exists: read under lock in this batch
        return {k: v for k, v in deleted.items() if v}

    def _gc_held_elsewhere(self, conn: Conn, digest: str, ids: list[str], delete: bool) -> bool:
        if delete:  # the collected workflows' references are gone already
            return (
                self._one(conn, "SELECT 1 AS x FROM blob_refs WHERE digest = ? LIMIT 1", (digest,))
                is not None
            )
        rows = self._all(conn, "SELECT workflow_id FROM blob_refs WHERE digest = ?", (digest,))
        mine = set(ids)
        return any(r["workflow_id"] is None or r["workflow_id"] not in mine for r in rows)

    async def claim_pass(self, key: str, now: int, interval_ms: int) -> bool:
        """Whether this caller may run the periodic job ``key`` now: at most one caller per
        ``interval_ms`` on the whole database gets True (the job's next time is a row of the
        limiter's table, moved on by a conditional UPDATE that only one transaction wins)."""

        def op(conn: Conn) -> bool:
            self._x(
                conn,
                "INSERT INTO limits (key, tat, updated_at) VALUES (?, 0, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, now),
            )
            cur = self._x(
                conn,
                "UPDATE limits SET tat = ?, updated_at = ? WHERE key = ? AND tat <= ?",
                (now + interval_ms, now, key, now),
            )
            return bool(cur.rowcount)

        return await self._run(op)

    async def collect_orphans(self, blobs_before: int, now: int, delete: bool) -> dict[str, int]:
        """Blobs with no reference last stored before ``blobs_before``, and limiter slots
        whose lease ran out (their holders died)."""

        def op(conn: Conn) -> dict[str, int]:
            blobs = (
                "FROM blobs WHERE touched_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM blob_refs r WHERE r.digest = blobs.digest)"
            )
            slots = "FROM limit_slots WHERE expires_at <= ?"
            out = {}
            for table, cond, param in (("blobs", blobs, blobs_before), ("limit_slots", slots, now)):
                if delete:
                    n = self._x(conn, f"DELETE {cond}", (param,)).rowcount
                else:
                    n = self._all(conn, f"SELECT count(*) AS n {cond}", (param,))[0]["n"]
                if n:
                    out[table] = int(n)
            return out

        return await self._run(op, write=delete)

    async def collect_records(self, kind: str, before: int, limit: int, delete: bool) -> int:
        """Deletes up to ``limit`` records of ``kind`` not updated since ``before`` (counts
        all of them, dry)."""

        def op(conn: Conn) -> int:
            if not delete:
                rows = self._all(
                    conn,
                    "SELECT count(*) AS n FROM records WHERE kind = ? AND updated_at < ?",
                    (kind, before),
                )
                return int(rows[0]["n"])
            cur = self._x(
                conn,
                "DELETE FROM records WHERE kind = ? AND key IN (SELECT key FROM records"
                " WHERE kind = ? AND updated_at < ? ORDER BY key LIMIT ?)",
                (kind, kind, before, limit),
            )
            return int(cur.rowcount or 0)

        return await self._run(op, write=delete)
