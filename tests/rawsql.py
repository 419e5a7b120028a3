"""Raw SQL on a test database, for what no API shows (row counts, a deleted workflow)."""

from __future__ import annotations

import contextlib
import sqlite3


def sql(url: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Runs ``query`` on the database at ``url`` (SQLite or PostgreSQL) and commits."""
    if url.startswith("sqlite:"):
        from plait.store.sqlite import path_from_url

        with contextlib.closing(sqlite3.connect(path_from_url(url))) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            rows = conn.execute(query, params).fetchall()
            conn.commit()
        return [tuple(r) for r in rows]
    import psycopg

    from plait.store.postgres import split_options

    with psycopg.connect(split_options(url)[0], autocommit=True) as pg:
        cur = pg.execute(query.replace("?", "%s"), params)  # type: ignore[call-overload]
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def count(url: str, table: str) -> int:
    return int(sql(url, f"SELECT count(*) FROM {table}")[0][0])  # type: ignore[call-overload]
