"""``/metrics``: the Prometheus text of the server's engine, for an operator's scraper.

What it holds is ``plait.telemetry.metrics_text``: counts read from the database at
scrape time (workflows by name and status, queue depth, expired leases, open human tasks and
their age, model tokens and cost) and, with ``plait server --worker``, what the server's own
worker measured (step latency, retries, run segments, leases).

It is protected like the API: a scraper sends the bearer token of a user with the viewer
role (``plait users add prometheus --role viewer --token``); with ``--no-auth`` (loopback
only) it is open. It is left out of the OpenAPI document: it is not JSON.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import plait
from plait.server.auth import require
from plait.server.errors import ApiError
from plait.server.users import Role, User
from plait.telemetry import METRICS_CONTENT_TYPE, instrument, metrics_text

router = APIRouter()
Viewer = Annotated[User, Depends(require(Role.VIEWER))]


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, user: Viewer) -> Response:
    engine: plait.Engine = request.app.state.engine
    try:
        body = await metrics_text(engine)
    except plait.ConfigurationError as exc:
        raise ApiError(501, str(exc)) from None
    return Response(body, media_type=METRICS_CONTENT_TYPE)


def enable(engine: plait.Engine) -> None:
    """Measures what the server's own worker runs, when the telemetry extra is installed."""
    try:
        instrument(engine, traces=False, metrics=True)
    except plait.ConfigurationError:
        pass  # /metrics answers 501 and says what to install
