"""``plait server`` and ``plait users add``: the server's commands, registered in
``plait/cli.py``.

This module imports only click and plait at import time; FastAPI, uvicorn, argon2 and the
app are imported when a command runs, so ``plait worker`` never loads them.

Invariant (as for every ``plait`` command): whatever goes wrong prints one line on stderr
(``error: ...``) and exits with the documented code: 1 the operation failed (the database or
the port cannot be used), 2 bad usage or input (no secret key, ``--no-auth`` off loopback,
no users file, a bad ``module:engine``), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

import plait

if TYPE_CHECKING:
    from fastapi import FastAPI

    from plait.server.extensions import Extension

EXIT_FAILED = 1
EXIT_USAGE = 2
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ROLES = ("viewer", "operator", "approver", "admin")

log = logging.getLogger("plait.server")


class Failure(click.ClickException):
    """``error: <message>`` on one line of stderr, and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code  # type: ignore[misc]  # click: per class; here per error

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=file is None)


def _need_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise Failure(
            f"the server needs the server extra ({exc.name} is missing): "
            "pip install 'plait[server]'"
        ) from None


def _load(spec: str) -> tuple[plait.Engine, Any]:
    """The engine ``module:attribute`` names, and its module."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise Failure(f"expected --app module:engine, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        log.info("importing %s failed", module_name, exc_info=True)
        reason = str(exc) if isinstance(exc, plait.PlaitError | ImportError) else repr(exc)
        raise Failure(f"cannot import {module_name!r}: {reason}") from None
    engine = getattr(module, attr, None)
    if not isinstance(engine, plait.Engine):
        what = "nothing" if engine is None else f"a {type(engine).__name__}"
        raise Failure(f"{spec!r} is {what}, not a plait.Engine")
    return engine, module


def _extensions(module: Any, engine: plait.Engine) -> tuple[Extension, ...]:
    from plait.server.extensions import HOOK, check_extensions

    hook = getattr(module, HOOK, None)
    if hook is None:
        return ()
    try:
        return check_extensions(hook(engine))
    except plait.PlaitError as exc:
        raise Failure(f"{module.__name__}.{HOOK}: {exc}") from None
    except Exception as exc:
        log.info("%s failed", HOOK, exc_info=True)
        raise Failure(f"{module.__name__}.{HOOK} failed: {exc!r}") from None


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc}", EXIT_FAILED) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise Failure(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_FAILED
        ) from None
    sock.set_inheritable(True)
    return sock


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--app", envvar="PLAIT_APP", help="module:engine with your workflows")
@click.option("--database", envvar="PLAIT_DATABASE_URL", help="database URL (without --app)")
@click.option("--worker", is_flag=True, help="also run a worker for the app's workflows")
@click.option(
    "--users-file",
    envvar="PLAIT_USERS_FILE",
    default="plait-users.toml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the users file (plait users add writes it)",
)
@click.option("--no-auth", is_flag=True, help="no sign-in: everyone is admin (loopback only)")
@click.option("--https-cookies", is_flag=True, help="session cookies over HTTPS only (TLS)")
@click.option("--base-url", envvar="PLAIT_BASE_URL", help="how people reach this server")
@click.option(
    "--log-format",
    type=click.Choice(("text", "json")),
    help="text, or json: one object per line (uvicorn's too) [env PLAIT_LOG_FORMAT]",
)
def server_command(
    host: str,
    port: int,
    app: str | None,
    database: str | None,
    worker: bool,
    users_file: Path,
    no_auth: bool,
    https_cookies: bool,
    base_url: str | None,
    log_format: str | None,
) -> None:
    """Serve the web UI and REST API. Needs PLAIT_SECRET_KEY (signs sessions) unless
    --no-auth. The API is described at /openapi.json."""
    if no_auth and host not in LOOPBACK:
        raise Failure(
            f"--no-auth runs without sign-in, so it listens only on 127.0.0.1, localhost or ::1, "
            f"not {host}; to serve others, add users with `plait users add` and drop --no-auth"
        )
    if worker and not app:
        raise Failure("--worker runs the app's workflows: give --app module:engine")
    if not app and not database:
        raise Failure(
            "give --app module:engine or --database URL (or set PLAIT_APP / PLAIT_DATABASE_URL)"
        )
    json_logs = _log_format(log_format) == "json"
    _need_extra()
    from plait.server.app import create_app
    from plait.server.settings import ServerSettings

    if not no_auth and not users_file.exists():
        raise Failure(
            f"no users file at {users_file}: add a user with `plait users add NAME --role admin "
            "--password-stdin`, pass --users-file, or run locally with --no-auth"
        )
    try:
        settings = ServerSettings(
            users_file=users_file,
            secret_key=os.environ.get("PLAIT_SECRET_KEY") or None,
            local_mode=no_auth,
            has_app=app is not None,
            secure_cookies=https_cookies,
            base_url=base_url or f"http://{f'[{host}]' if ':' in host else host}:{port}",
        )
    except plait.ConfigurationError as exc:
        raise Failure(str(exc)) from None
    extensions: tuple[Extension, ...] = ()
    if app:
        engine, module = _load(app)
        extensions = _extensions(module, engine)
    else:
        assert database is not None
        try:
            engine = plait.Engine(database)
        except plait.PlaitError as exc:
            raise Failure(str(exc)) from None
    try:
        application = create_app(engine, settings, extensions)
    except plait.PlaitError as exc:
        raise Failure(str(exc)) from None
    sock = _bind(host, port)
    try:
        asyncio.run(_serve(engine, application, sock, worker=worker, json_logs=json_logs))
    finally:
        sock.close()


def _log_format(given: str | None) -> str:
    """Makes the process's logs ``given`` (else ``PLAIT_LOG_FORMAT``, else text)."""
    from plait.telemetry import configure_logging, log_format

    try:
        chosen = log_format(given)
    except plait.ConfigurationError as exc:
        raise Failure(str(exc)) from None
    if chosen == "json":
        configure_logging("json")
    return chosen


