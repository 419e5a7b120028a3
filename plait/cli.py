"""The ``plait`` command. Every command goes through the engine's public API.

Commands that need workflow code take the app as ``module:engine`` (positional for
``plait worker``, ``--app`` or ``PLAIT_APP`` elsewhere); the others need only the database
(``--database`` or ``PLAIT_DATABASE_URL``).

Invariant: whatever goes wrong, a command prints one line on stderr (``error: ...``) and exits
with the documented code, never a Python traceback (``-v`` logs one for an unexpected error):
0 ok; 1 the operation failed (a database that cannot be reached, a failed operation);
2 bad usage or input (an unknown option, bad JSON, a database URL or ``module:engine`` that
names nothing usable, an unknown workflow name for ``start``, arguments that do not fit the
workflow, an operation the workflow's status does not allow); 3 not found (no workflow or
human task with that id).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import IO, Any, TypeVar

import click

from plait.engine import STEP_THREAD_PREFIX, Engine
from plait.errors import (
    ConfigurationError,
    InvalidState,
    PlaitError,
    SerializationError,
    TaskNotFound,
    WorkflowAlreadyExists,
    WorkflowFinished,
    WorkflowNotFound,
)
from plait.server.commands import server_command, users_group
from plait.types import WorkflowStatus

T = TypeVar("T")

EXIT_FAILED = 1  # the operation failed
EXIT_USAGE = 2  # bad usage or input
EXIT_NOT_FOUND = 3  # no workflow or human task with that id

log = logging.getLogger("plait.cli")


class CommandError(click.ClickException):
    """A command's failure: ``error: <message>`` on one line of stderr, and an exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(_one_line(message))
        self.exit_code = exit_code  # type: ignore[misc]  # click: per class; here per error

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=file is None)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _reason(exc: BaseException) -> str:
    """What went wrong, for a message: plait's own errors and import errors say it."""
    if isinstance(exc, PlaitError | ImportError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def exit_code(exc: PlaitError) -> int:
    """The exit code for a plait error: 3 not found, 2 bad input, 1 the operation failed."""
    if isinstance(exc, WorkflowNotFound | TaskNotFound):
        return EXIT_NOT_FOUND
    if isinstance(
        exc,
        ConfigurationError
        | InvalidState
        | SerializationError
        | WorkflowAlreadyExists
        | WorkflowFinished,
    ):
        return EXIT_USAGE
    return EXIT_FAILED


@contextlib.contextmanager
def _usage_in_one_line() -> Iterator[None]:
    """Click's usage errors (a missing argument, an unknown option) as one line, exit 2."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # a bare ``plait`` or ``plait workflows`` prints its help
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        raise CommandError(exc.format_message() + hint, EXIT_USAGE) from None


class _Group(click.Group):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _usage_in_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_in_one_line():
            return super().invoke(ctx)


def load_app(spec: str) -> Engine:
    """Imports ``module:attribute`` and returns the Engine it names."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise CommandError(f"expected module:engine, got {spec!r}", EXIT_USAGE)
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # not found, or the module's own code raised (a bad URL, ...)
        log.info("importing %s failed", module_name, exc_info=True)  # with -v
        raise CommandError(f"cannot import {module_name!r}: {_reason(exc)}", EXIT_USAGE) from None
    if not hasattr(module, attr):
        raise CommandError(f"module {module_name!r} has no attribute {attr!r}", EXIT_USAGE)
    engine = getattr(module, attr)
    if not isinstance(engine, Engine):
        raise CommandError(f"{spec!r} is a {type(engine).__name__}, not a plait.Engine", EXIT_USAGE)
    return engine


def _engine(app: str | None, database: str | None) -> Callable[[], Engine]:
    def make() -> Engine:
        if app:
            return load_app(app)
        if database:
            return Engine(database)
        raise CommandError(
            "give --app module:engine or --database URL (or set PLAIT_APP / PLAIT_DATABASE_URL)",
            EXIT_USAGE,
        )

    return make


def _run(make: Callable[[], Engine], fn: Callable[[Engine], Awaitable[T]]) -> T:
    """Runs ``fn`` on an open engine; every error becomes a :class:`CommandError`."""

    async def go(engine: Engine) -> T:
        try:
            await engine.open()
        except PlaitError:
            raise
        except Exception as exc:  # the driver's: no server, refused, bad password, no database
            log.info("opening %s failed", engine.store.url, exc_info=True)  # with -v
            raise CommandError(
                f"cannot reach the database at {engine.store.url}: {_reason(exc)}", EXIT_FAILED
            ) from None
        try:
            return await fn(engine)
        finally:
            await engine.close()

    try:
        return asyncio.run(go(make()))
    except click.ClickException:
        raise
    except PlaitError as exc:
        raise CommandError(str(exc), exit_code(exc)) from None
    except Exception as exc:
        log.info("the command failed", exc_info=True)  # the traceback, with -v
        raise CommandError(_reason(exc), EXIT_FAILED) from None


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


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="log what workers do")
def main(verbose: bool) -> None:
    """plait: durable AI workflows.

    Exit codes: 0 ok, 1 the operation failed (e.g. the database cannot be reached), 2 bad
    usage or input (including an unknown workflow name for start), 3 no workflow with that id.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.argument("app")
@click.option(
    "--concurrency",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="workflows run at once",
)
@click.option("--queue", "queues", multiple=True, help="queues to take work from (repeat)")
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds running workflows get to stop at shutdown",
)
def worker(app: str, concurrency: int, queues: tuple[str, ...], grace: float) -> None:
    """Run a worker for APP (module:engine) until SIGTERM or Ctrl-C."""

    async def go(engine: Engine) -> None:
        w = engine.worker(
            concurrency=concurrency, queues=list(queues) or None, shutdown_grace=grace
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(w.stop()))
        click.echo(
            f"plait worker {w.id} on {engine.store.url}: "
            f"{', '.join(f'{n}@{v}' for n, v in engine.registered_pairs)}",
            err=True,
        )
        await w.run()

    _run(lambda: load_app(app), go)
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


@main.group(cls=_Group)
def workflows() -> None:
    """Start, inspect, signal, cancel and resume workflows."""


@workflows.command("list")
@app_option
@db_option
@click.option("--status", multiple=True, help="only these statuses (repeat)")
@click.option("--name", help="only this workflow name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0))
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
        raise CommandError(f"each argument must be JSON: {exc}", EXIT_USAGE) from None

    async def go(e: Engine) -> str:
        return (await e.start(name, *values, id=workflow_id, queue=queue, by=by)).id

    click.echo(_run(lambda: load_app(app), go))


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
        raise CommandError(f"the payload must be JSON: {exc}", EXIT_USAGE) from None
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


main.add_command(server_command)
main.add_command(users_group)

if __name__ == "__main__":  # pragma: no cover
    main()
