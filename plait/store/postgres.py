"""PostgreSQL backend: any number of worker processes on any number of hosts share one database.

The domain logic is the shared SQL of :mod:`plait.store.sql`; this module supplies the
dialect, the connections, migrations and wake-up hints.

Connections. The store's operations are synchronous DB-API functions, each one transaction,
run by :class:`~plait.store.executor.BatchExecutor` threads that group-commit whatever is
queued at the moment. The "pool" is ``pool_size`` such threads (default 2), each owning one
psycopg 3 connection, and an operation goes to the least busy one. We chose this over
``psycopg_pool.AsyncConnectionPool`` because group commit needs one owner per connection
that sees the whole queue (an async pool hands out a connection per operation, so 100
concurrent step results become 100 commits instead of one or two), and because the same
synchronous code then serves SQLite and PostgreSQL (one conformance suite, no twin async
code). The event loop never blocks on the database: it awaits a future the thread resolves
after COMMIT. Only the wake-up connection below is async.

Round trips. Each transaction keeps its statements and sends them together wherever the
operations allow (``_Backend`` with :class:`~plait.store.pglink.Link`, which does what
libpq's pipeline mode does at about a third of psycopg's client CPU): ``BEGIN`` goes out
with the batch's first statements, the statements of consecutive
:class:`~plait.store.executor.Pipelined` operations (a step's result, a start, a signal, a
wait, a workflow's end, a claim, a read of a workflow) go out together before any result
is read, and ``COMMIT`` goes out with the batch's event rows. The hot operations are one
statement each (``WITH`` the fence's row lock, then the writes on the row it found: a stale
attempt writes nothing). A batch of them costs two round trips, however many workflows it
serves; the futures still resolve only after ``COMMIT`` returned. A batch of step records
only (the common batch of a workflow running steps one after another) is one round trip,
``BEGIN`` to ``COMMIT`` (``Link.one_trip``).

Invariants kept here:
- Every operation runs under READ COMMITTED; the shared SQL locks the workflow row
  (``FOR NO KEY UPDATE``, or the fencing UPDATE) before it reads what it will act on, and
  the claim skips rows other transactions hold (``SKIP LOCKED``).
- Transient errors (connection lost, server restart or shutdown, ``pg_terminate_backend``,
  serialization failure, deadlock, too many connections) roll the batch back and run it again
  on a new connection, with backoff, for up to ``retry_for`` seconds. Nothing is half-written:
  a batch is one transaction. Nothing is done twice: if the connection breaks during COMMIT,
  the transaction id taken at BEGIN is looked up with ``pg_xact_status`` before anything is
  run again; for a one-trip batch of step records, which reads nothing before COMMIT,
  each record's journal row is looked up instead (``SQLRuns._recover_append``).
- Migrations (numbered files in ``migrations/postgresql``) run in one transaction under
  ``pg_advisory_xact_lock``, so workers starting together migrate once.
- Wake-ups are hints sent after commit, never from a trigger and never inside the
  transaction that did the work: ``notify(queue)`` queues a queue name, and a background task
  sends the queued names every ~25 ms with one ``SELECT pg_notify(...) FROM unnest(...)`` on
  its own autocommit connection. The same connection ``LISTEN``s when a worker subscribed,
  and reconnects after errors (then wakes its workers once, as hints may have been missed).
  Correctness never depends on a hint: workers poll too.
- Change hints (for the change feed, ``plait/store/views.py``) go on a channel of their own,
  ``CHANGES``, coalesced the same way, so that a write never wakes other processes' workers
  to claim; the connection listens on it only while a change feed is subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from plait.errors import ConfigurationError
from plait.store import migrations
from plait.store.events import EventLogBackend
from plait.store.executor import BatchExecutor, CommitUnknown, ExecutorPool
from plait.store.pglink import Link
from plait.store.sql import SQLStore
from plait.store.sqlbase import Conn, Dialect

log = logging.getLogger("plait.store")

CHANNEL = "plait_wakeup"
CHANGES = "plait_changes"  # "a write committed": wakes change feeds, never workers
MIGRATION_LOCK = 0x706C616974  # "plait": the advisory lock key migrations run under
FLUSH_INTERVAL = 0.025  # seconds hints are coalesced before one NOTIFY
PING_INTERVAL = 10.0  # seconds between pings of an idle wake-up connection


class PostgresDialect(Dialect):
    name = "postgresql"
    param = "%s"
    # NO KEY UPDATE: the lock a non-key UPDATE takes. Plain FOR UPDATE would also block the
    # KEY SHARE lock that foreign-key checks take on a parent row (a journal insert, or a
    # second update of a child row in one transaction), and deadlock a cancel cascade
    # against a child suspending.
    for_update = " FOR NO KEY UPDATE"
    skip_locked = " SKIP LOCKED"
    # Claims on a limited queue count its running workflows under this lock (write skew,
    # plait/store/limits.py). The two-key form: a key space apart from MIGRATION_LOCK's.
    queue_lock = "SELECT pg_advisory_xact_lock(1886151025, hashtext(?))"  # 0x706C6171 "plaq"
    writes_in_with = True
    # Plans made before a burst mislead the claim's reads. Statistics taken while the woken
    # workflows waited (available_at NULL) say few rows are due: the planner then reads every
    # due row and sorts them (18 ms a claim with 10,000 due) instead of taking the first ones
    # from workflows_claim_order (0.1 ms). A prepared statement's generic plan made while the
    # journal was small scans the whole journal for 50 workflows' entries (36 ms).
    claim_plans = (
        ("SET LOCAL enable_sort = off", "SET LOCAL enable_seqscan = off"),
        ("SET LOCAL enable_sort TO DEFAULT", "SET LOCAL enable_seqscan TO DEFAULT"),
    )

    def json_text(self, column: str, key_param: str) -> str:
        return f"({column}::jsonb ->> {key_param})"


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def split_options(url: str) -> tuple[str, dict[str, str]]:
    """Takes plait's own ``plait_*`` query parameters out of ``url`` (libpq rejects them)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k.removeprefix("plait_"): v for k, v in pairs if k.startswith("plait_")}
    rest = urlencode([(k, v) for k, v in pairs if not k.startswith("plait_")])
    return urlunsplit(parts._replace(query=rest)), ours


