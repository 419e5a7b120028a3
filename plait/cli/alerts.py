"""``plait alerts list``: recent alerts and whether they were delivered."""

from __future__ import annotations

import json

import click

from plait.alerts import AlertStatus
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
from plait.cli.render import short, table, when


@main.group(cls=Group)
def alerts() -> None:
    """The alerts workers sent (docs/operations.md, "Alerts")."""


@alerts.command("list")
@app_option
@db_option
@click.option(
    "--status",
    type=click.Choice([s.value for s in AlertStatus]),
    help="only pending (not delivered yet), sent or failed (given up) alerts",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1, max=1000))
@json_option
def list_cmd(
    app: str | None, database: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Recent alerts, newest first, with their delivery status and last error."""
    found = run_on(engine_from(app, database), lambda e: e.list_alerts(status=status, limit=limit))
    if as_json:
        click.echo(json.dumps(jsonable(found), indent=2))
        return
    if not found:
        click.echo("no alerts")
        return
    rows = [
        [
            a.id,
            when(a.at.isoformat()),
            a.kind,
            a.channel,
            a.status,
            a.attempts,
            a.workflow_id,
            short(a.last_error or a.message, 70),
        ]
        for a in found
    ]
    click.echo(
        table(
            ["id", "at", "kind", "channel", "status", "tries", "workflow", "message / error"], rows
        )
    )
