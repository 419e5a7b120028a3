"""The schedules page: every schedule, when it runs next (in the viewer's zone), the
workflow it started last and that workflow's status, and for operators pause, resume and
run-now buttons (forms with the CSRF token, so the page works without JavaScript)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import plait
from plait.server.auth import Role, User, page_user, verify_csrf
from plait.server.pages.common import confirm, engine_of, render, require_role, show_error

router = APIRouter()

DONE = {
    "paused": "Paused: the schedule starts nothing until it is resumed.",
    "resumed": "Resumed: the schedule runs again from its next tick (ticks during the pause "
    "are not run).",
}


@router.get("/schedules", response_class=HTMLResponse)
async def schedules(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    """Every schedule, by id."""
    engine = engine_of(request)
    items = await engine.schedules.list()
    last: dict[str, plait.WorkflowStatus] = {}
    for s in items:
        if s.last_workflow_id is not None:
            try:
                last[s.id] = (await engine.get(s.last_workflow_id)).status
            except plait.WorkflowNotFound:  # collected by gc or retention since
                pass
    context = {
        "schedules": items,
        "last_status": last,
        "can_operate": user.can(Role.OPERATOR),
        "flash": DONE.get(request.query_params.get("done", "")),
    }
    return await render(request, "schedules.html", user, context)


async def _act(request: Request, user: User, schedule_id: str, action: str) -> Response:
    require_role(user, Role.OPERATOR, f"{action} schedules")
    engine = engine_of(request)
    try:
        if action == "pause":
            await engine.schedules.pause(schedule_id)
            return RedirectResponse("/schedules?done=paused", status_code=303)
        if action == "resume":
            await engine.schedules.resume(schedule_id)
            return RedirectResponse("/schedules?done=resumed", status_code=303)
        form = await request.form()
        if form.get("confirmed") != "1":
            info = await engine.schedules.get(schedule_id)
            return await confirm(
                request,
                user,
                question=f"Start {info.workflow} of schedule {schedule_id} now?",
                detail="One workflow starts now, with the schedule's arguments; the schedule's "
                "next run stays as it was.",
                action=f"/schedules/{schedule_id}/trigger",
                back="/schedules",
                button="Yes, run it now",
            )
        handle = await engine.schedules.trigger(schedule_id, by=user.name)
        return RedirectResponse(f"/workflows/{handle.id}?done=triggered", status_code=303)
    except plait.ScheduleNotFound as exc:
        return await show_error(request, user, 404, str(exc), back="/schedules")


@router.post("/schedules/{schedule_id}/pause", dependencies=[Depends(verify_csrf)])
async def pause(request: Request, schedule_id: str, user: User = Depends(page_user)) -> Response:
    return await _act(request, user, schedule_id, "pause")


@router.post("/schedules/{schedule_id}/resume", dependencies=[Depends(verify_csrf)])
async def resume(request: Request, schedule_id: str, user: User = Depends(page_user)) -> Response:
    return await _act(request, user, schedule_id, "resume")


@router.post("/schedules/{schedule_id}/trigger", dependencies=[Depends(verify_csrf)])
async def trigger(request: Request, schedule_id: str, user: User = Depends(page_user)) -> Response:
    return await _act(request, user, schedule_id, "trigger")
