"""Shared fixtures: a TestEngine on a fake clock, and a real-clock engine's database URL.

Both run every test on each backend: ``db_url``, ``store_url`` and ``test_engine`` are
parametrized over ``sqlite`` (a temp file) and ``postgresql`` (a fresh database per test,
cloned in ~40 ms from a template migrated once per session). The PostgreSQL server is
``PLAIT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
without one those tests skip, except under ``CI=true``, where they fail; a migration
that fails on the template fails them with its own error, never as a missing server. Mark a test
``@pytest.mark.backends("sqlite")`` to run it on one backend only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from plait.testing import TestEngine

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL = os.environ.get(
    "PLAIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run the test only on these backends (sqlite, postgresql)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("plait_backend") if callspec else None
        if marker is not None and backend is not None and backend not in marker.args:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class PostgresServer:
    """The test server: makes databases cloned from a template migrated once per session.

    A clone costs 0.1-0.3 s (and a DROP more), so a database a test is done with is reset
    and handed to the next test instead: its connections are ended and every plait table
    emptied and sequence restarted (~10 ms). One whose schema a test changed is dropped.
    """

    def __init__(self, url: str, admin: Any, *, tag: str = "") -> None:
        self.url = url
        self.admin = admin
        self.prefix = f"plait_test_{os.getpid()}{tag}"
        try:
            self._setup()
        except BaseException:
            self.admin.close()
            raise

    def admin_sql(self, query: str, params: tuple[object, ...] | None = None) -> list[tuple]:
        """Runs ``query`` on the admin connection, reconnecting once if the server restarted."""
        import psycopg

        for attempt in (1, 2):
            try:
                cur = self.admin.execute(query, params)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                if attempt == 2 or not (self.admin.closed or self.admin.broken):
                    raise
                self.admin = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        raise AssertionError("unreachable")

    def _setup(self) -> None:
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count()
        self._free: list[str] = []
        for (name,) in self.admin_sql(
            "SELECT datname FROM pg_database WHERE datname LIKE 'plait\\_test\\_%'"
        ):
            pid = name.split("_")[2]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):  # left by a killed run
                self.admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin_sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin_sql(f'CREATE DATABASE "{self.template}"')
        try:
            self._migrate(self.url_of(self.template))
        except Exception as exc:
            self.admin_sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            raise MigrationFailed(
                f"migrating the PostgreSQL test template failed "
                f"({type(exc).__name__}: {str(exc).strip()}): a migration in "
                "plait/store/migrations/postgresql/ is broken"
            ) from exc
        self._shape = self._schema(self.url_of(self.template))

    @staticmethod
    def _migrate(url: str) -> None:
        """Applies plait's migrations (in a thread: the caller may be inside an event loop)."""
        from plait.store import open_store

        async def run() -> None:
            store = open_store(url)
            await store.open()
            await store.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()

    def url_of(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + name))

    @staticmethod
    def _schema(url: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(
                "SELECT c.relname::text, c.relkind::text, a.attname::text, a.atttypid::int"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                " WHERE n.nspname = 'public' ORDER BY 1, 2, 3"
            ).fetchall()

    def create(self, *, empty: bool = False) -> str:
        """A database: migrated and empty (a template clone), or ``empty`` (no tables)."""
        if not empty and self._free:
            return self._free.pop()
        name = f"{self.prefix}_{next(self._numbers)}"
        source = "template0" if empty else self.template
        self.admin_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        return self.url_of(name)

    def release(self, url: str, *, reuse: bool = True) -> None:
        """Done with ``url``: reset it for the next test, or drop it."""
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        if reuse:
            try:
                self.admin_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                if self._schema(url) == self._shape:
                    with psycopg.connect(url, autocommit=True) as conn:
                        tables = conn.execute(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                            " AND tablename <> 'schema_migrations'"
                        ).fetchall()
                        sequences = conn.execute(
                            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                        ).fetchall()
                        script = [f'DELETE FROM "{t}"' for (t,) in tables]
                        script += [f'ALTER SEQUENCE "{q}" RESTART' for (q,) in sequences]
                        conn.execute("; ".join(script))
                    self._free.append(url)
                    return
            except psycopg.Error:
                pass
        self.admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        try:
            for name in [urlsplit(u).path.lstrip("/") for u in self._free] + [self.template]:
                self.admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            self.admin.close()


class MigrationFailed(Exception):
    """Migrating the template failed: a broken migration, never a missing server."""


def open_server(url: str, *, tag: str = "") -> PostgresServer:
    """The test server at ``url``. Skips when none answers there (fails under ``CI=true``);
    anything that fails once connected (a migration of the template) fails the tests with
    its own error, under ``CI=true`` or not."""
    import psycopg

    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        parts = urlsplit(url)  # shown without user and password
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        where = parts._replace(netloc=host)
        message = (
            f"no PostgreSQL server for the tests at {urlunsplit(where)} "
            f"({type(exc).__name__}: {str(exc).strip()}); start one or set "
            "PLAIT_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}. CI=true: the PostgreSQL tests must run.", pytrace=False)
        pytest.skip(message)
    return PostgresServer(url, admin, tag=tag)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL test server (skips, or fails under ``CI=true``, when there is none)."""
    server = open_server(POSTGRES_URL)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def new_db_url(
    plait_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., str]]:
    """Makes fresh databases on this test's backend; they are dropped after the test."""
    backend = plait_backend
    made: list[tuple[str, bool]] = []
    numbers = itertools.count()

    def make(*, empty: bool = False) -> str:
        if backend == "sqlite":
            return "sqlite:///" + os.path.join(tmp_path, f"plait-{next(numbers)}.db")
        server: PostgresServer = request.getfixturevalue("postgres")
        made.append((server.create(empty=empty), empty))
        return made[-1][0]

    yield make
    if made:
        server: PostgresServer = request.getfixturevalue("postgres")
        for url, empty in made:
            server.release(url, reuse=not empty)


@pytest.fixture(params=BACKENDS)
def plait_backend(request: pytest.FixtureRequest) -> str:
    """The backend this test runs on (``sqlite`` or ``postgresql``)."""
    return str(request.param)


@pytest.fixture
def db_url(plait_backend: str, new_db_url: Callable[..., str]) -> str:
    """A fresh, migrated database URL on each backend."""
    return new_db_url()


@pytest.fixture
def store_url(db_url: str) -> str:
    """The database the store conformance suite runs against (one per test, each backend)."""
    return db_url


@pytest.fixture
async def test_engine(
    plait_backend: str, new_db_url: Callable[..., str]
) -> AsyncIterator[TestEngine]:
    engine = TestEngine() if plait_backend == "sqlite" else TestEngine(new_db_url())
    async with engine:
        yield engine
