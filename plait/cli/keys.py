"""``plait keys new`` (a key for ``PLAIT_ENCRYPTION_KEYS``) and ``plait rekey`` (every stored
payload moved to the current key, so older keys can be removed)."""

from __future__ import annotations

import json

import click

from plait.cli.base import (
    Group,
    app_option,
    db_option,
    engine_from,
    json_option,
    jsonable,
    main,
    run_on,
)
from plait.cli.render import table
from plait.encryption import new_key
from plait.rekey import DEFAULT_BATCH_SIZE


@main.group(cls=Group)
def keys() -> None:
    """Encryption keys for payloads at rest (PLAIT_ENCRYPTION_KEYS)."""


@keys.command("new")
@click.option("--id", "key_id", help="print 'ID=<key>', ready to put in PLAIT_ENCRYPTION_KEYS")
def new_cmd(key_id: str | None) -> None:
    """Print a new random AES-256 key (base64)."""
    key = new_key()
    click.echo(f"{key_id}={key}" if key_id else key)


@main.command("rekey")
@app_option
@db_option
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="values rewritten per transaction",
)
@click.option("--dry-run", is_flag=True, help="count what would be rewritten; write nothing")
@json_option
def rekey_cmd(
    app: str | None, database: str | None, batch_size: int, dry_run: bool, as_json: bool
) -> None:
    """Re-encrypt every stored payload and blob not under the current key.

    The current key is the first of PLAIT_ENCRYPTION_KEYS; the older ones must still be
    listed. Batches are atomic: interrupting is safe, and running it again goes on. When it
    reports nothing left to rewrite, the older keys can be removed."""
    report = run_on(
        engine_from(app, database), lambda e: e.rekey(batch_size=batch_size, dry_run=dry_run)
    )
    if as_json:
        data = jsonable(report)
        data.update(scanned=report.scanned, changed=report.changed)
        click.echo(json.dumps(data, indent=2))
        return
    rows = [[c.column, c.scanned, c.changed] for c in report.columns]
    rows.append(["total", report.scanned, report.changed])
    verb = "to rewrite" if dry_run else "rewritten"
    click.echo(table(["column", "scanned", verb], rows))
    if dry_run:
        click.echo(
            f"dry run: nothing written; {report.changed} values are not under key {report.key_id!r}"
        )
    else:
        click.echo(f"{report.changed} values now encrypted with key {report.key_id!r}")