async def _serve(
    engine: plait.Engine, app: FastAPI, sock: socket.socket, *, worker: bool, json_logs: bool
) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.stopping.set()  # live streams end, so their connections close
            await super().shutdown(sockets)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # SIGTERM and Ctrl-C stop the server gracefully and it exits 0 (uvicorn's own
            # handler would raise the signal again at the end: exit -15).
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    config = uvicorn.Config(
        app,
        log_level="info",
        timeout_graceful_shutdown=10,
        server_header=False,
        proxy_headers=True,
        # JSON logs: uvicorn's loggers keep no handlers of their own and reach the root's.
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
    )
    server = Server(config)
    try:
        await engine.open()
    except plait.PlaitError as exc:
        raise Failure(str(exc), EXIT_FAILED) from None
    except Exception as exc:  # the driver's: no server, refused, bad password
        raise Failure(
            f"cannot reach the database at {engine.url}: {type(exc).__name__}: {exc}", EXIT_FAILED
        ) from None
    try:
        host, port = sock.getsockname()[:2]
        click.echo(
            f"plait server on http://{host}:{port} ({engine.url}"
            + (", with a worker" if worker else "")
            + ")",
            err=True,
        )
        if worker:
            app.state.worker_here = True  # the pages may show tokens as they arrive
            async with engine.worker():
                await server.serve(sockets=[sock])
        else:
            await server.serve(sockets=[sock])
    finally:
        await engine.close()


@click.group("users")
def users_group() -> None:
    """Manage the server's users file."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help="(repeat)")
@click.option("--group", "groups", multiple=True, help="a group the user belongs to (repeat)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
@click.option("--token", is_flag=True, help="make an API token and print it (once)")
@click.option("--display-name")
@click.option("--email")
@click.option("--time-zone", help="e.g. Europe/Berlin: how the UI shows times")
@click.option(
    "--users-file",
    envvar="PLAIT_USERS_FILE",
    default="plait-users.toml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
def users_add(
    name: str,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    password_stdin: bool,
    token: bool,
    display_name: str | None,
    email: str | None,
    time_zone: str | None,
    users_file: Path,
) -> None:
    """Add user NAME, or update them (given roles and groups replace theirs). The
    password is read from stdin with --password-stdin, else asked for on a terminal."""
    try:
        from plait.server.users import Users
    except ImportError as exc:
        raise Failure(
            f"needs the server extra ({exc.name} is missing): pip install 'plait[server]'"
        ) from None
    password = _password(password_stdin, token)
    if time_zone is not None:
        _check_zone(time_zone)
    try:
        issued = Users(users_file).add(
            name,
            password=password,
            roles=roles,
            groups=groups,
            display_name=display_name,
            email=email,
            time_zone=time_zone,
            token=token,
        )
    except plait.ConfigurationError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        raise Failure(f"cannot write {users_file}: {exc}", EXIT_FAILED) from None
    click.echo(
        f"saved {name} ({', '.join(roles) or 'roles unchanged'}"
        + (f"; groups: {', '.join(groups)}" if groups else "")
        + f") in {users_file}",
        err=True,
    )
    if issued:
        click.echo(issued)  # the only time the token is shown: stdout, for scripts


def _password(from_stdin: bool, token: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise Failure("--password-stdin read an empty password")
        return line
    if token or not sys.stdin.isatty():
        return None  # a token-only (API) user, or the password stays as it was
    value: str = click.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Failure(f"unknown time zone {name!r}; use a name such as Europe/Berlin") from None
