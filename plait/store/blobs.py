"""Blobs in the SQL store: bytes stored once per digest, kept alive by references.

:class:`SQLBlobs` is a mixin of :class:`~plait.store.sql.SQLStore`. A blob row holds the
bytes of one SHA-256 digest, whoever stored them; a ``blob_refs`` row says who keeps it: a
workflow (the reference goes when the workflow row is deleted: a foreign key cascade), a
subject (until erasure removes it), or both. A blob stored outside any workflow with neither
owner nor subject has no reference: it is an orphan unless a workflow adopts it, which
``create_workflow`` and ``send_signal`` do for the digests their arguments or payload refer
to (``_adopt_blobs``), in their transaction.

Invariants kept here:
- The bytes of a digest are written once: a put of a stored digest only moves its
  ``touched_at`` and adds the reference; the bytes are not sent to the database again.
- Every put and adoption moves ``touched_at`` (an UPDATE of the blob row, so it holds the
  row's lock), and collection deletes only rows whose ``touched_at`` is older than its
  cutoff. A collection racing a put therefore either runs first (the put then stores the
  bytes afresh) or waits for the put's lock and finds the row touched: a put never returns
  a reference to bytes that a concurrent collection deletes.
- Collection deletes blobs with no reference, never one a workflow or a subject holds.
"""

from __future__ import annotations

from plait.errors import WorkflowNotFound
from plait.store.records import StoredBlob
from plait.store.sqlbase import Conn, SQLBase


class SQLBlobs(SQLBase):
    """``put_blob``, ``get_blob``, ``collect_blobs``, and adoption for the client operations."""

    async def put_blob(
        self,
        digest: str,
        data: bytes,
        content_type: str,
        workflow_id: str | None,
        subject: str | None,
        now: int,
    ) -> None:
        def op(conn: Conn) -> None:
            if workflow_id is not None and (
                self._one(conn, "SELECT 1 AS x FROM workflows WHERE id = ?", (workflow_id,)) is None
            ):
                raise WorkflowNotFound(f"no workflow {workflow_id!r} in {self.url}")
            if not self._touch_blob(conn, digest, now):
                self._x(
                    conn,
                    "INSERT INTO blobs (digest, size, content_type, data, created_at, touched_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at",
                    (digest, len(data), content_type, data, now, now),
                )
            if workflow_id is not None or subject is not None:
                self._add_blob_ref(conn, digest, workflow_id, subject, now)

        await self._run(op)

    def _touch_blob(self, conn: Conn, digest: str, now: int) -> bool:
        cur = self._x(conn, "UPDATE blobs SET touched_at = ? WHERE digest = ?", (now, digest))
        return bool(cur.rowcount)

    def _add_blob_ref(
        self, conn: Conn, digest: str, workflow_id: str | None, subject: str | None, now: int
    ) -> None:
        self._x(
            conn,
            "INSERT INTO blob_refs (digest, workflow_id, subject, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (digest, workflow_id, subject, now),
        )

    def _adopt_blobs(
        self, conn: Conn, workflow_id: str, digests: tuple[str, ...], now: int
    ) -> None:
        """Makes ``workflow_id`` hold the stored blobs among ``digests`` (those its arguments
        or a signal refer to). A digest that is not stored is left alone: reading it raises
        ``BlobNotFound`` where the workflow uses it."""
        for digest in digests:
            if self._touch_blob(conn, digest, now):
                self._add_blob_ref(conn, digest, workflow_id, None, now)

    async def get_blob(self, digest: str) -> StoredBlob | None:
        def op(conn: Conn) -> StoredBlob | None:
            row = self._one(
                conn,
                "SELECT digest, size, content_type, data, created_at FROM blobs WHERE digest = ?",
                (digest,),
            )
            if row is None:
                return None
            return StoredBlob(
                digest=row["digest"],
                size=row["size"],
                content_type=row["content_type"],
                data=bytes(row["data"]),
                created_at=row["created_at"],
            )

        return await self._run(op, write=False)

    async def collect_blobs(self, before: int) -> int:
        def op(conn: Conn) -> int:
            cur = self._x(
                conn,
                "DELETE FROM blobs WHERE touched_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM blob_refs r WHERE r.digest = blobs.digest)",
                (before,),
            )
            return int(cur.rowcount)

        return await self._run(op)
