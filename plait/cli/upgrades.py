"""``plait migrate [--check]`` and ``plait backup PATH``: upgrading and backing up the database
(see :mod:`plait.schema` and docs/operations.md, "Upgrades" and "Backups").

Exit codes: ``migrate --check`` exits 0 when nothing is pending and 1 when migrations are
pending (listed on stdout); otherwise as every command (1 the database cannot be reached,
2 bad usage: no database given, a PostgreSQL URL for ``backup``, a file that exists).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from plait.cli.base import EXIT_FAILED, CommandError, app_option, db_option, exit_code, main
from plait.errors import PlaitError

T = TypeVar("T")


def database_url(app: str | None, database: str | None) -> str:
    """The URL ``--database`` gives, else the one of the ``--app`` engine."""
    if database:
        return database
    if app:
        from plait.cli.base import load_app

        return load_app(app).url
    raise CommandError(
        "give --database URL or --app module:engine (or set PLAIT_DATABASE_URL / PLAIT_APP)", 2
    )


def _run(url: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(fn())
    except PlaitError as exc:
        raise CommandError(str(exc), exit_code(exc)) from None
    except Exception as exc:  # the driver's: no server, refused, bad password, no database
        raise CommandError(
            f"cannot reach the database at {url}: {type(exc).__name__}: {exc}", EXIT_FAILED
        ) from None


@main.command("migrate")
@app_option
@db_option
@click.option(
    "--check",
    is_flag=True,
    help="apply nothing: exit 0 when no migration is pending, 1 when some are (listed)",
)
def migrate_cmd(app: str | None, database: str | None, check: bool) -> None:
    """Apply the database's pending migrations (workers do at start-up unless --no-migrate)."""
    from plait import schema

    url = database_url(app, database)
    status = _run(url, lambda: schema.schema_status(url))
    if status.unknown:
        click.echo(
            f"note: the schema is ahead of this plait (migrations "
            f"{', '.join(str(n) for n in status.unknown)} are unknown to it)",
            err=True,
        )
    if check:
        if not status.pending:
            click.echo(f"up to date ({len(status.applied)} migrations applied)")
            return
        click.echo(f"{len(status.pending)} pending:")
        for number in status.pending:
            click.echo(f"  {status.known[number]}")
        sys.exit(1)
    applied = _run(url, lambda: schema.migrate(url))
    if not applied:
        click.echo("up to date: nothing to apply")
    for number in applied:
        click.echo(f"applied {status.known[number]}")


@main.command("backup")
@app_option
@db_option
@click.argument("path", type=click.Path(dir_okay=False))
def backup_cmd(app: str | None, database: str | None, path: str) -> None:
    """Copy a SQLite database to PATH while workers run (online backup API)."""
    from plait import schema

    url = database_url(app, database)
    size = _run(url, lambda: asyncio.to_thread(schema.backup, url, path))
    click.echo(f"backed up {url} to {path} ({size:,} bytes)")
