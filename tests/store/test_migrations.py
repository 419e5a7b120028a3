"""Migrations: numbered files per dialect, applied once even when several processes start
together, and the two dialects' schemas say the same thing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from plait.store import migrations, open_store

from .helpers import new


async def test_stores_opening_together_migrate_once(new_db_url: Callable[..., str]) -> None:
    url = new_db_url(empty=True)
    stores = [open_store(url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await stores[0].create_workflow(new("a"), 1)  # the schema is there
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    expected = [n for n, _ in migrations.load(dialect)]
    if dialect == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        conn.close()
    else:
        with psycopg.connect(url) as pg:
            versions = [
                r[0] for r in pg.execute("SELECT version FROM schema_migrations ORDER BY 1")
            ]
    assert versions == expected and expected[0] == 1


def test_both_dialects_number_the_same_migrations() -> None:
    assert [n for n, _ in migrations.load("sqlite")] == [
        n for n, _ in migrations.load("postgresql")
    ]


def test_both_dialects_have_the_same_tables_and_columns(postgres: Any, tmp_path: Path) -> None:
    db = tmp_path / "schema.db"

    async def migrate() -> None:
        store = open_store("sqlite:///" + str(db))
        await store.open()
        await store.close()

    asyncio.run(migrate())
    lite = sqlite3.connect(db)
    tables = [
        r[0]
        for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_")
    ]
    sqlite_columns = {(t, r[1]) for t in tables for r in lite.execute(f"PRAGMA table_info({t})")}
    lite.close()
    with psycopg.connect(postgres.url_of(postgres.template)) as pg:
        pg_columns = set(
            pg.execute(
                "SELECT table_name::text, column_name::text FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            ).fetchall()
        )
    assert sqlite_columns == pg_columns
