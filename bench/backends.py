"""Where a benchmark run's database lives: a fresh one for every run, named by a URL.

Every scenario takes the database only as a URL, so a backend is two things: how to make a
fresh, empty database for one run (``fresh``), and how to count workflows by status without
going through the engine (``count``), which the scenarios use to see when thousands of
workflows have all reached a state. ``SQLiteBackend`` puts files in a folder (on a disk, not
tmpfs: the figures include fsync). ``PostgresBackend`` creates one database per run on the
server the ``--database`` URL points at.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class Backend:
    """A kind of database the benchmark can run on."""

    name = ""

    def fresh(self, label: str) -> str:
        """The URL of a new, empty database for one run (an old one of that label is dropped)."""
        raise NotImplementedError

    def count(self, url: str, status: str) -> int:
        """How many workflows have ``status`` (read directly, not through the engine)."""
        raise NotImplementedError

    def discard(self, url: str) -> None:
        """Removes a run's database once its figures are taken (nothing left behind)."""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}

    def commit_probe(self, url: str, n: int = 500) -> float | None:
        """µs per bare commit of one small INSERT next to ``url``'s database, the same write
        ``limit_probe.py``'s seq_steps makes: measured seconds before a run, it says what
        the disk costs right then (None where not measured)."""
        return None


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, folder: str) -> None:
        self.folder = os.path.abspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self._readers: dict[str, sqlite3.Connection] = {}

    def fresh(self, label: str) -> str:
        path = os.path.join(self.folder, f"{label}.db")
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return "sqlite:///" + path

    def count(self, url: str, status: str) -> int:
        conn = self._readers.get(url)
        if conn is None:
            path = url[len("sqlite:///") :]
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False
            )
            self._readers[url] = conn
        row = conn.execute("SELECT count(*) FROM workflows WHERE status = ?", (status,))
        return int(row.fetchone()[0])

    def commit_probe(self, url: str, n: int = 500) -> float | None:
        import json
        import time

        path = os.path.join(os.path.dirname(url[len("sqlite:///") :]), "commit-probe.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("CREATE TABLE steps (workflow_id TEXT, seq INT, output TEXT)")
            payload = json.dumps({"i": 0, "payload": "x" * 80})
            t0 = time.perf_counter()
            for i in range(n):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO steps VALUES ('seq', ?, ?)", (i, payload))
                conn.execute("COMMIT")
            return (time.perf_counter() - t0) / n * 1e6
        finally:
            conn.close()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "folder": self.folder}


class PostgresBackend(Backend):
    """One database per run, created on the server of ``url`` (its own database is used
    only to create and drop the per-run ones)."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def _with_db(self, dbname: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + dbname))

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)

    def fresh(self, label: str) -> str:
        dbname = "plait_bench_" + "".join(c if c.isalnum() else "_" for c in label)
        self._admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{dbname}"')
        return self._with_db(dbname)

    def discard(self, url: str) -> None:
        dbname = urlsplit(url).path.lstrip("/")
        self._admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def count(self, url: str, status: str) -> int:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM workflows WHERE status = %s", (status,))
            return int(row.fetchone()[0])  # type: ignore[index]

    def describe(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        return {"backend": self.name, "server": f"{parts.hostname}:{parts.port or 5432}"}


def backend_for(name: str, database: str | None, folder: str) -> Backend:
    """The backend of ``--backend`` (and ``--database`` for PostgreSQL)."""
    if name == "sqlite":
        return SQLiteBackend(folder)
    if name in ("postgresql", "postgres"):
        if not database:
            raise SystemExit("--backend postgresql needs --database postgresql://user@host/db")
        return PostgresBackend(database)
    raise SystemExit(f"unknown backend {name!r}: sqlite or postgresql")


def backend_of_url(url: str, folder: str = ".") -> Backend:
    """The backend a run's URL belongs to (used inside a scenario's process)."""
    if url.startswith("sqlite:"):
        return SQLiteBackend(os.path.dirname(url[len("sqlite:///") :]) or folder)
    return PostgresBackend(url)
