"""``/api/alerts``: the alerts workers sent (or are still sending), newest first.

Read from the engine (``engine.list_alerts``); needs the viewer role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

import plait
from plait.server.api.workflows import Viewer
from plait.server.errors import responses

router = APIRouter(tags=["alerts"])


class AlertModel(BaseModel):
    """An alert: what happened, where it goes, and whether it was delivered."""

    id: int
    kind: plait.AlertKind
    channel: str = Field(description="webhook or email")
    status: plait.AlertStatus = Field(
        description="pending (not delivered yet; see last_error), sent, or failed (given up)"
    )
    workflow_id: str
    workflow_name: str
    task_id: str | None
    message: str
    at: datetime = Field(description="when the event happened")
    created_at: datetime
    attempts: int = Field(description="deliveries tried")
    sent_at: datetime | None
    last_error: str | None
    key: str = Field(description="the idempotency key receivers see")
    link: str | None = Field(description="the UI page it links to (with PLAIT_UI_URL)")


class AlertList(BaseModel):
    items: list[AlertModel]


@router.get(
    "/api/alerts",
    summary="recent alerts and whether they were delivered",
    responses=responses(401, 403, 422),
)
async def alerts(
    request: Request,
    user: Viewer,
    status: plait.AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AlertList:
    engine: plait.Engine = request.app.state.engine
    found = await engine.list_alerts(status=status, limit=limit)
    return AlertList(items=[AlertModel(**vars(a)) for a in found])
