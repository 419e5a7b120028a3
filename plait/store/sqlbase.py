"""The base of the SQL store: plumbing, the dialect, and the primitives every part shares.

:class:`SQLBase` runs operations on the backend's executor (``_run``: one transaction each,
group-committed) and gives them the connection helpers (``_x``, ``_one``, ``_all``) and the
primitives the workflow, task and limit parts of the store build on:

- ``_fence``: every write for a running workflow starts with it. It checks that the claimed
  ``attempt`` still holds the lease and takes the row lock (a locking read: the heartbeat,
  not each write, renews leases) and returns ``cancel_requested``; zero rows means the lease
  was lost and nothing is written.
- ``_require``: a client's operation locks the workflow row first (``WorkflowNotFound`` if
  there is none). Signal senders and waiters both lock that row before they touch the
  mailbox, so no wake-up is lost; lock order is the workflow row before anything else.
- ``_deliver``: puts a signal in a workflow's mailbox and wakes it if it waits for that name.
- ``_append`` / ``_update_entry``: journal writes, fenced by the caller.

SQL is written with ``?`` placeholders; a :class:`Dialect` supplies what differs between
databases (placeholders, row locks, JSON lookups, the queue lock).

The store is composed of parts, each a subclass of :class:`SQLBase` in its own module
(:class:`~plait.store.sql.SQLStore` lists them). A part calls another only through the hooks
declared on :class:`SQLBase` (each says which part provides it and which call it), so the
dependencies between parts are these:

- ``_insert_workflow``: provided by ``SQLClients``; called by ``SQLRuns.start_child``.
- ``_end``: provided by ``SQLEnds``; called by ``SQLClients.cancel``, ``SQLClaims`` (claim)
  and ``SQLEnds`` (finish).
- ``_cancel_workflow_tasks``: provided by ``SQLTasks``; called by ``SQLClients.cancel``,
  ``SQLEnds._end`` and ``SQLContinuation.continue_as_new``.
- ``_claim_ready``, ``_send_claim_ready``, ``_next_ready``, ``_send_next_ready``: provided
  by ``SQLLimits``; called by ``SQLClaims.claim`` and ``SQLRuns.next_due``.
- ``_log_event``: provided by ``SQLEvents``; called by ``SQLClients`` (create, signal,
  cancel, resume) and ``SQLRuns.start_child``.
- ``_flush_events``: provided by ``SQLEvents``; called by ``SQLGc`` before it deletes a
  workflow's event rows.
- ``_adopt_blobs``: provided by ``SQLBlobs``; called by ``SQLClients`` (``_insert_workflow``,
  ``send_signal``).

Every part uses the primitives above (``_run``, ``_x``, ``_require``, ``_fence``,
``_deliver``, ``_append``, ``_update_entry``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from plait.errors import WorkflowNotFound
from plait.store.executor import Executor, Later
from plait.store.fencedsql import JOURNAL_COLUMNS as JOURNAL_COLUMNS
from plait.store.fencedsql import fenced_sql
from plait.store.migrations import SchemaStatus, names
from plait.store.records import Entry, Fence, LeaseLostError

if TYPE_CHECKING:
    from plait.store.records import NewWorkflow
    from plait.types import WorkflowEventKind

T = TypeVar("T")
Row = Any  # a mapping-like row from the DB-API driver
Conn = Any


_HAS_MIGRATIONS_TABLE = {
    "sqlite": "SELECT COUNT(*) AS n FROM sqlite_master"
    " WHERE type = 'table' AND name = 'schema_migrations'",
    "postgresql": "SELECT COUNT(*) AS n FROM pg_tables"
    " WHERE schemaname = current_schema() AND tablename = 'schema_migrations'",
}


class Dialect:
    """What differs between SQL databases. SQL is written with ``?`` placeholders."""

    name = "sql"
    for_update = ""
    skip_locked = ""
    param = "?"
    # A statement that takes a lock on one queue (its name bound) until the transaction
    # ends; empty where write transactions are serialized anyway (SQLite).
    queue_lock = ""
    # Whether a WITH clause may hold INSERT/UPDATE (PostgreSQL): the fence and the journal
    # entries after it are then one statement (``SQLBase._send_fenced_append``).
    writes_in_with = False
    # Statements run before and after the claim's reads: they make them walk indexes (the
    # ready rows in claim order, the journal by workflow) whatever the statistics say.
    claim_plans: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    def sql(self, text: str) -> str:
        return text if self.param == "?" else _convert(text, self.param)

    def json_text(self, column: str, key_param: str) -> str:
        """An expression for ``column``'s JSON value at a key, as text ('true'/'false' for
        booleans); each ``key_param`` in it is bound to the key."""
        raise NotImplementedError


_cache: dict[tuple[str, str], str] = {}


def _convert(text: str, param: str) -> str:
    key = (text, param)
    if key not in _cache:
        _cache[key] = re.sub(r"\?", param, text.replace("%", "%%"))
    return _cache[key]


# json.dumps(value, separators=(",", ":")) without an encoder made per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def dump_json(value: object) -> str | None:
    """``value`` as compact JSON text (``None`` stays NULL)."""
    return None if value is None else _COMPACT.encode(value)


def load_json(text: str | None) -> Any:
    """JSON text read from a column as a value (NULL as ``None``)."""
    return None if text is None else json.loads(text)


class SQLBase:
    """Plumbing and shared primitives of a SQL store (see the module docstring)."""

    url: str

    def __init__(self, url: str, dialect: Dialect, executor: Executor) -> None:
        self.url = url
        self.dialect = dialect
        self._executor = executor

    # -- plumbing ----------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        await self._executor.start()
        if migrate:
            await self._run(self._migrate)

    async def schema_status(self) -> SchemaStatus:
        """The database's schema against this plait's migrations (changes nothing)."""

        def read(conn: Conn) -> tuple[int, ...]:
            if not self._all(conn, _HAS_MIGRATIONS_TABLE[self.dialect.name])[0]["n"]:
                return ()  # a new, empty database
            rows = self._all(conn, "SELECT version FROM schema_migrations ORDER BY version")
            return tuple(int(r["version"]) for r in rows)

        applied = await self._run(read, write=False)
        return SchemaStatus(self.url, applied, names(self.dialect.name))

    async def migrate(self) -> list[int]:
        """Applies the pending migrations (one transaction); the numbers it applied."""
        return await self._run(self._migrate)

    async def close(self) -> None:
        await self._executor.close()

    async def _run(self, fn: Callable[[Conn], T], *, write: bool = True) -> T:
        return await self._executor.run(fn, write=write)

    def notify(self, queue: str | None) -> None:
        """Wake-up hints for other processes: none here (they poll); PostgreSQL sends them."""

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Hints from other processes: none here; PostgreSQL listens for them."""

    def _x(self, conn: Conn, sql: str, params: Sequence[object] = ()) -> Any:
        return conn.execute(self.dialect.sql(sql), tuple(params))

    def _one(self, conn: Conn, sql: str, params: Sequence[object] = ()) -> Row | None:
        return self._x(conn, sql, params).fetchone()

    def _all(self, conn: Conn, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return list(self._x(conn, sql, params).fetchall())

    def _migrate(self, conn: Conn) -> list[int]:
        """Applies the migrations not yet recorded; returns their numbers."""
        raise NotImplementedError

    def _require(self, conn: Conn, workflow_id: str) -> Row:
        row = self._one(
            conn,
            f"SELECT id, status, waiting_on, parent_id, attempt, error FROM workflows "
            f"WHERE id = ?{self.dialect.for_update}",
            (workflow_id,),
        )
        if row is None:
            raise WorkflowNotFound(f"no workflow {workflow_id!r} in {self.url}")
        return row

    def _deliver(
        self,
        conn: Conn,
        row: Row,
        name: str,
        payload: str | None,
        dedup_key: str | None,
        now: int,
    ) -> bool:
        if dedup_key is not None and self._one(
            conn,
            "SELECT 1 AS x FROM signals WHERE workflow_id = ? AND dedup_key = ?",
            (row["id"], dedup_key),
        ):
            return False
        self._x(
            conn,
            "INSERT INTO signals (workflow_id, name, payload, dedup_key, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (row["id"], name, payload, dedup_key, now),
        )
        waiting_on = load_json(row["waiting_on"]) or {}
        if row["status"] == "waiting" and name in waiting_on.get("signals", ()):
            self._x(
                conn,
                "UPDATE workflows SET status = 'pending', available_at = ?, updated_at = ?"
                " WHERE id = ?",
                (now, now, row["id"]),
            )
        return True

    # -- hooks: what one part of the store provides for the others (see the module table) -
    def _insert_workflow(self, conn: Conn, new: NewWorkflow, now: int) -> bool:
        """Inserts ``new`` as pending unless a workflow with its id exists; whether it did.
        Provided by ``SQLClients``; ``SQLRuns.start_child`` creates children with it."""
        raise NotImplementedError

    def _end(
        self,
        conn: Conn,
        workflow_id: str,
        parent_id: str | None,
        status: str,
        output: str | None,
        error: dict[str, Any] | None,
        now: int,
    ) -> None:
        """Sets a final (or blocked) status, cancels the workflow's open tasks when it is
        completed or cancelled, and tells the parent when the child has ended. Provided by
        ``SQLEnds``; ``SQLClients.cancel`` ends workflows that never ran or are blocked."""
        raise NotImplementedError

    def _cancel_workflow_tasks(self, conn: Conn, workflow_id: str, now: int, reason: str) -> None:
        """Cancels the workflow's open human tasks (the caller holds its row). Provided by
        ``SQLTasks``; called by ``SQLClients.cancel`` and ``SQLEnds._end``."""
        raise NotImplementedError

    def _claim_ready(
        self,
        conn: Conn,
        queues: Sequence[str] | None,
        pairs: Sequence[tuple[str, str]],
        want: int,
        now: int,
    ) -> list[str]:
        """Locks and returns the ids of up to ``want`` ready workflows the queues' limits let
        run now. Provided by ``SQLLimits``; ``SQLRuns.claim`` takes ready work with it."""
        raise NotImplementedError

    def _send_claim_ready(
        self, conn: Conn, queues: Sequence[str] | None
    ) -> Callable[[Sequence[tuple[str, str]], int, int], list[str]]:
        """``_claim_ready`` in two halves: sends its first read, returns the rest (called
        with ``pairs, want, now``). Provided by ``SQLLimits``; used by ``SQLRuns.claim``."""
        raise NotImplementedError

    def _send_next_ready(
        self, conn: Conn, queues: Sequence[str] | None
    ) -> Callable[[], int | None]:
        """``_next_ready`` in two halves: sends its first read, returns the rest. Provided by
        ``SQLLimits``; used by ``SQLRuns.next_due``."""
        raise NotImplementedError

    def _next_ready(self, conn: Conn, queues: Sequence[str] | None) -> int | None:
        """When the next ready or waiting workflow may be claimed as far as time and limits
        go. Provided by ``SQLLimits``; called by ``SQLRuns.next_due``."""
        raise NotImplementedError

    def _log_event(
        self,
        conn: Conn,
        workflow_id: str,
        kind: WorkflowEventKind,
        by: str,
        details: dict[str, Any],
        now: int,
    ) -> None:
        """Appends a client action to the workflow's event log, in the action's transaction
        (written with the batch's other events just before COMMIT). Provided by
        ``SQLEvents``; called by ``SQLClients`` and ``SQLRuns.start_child``."""
        raise NotImplementedError

    def _flush_events(self, conn: Conn) -> None:
        """Writes the events logged so far in this transaction, before a read or delete of
        event rows. Provided by ``SQLEvents``; called by ``SQLGc``."""
        raise NotImplementedError

    def _adopt_blobs(
        self, conn: Conn, workflow_id: str, digests: tuple[str, ...], now: int
    ) -> None:
        """Makes ``workflow_id`` hold the stored blobs among ``digests``. Provided by
        ``SQLBlobs``; called by ``SQLClients`` when a workflow is created or signalled."""
        raise NotImplementedError

    # -- fenced writes -----------------------------------------------------------------
    def _fence(self, conn: Conn, fence: Fence, now: int) -> bool:
        # A locking read, not an UPDATE: it writes no new row version per step (the
        # heartbeat keeps the lease alive), and the status is a parameter so no partial index
        # (WHERE status = 'running') can serve it: always the primary-key lookup.
        row = self._one(
            conn,
            "SELECT cancel_requested, recoveries FROM workflows"
            f" WHERE id = ? AND attempt = ? AND status = ?{self.dialect.for_update}",
            (fence.workflow_id, fence.attempt, "running"),
        )
        if row is None:
            raise LeaseLostError(
                f"attempt {fence.attempt} of workflow {fence.workflow_id!r} lost its lease"
            )
        if row["recoveries"]:  # a write is progress: the crash-loop count starts again
            self._x(conn, "UPDATE workflows SET recoveries = 0 WHERE id = ?", (fence.workflow_id,))
        return bool(row["cancel_requested"])

    def _send_fenced_append(
        self, conn: Conn, fence: Fence, now: int, entries: Sequence[Entry]
    ) -> Callable[[], bool]:
        """``_fence`` then ``_append``, as the send half of a pipelined operation: returns
        the function that reads whether cancellation was requested (``LeaseLostError`` if
        the lease was lost). Where the dialect allows, one statement does both, and the
        entries are inserted only if the fence's row was found and locked: a stale attempt
        writes nothing."""
        read = self._send_fence_entries(conn, fence, now, entries)
        return lambda: read()[0]

    def _send_fence_entries(
        self, conn: Conn, fence: Fence, now: int, entries: Sequence[Entry]
    ) -> Callable[[], tuple[bool, tuple[int | None] | None]]:
        """As ``_send_fenced_append``; its reader returns ``(cancel_requested, deadline)``,
        ``deadline`` being ``(deadline_at,)`` when the one statement read it, else None."""
        if not self.dialect.writes_in_with:
            done = self._fence_append(conn, fence, now, entries)
            return lambda: done
        read = self._send_fenced(conn, fence, entries)

        def receive() -> tuple[bool, tuple[int | None] | None]:
            row = read()
            return bool(row["cancel_requested"]), (row["deadline_at"],)

        return receive

    def _fence_append(
        self, conn: Conn, fence: Fence, now: int, entries: Sequence[Entry]
    ) -> tuple[bool, tuple[int | None] | None]:
        """``_fence`` then ``_append``, run now, in as few statements as the dialect allows:
        ``(cancel_requested, deadline)`` as ``_send_fence_entries`` reads them. On
        PostgreSQL one statement (``_send_fenced``). Elsewhere (SQLite, whose write
        transactions are serialized: the row needs no lock) the first entry is inserted by
        an ``INSERT … SELECT`` from the fence's row that finds it only if this attempt holds
        the lease and there is nothing to report or reset (no cancellation requested, no
        crash-loop count): the common case, one statement, no read. If it inserted nothing,
        the full fence runs (``LeaseLostError``, or it reads and resets) and then the
        entries: a stale attempt writes nothing either way."""
        if not entries:
            return self._fence(conn, fence, now), None
        if self.dialect.writes_in_with:
            row = self._send_fenced(conn, fence, entries)()
            return bool(row["cancel_requested"]), (row["deadline_at"],)
        try:
            cur = self._x(conn, _FENCED_INSERT, _fenced_params(fence, entries[0]))
        except Exception as exc:
            if _is_unique_violation(exc):
                raise LeaseLostError(
                    f"journal entry {entries[0].seq} of {fence.workflow_id!r} was written by"
                    " another attempt"
                ) from None
            raise
        if cur.rowcount != 1:
            cancel = self._fence(conn, fence, now)
            self._append(conn, fence, entries)
            return cancel, None
        self._append(conn, fence, entries[1:])
        return False, None

    def _record_many(self, conn: Conn, ops: list[tuple[Fence, int, list[Entry]]]) -> list[bool]:
        """``_fence_append`` for a run of step records (``fence, now, entries``) in one batch,
        where ``WITH`` may not write (SQLite). When every record's first entry passes the
        short path's fence, the run is one ``executemany`` of ``_FENCED_INSERT`` (and one for
        the entries after the first), each record's answer as its own short path gives it;
        otherwise that is undone and each record runs ``_fence_append`` as it would alone."""
        if len(ops) > 1:
            first = [_fenced_params(f, es[0]) for f, _, es in ops]
            if self._all_or_none(conn, _FENCED_INSERT, first):
                rest = [entry_params(f, e) for f, _, es in ops for e in es[1:]]
                if rest:
                    conn.executemany(INSERT_ENTRY, rest)
                return [False] * len(ops)
        return [self._fence_append(conn, f, now, es)[0] for f, now, es in ops]

    def _all_or_none(self, conn: Conn, sql: str, rows: Sequence[Sequence[object]]) -> bool:
        """Runs ``sql`` for each of ``rows`` (``executemany``, SQLite); keeps its writes and
        says True when each row changed one row, else undoes them (a savepoint) and says
        False. An error is raised as it is: the executor then runs the batch's operations
        one by one, each charged with its own."""
        conn.execute("SAVEPOINT plait_many")
        if conn.executemany(sql, rows).rowcount == len(rows):
            conn.execute("RELEASE plait_many")
            return True
        conn.execute("ROLLBACK TO plait_many")
        conn.execute("RELEASE plait_many")
        return False

    def _then(self, conn: Conn, value: T) -> T | Later:
        """``value``, once the statements this pipelined operation sent have run: in
        pipeline mode an error shows only at a later read, and this read makes it the
        operation's own (no read is needed where there is no pipeline)."""
        if not self.dialect.writes_in_with:
            return value
        cur = self._x(conn, "SELECT 1 AS x")
        return Later(lambda: (cur.fetchone(), value)[1])

    def _send_fenced(
        self,
        conn: Conn,
        fence: Fence,
        entries: Sequence[Entry],
        end: Sequence[object] = (),
        *,
        alone: bool = False,
    ) -> Callable[[], Row]:
        """Sends the fence, ``entries`` and, with ``end`` (status, output, error,
        completed_at, updated_at), the workflow's end as one statement (``writes_in_with``
        dialects only); returns the function that reads the fence's row (``cancel_requested``;
        with ``end`` also ``parent_id`` and ``open_tasks``). ``alone``: the fence also needs
        no parent and no open human task, and a row not found reads as None, not as
        ``LeaseLostError`` (nothing was written either way)."""
        params = _fenced_append_params(fence, entries)
        params.extend(end)
        try:  # outside pipeline mode (a batch run again in savepoints) it raises here
            cur = self._x(conn, fenced_sql(len(entries), bool(end), alone), params)
        except Exception as exc:
            if _is_unique_violation(exc):
                raise _written_by_another(fence) from None
            raise

        def receive() -> Row:
            try:
                row = cur.fetchone()
            except Exception as exc:
                if _is_unique_violation(exc):
                    raise _written_by_another(fence) from None
                raise
            if row is None and not alone:
                raise LeaseLostError(
                    f"attempt {fence.attempt} of workflow {fence.workflow_id!r} lost its lease"
                )
            return row  # type: ignore[no-any-return]

        return receive

    def _append(self, conn: Conn, fence: Fence, entries: Iterable[Entry]) -> None:
        for e in entries:
            try:
                self._x(conn, INSERT_ENTRY, entry_params(fence, e))
            except Exception as exc:
                if _is_unique_violation(exc):
                    raise LeaseLostError(
                        f"journal entry {e.seq} of {fence.workflow_id!r} was written by"
                        " another attempt"
                    ) from None
                raise

    def _update_entry(self, conn: Conn, fence: Fence, e: Entry) -> None:
        self._x(
            conn,
            "UPDATE journal SET status = ?, output = ?, error = ?, completed_at = ?,"
            " worker_attempt = ? WHERE workflow_id = ? AND seq = ?",
            (
                e.status,
                e.output,
                dump_json(e.error),
                e.completed_at,
                fence.attempt,
                fence.workflow_id,
                e.seq,
            ),
        )


def _written_by_another(fence: Fence) -> LeaseLostError:
    return LeaseLostError(
        f"a journal entry of {fence.workflow_id!r} was written by another attempt"
    )


INSERT_ENTRY = (
    f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# ``_fence_append``'s first entry: inserted only from the fence's row, and only when the
# fence would have nothing to report (cancel_requested) or to reset (recoveries).
_FENCED_INSERT = (
    f"INSERT INTO journal ({JOURNAL_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
    " FROM workflows WHERE id = ? AND attempt = ? AND status = ? AND cancel_requested = 0"
    " AND recoveries = 0"
)


def entry_params(fence: Fence, e: Entry) -> tuple[object, ...]:
    """A journal row's values (``JOURNAL_COLUMNS``) for ``e`` written by ``fence``."""
    return (
        fence.workflow_id,
        e.seq,
        e.kind,
        e.name,
        e.status,
        e.output,
        dump_json(e.error),
        e.wake_at,
        e.attempts,
        fence.attempt,
        e.started_at,
        e.completed_at,
        e.fingerprint,
    )


def _fenced_params(fence: Fence, e: Entry) -> tuple[object, ...]:
    """``_FENCED_INSERT``'s values: ``e``'s row, then the fence's."""
    return (*entry_params(fence, e), fence.workflow_id, fence.attempt, "running")


def _fenced_append_params(fence: Fence, entries: Sequence[Entry]) -> list[object]:
    params: list[object] = [fence.workflow_id, fence.attempt, "running"]
    for e in entries:
        params.extend(entry_params(fence, e))
    return params


def queue_clause(queues: Sequence[str] | None) -> tuple[str, list[object]]:
    """`` AND queue IN (...)`` for ``queues`` (nothing for all queues), and its parameters."""
    if not queues:
        return "", []
    return f" AND queue IN ({', '.join('?' for _ in queues)})", list(queues)


def _is_unique_violation(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "unique" in text or "duplicate key" in text
