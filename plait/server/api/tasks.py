"""``/api/tasks``: the human tasks — list (mine, my groups', all), show, claim, reassign,
complete.

Reads need the viewer role. Claiming and completing need the approver role, and the engine,
which has the server's users as its :class:`plait.Directory`, checks that the person is the
task's assignee, in its group, or an admin (else 403). Reassigning needs the admin role.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

import plait
from plait.server.api.common import engine_of as _engine
from plait.server.api.models import (
    NO_NUL,
    CompleteRequest,
    ReassignRequest,
    TaskDetail,
    TaskPage,
    now_of,
    task_detail,
    task_summary,
)
from plait.server.auth import require, verify_csrf
from plait.server.errors import ApiError, responses
from plait.server.users import Role, User, Users

router = APIRouter(prefix="/api/tasks", tags=["human tasks"], dependencies=[Depends(verify_csrf)])
Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Approver = Annotated[User, Depends(require(Role.APPROVER))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]
TaskId = Annotated[str, Path(min_length=1, max_length=500, pattern=NO_NUL)]
ACT = responses(401, 403, 404, 409, 422)


@router.get(
    "",
    summary="human tasks: open ones most overdue first",
    description="`scope`: `mine` (assigned to me or one of my groups: my inbox, the "
    "default), `groups` (assigned to one of my groups), `all`. `status` (repeat for several), "
    "`overdue` (true: only open tasks past their due time; false: all others). Pass a page's "
    "`next_cursor` as `cursor` for the next page.",
    responses=responses(401, 403, 422),
)
async def list_tasks(
    request: Request,
    user: Viewer,
    scope: Literal["mine", "groups", "all"] = "mine",
    status: Annotated[list[plait.TaskStatus] | None, Query()] = None,
    overdue: bool | None = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> TaskPage:
    engine = _engine(request)
    offset = int(cursor) if cursor else 0
    assignee: list[str] | None = None
    for_user: str | None = None
    if scope == "mine":
        for_user = user.name
    elif scope == "groups":
        assignee = sorted(user.groups)
        if not assignee:
            return TaskPage(items=[], next_cursor=None)
    found = await engine.tasks(
        status=status or None,
        assignee=assignee,
        for_user=for_user,
        overdue=overdue,
        order="urgent",
        limit=limit + 1,
        offset=offset,
    )
    now = now_of(engine)
    more = len(found) > limit
    return TaskPage(
        items=[task_summary(t, now) for t in found[:limit]],
        next_cursor=str(offset + limit) if more else None,
    )


@router.get(
    "/{task_id}",
    summary="one human task: form schema, proposal, context, answer, changes, audit trail",
    responses=responses(401, 403, 404, 422),
)
async def show(request: Request, user: Viewer, task_id: TaskId) -> TaskDetail:
    engine = _engine(request)
    return await _detail(engine, await engine.task(task_id))


async def _detail(engine: plait.Engine, task: plait.HumanTask) -> TaskDetail:
    return task_detail(task, await engine.task_events(task.id), now_of(engine))


@router.post(
    "/{task_id}/claim",
    summary="take a task (its assignee, a member of its group, or an admin)",
    responses=ACT,
)
async def claim(request: Request, user: Approver, task_id: TaskId) -> TaskDetail:
    engine = _engine(request)
    return await _detail(engine, await engine.claim_task(task_id, by=user.name))


@router.post(
    "/{task_id}/reassign", summary="give a task to another person or group (admin)", responses=ACT
)
async def reassign(
    request: Request, user: Admin, task_id: TaskId, body: ReassignRequest
) -> TaskDetail:
    engine = _engine(request)
    _check_assignee(request.app.state.users, request.app.state.settings.local_mode, body.to)
    return await _detail(engine, await engine.reassign_task(task_id, to=body.to, by=user.name))


def _check_assignee(users: Users, local_mode: bool, to: str) -> None:
    if local_mode:
        return  # no users file to check against
    people = users.all()
    if any(u.name == to for u in people) or any(to in u.groups for u in people):
        return
    raise ApiError(
        422,
        f"no user or group named {to!r} in the users file; add them with `plait users add`",
        field="to",
    )


@router.post(
    "/{task_id}/complete",
    summary="answer a human task (its assignee, a member of its group, or an admin)",
    responses=ACT,
)
async def complete(
    request: Request, user: Approver, task_id: TaskId, body: CompleteRequest
) -> TaskDetail:
    engine = _engine(request)
    done = await engine.complete_task(task_id, body.answer, by=user.name, comment=body.comment)
    return await _detail(engine, done)
