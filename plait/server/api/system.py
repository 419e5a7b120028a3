"""Health checks and who am I: ``/healthz``, ``/readyz``, ``/api/me``."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

import plait
from plait.server.auth import current_user
from plait.server.errors import ApiError, responses
from plait.server.users import User

log = logging.getLogger("plait.server")
READY_TIMEOUT = 5.0  # seconds the store has to answer /readyz

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
