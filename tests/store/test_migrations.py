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


def _affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (its documented rules, in order)."""
    t = declared.upper()
    if "INT" in t:
        return "integer"
    if any(word in t for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in t or not t:
        return "blob"
    if any(word in t for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


# What each PostgreSQL type the migrations use holds, in SQLite's terms.
PG_AFFINITY = {"integer": "integer", "bigint": "integer", "smallint": "integer",
               "text": "text", "bytea": "blob", "double precision": "real",
               "real": "real", "numeric": "numeric", "boolean": "integer"}  # fmt: skip


def test_both_dialects_have_the_same_tables_columns_and_types(
    postgres: Any, tmp_path: Path
) -> None:
    """Same tables and columns; each column holds the same kind of value on both (SQLite's
    affinity), a column SQLite declares BIGINT is 64-bit on PostgreSQL too (epoch-ms times
    overflow 32 bits), and the same columns may be NULL."""
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
    # PRAGMA table_info: (cid, name, type, notnull, default, pk); a key column is NOT NULL
    sqlite_columns = {
        (t, r[1]): (r[2], bool(r[3] or r[5]))
        for t in tables
        for r in lite.execute(f"PRAGMA table_info({t})")
    }
    lite.close()
    with psycopg.connect(postgres.url_of(postgres.template)) as pg:
        pg_columns = {
            (t, c): (kind, nullable == "NO")
            for t, c, kind, nullable in pg.execute(
                "SELECT table_name::text, column_name::text, data_type::text,"
                " is_nullable::text FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            ).fetchall()
        }
    assert set(sqlite_columns) == set(pg_columns)
    unknown = {kind for kind, _ in pg_columns.values()} - set(PG_AFFINITY)
    assert not unknown, f"add the PostgreSQL types {unknown} to PG_AFFINITY"
    for column, (declared, not_null) in sorted(sqlite_columns.items()):
        kind, pg_not_null = pg_columns[column]
        assert _affinity(declared) == PG_AFFINITY[kind], (column, declared, kind)
        if declared.upper() == "BIGINT":
            assert kind == "bigint", (column, declared, kind)
        assert not_null == pg_not_null, (column, "NOT NULL on one dialect only")
    assert [
        c for c, (d, _) in sqlite_columns.items() if c[1].endswith("_at") and d != "BIGINT"
    ] == []
