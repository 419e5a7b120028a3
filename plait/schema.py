"""Upgrading and backing up a database, for operators: ``plait migrate`` and ``plait backup``.

By default an engine applies pending migrations when it opens. ``Engine(..., migrate=False)``
(``plait worker --no-migrate``) leaves the schema alone and refuses to open a database whose
schema is behind this code, naming ``plait migrate``; operators who want schema changes to
happen only when they say so run :func:`migrate` (``plait migrate``) as a deploy step.

A schema *ahead* of the code (migrations applied by a newer plait) is allowed, with a warning:
migrations are additive, so the previous release keeps working beside the new one during a
rollout (docs/operations.md, "Upgrades").

:func:`backup` copies a SQLite database with SQLite's online backup API: a consistent
snapshot taken while workers keep writing. PostgreSQL is backed up with its own tools
(``pg_dump``; see docs/operations.md, "Backups").
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from plait.errors import ConfigurationError
from plait.store import Store, open_store
from plait.store.migrations import SchemaStatus

log = logging.getLogger("plait.schema")

__all__ = ["SchemaStatus", "backup", "check_schema", "migrate", "schema_status"]


async def schema_status(url: str) -> SchemaStatus:
    """The schema of the database at ``url`` against this plait's migrations (changes nothing)."""
    store = open_store(url)
    await store.open(migrate=False)
    try:
        return await store.schema_status()
    finally:
        await store.close()


async def migrate(url: str) -> list[int]:
    """Applies the pending migrations to the database at ``url``; the numbers it applied
    (empty when the schema was up to date). Safe to run while workers run: each dialect
    serializes migrations (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite)."""
    store = open_store(url)
    await store.open(migrate=False)
    try:
        return await store.migrate()
    finally:
        await store.close()


async def check_schema(store: Store) -> SchemaStatus:
    """For an engine opened with ``migrate=False``: raises :class:`ConfigurationError` when the
    schema is behind this code; warns when it is ahead (allowed: migrations are additive)."""
    status = await store.schema_status()
    if status.pending:
        what = "has no plait tables yet" if not status.applied else "is behind this plait"
        raise ConfigurationError(
            f"the database {store.url} {what}: pending migrations "
            f"{status.describe_pending()}. Run 'plait migrate --database {store.url}' (or "
            "open the engine with migrate=True / start the worker without --no-migrate)"
        )
    if status.unknown:
        log.warning(
            "the database %s has migrations this plait does not know (%s): its schema is "
            "ahead of this code (a newer plait migrated it); running beside it",
            store.url,
            ", ".join(str(n) for n in status.unknown),
        )
    return status


def backup(url: str, path: str | os.PathLike[str]) -> int:
    """Copies the SQLite database at ``url`` to the new file ``path`` while it is in use (the
    online backup API: one consistent snapshot; writers carry on). Returns the bytes written.

    Raises :class:`ConfigurationError` for a PostgreSQL URL (use ``pg_dump``), an in-memory
    database, or a ``path`` that already exists.
    """
    if not url.startswith("sqlite:"):
        raise ConfigurationError(
            f"plait backup copies SQLite databases; back up {url} with PostgreSQL's own tools: "
            "pg_dump --format=custom (see docs/operations.md, 'Backups')"
        )
    from plait.store.backup import backup_sqlite

    return backup_sqlite(url, Path(path))
