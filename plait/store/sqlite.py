"""SQLite backend: one database file shared safely by many processes.

WAL mode (readers never block the writer), ``synchronous=FULL`` (a commit is on disk before
it returns), ``busy_timeout`` of 30 s and ``BEGIN IMMEDIATE`` for every write transaction, so
workers, the CLI and the server in separate processes serialize their writes instead of
failing with "database is locked". Within a process all operations go through one
connection owned by a :class:`BatchExecutor` thread, which group-commits concurrent writes.
"""

from __future__ import annotations

import os
import sqlite3
import time

from plait.errors import ConfigurationError
from plait.store import migrations
from plait.store.events import EventLogBackend
from plait.store.executor import BatchExecutor
from plait.store.sql import SQLStore
from plait.store.sqlbase import Conn, Dialect


class SQLiteDialect(Dialect):
    name = "sqlite"

    def json_text(self, column: str, key_param: str) -> str:
        path = f"'$.' || {key_param}"
        return (
            f"(CASE json_type({column}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN"
            f" 'false' ELSE CAST(json_extract({column}, {path}) AS TEXT) END)"
        )


def _wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Turns on WAL. On a new file several connections opening at once may find it locked
    (changing the journal mode takes the lock without waiting, busy_timeout or not): they
    try again, as the busy timeout would, instead of failing the open."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class _SQLiteBackend:
    def __init__(self, path: str) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        if self.path != ":memory:":
            _wal(conn)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def begin(self, conn: sqlite3.Connection, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def savepoint(self, conn: sqlite3.Connection, sql: str) -> None:
        conn.execute(sql)

    def close(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def path_from_url(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://:memory:``."""
    if not url.startswith("sqlite://"):
        raise ConfigurationError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to.db)")
    rest = url[len("sqlite://") :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: write sqlite:///plait.db (relative) or "
            "sqlite:////var/lib/plait.db (absolute)"
        )
    path = rest[1:]
    parent = os.path.dirname(os.path.realpath(os.path.expanduser(path)))
    if not os.path.isdir(parent):
        raise ConfigurationError(
            f"the folder {parent!r} for the database {url!r} does not exist; create it"
        )
    return path


class SQLiteStore(SQLStore):
    """The embedded default store."""

    def __init__(self, url: str) -> None:
        backend = EventLogBackend(_SQLiteBackend(path_from_url(url)), self)
        super().__init__(url, SQLiteDialect(), BatchExecutor(backend, name="plait-sqlite"))

    def _migrate(self, conn: Conn) -> list[int]:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for number, sql in migrations.load("sqlite"):
            if number in done:
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) "
                "VALUES (?, CAST(strftime('%s','now') AS INTEGER) * 1000)",
                (number,),
            )
            applied.append(number)
        return applied


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
