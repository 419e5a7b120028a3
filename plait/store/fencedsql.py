"""The one statement of a fenced write on PostgreSQL (``SQLBase._send_fenced``): the fence's
row lock, the journal entries and, for an end, the workflow's final status."""

from __future__ import annotations

JOURNAL_COLUMNS = (
    "workflow_id, seq, kind, name, status, output, error, wake_at, attempts, worker_attempt, "
    "started_at, completed_at, fingerprint"
)

# The row ``fenced_sql`` inserts per entry: JOURNAL_COLUMNS' types, cast because
# the values come through SELECT (a parameter's type is not taken from the target column).
_ENTRY_ROW = (
    "(?::text, ?::integer, ?::text, ?::text, ?::text, ?::text, ?::text, ?::bigint,"
    " ?::integer, ?::integer, ?::bigint, ?::bigint, ?::text)"
)
_fenced_cache: dict[tuple[int, bool, bool], str] = {}


# The fence of ``alone``: no parent to tell and no open human task to close.
_ALONE = (
    " AND parent_id IS NULL AND NOT EXISTS (SELECT 1 FROM human_tasks h"
    " WHERE h.workflow_id = workflows.id AND h.status = 'open')"
)


def fenced_sql(n: int, end: bool, alone: bool = False) -> str:
    """The fence (the row lock, the crash-loop count reset), ``n`` journal entries and, with
    ``end``, the workflow's final status, in one statement: every part runs on the row the
    fence found, so none runs without it. (The reset is part of the end's UPDATE then: one
    statement may not update a row twice.)"""
    key = (n, end, alone)
    sql = _fenced_cache.get(key)
    if sql is None:
        gate = _ALONE if alone else ""
        parts = [
            "f AS (SELECT id, cancel_requested, recoveries, parent_id, deadline_at FROM workflows"
            f" WHERE id = ? AND attempt = ? AND status = ?{gate} FOR NO KEY UPDATE)"
        ]
        if not end:
            parts.append(
                "r AS (UPDATE workflows SET recoveries = 0"
                " WHERE id = (SELECT id FROM f WHERE recoveries <> 0))"
            )
        if n:
            parts.append(
                f"j AS (INSERT INTO journal ({JOURNAL_COLUMNS}) SELECT v.* FROM f,"
                f" (VALUES {', '.join([_ENTRY_ROW] * n)}) AS v)"
            )
        select = "SELECT cancel_requested, deadline_at"
        if end:
            parts.append(
                "u AS (UPDATE workflows SET status = ?, output = ?, error = ?, lease_owner = NULL,"
                " lease_expires_at = NULL, available_at = NULL, waiting_on = NULL,"
                " completed_at = ?, updated_at = ?, recoveries = 0"
                " WHERE id = (SELECT id FROM f))"
            )
            select += (
                ", parent_id, EXISTS (SELECT 1 FROM human_tasks h WHERE h.workflow_id = f.id"
                " AND h.status = 'open') AS open_tasks"
            )
        sql = _fenced_cache[key] = f"WITH {', '.join(parts)} {select} FROM f"
    return sql
