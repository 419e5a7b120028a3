"""``plait schedules list|add|pause|resume|delete|trigger``: schedules on the database.

``add`` needs the workflow's code (``--app module:engine``) to check the arguments, as
``workflows start`` does; the others need only the database (``--app`` or ``--database``).
Exit codes as for every command: 3 when no schedule has that id, 2 for bad input (a bad
cron expression, zone, interval or arguments, an id that exists).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import click

from plait.cli.base import (
    EXIT_USAGE,
    CommandError,
    Group,
    app_option,
    by_option,
    db_option,
    engine_from,
    json_option,
    main,
    run_on,
)
from plait.cli.render import short, table
from plait.cli.workflows import parse_json
from plait.engine import Engine
from plait.schedules import Catchup, Schedule, ScheduleInfo

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> timedelta:
    """``90``, ``90s``, ``5m``, ``1h``, ``1d`` as a duration."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if match is None:
        raise CommandError(
            f"--every {text!r}: give seconds, or a number with s, m, h or d (e.g. 90s, 1h)",
            EXIT_USAGE,
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def schedule_json(info: ScheduleInfo) -> dict[str, Any]:
    """A schedule as plain JSON (``every`` in seconds, times in ISO 8601)."""

    def when(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": info.id,
        "workflow": info.workflow,
        "version": info.version,
        "args": info.args,
        "cron": info.cron,
        "every_seconds": None if info.every is None else info.every.total_seconds(),
        "timezone": info.timezone,
        "catchup": str(info.catchup),
        "queue": info.queue,
        "paused": info.paused,
        "next_run_at": when(info.next_run_at),
        "last_run_at": when(info.last_run_at),
        "last_workflow_id": info.last_workflow_id,
        "source": info.source,
        "created_at": when(info.created_at),
        "updated_at": when(info.updated_at),
    }


def schedules_table(items: list[ScheduleInfo]) -> str:
    if not items:
        return "no schedules (declare them in Engine(schedules=...) or 'plait schedules add')"
    return table(
        ["id", "workflow", "when", "catch-up", "state", "next run (UTC)", "last workflow", "args"],
        [
            [
                s.id,
                s.workflow,
                s.timing,
                s.catchup,
                "paused" if s.paused else "active",
                s.next_run_at.strftime("%Y-%m-%d %H:%M:%S") if s.next_run_at else "-",
                s.last_workflow_id or "-",
                short(s.args, 40),
            ]
            for s in items
        ],
    )


@main.group(cls=Group)
def schedules() -> None:
    """List, add, pause, resume, delete and trigger schedules."""


@schedules.command("list")
@app_option
@db_option
@json_option
def list_cmd(app: str | None, database: str | None, as_json: bool) -> None:
    """List schedules, by id."""
    items = run_on(engine_from(app, database), lambda e: e.schedules.list())
    if as_json:
        click.echo(json.dumps([schedule_json(s) for s in items], indent=2))
    else:
        click.echo(schedules_table(items))


@schedules.command("add")
@app_option
@click.argument("schedule_id")
@click.argument("workflow")
@click.argument("args", nargs=-1)
@click.option("--cron", help="a cron expression, e.g. '0 9 * * 1-5'")
@click.option("--every", help="an interval: seconds, or 90s, 5m, 1h, 1d")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of --cron")
@click.option(
    "--catchup",
    type=click.Choice([c.value for c in Catchup]),
    default="one",
    show_default=True,
    help="what to start for ticks missed while no worker ran",
)
@click.option("--paused", is_flag=True, help="add it paused")
@click.option("--queue", help="the queue its workflows go to")
def add_cmd(
    app: str | None,
    schedule_id: str,
    workflow: str,
    args: tuple[str, ...],
    cron: str | None,
    every: str | None,
    timezone: str,
    catchup: str,
    paused: bool,
    queue: str | None,
) -> None:
    """Add schedule SCHEDULE_ID starting WORKFLOW with JSON ARGS (needs --app)."""
    if not app:
        raise CommandError(
            "adding a schedule needs the workflow's code to check its arguments: give "
            "--app module:engine (or PLAIT_APP)",
            EXIT_USAGE,
        )
    values = [parse_json(a, "each argument") for a in args]
    interval = None if every is None else parse_every(every)

    async def add(engine: Engine) -> ScheduleInfo:
        schedule = Schedule(
            schedule_id,
            workflow,
            *values,
            cron=cron,
            every=interval,
            timezone=timezone,
            catchup=catchup,
            paused=paused,
            queue=queue,
        )
        return await engine.schedules.add(schedule)

    info = run_on(engine_from(app, None), add)
    when = info.next_run_at.isoformat() if info.next_run_at else "paused"
    click.echo(f"{info.id}: {info.workflow} {info.timing}; next run {when}")


def _act(app: str | None, database: str | None, schedule_id: str, action: str) -> ScheduleInfo:
    async def go(engine: Engine) -> ScheduleInfo:
        info: ScheduleInfo = await getattr(engine.schedules, action)(schedule_id)
        return info

    return run_on(engine_from(app, database), go)


@schedules.command("pause")
@app_option
@db_option
@click.argument("schedule_id")
def pause_cmd(app: str | None, database: str | None, schedule_id: str) -> None:
    """Pause a schedule: it starts nothing until resumed."""
    _act(app, database, schedule_id, "pause")
    click.echo(f"{schedule_id}: paused")


@schedules.command("resume")
@app_option
@db_option
@click.argument("schedule_id")
def resume_cmd(app: str | None, database: str | None, schedule_id: str) -> None:
    """Resume a paused schedule from its next tick (ticks during the pause are not run)."""
    info = _act(app, database, schedule_id, "resume")
    when = info.next_run_at.isoformat() if info.next_run_at else "-"
    click.echo(f"{schedule_id}: active; next run {when}")


@schedules.command("delete")
@app_option
@db_option
@click.argument("schedule_id")
def delete_cmd(app: str | None, database: str | None, schedule_id: str) -> None:
    """Delete a schedule (the workflows it started stay)."""
    run_on(engine_from(app, database), lambda e: e.schedules.delete(schedule_id))
    click.echo(f"{schedule_id}: deleted")


@schedules.command("trigger")
@app_option
@db_option
@click.argument("schedule_id")
@by_option
def trigger_cmd(app: str | None, database: str | None, schedule_id: str, by: str) -> None:
    """Start the schedule's workflow once, now (its id: SCHEDULE_ID@<now>)."""

    async def go(engine: Engine) -> str:
        return (await engine.schedules.trigger(schedule_id, by=by)).id

    click.echo(run_on(engine_from(app, database), go))
