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
- ``_end``: provided by ``SQLRuns``; called by ``SQLClients.cancel`` and ``SQLRuns`` (claim,
  finish).
- ``_cancel_workflow_tasks``: provided by ``SQLTasks``; called by ``SQLClients.cancel``,
  ``SQLRuns._end`` and ``SQLContinuation.continue_as_new``.
- ``_claim_ready``, ``_next_ready``: provided by ``SQLLimits``; called by ``SQLRuns.claim``
  and ``SQLRuns.next_due``.
- ``_log_event``: provided by ``SQLEvents``; called by ``SQLClients`` (create, signal,
  cancel, resume) and ``SQLRuns.start_child``.
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
from plait.store.executor import Executor
from plait.store.records import Entry, Fence, LeaseLostError

if TYPE_CHECKING:
    from plait.store.records import NewWorkflow
    from plait.types import WorkflowEventKind

T = TypeVar("T")
Row = Any  # a mapping-like row from the DB-API driver
Conn = Any

JOURNAL_COLUMNS = (
    "workflow_id, seq, kind, name, status, output, error, wake_at, attempts, worker_attempt, "
    "started_at, completed_at, fingerprint"
)


class Dialect:
    """What differs between SQL databases. SQL is written with ``?`` placeholders."""

    name = "sql"
    for_update = ""
    skip_locked = ""
    param = "?"
    # A statement that takes a lock on one queue (its name bound) until the transaction
    # ends; empty where write transactions are serialized anyway (SQLite).
    queue_lock = ""

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
    async def open(self) -> None:
        await self._executor.start()
        await self._run(self._migrate)

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

    def _migrate(self, conn: Conn) -> None:
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
        ``SQLRuns``; ``SQLClients.cancel`` ends workflows that never ran or are blocked."""
        raise NotImplementedError

    def _cancel_workflow_tasks(self, conn: Conn, workflow_id: str, now: int, reason: str) -> None:
        """Cancels the workflow's open human tasks (the caller holds its row). Provided by
        ``SQLTasks``; called by ``SQLClients.cancel`` and ``SQLRuns._end``."""
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

    def _append(self, conn: Conn, fence: Fence, entries: Iterable[Entry]) -> None:
        for e in entries:
            try:
                self._x(
                    conn,
                    f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
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
                    ),
                )
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


def _is_unique_violation(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "unique" in text or "duplicate key" in text
