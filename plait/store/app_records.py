"""Application records in the SQL store (``engine.records``).

:class:`SQLRecords` is a mixin of :class:`~plait.store.sql.SQLStore`: one row per
``(kind, key)`` holding codec text, and the ``subject`` (the person it is about) so erasure
can find every record about someone. Each public coroutine is one transaction.

Invariants kept here:
- A put replaces the value and subject of ``(kind, key)`` atomically (an upsert) and keeps
  its ``created_at``.
- A prefix is matched byte for byte (``substr``), never with ``LIKE``: no wildcard in a key
  is special, and case matters on every backend.
- Lists are in key order.
"""

from __future__ import annotations

from plait.store.records import StoredRecord
from plait.store.sqlbase import Conn, Row, SQLBase

_COLUMNS = "kind, key, value, subject, created_at, updated_at"


class SQLRecords(SQLBase):
    """``put_record``, ``get_record``, ``delete_record`` and ``list_records``."""

    async def put_record(
        self, kind: str, key: str, value: str, subject: str | None, now: int
    ) -> None:
        await self._run(
            lambda c: self._x(
                c,
                f"INSERT INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value,"
                " subject = excluded.subject, updated_at = excluded.updated_at",
                (kind, key, value, subject, now, now),
            )
        )

    async def get_record(self, kind: str, key: str) -> StoredRecord | None:
        def op(conn: Conn) -> StoredRecord | None:
            row = self._one(
                conn, f"SELECT {_COLUMNS} FROM records WHERE kind = ? AND key = ?", (kind, key)
            )
            return None if row is None else _record(row)

        return await self._run(op, write=False)

    async def delete_record(self, kind: str, key: str) -> bool:
        def op(conn: Conn) -> bool:
            cur = self._x(conn, "DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
            return bool(cur.rowcount)

        return await self._run(op)

    async def list_records(
        self, kind: str | None, prefix: str | None, subject: str | None
    ) -> list[StoredRecord]:
        where: list[str] = []
        params: list[object] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if prefix:
            where.append("substr(key, 1, ?) = ?")
            params.extend((len(prefix), prefix))
        if subject is not None:
            where.append("subject = ?")
            params.append(subject)
        sql = f"SELECT {_COLUMNS} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY kind, key"
        return await self._run(
            lambda c: [_record(r) for r in self._all(c, sql, params)], write=False
        )


def _record(r: Row) -> StoredRecord:
    return StoredRecord(
        kind=r["kind"],
        key=r["key"],
        value=r["value"],
        subject=r["subject"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )
