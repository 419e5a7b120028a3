"""``plait tasks list|show|claim|complete|reassign``: the human-task inbox from a terminal,
on the database or on a running server with ``--url``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from plait.cli.base import (
    EXIT_USAGE,
    CommandError,
    Group,
    app_option,
    db_option,
    json_option,
    main,
    token_option,
    url_option,
)
from plait.cli.render import task_detail, tasks_table
from plait.cli.run import run_source
from plait.cli.workflows import parse_json

acting = click.option(
    "--by", help="who acts (checked against the engine's directory; with --url the token's user)"
)


@main.group(cls=Group)
def tasks() -> None:
    """List, show, claim, answer and reassign human tasks."""


@tasks.command("list")
@app_option
@db_option
@url_option
@token_option
@click.option("--for", "for_user", help="the inbox of this person (and, with a directory, groups)")
@click.option("--assignee", help="only tasks assigned to this person or group")
@click.option("--status", multiple=True, help="open, completed, cancelled, expired (repeat)")
@click.option("--all", "every", is_flag=True, help="every status (default: open tasks only)")
@click.option("--overdue", is_flag=True, help="only open tasks past their due time")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1, max=1000))
@json_option
def list_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    for_user: str | None,
    assignee: str | None,
    status: tuple[str, ...],
    every: bool,
    overdue: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List human tasks, the most overdue first."""
    statuses = list(status) or ([] if every else ["open"])
    items = run_source(
        app,
        database,
        url,
        token,
        lambda s: s.tasks(
            for_user=for_user,
            assignee=assignee,
            status=statuses,
            overdue=True if overdue else None,
            limit=limit,
        ),
    )
    now = datetime.now(UTC)
    click.echo(json.dumps(items, indent=2) if as_json else tasks_table(items, now))


@tasks.command("show")
@app_option
@db_option
@url_option
@token_option
@click.argument("task_id")
@json_option
def show_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    task_id: str,
    as_json: bool,
) -> None:
    """Show a human task: its context, proposal, answer and audit trail."""
    task = run_source(app, database, url, token, lambda s: s.task(task_id))
    click.echo(json.dumps(task, indent=2) if as_json else task_detail(task, datetime.now(UTC)))


@tasks.command("claim")
@app_option
@db_option
@url_option
@token_option
@click.argument("task_id")
@acting
@json_option
def claim_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    task_id: str,
    by: str | None,
    as_json: bool,
) -> None:
    """Mark a task as taken by you (--by)."""
    if not by and not url:
        raise CommandError("claim needs --by NAME (who takes the task)", EXIT_USAGE)
    task = run_source(app, database, url, token, lambda s: s.claim(task_id, by=by or ""))
    click.echo(json.dumps(task, indent=2) if as_json else f"claimed by {task['claimed_by']}")


@tasks.command("complete")
@app_option
@db_option
@url_option
@token_option
@click.argument("task_id")
@click.option("--answer", "answer_json", help="the answer as JSON (an object for a form)")
@click.option("--approve", "verdict", flag_value="approve", help="approve (an approval task)")
@click.option("--reject", "verdict", flag_value="reject", help="reject (an approval task)")
@click.option("--comment", help="a comment kept with the answer")
@acting
@json_option
def complete_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    task_id: str,
    answer_json: str | None,
    verdict: str | None,
    comment: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Answer a task with --answer JSON, or --approve / --reject for an approval."""
    if (answer_json is None) == (verdict is None):
        raise CommandError("give exactly one of --answer JSON, --approve or --reject", EXIT_USAGE)
    answer: Any
    if verdict is not None:
        answer = {"approved": verdict == "approve", "comment": comment}
    else:
        answer = parse_json(answer_json or "", "--answer")
    task = run_source(
        app,
        database,
        url,
        token,
        lambda s: s.complete(task_id, answer, comment=comment, by=by),
    )
    if as_json:
        click.echo(json.dumps(task, indent=2))
        return
    changed = ", ".join(c["field"] for c in task.get("changes") or [])
    click.echo(
        f"completed by {task.get('completed_by') or by or 'you'}"
        + (f" (changed: {changed})" if changed else "")
    )


@tasks.command("reassign")
@app_option
@db_option
@url_option
@token_option
@click.argument("task_id")
@click.option("--to", "to", required=True, help="the person or group to assign it to")
@acting
@json_option
def reassign_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    task_id: str,
    to: str,
    by: str | None,
    as_json: bool,
) -> None:
    """Assign an open task to another person or group."""
    task = run_source(app, database, url, token, lambda s: s.reassign(task_id, to=to, by=by))
    click.echo(json.dumps(task, indent=2) if as_json else f"assigned to {task['assignee']}")
