"""One round trip for a batch of step records on PostgreSQL.

The executor (``plait.store.executor``) sends an ordinary batch in pipeline mode: BEGIN, the
transaction id, the statements, then their results are read, then COMMIT: two round trips,
and psycopg's pipeline costs the client about 200 µs of CPU per transaction. A batch made
only of *final* operations (``Pipelined`` with ``recover``: a step's record, whose one
statement writes only if its fence holds) needs nothing read before COMMIT, so
:class:`OneTrip` sends it as one query string, ``BEGIN; ...; COMMIT``, bound on the client,
and reads every statement's rows after it. Each statement is an ``EXECUTE`` of a statement
prepared once per connection, so the server plans it once, as it does the pipeline's.

Invariants kept here:
- The batch commits whole or not at all (one explicit transaction). If any statement fails,
  the server skips the rest, COMMIT included: :meth:`OneTrip.run` returns None and the
  caller rolls back and runs the batch the usual way, where the error reaches its operation.
- Results are read, and receive halves run, only once COMMIT succeeded; a receive half that
  raises then is its operation's refusal (it wrote nothing).
- A link lost once the query string was sent is an unknown outcome: ``CommitUnknown``
  without a check; the executor asks each operation's ``recover`` whether its writes are
  there (``plait.store.executor._recovered``).
- A prepared statement belongs to one connection: a new connection prepares again.
  PREPARE is not undone by a rollback, so a failed batch leaves nothing half-prepared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

from plait.store.executor import CommitUnknown

PgConn = psycopg.Connection[DictRow]


class OneTrip:
    """Runs one-trip batches on an executor's connection (one per executor thread)."""

    def __init__(self) -> None:
        # The statements prepared on ``_on``: query -> its name (None: it cannot be).
        self._prepared: dict[str, str | None] = {}
        self._on: PgConn | None = None

    def run(
        self,
        conn: PgConn,
        sends: list[Callable[[Any], Callable[[], Any]]],
        before_commit: Callable[[Any], None],
    ) -> list[object] | None:
        """Each operation's result (its exception if its receive half raised) once the
        batch committed; None if it did not (roll back, then run it the usual way)."""
        batch = _Recorder()
        receives = [send(batch) for send in sends]
        before_commit(batch)
        cur = psycopg.ClientCursor(conn, row_factory=dict_row)
        text = ";".join(
            ["BEGIN", *(self._bound(conn, cur, q, p) for q, p in batch.statements), "COMMIT"]
        )
        try:
            cur.execute(text)
            for result in batch.results:
                cur.nextset()
                result.rows = cur.fetchall() if cur.description is not None else []
                result.rowcount = cur.rowcount
            cur.nextset()
            committed = cur.statusmessage == "COMMIT"
        except psycopg.Error as exc:
            if exc.sqlstate is None or conn.broken or conn.closed:
                raise CommitUnknown(None) from exc
            committed = False  # a statement failed, so COMMIT never ran
        if not committed or conn.info.transaction_status != TransactionStatus.IDLE:
            return None
        results: list[object] = []
        for receive in receives:
            try:
                results.append(receive())
            except Exception as exc:  # the operation's refusal (the batch committed)
                results.append(exc)
        return results

    def _bound(
        self, conn: PgConn, cur: psycopg.ClientCursor[DictRow], query: str, params: Sequence[object]
    ) -> str:
        """``query`` with ``params`` as one statement's text: ``EXECUTE`` of a statement
        prepared on this connection, or the query itself where it cannot be prepared."""
        if self._on is not conn:  # a new connection has none
            self._on, self._prepared = conn, {}
        name = self._prepared.get(query, "")
        if name == "":
            name = f"plait_{len(self._prepared)}"
            try:
                conn.execute(f"PREPARE {name} AS {numbered(query)}")
            except psycopg.Error as exc:
                if exc.sqlstate is None:
                    raise
                name = None  # its parameters' types cannot be told from the text alone
            self._prepared[query] = name
        if name is None:
            return cur.mogrify(query, params)
        if not params:
            return f"EXECUTE {name}"
        return cur.mogrify(f"EXECUTE {name}({', '.join('%s' for _ in params)})", params)


def numbered(query: str) -> str:
    """A psycopg query (``%s`` placeholders, ``%%`` for %) in PREPARE's form ($1, $2, ...)."""
    n = 0

    def number(match: re.Match[str]) -> str:
        nonlocal n
        if match.group() == "%%":
            return "%"
        n += 1
        return f"${n}"

    return re.sub("%%|%s", number, query)


class _Result:
    """One statement's rows, filled in after the batch ran."""

    __slots__ = ("rowcount", "rows")

    def __init__(self) -> None:
        self.rows: list[DictRow] = []
        self.rowcount = -1

    def fetchone(self) -> DictRow | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[DictRow]:
        return self.rows


class _Recorder:
    """Stands in for the connection while the operations send their statements: it keeps
    them, and gives each a :class:`_Result`."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[object, ...]]] = []
        self.results: list[_Result] = []

    def execute(self, query: str, params: tuple[object, ...] = ()) -> _Result:
        self.statements.append((query, params))
        result = _Result()
        self.results.append(result)
        return result
