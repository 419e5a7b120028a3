"""The PostgreSQL store's connection: statements sent together as one query string.

A batch's pipelined operations (``plait.store.executor``) send their statements before any
result is read. libpq's pipeline mode does that, but psycopg spends about 60-100 µs of
client CPU per statement on it, more than the rest of the store together. :class:`Link`
does it instead: while *batching*, ``execute`` keeps the statement and returns a
:class:`Result` to be filled in; the first read of any result (or leaving batching) sends
everything kept as one query string, bound on the client, each statement an ``EXECUTE`` of
a statement prepared once per connection (the server plans it once, as it does the
pipeline's prepared statements), and reads every statement's rows. A batch of step records
then costs one round trip from ``BEGIN`` to ``COMMIT`` (``one_trip``), about a third of the
client CPU of the same statements in pipeline mode.

Invariants kept here:
- Statements run in the order they were executed, in the connection's transaction; a query
  string stops at its first error (the transaction is then failed, as with libpq's
  pipeline): every result of that string raises that error when read, and the executor
  rolls back and runs the batch again operation by operation, where each error reaches its
  own operation.
- Outside batching, ``execute`` is psycopg's own (server-side parameters), without
  psycopg's automatic prepared statements (it deallocates every prepared statement of the
  connection after a ROLLBACK).
- A statement is prepared at most once per connection, at its second use, and at most
  ``MAX_PREPARED`` of them; PREPARE never fails inside a transaction (it runs in a savepoint
  there). One that is not prepared (seen once, one too many, or one whose parameters' types
  its text does not tell, a utility statement) is sent with its values inline.
  PREPARE is not undone by a rollback, so a failed batch leaves nothing half-prepared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

from plait.store.executor import CommitUnknown

_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
# A statement is prepared at its second use (a one-off shape, such as an IN list of some
# length, is not), and a connection holds at most MAX_PREPARED of them (the server keeps
# each one's plan in the connection's memory).
PREPARE_AFTER = 2
MAX_PREPARED = 200
# A prepared statement that is gone (26000), or whose plan no longer fits a changed table
# (0A000, "cached plan must not change result type").
_GONE = ("26000", "0A000")


class Result:
    """One kept statement's rows, filled in when its query string ran."""

    __slots__ = ("_error", "_link", "_rowcount", "rows", "statusmessage")

    def __init__(self, link: Link) -> None:
        self._link: Link | None = link  # None once filled in
        self._error: BaseException | None = None
        self.rows: list[DictRow] = []
        self._rowcount = -1
        self.statusmessage: str | None = None

    @property
    def rowcount(self) -> int:
        self._ready()
        return self._rowcount

    def _ready(self) -> None:
        if self._link is not None:
            self._link.flush()
        if self._error is not None:
            raise self._error

    def fetchone(self) -> DictRow | None:
        self._ready()
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[DictRow]:
        self._ready()
        return self.rows


