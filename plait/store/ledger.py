"""The model-call ledger in the store: a row per attempt, and its sums.

:class:`SQLLedger` is a part of :class:`~plait.store.sql.SQLStore`. Each public coroutine is
one transaction; the SQL is portable.

Invariants kept here:
- A model call's journal entry and the ledger row of its answering attempt are written in
  one fenced transaction (``record_model``): a call is never journaled without its cost,
  nor charged twice because the worker died between two writes.
- Rows of a workflow's own calls written apart from their entry (``add_ledger`` with a
  fence: failed attempts, re-asks) are fenced too: a worker that lost its lease writes none.
  Rows of calls made inside a step carry no fence: like the step's other effects, they
  happened, whoever records the step.
- Sums group by a fixed set of columns (``LEDGER_GROUPS``), never by caller-given SQL.
"""

from __future__ import annotations

from plait.store.records import LEDGER_GROUPS, Entry, Fence, LedgerRow, LedgerTotal
from plait.store.sqlbase import Conn, SQLBase

_GROUP_COLUMN = {
    "model": "COALESCE(answered_by, model)",
    "workflow": "workflow_id",
    "step": "step",
}
_COLUMNS = (
    "workflow_id, seq, step, model, answered_by, input_tokens, output_tokens, cost_usd, "
    "outcome, reask, latency_ms, at"
)
_MARKS = ", ".join("?" for _ in _COLUMNS.split(","))


class SQLLedger(SQLBase):
    """The model-call ledger of a SQL store (a part of ``SQLStore``)."""

    def _insert_ledger(self, conn: Conn, rows: list[LedgerRow]) -> None:
        for r in rows:
            self._x(
                conn,
                f"INSERT INTO model_ledger ({_COLUMNS}) VALUES ({_MARKS})",
                (
                    r.workflow_id,
                    r.seq,
                    r.step,
                    r.model,
                    r.answered_by,
                    r.input_tokens,
                    r.output_tokens,
                    r.cost_usd,
                    r.outcome,
                    r.reask,
                    r.latency_ms,
                    r.at,
                ),
            )

    async def record_model(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        rows: list[LedgerRow],
        status: tuple[str | None, str | None] | None = None,
    ) -> bool:
        """Journals a model call's outcome ``entry`` (after ``pending``) with its ledger
        ``rows``, fenced; returns whether the workflow's cancellation was requested."""

        def op(conn: Conn) -> bool:
            cancel = self._fence(conn, fence, now)
            self._append(conn, fence, [*pending, entry])
            self._insert_ledger(conn, rows)
            if status is not None:
                self._x(
                    conn,
                    "UPDATE workflows SET status_text = ?, attributes = ? WHERE id = ?",
                    (status[0], status[1] or "{}", fence.workflow_id),
                )
            return cancel

        return await self._run(op)

    async def add_ledger(self, fence: Fence | None, now: int, rows: list[LedgerRow]) -> None:
        """Adds ledger rows: fenced for a running workflow's own calls (failed attempts,
        re-asks); without a fence for calls made inside its steps (a step's effects are
        at-least-once, and so is what they cost)."""

        def op(conn: Conn) -> None:
            if fence is not None:
                self._fence(conn, fence, now)
            self._insert_ledger(conn, rows)

        await self._run(op)

    async def ledger(self, workflow_id: str) -> list[LedgerRow]:
        """The workflow's ledger rows, in the order they were written."""
        rows = await self._run(
            lambda c: self._all(
                c,
                f"SELECT {_COLUMNS} FROM model_ledger WHERE workflow_id = ? ORDER BY id",
                (workflow_id,),
            ),
            write=False,
        )
        return [
            LedgerRow(
                workflow_id=r["workflow_id"],
                seq=r["seq"],
                step=r["step"],
                model=r["model"],
                answered_by=r["answered_by"],
                input_tokens=int(r["input_tokens"]),
                output_tokens=int(r["output_tokens"]),
                cost_usd=float(r["cost_usd"]),
                outcome=r["outcome"],
                reask=int(r["reask"]),
                latency_ms=float(r["latency_ms"]),
                at=int(r["at"]),
            )
            for r in rows
        ]

    async def ledger_spent(self, workflow_id: str) -> float:
        """What the workflow's model calls have cost so far, in USD."""
        row = await self._run(
            lambda c: self._one(
                c,
                "SELECT COALESCE(sum(cost_usd), 0) AS s FROM model_ledger WHERE workflow_id = ?",
                (workflow_id,),
            ),
            write=False,
        )
        return float(row["s"]) if row is not None else 0.0

    async def ledger_totals(self, workflow_id: str | None, by: str) -> list[LedgerTotal]:
        """Rows summed per model (the one that answered), workflow or step; of one workflow
        or of all. Most expensive first."""
        if by not in LEDGER_GROUPS:
            raise ValueError(f"ledger totals group by one of {LEDGER_GROUPS}, not {by!r}")
        column = _GROUP_COLUMN[by]
        where, params = ("WHERE workflow_id = ?", (workflow_id,)) if workflow_id else ("", ())
        rows = await self._run(
            lambda c: self._all(
                c,
                f"SELECT {column} AS k, count(*) AS n,"
                " sum(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS failed,"
                " sum(input_tokens) AS tin, sum(output_tokens) AS tout, sum(cost_usd) AS cost"
                f" FROM model_ledger {where} GROUP BY {column} ORDER BY cost DESC, k",
                params,
            ),
            write=False,
        )
        return [
            LedgerTotal(
                key=str(r["k"]),
                attempts=int(r["n"]),
                failed=int(r["failed"]),
                input_tokens=int(r["tin"]),
                output_tokens=int(r["tout"]),
                cost_usd=float(r["cost"]),
            )
            for r in rows
        ]
