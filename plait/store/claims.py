"""The claim: a worker takes workflows to run (expired leases first, then ready ones).

:class:`SQLClaims` is a part of :class:`~plait.store.sql.SQLStore` (the hooks between the
parts are declared in :mod:`plait.store.sqlbase`). A claim is one transaction.

Invariants kept here:
- A claim takes expired leases first (a workflow whose worker died more than
  ``max_recoveries`` times fails as a crash loop), then ready workflows as the queues' limits
  allow (``_claim_ready``); it bumps ``attempt``, so a previous holder's writes are refused.
- Rows are locked with ``SKIP LOCKED``: two claims never take the same workflow and never
  wait for each other.
- It is pipelined (``plait.store.executor.Pipelined``): its first two reads go out with
  ``BEGIN``, and the claiming UPDATE with the journal read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from plait.store.executor import Pipelined
from plait.store.records import Claimed, Entry
from plait.store.rows import claimed as claimed_of
from plait.store.rows import entry as entry_of
from plait.store.sqlbase import JOURNAL_COLUMNS, Conn, SQLBase, queue_clause


class SQLClaims(SQLBase):
    """The claim of workers (a part of ``SQLStore``)."""

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
        send = functools.partial(self._send_claim, worker_id, pairs, queues, limit, now)
        # pipelined: its first two reads go out with BEGIN, its last two together
        return await self._run(Pipelined(functools.partial(send, lease_ms, max_recoveries)))

    def _send_claim(
        self,
        worker_id: str,
        pairs: tuple[tuple[str, str], ...],
        queues: tuple[str, ...] | None,
        limit: int,
        now: int,
        lease_ms: int,
        max_recoveries: int,
        conn: Conn,
    ) -> Callable[[], list[Claimed]]:
        q, qparams = queue_clause(queues)
        pair_sql = ", ".join("(?, ?)" for _ in pairs)
        pair_params = [x for pair in pairs for x in pair]
        lock = self.dialect.for_update + self.dialect.skip_locked
        # A lease is over at lease_expires_at, the time next_due reports for it.
        expired = self._x(
            conn,
            "SELECT id, recoveries, parent_id FROM workflows WHERE status = 'running'"
            f" AND lease_expires_at <= ?{q} AND (name, version) IN (VALUES {pair_sql})"
            f" ORDER BY lease_expires_at LIMIT ?{lock}",
            (now, *qparams, *pair_params, limit),
        )
        ready = self._send_claim_ready(conn, queues)
        return lambda: self._claim(
            conn, worker_id, pairs, limit, now, lease_ms, max_recoveries, expired, ready
        )

    def _claim(
        self,
        conn: Conn,
        worker_id: str,
        pairs: tuple[tuple[str, str], ...],
        limit: int,
        now: int,
        lease_ms: int,
        max_recoveries: int,
        expired_cursor: Any,
        claim_ready: Callable[[tuple[tuple[str, str], ...], int, int], list[str]],
    ) -> list[Claimed]:
        ids: list[str] = []
        ended = False
        for row in expired_cursor.fetchall():
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
                ended = True
            else:
                ids.append(row["id"])
        before, after = self.dialect.claim_plans
        for sql in before:
            self._x(conn, sql)
        if len(ids) < limit:  # ready ones, as the queues' limits allow (plait/store/limits.py)
            ids.extend(claim_ready(pairs, limit - len(ids), now))
        if not ids:
            for sql in after:
                self._x(conn, sql)
            if ended:  # in pipeline mode an error shows at the next read: make it this one's
                self._one(conn, "SELECT 1 AS x")
            return []
        marks = ", ".join("?" for _ in ids)
        claimed = self._x(
            conn,
            "UPDATE workflows SET"
            " recoveries = recoveries + (CASE WHEN status = 'running' THEN 1 ELSE 0 END),"
            " status = 'running', lease_owner = ?, lease_expires_at = ?, attempt = attempt + 1,"
            " cancel_requested = (CASE WHEN deadline_at IS NOT NULL AND deadline_at <= ?"
            " THEN 1 ELSE cancel_requested END), waiting_on = NULL, updated_at = ?"
            f" WHERE id IN ({marks})"
            " RETURNING id, name, version, input, attempt, cancel_requested, parent_id, queue,"
            " run, seq_base",
            (worker_id, now + lease_ms, now, now, *ids),
        )
        journal = self._x(  # sent before the UPDATE's rows are read: one round trip
            conn,
            f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE workflow_id IN ({marks})"
            " ORDER BY workflow_id, seq",
            ids,
        )
        for sql in after:
            self._x(conn, sql)
        rows = claimed.fetchall()
        journals: dict[str, list[Entry]] = {r["id"]: [] for r in rows}
        for j in journal.fetchall():
            journals[j["workflow_id"]].append(entry_of(j))
        return [claimed_of(r, journals[r["id"]]) for r in rows]
