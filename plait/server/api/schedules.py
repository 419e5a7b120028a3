"""``/api/schedules``: list, add, pause, resume, trigger, delete.

Reads need the viewer role, actions the operator role. Adding a schedule needs the
application's code (the server started with ``--app``) to check the workflow's arguments,
as starting a workflow does; the other actions need only the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

import plait
from plait.server.api.common import check_app_workflow
from plait.server.api.common import engine_of as _engine
from plait.server.api.models import NO_NUL, Storable, Strict
from plait.server.auth import require, verify_csrf
from plait.server.errors import ApiError, responses
from plait.server.users import Role, User

router = APIRouter(prefix="/api/schedules", tags=["schedules"], dependencies=[Depends(verify_csrf)])
Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
ScheduleId = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]
ACT = responses(401, 403, 404, 409, 422)
TEN_YEARS = 10 * 365 * 86400


class ScheduleModel(BaseModel):
    """A schedule: what it starts, when, and what it started last."""

    id: str
    workflow: str
    version: str
    args: list[Any]
    cron: str | None
    every_seconds: float | None
    timezone: str
    timing: str = Field(description="the cron expression and zone, or the interval, for people")
    catchup: str = Field(description="skip, one or all: what to start for missed ticks")
    queue: str | None
    paused: bool
    next_run_at: datetime | None = Field(description="the next tick; null while paused")
    last_run_at: datetime | None
    last_workflow_id: str | None
    source: str = Field(description="code (Engine(schedules=...)) or api")
    created_at: datetime
    updated_at: datetime


class ScheduleList(BaseModel):
    """Every schedule, by id."""

    items: list[ScheduleModel]


class ScheduleRequest(Strict):
    """A schedule to add: exactly one of ``cron`` and ``every_seconds``."""

    id: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    workflow: str = Field(min_length=1, max_length=500, pattern=NO_NUL)
    args: list[Storable] = Field(default_factory=list, description="its arguments, as JSON")
    cron: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    every_seconds: float | None = Field(default=None, ge=1, le=TEN_YEARS)
    timezone: str = Field(default="UTC", min_length=1, max_length=100, pattern=NO_NUL)
    catchup: Literal["skip", "one", "all"] = "one"
    paused: bool = False
    queue: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)


class TriggerResult(BaseModel):
    """The workflow a trigger started."""

    workflow_id: str


def schedule_model(s: plait.ScheduleInfo) -> ScheduleModel:
    return ScheduleModel(
        id=s.id,
        workflow=s.workflow,
        version=s.version,
        args=s.args,
        cron=s.cron,
        every_seconds=None if s.every is None else s.every.total_seconds(),
        timezone=s.timezone,
        timing=s.timing,
        catchup=str(s.catchup),
        queue=s.queue,
        paused=s.paused,
        next_run_at=s.next_run_at,
        last_run_at=s.last_run_at,
        last_workflow_id=s.last_workflow_id,
        source=s.source,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


# Which request field a schedule's ConfigurationError is about, by what its message names.
_FIELDS = (
    ("schedule id", "id"),
    ("cron", "cron"),
    ("time zone", "timezone"),
    ("every=", "every_seconds"),
    ("catch-up", "catchup"),
    ("queue", "queue"),
)


def _field_of(message: str) -> str | None:
    return next((field for word, field in _FIELDS if word in message), None)


@router.get("", summary="list schedules, by id", responses=responses(401, 403))
async def list_schedules(request: Request, user: Viewer) -> ScheduleList:
    found = await _engine(request).schedules.list()
    return ScheduleList(items=[schedule_model(s) for s in found])


@router.post(
    "",
    status_code=201,
    summary="add a schedule (needs the application's code: --app)",
    responses=ACT,
)
async def add(request: Request, user: Operator, body: ScheduleRequest) -> ScheduleModel:
    engine = _engine(request)
    check_app_workflow(request, body.workflow, "cannot check a schedule's arguments")
    try:
        schedule = plait.Schedule(
            body.id,
            body.workflow,
            *body.args,
            cron=body.cron,
            every=None if body.every_seconds is None else timedelta(seconds=body.every_seconds),
            timezone=body.timezone,
            catchup=body.catchup,
            paused=body.paused,
            queue=body.queue,
        )
    except plait.InvalidArguments:
        raise
    except plait.ConfigurationError as exc:
        raise ApiError(422, str(exc), field=_field_of(str(exc))) from None
    return schedule_model(await engine.schedules.add(schedule))


@router.post("/{schedule_id}/pause", summary="pause a schedule", responses=ACT)
async def pause(request: Request, user: Operator, schedule_id: ScheduleId) -> ScheduleModel:
    return schedule_model(await _engine(request).schedules.pause(schedule_id))


@router.post(
    "/{schedule_id}/resume",
    summary="resume a schedule from its next tick (ticks during the pause are not run)",
    responses=ACT,
)
async def resume(request: Request, user: Operator, schedule_id: ScheduleId) -> ScheduleModel:
    return schedule_model(await _engine(request).schedules.resume(schedule_id))


@router.post(
    "/{schedule_id}/trigger",
    status_code=201,
    summary="start the schedule's workflow once, now",
    responses=ACT,
)
async def trigger(request: Request, user: Operator, schedule_id: ScheduleId) -> TriggerResult:
    handle = await _engine(request).schedules.trigger(schedule_id, by=user.name)
    return TriggerResult(workflow_id=handle.id)


@router.delete(
    "/{schedule_id}",
    status_code=204,
    summary="delete a schedule (the workflows it started stay)",
    responses=ACT,
)
async def delete(request: Request, user: Operator, schedule_id: ScheduleId) -> None:
    await _engine(request).schedules.delete(schedule_id)
