"""``/api/workflows``: list, count, show, start, signal, cancel, resume.

Reads need the viewer role, actions the operator role; every action passes ``by=`` the
acting user's name to the engine, so the workflow's event log says who did it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BeforeValidator

import plait
from plait.server.api.common import check_app_workflow
from plait.server.api.common import engine_of as _engine
from plait.server.api.models import (
    NO_NUL,
    CancelResult,
    Counts,
    RunModel,
    SignalRequest,
    SignalResult,
    StartRequest,
    VersionCountModel,
    VersionList,
    WorkflowDetail,
    WorkflowPage,
    WorkflowSummary,
    event_model,
    info_model,
    journal_entries,
    summary,
    task_summary,
)
from plait.server.api.models import now_of as _now
from plait.server.auth import require, verify_csrf
from plait.server.errors import ApiError, responses
from plait.server.users import Role, User

MAX_CHILDREN = 1000  # children and tasks a workflow's detail lists
ATTR_PREFIX = "attr."

router = APIRouter(prefix="/api/workflows", tags=["workflows"], dependencies=[Depends(verify_csrf)])
Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
WorkflowId = Annotated[str, Path(min_length=1, max_length=500, pattern=NO_NUL)]
Text = Annotated[str | None, Query(min_length=1, max_length=500, pattern=NO_NUL)]


def _date_time_text(value: object) -> object:
    """A date-time query value as the schema says (ISO 8601 text): pydantic would also read
    a number as Unix seconds, so ``until=1700000000`` would silently mean 2023."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError(
            f"{value!r} is a number; give an ISO 8601 date-time such as 2026-12-06T09:30:00Z"
        )
    return value


Instant = Annotated[datetime | None, BeforeValidator(_date_time_text), Query()]
READ = responses(401, 403, 422)
ACT = responses(401, 403, 404, 409, 422)


def _attributes(request: Request) -> dict[str, str]:
    found = {}
    for key, value in request.query_params.multi_items():
        if key.startswith(ATTR_PREFIX):
            name = key[len(ATTR_PREFIX) :]
            if not name or "\x00" in name or "\x00" in value:
                raise ApiError(422, f"bad attribute filter {key!r}: use attr.NAME=VALUE", field=key)
            found[name] = value
    return found


