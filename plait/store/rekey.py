"""Re-encryption in the SQL store: the payload columns rewritten batch by batch.

:class:`SQLRekey` is a mixin of :class:`~plait.store.sql.SQLStore`. ``plait rekey`` (through
``engine.rekey``) walks every column of :data:`~plait.store.records.PAYLOAD_COLUMNS` and the
blobs in primary-key order; each call reads one batch, asks the engine's ``rewrite`` for the
new text of each value (``None``: keep it) and writes the changed ones, in one transaction.

Invariants kept here:
- A batch is atomic, and a value is replaced only if it is still the one read
  (``... AND column = <old value>``), so a write that raced the pass is never overwritten;
  values written meanwhile use the current key anyway. An interrupted pass leaves every row
  readable, and running it again goes on where work is left.
- The store does not know the envelope format: it tells ``rewrite`` only the shape of each
  value (one payload, or a JSON wrapper with payloads in it such as a wait's journal output
  holding a signal's payload), which it knows from its schema (journal kinds, reserved
  signal names).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from plait.errors import ConfigurationError
from plait.store.records import CHILD_SIGNAL, PAYLOAD_COLUMNS, RekeyBatch
from plait.store.sqlbase import Conn, SQLBase

# table.column -> (table, primary key columns, SQL: the value's shape). The shape says what
# the value is: "value" (one payload), "journal:<kind>" (a journal output: one payload, or a
# wrapper that depends on the kind), "child_end" (a child's end, delivered to its parent),
# "policy" (a human task's on_timeout), "task_event" (an audit entry's payload) or
# "runs_journal" (a finished run's journal rows).
_SPECS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "workflows.input": ("workflows", ("id",), "'value'"),
    "workflows.output": ("workflows", ("id",), "'value'"),
    "journal.output": ("journal", ("workflow_id", "seq"), "'journal:' || kind"),
    "signals.payload": (
        "signals",
        ("id",),
        f"CASE WHEN name LIKE '{CHILD_SIGNAL}%' THEN 'child_end' ELSE 'value' END",
    ),
    "human_tasks.proposal": ("human_tasks", ("id",), "'value'"),
    "human_tasks.context": ("human_tasks", ("id",), "'value'"),
    "human_tasks.answer": ("human_tasks", ("id",), "'value'"),
    "human_tasks.changes": ("human_tasks", ("id",), "'value'"),
    "human_tasks.comment": ("human_tasks", ("id",), "'value'"),
    "human_tasks.on_timeout": ("human_tasks", ("id",), "'policy'"),
    "task_events.payload": ("task_events", ("id",), "'task_event'"),
    "records.value": ("records", ("kind", "key"), "'value'"),
    "workflow_runs.input": ("workflow_runs", ("workflow_id", "run"), "'value'"),
    "workflow_runs.journal": ("workflow_runs", ("workflow_id", "run"), "'runs_journal'"),
    "schedules.args": ("schedules", ("id",), "'value'"),
}
assert set(_SPECS) == set(PAYLOAD_COLUMNS)


class SQLRekey(SQLBase):
    """``rekey_batch`` and ``rekey_blobs``: one batch of re-encryption each."""

    async def rekey_batch(
        self,
        column: str,
        cursor: str | None,
        limit: int,
        rewrite: Callable[[str, str], str | None],
        dry_run: bool,
    ) -> RekeyBatch:
        spec = _SPECS.get(column)
        if spec is None:
            raise ConfigurationError(
                f"{column!r} is not a payload column ({', '.join(PAYLOAD_COLUMNS)})"
            )
        table, keys, shape = spec
        name = column.partition(".")[2]
        key_list = ", ".join(keys)
        after = json.loads(cursor) if cursor is not None else None
        where = f"{name} IS NOT NULL"
        if after is not None:
            where += f" AND ({key_list}) > ({', '.join('?' for _ in keys)})"
        select = (
            f"SELECT {key_list}, {name} AS value, {shape} AS shape FROM {table}"
            f" WHERE {where} ORDER BY {key_list} LIMIT ?"
        )
        update = (
            f"UPDATE {table} SET {name} = ? WHERE "
            + " AND ".join(f"{k} = ?" for k in keys)
            + f" AND {name} = ?"
        )

        def op(conn: Conn) -> RekeyBatch:
            rows = self._all(conn, select, [*(after or ()), limit])
            changed = 0
            for r in rows:
                new = rewrite(r["value"], r["shape"])
                if new is None:
                    continue
                changed += 1
                if not dry_run:
                    self._x(conn, update, (new, *(r[k] for k in keys), r["value"]))
            last = json.dumps([rows[-1][k] for k in keys]) if len(rows) == limit else None
            return RekeyBatch(len(rows), changed, last)

        return await self._run(op, write=not dry_run)

    async def rekey_blobs(
        self,
        cursor: str | None,
        limit: int,
        rewrite: Callable[[bytes], bytes | None],
        dry_run: bool,
    ) -> RekeyBatch:
        def op(conn: Conn) -> RekeyBatch:
            params: list[object] = [limit]
            sql = "SELECT digest, data FROM blobs ORDER BY digest LIMIT ?"
            if cursor is not None:
                sql = "SELECT digest, data FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?"
                params = [cursor, limit]
            rows = self._all(conn, sql, params)
            changed = 0
            for r in rows:
                new = rewrite(bytes(r["data"]))
                if new is None:
                    continue
                changed += 1
                if not dry_run:
                    # The bytes of a digest never change, so no compare is needed.
                    self._x(
                        conn,
                        "UPDATE blobs SET data = ?, size = ? WHERE digest = ?",
                        (new, len(new), r["digest"]),
                    )
            return RekeyBatch(
                len(rows), changed, rows[-1]["digest"] if len(rows) == limit else None
            )

        return await self._run(op, write=not dry_run)
