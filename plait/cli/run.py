"""Running a command against its source: the database (``--app`` / ``--database``) or a
running server (``--url`` with ``--token``). Every failure becomes one ``error:`` line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from plait.cli.base import EXIT_USAGE, CommandError, engine_from, run_on
from plait.cli.source import EngineSource, Source

T = TypeVar("T")


def run_source(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    fn: Callable[[Source], Awaitable[T]],
) -> T:
    """Runs ``fn`` on the source the options name: a server with ``url``, else the engine."""
    if url:
        if app or database:
            raise CommandError("give either --url or --app/--database, not both", EXIT_USAGE)
        from plait.cli.remote import RemoteSource, remote_errors  # httpx only when needed

        async def go() -> T:
            async with RemoteSource(url, token) as source:
                return await fn(source)

        with remote_errors(url):
            return asyncio.run(go())
    return run_on(engine_from(app, database), lambda e: fn(EngineSource(e)))
