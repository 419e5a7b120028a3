"""``/workflows/{id}/tokens``: a running model call's text as it arrives, as server-sent
events, for the workflow page of a ``plait server --worker``.

Tokens exist only in the process whose worker makes the call (``plait.ai.stream``); a
server without a worker of its own has none to show, and says so (409). The stream sends
``event: token`` (``{"seq", "text"}``) for each piece and ``event: done`` (``{"seq"}``) when a
call ends; the journal records the final answer once, and the page's change stream brings
it. A provider streams only while someone listens, so a page opened in the middle of a call
sees that call's answer when it is recorded, and the tokens of the next one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

import plait
from plait.ai import stream
from plait.server.auth import User, page_user
from plait.server.pages.common import engine_of, show_error

router = APIRouter()
TICK = 1.0  # seconds between checks for a gone client or a stopping server
KEEPALIVE = 15.0  # seconds between comments on a quiet stream


@router.get("/workflows/{workflow_id}/tokens", response_model=None)
async def workflow_tokens(
    request: Request, workflow_id: str, user: User = Depends(page_user)
) -> StreamingResponse | HTMLResponse:
    """Server-sent events of the workflow's model calls' tokens, as they arrive."""
    try:
        await engine_of(request).get(workflow_id)
    except plait.WorkflowNotFound:
        return await show_error(
            request, user, 404, f"There is no workflow with the id {workflow_id!r}."
        )
    if not getattr(request.app.state, "worker_here", False):
        return await show_error(
            request,
            user,
            409,
            "This server runs no worker, so no model call streams here: tokens are seen only "
            "in the process whose worker makes the call (plait server --app ... --worker). "
            "The journal shows each answer when it is recorded.",
            back=f"/workflows/{workflow_id}",
        )
    subscription = stream.subscribe(workflow_id)  # before the first byte is sent
    return StreamingResponse(
        _events(request, subscription, request.app.state.stopping),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, subscription: stream.Subscription, stopping: asyncio.Event
) -> AsyncIterator[str]:
    try:
        yield "retry: 3000\n\n"
        quiet = 0.0
        while not stopping.is_set():
            try:
                event = await asyncio.wait_for(subscription.queue.get(), timeout=TICK)
            except TimeoutError:
                if await request.is_disconnected():
                    break
                quiet += TICK
                if quiet >= KEEPALIVE:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                continue
            quiet = 0.0
            if event.done:
                yield f"event: done\ndata: {json.dumps({'seq': event.seq})}\n\n"
            else:
                data = json.dumps({"seq": event.seq, "text": event.text})
                yield f"event: token\ndata: {data}\n\n"
    finally:
        subscription.close()
