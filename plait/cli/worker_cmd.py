"""``plait worker module:engine``: a worker process until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

import click

from plait.cli.base import load_app, log_format_option, main, run_on, use_log_format
from plait.engine import STEP_THREAD_PREFIX, Engine
from plait.errors import ConfigurationError


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
@log_format_option
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="serve this worker's metrics (Prometheus) at http://HOST:PORT/metrics",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="address for --metrics-port"
)
@click.option(
    "--no-migrate",
    is_flag=True,
    help="do not migrate at start-up: refuse a database behind this code (see plait migrate)",
)
def worker(
    app: str,
    concurrency: int,
    queues: tuple[str, ...],
    grace: float,
    log_format: str | None,
    metrics_port: int | None,
    metrics_host: str,
    no_migrate: bool,
) -> None:
    """Run a worker for APP (module:engine) until SIGTERM or Ctrl-C."""
    use_log_format(log_format)

    async def go(engine: Engine) -> None:
        w = engine.worker(
            concurrency=concurrency, queues=list(queues) or None, shutdown_grace=grace
        )
        stop_metrics = None
        if metrics_port is not None:
            stop_metrics = _serve_metrics(engine, metrics_port, metrics_host)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(w.stop()))
        click.echo(
            f"plait worker {w.id} on {engine.store.url}: "
            f"{', '.join(f'{n}@{v}' for n, v in engine.registered_pairs)}",
            err=True,
        )
        try:
            await w.run()
        finally:
            if stop_metrics is not None:
                stop_metrics()

    def make() -> Engine:
        engine = load_app(app)
        if no_migrate:
            engine.migrate = False
        return engine

    run_on(make, go)
    _leave_stuck_step_threads()


def _serve_metrics(engine: Engine, port: int, host: str) -> Callable[[], None]:
    from plait import telemetry

    try:
        stop = telemetry.serve_metrics(engine, port, host)
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None
    click.echo(f"metrics on http://{host}:{port}/metrics", err=True)
    return stop


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