@router.get(
    "",
    summary="list workflows, newest first",
    description="Filters: `status` (repeat for several), `name`, creation time in "
    "[`since`, `until`), `parent_id`, `attr.NAME=VALUE` for status attributes (repeat), "
    "`q` for a workflow id. Pass a page's `next_cursor` as `cursor` for the next page.",
    responses=READ,
)
async def list_workflows(
    request: Request,
    user: Viewer,
    status: Annotated[list[plait.WorkflowStatus] | None, Query()] = None,
    name: Text = None,
    since: Instant = None,
    until: Instant = None,
    parent_id: Text = None,
    q: Text = None,
    cursor: Annotated[str | None, Query(max_length=2000, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> WorkflowPage:
    engine = _engine(request)
    attributes = _attributes(request)
    if q is not None:
        found = await _search(engine, q, status, name, since, until, parent_id, attributes)
        return WorkflowPage(items=found, next_cursor=None)
    page = await engine.page(
        status=status or None,
        name=name,
        since=since,
        until=until,
        parent_id=parent_id,
        attributes=attributes,
        cursor=cursor,
        limit=limit,
    )
    return WorkflowPage(items=[summary(i) for i in page.items], next_cursor=page.next_cursor)


async def _search(
    engine: plait.Engine,
    q: str,
    status: list[plait.WorkflowStatus] | None,
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    parent_id: str | None,
    attributes: dict[str, str],
) -> list[WorkflowSummary]:
    """The workflow whose id is ``q``, if it also passes the other filters."""
    try:
        info = await engine.get(q.strip())
    except plait.WorkflowNotFound:
        return []
    fits = (
        (not status or info.status in status)
        and (name is None or info.name == name)
        and (since is None or info.created_at >= _aware(since))
        and (until is None or info.created_at < _aware(until))
        and (parent_id is None or info.parent_id == parent_id)
        and all(str(info.attributes.get(k)) == v for k, v in attributes.items())
    )
    return [summary(info)] if fits else []


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.get(
    "/counts", summary="how many workflows are in each status", responses=responses(401, 403)
)
async def counts(request: Request, user: Viewer) -> Counts:
    engine = _engine(request)
    by_status = await engine.counts()
    by_name = await engine.counts_by_name()
    return Counts(
        by_status={str(s): n for s, n in by_status.items()},
        by_name={name: {str(s): n for s, n in c.items()} for name, c in by_name.items()},
    )


@router.get(
    "/versions",
    summary="how many workflows of each name and version are in flight",
    responses=responses(401, 403),
)
async def versions(request: Request, user: Viewer) -> VersionList:
    return VersionList(
        versions=[
            VersionCountModel(
                name=v.name,
                version=v.version,
                pending=v.pending,
                running=v.running,
                waiting=v.waiting,
                blocked=v.blocked,
                in_flight=v.in_flight,
            )
            for v in await _engine(request).versions()
        ]
    )


@router.get(
    "/{workflow_id}",
    summary="one workflow: record, journal with attempts, children, events, runs, tasks",
    responses=responses(401, 403, 404, 422),
)
async def show(request: Request, user: Viewer, workflow_id: WorkflowId) -> WorkflowDetail:
    engine = _engine(request)
    info = await engine.get(workflow_id)
    children = await engine.page(parent_id=workflow_id, limit=MAX_CHILDREN)
    tasks = await engine.tasks(workflow_id=workflow_id, limit=MAX_CHILDREN)
    now = _now(engine)
    return WorkflowDetail(
        info=info_model(info),
        journal=journal_entries(
            await engine.journal(workflow_id), await engine.attempts(workflow_id)
        ),
        children=[summary(c) for c in children.items],
        events=[event_model(e) for e in await engine.events(workflow_id)],
        runs=[
            RunModel(
                run=r.run,
                input=r.input,
                started_at=r.started_at,
                ended_at=r.ended_at,
                journal=journal_entries(r.journal, r.attempts),
            )
            for r in await engine.runs(workflow_id)
        ],
        tasks=[task_summary(t, now) for t in tasks],
    )


@router.post(
    "",
    status_code=201,
    summary="start a workflow (needs the application's code: --app)",
    responses=ACT,
)
async def start(request: Request, user: Operator, body: StartRequest) -> WorkflowSummary:
    engine = _engine(request)
    check_app_workflow(request, body.workflow, "cannot start workflows")
    handle: plait.WorkflowHandle[Any] = await engine.start(
        body.workflow,
        *body.args,
        id=body.id,
        queue=body.queue,
        priority=body.priority,
        concurrency_key=body.concurrency_key,
        delay=None if body.delay_seconds is None else timedelta(seconds=body.delay_seconds),
        timeout=None if body.timeout_seconds is None else timedelta(seconds=body.timeout_seconds),
        subject=body.subject,
        by=user.name,
    )
    return summary(await engine.get(handle.id))


@router.post("/{workflow_id}/signal", summary="send a signal to a workflow", responses=ACT)
async def signal(
    request: Request, user: Operator, workflow_id: WorkflowId, body: SignalRequest
) -> SignalResult:
    if body.name.startswith("plait:"):
        raise ApiError(422, "signal names starting with 'plait:' are plait's own", field="name")
    sent = await _engine(request).signal(
        workflow_id, body.name, body.payload, dedup_key=body.dedup_key, by=user.name
    )
    return SignalResult(sent=sent)


@router.post("/{workflow_id}/cancel", summary="cancel a workflow and its children", responses=ACT)
async def cancel(request: Request, user: Operator, workflow_id: WorkflowId) -> CancelResult:
    status = await _engine(request).cancel(workflow_id, by=user.name)
    return CancelResult(status=status)


@router.post(
    "/{workflow_id}/resume",
    summary="continue a failed or blocked workflow from where it stopped",
    responses=ACT,
)
async def resume(request: Request, user: Operator, workflow_id: WorkflowId) -> WorkflowSummary:
    engine = _engine(request)
    await engine.resume(workflow_id, by=user.name)
    return summary(await engine.get(workflow_id))
