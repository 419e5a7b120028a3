"""Health checks, who am I, the workers and the live change stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

import plait
from plait.server.api.models import NO_NUL, WorkerList, change_model, worker_model
from plait.server.auth import current_user, require
from plait.server.errors import ApiError, responses
from plait.server.users import Role, User

log = logging.getLogger("plait.server")
READY_TIMEOUT = 5.0  # seconds the store has to answer /readyz
TICK = 0.5  # seconds: how often a quiet stream checks whether the server stops
KEEPALIVE = 10.0  # seconds between comment lines on a quiet stream
RETRY_MS = 2000  # how soon a browser reconnects a dropped stream
FEED_BUFFER = 1000  # changes held for a slow client before the feed waits

router = APIRouter()


class Health(BaseModel):
    """The server's state."""

    status: str


class Me(BaseModel):
    """The signed-in user: who they are, their groups and roles (never a secret)."""

    name: str
    display_name: str
    email: str | None
    groups: list[str]
    roles: list[str]
    time_zone: str | None


@router.get("/healthz", tags=["health"], summary="the server process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", tags=["health"], summary="the store answers", responses=responses(503))
async def readyz(request: Request) -> Health:
    engine: plait.Engine = request.app.state.engine
    try:
        await asyncio.wait_for(engine.page(limit=1), READY_TIMEOUT)
    except Exception as exc:
        log.warning("/readyz: the store does not answer: %s", type(exc).__name__)
        raise ApiError(503, "the store does not answer; see the server's log") from None
    return Health(status="ok")


@router.get("/api/me", tags=["users"], summary="the signed-in user", responses=responses(401))
async def me(user: Annotated[User, Depends(current_user)]) -> Me:
    return Me(
        name=user.name,
        display_name=user.display_name,
        email=user.email,
        groups=sorted(user.groups),
        roles=sorted(user.roles),
        time_zone=user.time_zone,
    )


Viewer = Annotated[User, Depends(require(Role.VIEWER))]


@router.get(
    "/api/workers",
    tags=["workers"],
    summary="the registered workers and the workflows each holds",
    responses=responses(401, 403),
)
async def workers(request: Request, user: Viewer) -> WorkerList:
    engine: plait.Engine = request.app.state.engine
    return WorkerList(items=[worker_model(w) for w in await engine.workers()])


@router.get(
    "/api/events/stream",
    tags=["workflows"],
    summary="live changes of workflows (server-sent events)",
    description="A `text/event-stream` of `event: change` messages whose data is a JSON "
    "`Change` (a workflow's status, or a journal entry), of one workflow with `workflow_id` "
    "or of all, from the time of the request on. A comment line is sent every "
    f"{KEEPALIVE:.0f} s while nothing changes. The stream ends when the server stops.",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **responses(401, 403, 422),
    },
)
async def stream(
    request: Request,
    user: Viewer,
    workflow_id: Annotated[str | None, Query(min_length=1, max_length=500, pattern=NO_NUL)] = None,
) -> StreamingResponse:
    engine: plait.Engine = request.app.state.engine
    feed = engine.watch(workflow_id)  # from now: changes before the first read are kept
    return StreamingResponse(
        _events(feed, request.app.state.stopping),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    feed: AsyncIterator[plait.WorkflowChange], stopping: asyncio.Event
) -> AsyncIterator[str]:
    """The feed as server-sent events, with keep-alive comments, until the server stops.
    The client going away ends it too: Starlette cancels it, or the next write fails."""
    queue: asyncio.Queue[plait.WorkflowChange] = asyncio.Queue(maxsize=FEED_BUFFER)

    async def pump() -> None:
        async with contextlib.aclosing(feed) as changes:  # type: ignore[type-var]
            async for change in changes:
                await queue.put(change)

    pumping = asyncio.create_task(pump())
    try:
        yield f"retry: {RETRY_MS}\n\n"
        idle = 0.0
        while not stopping.is_set():
            try:
                change = await asyncio.wait_for(queue.get(), TICK)
            except TimeoutError:
                if pumping.done():
                    if not pumping.cancelled() and pumping.exception() is not None:
                        log.warning("the change feed failed: %r", pumping.exception())
                    return
                idle += TICK
                if idle >= KEEPALIVE:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            idle = 0.0
            yield f"event: change\ndata: {change_model(change).model_dump_json()}\n\n"
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumping
