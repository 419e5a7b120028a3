"""The ``plait`` command. Every command goes through the engine's public API.

Commands that need workflow code take the app as ``module:engine`` (positional for
``plait worker``, ``--app`` or ``PLAIT_APP`` elsewhere); the others need only the database
(``--database`` or ``PLAIT_DATABASE_URL``). Exit codes: 0 ok, 1 the operation failed,
2 bad usage or input, 3 not found.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from plait.engine import STEP_THREAD_PREFIX, Engine
from plait.errors import (
    ConfigurationError,
    InvalidState,
    PlaitError,
    SerializationError,
    WorkflowAlreadyExists,
    WorkflowFinished,
    WorkflowNotFound,
)
from plait.types import WorkflowStatus

T = TypeVar("T")


def load_app(spec: str) -> Engine:
    """Imports ``module:attribute`` and returns the Engine it names."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.UsageError(f"expected module:engine, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.UsageError(f"cannot import {module_name!r}: {exc}") from None
    engine = getattr(module, attr, None)
    if not isinstance(engine, Engine):
        raise click.UsageError(f"{spec!r} is not a plait.Engine")
    return engine


def _engine(app: str | None, database: str | None) -> Engine:
    if app:
        return load_app(app)
    if database:
        return Engine(database)
    raise click.UsageError(
        "give --app module:engine or --database URL (or set PLAIT_APP / PLAIT_DATABASE_URL)"
    )


def _run(engine: Engine, fn: Callable[[Engine], Awaitable[T]]) -> T:
    async def go() -> T:
        async with engine:
            return await fn(engine)

    try:
        return asyncio.run(go())
    except WorkflowNotFound as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    except (
        ConfigurationError,
        InvalidState,
        SerializationError,
        WorkflowAlreadyExists,
        WorkflowFinished,
    ) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except PlaitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


app_option = click.option("--app", envvar="PLAIT_APP", help="module:engine with your workflows")
db_option = click.option("--database", envvar="PLAIT_DATABASE_URL", help="database URL")
by_option = click.option(
    "--by", default="system", show_default=True, help="who acts (recorded in the event log)"
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="log what workers do")
def main(verbose: bool) -> None:
    """plait: durable AI workflows."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.argument("app")
@click.option("--concurrency", default=100, show_default=True, help="workflows run at once")
@click.option("--queue", "queues", multiple=True, help="queues to take work from (repeat)")
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    help="seconds running workflows get to stop at shutdown",
)
def worker(app: str, concurrency: int, queues: tuple[str, ...], grace: float) -> None:
    """Run a worker for APP (module:engine) until SIGTERM or Ctrl-C."""
    engine = load_app(app)

    async def go() -> None:
        async with engine:
            w = engine.worker(
                concurrency=concurrency, queues=list(queues) or None, shutdown_grace=grace
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(w.stop()))
            click.echo(
                f"plait worker {w.id} on {engine.url}: "
                f"{', '.join(f'{n}@{v}' for n, v in engine.registered_pairs)}",
                err=True,
            )
            await w.run()

    asyncio.run(go())
    _leave_stuck_step_threads()


def _leave_stuck_step_threads() -> None:
    """Exits now if a sync step past the shutdown grace still runs in a thread.

    A thread cannot be interrupted, and Python would wait for it at exit (minutes, for a long
    step); its workflow has already been handed back, so the process leaves without it.
    """
    stuck = [t for t in threading.enumerate() if t.name.startswith(STEP_THREAD_PREFIX)]
    for t in stuck:
        t.join(timeout=0.1)  # idle pool threads end as soon as the pool shuts down
    stuck = [t for t in stuck if t.is_alive()]
    if stuck:
        logging.getLogger("plait.worker").warning(
            "leaving %d sync step(s) still running in threads; their workflows were handed "
            "back and will run them again",
            len(stuck),
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@main.group()
def workflows() -> None:
    """Start, inspect, signal, cancel and resume workflows."""


@workflows.command("list")
@app_option
@db_option
@click.option("--status", multiple=True, help="only these statuses (repeat)")
@click.option("--name", help="only this workflow name")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_cmd(
    app: str | None,
    database: str | None,
    status: tuple[str, ...],
    name: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List workflows, newest first."""
    infos = _run(
        _engine(app, database),
        lambda e: e.list(status=list(status) or None, name=name, limit=limit),
    )
    if as_json:
        click.echo(json.dumps([_jsonable(i) for i in infos], indent=2))
        return
    for i in infos:
        click.echo(f"{i.id:<36} {i.name:<24} {i.status:<10} {i.status_text or ''}")


@workflows.command("show")
@app_option
@db_option
@click.argument("workflow_id")
def show_cmd(app: str | None, database: str | None, workflow_id: str) -> None:
    """Show one workflow and its journal as JSON."""

    async def go(e: Engine) -> dict[str, Any]:
        info = await e.get(workflow_id)
        return {
            "workflow": _jsonable(info),
            "journal": _jsonable(await e.journal(workflow_id)),
            "attempts": _jsonable(await e.attempts(workflow_id)),
        }

    click.echo(json.dumps(_run(_engine(app, database), go), indent=2))


@workflows.command("start")
@click.option("--app", envvar="PLAIT_APP", required=True, help="module:engine")
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--id", "workflow_id", help="workflow id (idempotency key)")
@click.option("--queue")
@by_option
def start_cmd(
    app: str,
    name: str,
    args: tuple[str, ...],
    workflow_id: str | None,
    queue: str | None,
    by: str,
) -> None:
    """Start workflow NAME with JSON ARGS."""
    try:
        values = [json.loads(a) for a in args]
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"each argument must be JSON: {exc}") from None

    async def go(e: Engine) -> str:
        return (await e.start(name, *values, id=workflow_id, queue=queue, by=by)).id

    click.echo(_run(load_app(app), go))


@workflows.command("signal")
@app_option
@db_option
@click.argument("workflow_id")
@click.argument("name")
@click.argument("payload", default="null")
@click.option("--dedup-key")
@by_option
def signal_cmd(
    app: str | None,
    database: str | None,
    workflow_id: str,
    name: str,
    payload: str,
    dedup_key: str | None,
    by: str,
) -> None:
    """Send signal NAME with a JSON PAYLOAD."""
    try:
        value = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"the payload must be JSON: {exc}") from None
    sent = _run(
        _engine(app, database),
        lambda e: e.signal(workflow_id, name, value, dedup_key=dedup_key, by=by),
    )
    click.echo("sent" if sent else "already sent (same dedup key)")


@workflows.command("cancel")
@app_option
@db_option
@click.argument("workflow_id")
@by_option
def cancel_cmd(app: str | None, database: str | None, workflow_id: str, by: str) -> None:
    """Cancel a workflow and its children."""
    status: WorkflowStatus = _run(_engine(app, database), lambda e: e.cancel(workflow_id, by=by))
    click.echo(f"cancel requested (now {status})")


@workflows.command("resume")
@app_option
@db_option
@click.argument("workflow_id")
@by_option
def resume_cmd(app: str | None, database: str | None, workflow_id: str, by: str) -> None:
    """Resume a failed or blocked workflow from where it stopped."""
    _run(_engine(app, database), lambda e: e.resume(workflow_id, by=by))
    click.echo("resumed")


if __name__ == "__main__":  # pragma: no cover
    main()
