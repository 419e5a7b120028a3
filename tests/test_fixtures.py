"""The PostgreSQL test fixture tells a missing server from a broken migration.

No server at the URL: the PostgreSQL tests skip, or fail under ``CI=true``. A server that
answers but on which a migration fails: they fail with that migration's error, CI or not
(before, both were reported as "no PostgreSQL server" and skipped).
"""

from __future__ import annotations

import os

import pytest

from plait.store import migrations
from tests.conftest import POSTGRES_URL, MigrationFailed, PostgresServer, open_server

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_broken_migration_fails_with_its_own_error(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    real = migrations.load

    def load(dialect: str) -> list[tuple[int, str]]:
        return [*real(dialect), (999, "CREATE TABLE broken (")]

    monkeypatch.setattr(migrations, "load", load)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(MigrationFailed, match="migrating the PostgreSQL test template failed"):
        open_server(POSTGRES_URL, tag="_broken")
    left = postgres.admin_sql(
        "SELECT datname FROM pg_database WHERE datname LIKE %s",
        (f"plait\\_test\\_{os.getpid()}\\_broken%",),  # this run's, not a parallel run's
    )
    assert left == []  # the half-migrated template was dropped


def test_no_server_skips_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server"):
        open_server(UNREACHABLE)


def test_no_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the PostgreSQL tests must run"):
        open_server(UNREACHABLE)