def conninfo(url: str, application_name: str = "plait") -> str:
    """libpq connection string for ``url``, named ``plait`` in ``pg_stat_activity`` unless
    the URL names itself; TCP keepalives so a silently dead peer is noticed."""
    given = conninfo_to_dict(url)
    extra: dict[str, Any] = {}
    if "application_name" not in given:
        extra["application_name"] = application_name
    for key, value in (
        ("connect_timeout", 10),
        ("keepalives", 1),
        ("keepalives_idle", 30),
        ("keepalives_interval", 10),
        ("keepalives_count", 3),
    ):
        if key not in given:
            extra[key] = value
    return make_conninfo(url, **extra)


def retryable(error: BaseException) -> bool:
    """Whether running the failed transaction again, perhaps on a new connection, can work."""
    if isinstance(error, CommitUnknown):
        return True
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is None:  # raised by the client: the connection broke or could not be made
        return isinstance(error, psycopg.OperationalError)
    return (
        state.startswith(("08", "40"))  # connection exception; serialization, deadlock
        or state in ("57P01", "57P02", "57P03")  # admin/crash shutdown, cannot connect now
        or state == "53300"  # too many connections
    )


class _Backend:
    """How a :class:`BatchExecutor` thread uses one connection (a :class:`Link`).

    A transaction starts keeping statements: ``BEGIN`` (and the query for the transaction
    id) are kept, not sent. The executor sends what was kept before an operation that is
    not :class:`~plait.store.executor.Pipelined` (``pipeline(conn, False)``: one round trip)
    and keeps statements again for pipelined ones; ``commit`` keeps the event rows and
    ``COMMIT`` and sends them, so a batch of pipelined operations costs two round trips:
    everything up to the last result, then the event rows and ``COMMIT``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._xid: str | None = None
        self._xid_cursor: Any = None

    def connect(self) -> Link:
        return Link(self.dsn)

    def pipeline(self, conn: Link, on: bool) -> None:
        """Starts keeping statements to send together (``on``), or sends what was kept
        and waits for every result, raising the first error among them."""
        if on:
            conn.batch(True)
        elif conn.batching:
            try:
                conn.batch(False)
            except psycopg.Error as exc:
                if exc.sqlstate is None:  # the client's error: the link's state is unknown
                    conn.close()
                raise

    def begin(self, conn: Link, write: bool) -> None:
        self._xid = None
        self._xid_cursor = None
        self.pipeline(conn, True)
        conn.execute("BEGIN")
        if write:
            # The transaction id lets a COMMIT whose reply was lost be looked up instead of
            # guessed at; it is read before COMMIT is sent.
            self._xid_cursor = conn.execute("SELECT pg_current_xact_id()::text AS xid")

    def _read_xid(self) -> str | None:
        cursor, self._xid_cursor = self._xid_cursor, None
        if cursor is not None:
            row = cursor.fetchone()
            self._xid = None if row is None else str(row["xid"])
        return self._xid

    def commit(self, conn: Link) -> None:
        xid = self._read_xid()
        self._xid = None
        if conn.info.transaction_status == TransactionStatus.INERROR:
            # COMMIT of a failed transaction would quietly roll back: say so instead.
            raise pg_errors.InFailedSqlTransaction("the batch's transaction failed")
        try:
            self.pipeline(conn, True)
            conn.execute("COMMIT")
            self.pipeline(conn, False)
        except psycopg.Error as exc:
            # A broken link, or one in a state libpq could not finish (no SQLSTATE: the
            # error is the client's), may have committed: look it up, never run it twice.
            if xid is not None and (conn.broken or conn.closed or exc.sqlstate is None):
                raise CommitUnknown(lambda c: _committed(c, xid)) from None
            raise
        if conn.info.transaction_status != TransactionStatus.IDLE:
            # an earlier statement of the pipeline failed, so COMMIT was never run
            raise pg_errors.InFailedSqlTransaction("the batch's transaction failed")

    def rollback(self, conn: Link) -> None:
        self._xid = None
        self._xid_cursor = None
        if conn.batching:
            try:
                self.pipeline(conn, False)
            except psycopg.Error:
                pass  # the error being rolled back (a broken link is closed by now)
            except Exception:
                conn.close()
        if conn.closed or conn.broken:
            raise psycopg.OperationalError("the connection is broken")
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")

    def one_trip(
        self,
        conn: Link,
        sends: list[Callable[[Any], Callable[[], Any]]],
        before_commit: Callable[[Any], None],
    ) -> list[object] | None:
        """A batch of final operations in one round trip (``Link.one_trip``)."""
        self.pipeline(conn, False)
        self._xid = None
        self._xid_cursor = None
        done = conn.one_trip(sends, before_commit)
        if done is None:
            self.rollback(conn)  # a statement failed, so COMMIT never ran: the usual way
        return done

    def savepoint(self, conn: Link, sql: str) -> None:
        self.pipeline(conn, False)
        conn.execute(sql)

    def close(self, conn: Link) -> None:
        conn.close()

    def retryable(self, error: BaseException) -> bool:
        return retryable(error)


def _committed(conn: Link, xid: str) -> bool | None:
    try:
        row = conn.execute("SELECT pg_xact_status(%s::xid8) AS s", (xid,)).fetchone()
    except pg_errors.InvalidParameterValue:  # "in the future": the server lost it in a crash
        return False
    status = None if row is None else row["s"]
    if status == "committed":
        return True
    if status == "aborted":
        return False
    return None  # still "in progress" (its backend is being terminated): ask again


class _Wakeups:
    """Coalesced NOTIFY after commits, and LISTEN for workers and change feeds, on one async
    connection."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pending: set[str] = set()
        self._changed = False  # a change hint is queued
        self._callbacks: list[Callable[[], None]] = []
        self._change_callbacks: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._kick: asyncio.Event | None = None
        self._closed = False
        self._sent = 0  # flushes that reached the server (tests look at it)

    def notify(self, queue: str | None) -> None:
        if self._closed:
            return
        self._pending.add(queue or "")
        self._ensure_running()

    def subscribe(self, wake: Callable[[], None]) -> None:
        if self._closed:
            return
        if wake not in self._callbacks:
            self._callbacks.append(wake)
        self._ensure_running()

    def changed(self) -> None:
        if self._closed:
            return
        self._changed = True
        self._ensure_running()

    def subscribe_changes(self, wake: Callable[[], None]) -> None:
        if self._closed:
            return
        self._change_callbacks.append(wake)
        self._ensure_running()

    def unsubscribe_changes(self, wake: Callable[[], None]) -> None:
        if wake in self._change_callbacks:
            self._change_callbacks.remove(wake)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._kick = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="plait-wakeups")
        if self._kick is not None:
            self._kick.set()

    def _fire(self, callbacks: list[Callable[[], None]]) -> None:
        for wake in list(callbacks):
            try:
                wake()
            except Exception:  # a hint must never break the listener
                log.exception("a wake-up callback failed")

    async def _run(self) -> None:
        pause = 0.1
        missed = False
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    pause = 0.1
                    await self._serve(conn, missed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closed:
                    return
                log.warning(
                    "wake-up connection failed (%s: %s); reconnecting", type(exc).__name__, exc
                )
                missed = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _serve(self, conn: psycopg.AsyncConnection[Any], missed: bool) -> None:
        listening = False
        watching = False  # LISTEN CHANGES
        last_io = time.monotonic()
        own_pid = conn.info.backend_pid
        while not self._closed:
            if self._callbacks and not listening:
                await conn.execute(f"LISTEN {CHANNEL}")
                listening = True
                if missed:  # hints may have been sent while we were disconnected
                    self._fire(self._callbacks)
            if self._change_callbacks and not watching:
                await conn.execute(f"LISTEN {CHANGES}")
                watching = True
                if missed:
                    self._fire(self._change_callbacks)
            await self._flush(conn)
            if listening or watching:
                heard: set[str] = set()
                async for note in conn.notifies(timeout=FLUSH_INTERVAL):
                    if note.pid != own_pid:
                        heard.add(note.channel)
                if CHANNEL in heard:
                    self._fire(self._callbacks)
                if CHANGES in heard:
                    self._fire(self._change_callbacks)
            else:
                assert self._kick is not None
                self._kick.clear()
                if not self._pending and not self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._kick.wait(), PING_INTERVAL)
                await asyncio.sleep(FLUSH_INTERVAL)  # let more hints gather
                continue
            if time.monotonic() - last_io > PING_INTERVAL:
                await conn.execute("SELECT 1")
                last_io = time.monotonic()

    async def _flush(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not self._pending and not self._changed:
            return
        queues = sorted(self._pending)
        changed = self._changed
        self._pending.clear()
        self._changed = False
        channels = [CHANNEL] * len(queues) + [CHANGES] * changed
        try:
            await conn.execute(
                "SELECT pg_notify(c, q) FROM unnest(%s::text[], %s::text[]) AS t(c, q)",
                (channels, [*queues, ""] if changed else queues),
            )
            self._sent += 1
        except BaseException:
            self._pending.update(queues)
            self._changed = self._changed or changed
            raise

    async def close(self) -> None:
        """Sends the hints still queued (briefly), then stops."""
        task, self._task = self._task, None
        if task is None:
            self._closed = True
            return
        if (self._pending or self._changed) and not task.done():
            deadline = time.monotonic() + 1.0
            while (
                (self._pending or self._changed) and not task.done() and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.005)
        self._closed = True
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


class PostgresStore(SQLStore):
    """The store for many workers: ``postgresql://user:password@host:5432/db``.

    ``pool_size`` connections run operations (default 2; ``?plait_pool_size=4`` in the URL
    sets it too), plus one for wake-ups once the process sends or listens for them.
    ``retry_for`` is how long transient errors are retried before callers see them.
    """

    def __init__(self, url: str, *, pool_size: int | None = None, retry_for: float = 120.0) -> None:
        url, options = split_options(url)
        if pool_size is None:
            pool_size = int(options.get("pool_size", "2"))
        if pool_size < 1:
            raise ConfigurationError(f"plait_pool_size must be at least 1, got {pool_size}")
        dsn = conninfo(url)
        members: list[BatchExecutor[Any]] = [
            BatchExecutor(
                EventLogBackend(_Backend(dsn), self), name=f"plait-pg-{i}", retry_for=retry_for
            )
            for i in range(pool_size)
        ]
        super().__init__(redact(url), PostgresDialect(), ExecutorPool(members))
        self._wakeups = _Wakeups(conninfo(url, "plait-wakeups"))

    async def close(self) -> None:
        await self._wakeups.close()
        await super().close()

    def notify(self, queue: str | None) -> None:
        self._wakeups.notify(queue)

    def subscribe(self, wake: Callable[[], None]) -> None:
        self._wakeups.subscribe(wake)

    def _changed(self) -> None:
        super()._changed()
        self._wakeups.changed()

    def subscribe_changes(self, wake: Callable[[], None]) -> Callable[[], None]:
        local = super().subscribe_changes(wake)
        self._wakeups.subscribe_changes(wake)

        def unsubscribe() -> None:
            local()
            self._wakeups.unsubscribe_changes(wake)

        return unsubscribe

    def _migrate(self, conn: Conn) -> list[int]:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
        )
        done = {r["version"] for r in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for number, sql in migrations.load("postgresql"):
            if number in done:
                continue
            conn.execute(sql)  # no parameters: the file's statements run as one script
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at)"
                " VALUES (%s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                (number,),
            )
            applied.append(number)
        return applied
