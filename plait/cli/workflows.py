"""``plait workflows list|versions|show|start|signal|cancel|resume``: on the database, or
on a running server with ``--url``. Read commands print a readable table or timeline,
``--json`` JSON."""

from __future__ import annotations

import json
from typing import Any

import click

from plait.cli.base import (
    EXIT_USAGE,
    CommandError,
    Group,
    app_option,
    by_option,
    db_option,
    json_option,
    main,
    token_option,
    url_option,
)
from plait.cli.render import timeline, versions_table, workflows_table
from plait.cli.run import run_source


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} must be JSON: {exc}", EXIT_USAGE) from None


@main.group(cls=Group)
def workflows() -> None:
    """Start, inspect, signal, cancel and resume workflows."""


@workflows.command("list")
@app_option
@db_option
@url_option
@token_option
@click.option("--status", multiple=True, help="only these statuses (repeat)")
@click.option("--name", help="only this workflow name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1, max=1000))
@json_option
def list_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    status: tuple[str, ...],
    name: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List workflows, newest first."""
    items = run_source(
        app,
        database,
        url,
        token,
        lambda s: s.list_workflows(status=list(status), name=name, limit=limit),
    )
    click.echo(json.dumps(items, indent=2) if as_json else workflows_table(items))


@workflows.command("versions")
@app_option
@db_option
@url_option
@token_option
@json_option
def versions_cmd(
    app: str | None, database: str | None, url: str | None, token: str | None, as_json: bool
) -> None:
    """How many workflows of each name and version are in flight (pending, running,
    waiting, blocked): stop the workers of an old version once its count is zero."""
    items = run_source(app, database, url, token, lambda s: s.versions())
    click.echo(json.dumps(items, indent=2) if as_json else versions_table(items))


@workflows.command("show")
@app_option
@db_option
@url_option
@token_option
@click.argument("workflow_id")
@json_option
def show_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    workflow_id: str,
    as_json: bool,
) -> None:
    """Show one workflow: its status, input and output, and a timeline of its journal."""
    detail = run_source(app, database, url, token, lambda s: s.workflow(workflow_id))
    click.echo(json.dumps(detail, indent=2) if as_json else timeline(detail))


@workflows.command("start")
@app_option
@url_option
@token_option
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--id", "workflow_id", help="workflow id (idempotency key)")
@click.option("--queue")
@by_option
def start_cmd(
    app: str | None,
    url: str | None,
    token: str | None,
    name: str,
    args: tuple[str, ...],
    workflow_id: str | None,
    queue: str | None,
    by: str,
) -> None:
    """Start workflow NAME with JSON ARGS (needs --app, or --url of a server with the app)."""
    values = [parse_json(a, "each argument") for a in args]
    if not app and not url:
        raise CommandError(
            "starting a workflow needs its code: give --app module:engine (or PLAIT_APP), or "
            "--url of a server started with --app",
            EXIT_USAGE,
        )
    started = run_source(
        app,
        None,
        url,
        token,
        lambda s: s.start(name, values, id=workflow_id, queue=queue, by=by),
    )
    click.echo(started)


@workflows.command("signal")
@app_option
@db_option
@url_option
@token_option
@click.argument("workflow_id")
@click.argument("name")
@click.argument("payload", default="null")
@click.option("--dedup-key")
@by_option
def signal_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    workflow_id: str,
    name: str,
    payload: str,
    dedup_key: str | None,
    by: str,
) -> None:
    """Send signal NAME with a JSON PAYLOAD."""
    value = parse_json(payload, "the payload")
    sent = run_source(
        app,
        database,
        url,
        token,
        lambda s: s.signal(workflow_id, name, value, dedup_key=dedup_key, by=by),
    )
    click.echo("sent" if sent else "already sent (same dedup key)")


@workflows.command("cancel")
@app_option
@db_option
@url_option
@token_option
@click.argument("workflow_id")
@by_option
def cancel_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    workflow_id: str,
    by: str,
) -> None:
    """Cancel a workflow and its children."""
    status = run_source(app, database, url, token, lambda s: s.cancel(workflow_id, by=by))
    click.echo(f"cancel requested (now {status})")


@workflows.command("resume")
@app_option
@db_option
@url_option
@token_option
@click.argument("workflow_id")
@by_option
def resume_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    workflow_id: str,
    by: str,
) -> None:
    """Resume a failed or blocked workflow from where it stopped."""
    run_source(app, database, url, token, lambda s: s.resume(workflow_id, by=by))
    click.echo("resumed")