class Link:
    """One psycopg connection (autocommit, dict rows) and its batching mode."""

    def __init__(self, dsn: str) -> None:
        self.conn: psycopg.Connection[DictRow] = psycopg.connect(
            dsn, autocommit=True, row_factory=dict_row
        )
        # psycopg's own prepared statements off: it sends DEALLOCATE ALL after a ROLLBACK
        # when it has any, which would take this link's with them.
        self.conn.prepare_threshold = None
        self._cur = psycopg.ClientCursor(self.conn, row_factory=dict_row)
        self._batching = False
        self._kept: list[tuple[str, Sequence[object], Result]] = []
        self._prepared: dict[str, str | None] = {}  # query -> name (None: sent inline)
        self._seen: dict[str, int] = {}  # query -> uses, until it is prepared
        self._calls: dict[int, str] = {}  # number of parameters -> "(%s, ...)"
        self.sent = False  # the last flush's query string went out

    # -- what the store's code uses of a connection ------------------------------------
    @property
    def info(self) -> Any:
        return self.conn.info

    @property
    def pgconn(self) -> Any:  # libpq's connection (its trace, for bench/pg_roundtrips.py)
        return self.conn.pgconn

    @property
    def closed(self) -> bool:
        return self.conn.closed

    @property
    def broken(self) -> bool:
        return self.conn.broken

    def close(self) -> None:
        self.conn.close()

    def execute(self, query: str, params: Sequence[object] | None = None) -> Any:
        if not self._batching:
            return self.conn.execute(query, params)
        result = Result(self)
        self._kept.append((query, () if params is None else params, result))
        return result

    # -- batching ----------------------------------------------------------------------
    @property
    def batching(self) -> bool:
        return self._batching

    def batch(self, on: bool) -> None:
        """Starts keeping statements (``on``), or sends what was kept and stops."""
        if on:
            self._batching = True
            return
        try:
            self.flush()
        finally:
            self._batching = False

    def flush(self) -> None:
        """Sends every kept statement as one query string and fills in their results;
        raises the first error (every result of the string raises it too)."""
        kept, self._kept = self._kept, []
        if not kept:
            return
        cur = self._cur
        self.sent = False
        try:
            text = ";".join(self._bound(q, p) for q, p, _ in kept)
            self.sent = True  # from here on, the server may have run some of it
            cur.execute(text)
            first = True
            for _, _, result in kept:
                if not first:
                    cur.nextset()
                first = False
                result.rows = cur.fetchall() if cur.description is not None else []
                result._rowcount = cur.rowcount
                result.statusmessage = cur.statusmessage
                result._link = None
        except BaseException as exc:
            for _, _, result in kept:
                if result._link is not None:
                    result._link, result._error = None, exc
            if isinstance(exc, psycopg.Error) and exc.sqlstate in _GONE:
                self._prepared.clear()  # someone deallocated them: prepare again
                self._seen.clear()
            raise

    def _bound(self, query: str, params: Sequence[object]) -> str:
        """``query`` with ``params`` as one statement's text: an ``EXECUTE`` of it prepared
        on this connection, or the query itself with its values inline."""
        name = self._prepared.get(query, "")
        if name == "":
            seen = self._seen.get(query, 0) + 1
            if seen < PREPARE_AFTER or len(self._prepared) >= MAX_PREPARED:
                # a shape seen once (an IN list of some length) or one too many: inline
                if len(self._seen) >= 4 * MAX_PREPARED:
                    self._seen.clear()
                self._seen[query] = seen
                name = None
            else:
                self._seen.pop(query, None)
                name = self._prepare(query, params)
        if name is None:
            return self._cur.mogrify(query, params) if params else query.replace("%%", "%")
        call = self._calls.get(len(params))
        if call is None:
            call = self._calls[len(params)] = f"({', '.join('%s' for _ in params)})"
        return self._cur.mogrify(f"EXECUTE {name}{call}", params)

    def _prepare(self, query: str, params: Sequence[object]) -> str | None:
        name: str | None = f"plait_{len(self._prepared)}"
        status = self.conn.info.transaction_status
        if not params or not query.lstrip().upper().startswith(_PREPARABLE):
            name = None
        elif status not in (TransactionStatus.IDLE, TransactionStatus.INTRANS):
            return None  # a failed transaction: inline this time, prepare another time
        else:
            inside = status == TransactionStatus.INTRANS
            try:
                if inside:  # a failed PREPARE must not fail the transaction
                    with self.conn.transaction():
                        self.conn.execute(f"PREPARE {name} AS {numbered(query)}")
                else:
                    self.conn.execute(f"PREPARE {name} AS {numbered(query)}")
            except psycopg.Error as exc:
                if exc.sqlstate is None:
                    raise
                name = None  # its parameters' types cannot be told from its text
        self._prepared[query] = name
        return name

    def one_trip(
        self,
        sends: list[Callable[[Any], Callable[[], Any]]],
        before_commit: Callable[[Any], None],
    ) -> list[object] | None:
        """``BEGIN``, the operations' statements and ``COMMIT`` as one query string (see
        ``plait.store.executor.BatchExecutor``): each operation's result (its exception if
        its receive half raised) once it committed; None if it did not (roll back, then
        run it the usual way). A link lost once the string was sent raises
        ``CommitUnknown`` without a check."""
        self.batch(True)
        try:
            self.execute("BEGIN")
            receives = [send(self) for send in sends]
            before_commit(self)
            done = self.execute("COMMIT")
            try:
                self.flush()
            except psycopg.Error as exc:
                lost = exc.sqlstate is None or self.conn.broken or self.conn.closed
                if lost and self.sent:
                    raise CommitUnknown(None) from exc
                if lost:
                    raise
        finally:
            self._kept = []
            self._batching = False
        committed = done._error is None and done.statusmessage == "COMMIT"
        if not committed or self.conn.info.transaction_status != TransactionStatus.IDLE:
            return None
        results: list[object] = []
        for receive in receives:
            try:
                results.append(receive())
            except Exception as exc:  # the operation's refusal (the batch committed)
                results.append(exc)
        return results


def numbered(query: str) -> str:
    """A psycopg query (``%s`` placeholders, ``%%`` for %) in PREPARE's form ($1, $2, ...)."""
    parts = query.split("%%")
    n = 0
    out = []
    for part in parts:
        pieces = part.split("%s")
        text = pieces[0]
        for piece in pieces[1:]:
            n += 1
            text += f"${n}{piece}"
        out.append(text)
    return "%".join(out)
