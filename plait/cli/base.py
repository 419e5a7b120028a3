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
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import IO, Any, TypeVar

import click

from plait.engine import Engine
from plait.errors import (
    ConfigurationError,
    InvalidAnswer,
    InvalidState,
    PlaitError,
    ScheduleAlreadyExists,
    ScheduleNotFound,
    SerializationError,
    TaskNotFound,
    TaskNotOpen,
    WorkflowAlreadyExists,
    WorkflowFinished,
    WorkflowNotFound,
)
from plait.telemetry.logs import FORMATS, configure_logging

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
    if isinstance(exc, WorkflowNotFound | TaskNotFound | ScheduleNotFound):
        return EXIT_NOT_FOUND
    if isinstance(
        exc,
        ConfigurationError
        | InvalidAnswer
        | TaskNotOpen
        | InvalidState
        | SerializationError
        | WorkflowAlreadyExists
        | WorkflowFinished
        | ScheduleAlreadyExists,
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


class Group(click.Group):
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


class LazyGroup(Group):
    """The ``plait`` group: a command's module is imported only when that command runs (or
    help lists it), so ``plait worker`` loads neither the server nor the other commands.

    ``lazy`` maps a command name to ``"module:attribute"``; the attribute is the
    ``click.Command``. A module may define its command with ``@main.command()`` (it registers
    itself when imported) or as a plain ``@click.command()``; either way it is added here.
    """

    lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module_name, _, attr = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
            if cmd_name not in self.commands:
                self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


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


def engine_from(app: str | None, database: str | None) -> Callable[[], Engine]:
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


def run_on(make: Callable[[], Engine], fn: Callable[[Engine], Awaitable[T]]) -> T:
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


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


app_option = click.option("--app", envvar="PLAIT_APP", help="module:engine with your workflows")
db_option = click.option("--database", envvar="PLAIT_DATABASE_URL", help="database URL")
by_option = click.option(
    "--by", default="system", show_default=True, help="who acts (recorded in the event log)"
)


@click.group(cls=LazyGroup)
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
    use_log_format(None)  # PLAIT_LOG_FORMAT=json: one JSON object per line


log_format_option = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    help="text, or json: one object per line with workflow id, step and attempt "
    "[env PLAIT_LOG_FORMAT]",
)


def use_log_format(given: str | None) -> None:
    """Makes the process's logs ``given`` (else ``PLAIT_LOG_FORMAT``); neither: unchanged."""
    if given is None and not os.environ.get("PLAIT_LOG_FORMAT"):
        return
    try:
        configure_logging(given)
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None


url_option = click.option(
    "--url",
    envvar="PLAIT_URL",
    help="a running plait server (its REST API) instead of the database",
)
token_option = click.option(
    "--token", envvar="PLAIT_TOKEN", help="API token for --url (plait users add --token)"
)
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")
