"""The inbox and a human task's page: its context, the proposal, the generated form, the
review of what changed (proposal → answer) before submitting, and the audit trail.

Without JavaScript the review is a page of its own; with it, the same server-rendered review
appears below the form. Errors come back next to their fields: those the form cannot read,
those the stored JSON Schema finds (before the review), and the engine's ``InvalidAnswer``
(on submit).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import plait
from plait.server.auth import Role, User, page_user, verify_csrf
from plait.server.errors import ApiError
from plait.server.pages.common import (
    engine_of,
    my_assignees,
    render,
    require_role,
    show_error,
)
from plait.server.pages.forms import MISSING, build_form, changes, parse_form, validate
from plait.server.pages.render import humanize

router = APIRouter()
APPROVAL_FORM = "plait.human:Approval"


def may_answer(user: User, task: plait.HumanTask) -> bool:
    """Whether the person may complete the task: an approver it is assigned to (directly or
    through a group, and not claimed by someone else), or an admin."""
    if user.can(Role.ADMIN):
        return True
    if not user.can(Role.APPROVER):
        return False
    if task.claimed_by and task.claimed_by != user.name:
        return False
    return task.assignee is None or task.assignee == user.name or task.assignee in user.groups


def about(context: Any) -> str:
    """What a task is about, from its context: its first two plain values, labelled; a long
    text (a job description, a message) is cut to its first line's first 80 characters."""
    if not isinstance(context, dict):
        return ""
    plain = [(k, v) for k, v in context.items() if isinstance(v, str | int | float)]
    return " · ".join(f"{humanize(k)}: {_short(v)}" for k, v in plain[:2])


def _short(value: str | int | float, limit: int = 80) -> str:
    text = str(value).strip()
    first = text.split("\n", 1)[0]
    if len(first) > limit:
        first = first[: limit - 1].rstrip()
    return first if first == text else f"{first}…"


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, user: User = Depends(page_user), scope: str = "") -> HTMLResponse:
    """Open tasks for the person and their groups (or all), most overdue first."""
    engine = engine_of(request)
    assignees = None if scope == "all" else my_assignees(user)
    tasks = await engine.tasks(status="open", assignee=assignees, order="urgent", limit=500)
    names: dict[str, str] = {}
    subjects: dict[str, str | None] = {}
    for wid in {t.workflow_id for t in tasks}:
        with contextlib.suppress(plait.WorkflowNotFound):
            info = await engine.get(wid, decode=False)
            names[wid] = info.name
            subjects[wid] = info.subject
    return await render(
        request,
        "inbox.html",
        user,
        {
            "tasks": tasks,
            "scope": scope,
            "names": names,
            "about": {t.id: subjects.get(t.workflow_id) or about(t.context) for t in tasks},
            "can_see_all": True,
        },
    )


async def _task_page(
    request: Request,
    user: User,
    task: plait.HumanTask,
    *,
    value: Any = MISSING,
    errors: dict[str, str] | None = None,
    status: int = 200,
    flash: str | None = None,
    comment: str | None = None,
) -> HTMLResponse:
    engine = engine_of(request)
    workflow_name, subject = "workflow", None
    with contextlib.suppress(plait.WorkflowNotFound):
        info = await engine.get(task.workflow_id, decode=False)
        workflow_name, subject = info.name, info.subject
    proposal = task.proposal if task.proposal is not None else MISSING
    shown = value if value is not MISSING else (task.proposal if task.is_open else task.answer)
    form = build_form(task.form_schema, shown, proposal=proposal, errors=errors)
    context: dict[str, Any] = {
        "task": task,
        "form": form,
        "is_approval": task.form == APPROVAL_FORM,
        "can_answer": may_answer(user, task),
        "user_can_approve": user.can(Role.APPROVER),
        "audit": await engine.task_events(task.id),
        "workflow_name": workflow_name,
        "subject": subject,
        "comment": comment,
    }
    if flash:
        context.update(flash=flash, flash_error=True)
    return await render(request, "task.html", user, context, status=status)


async def _task(request: Request, user: User, task_id: str) -> plait.HumanTask | HTMLResponse:
    try:
        return await engine_of(request).task(task_id)
    except plait.TaskNotFound:
        return await show_error(
            request, user, 404, f"There is no human task {task_id!r}.", back="/inbox"
        )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, task_id: str, user: User = Depends(page_user)) -> Response:
    """What is proposed, why, and the form to answer it."""
    task = await _task(request, user, task_id)
    if isinstance(task, HTMLResponse):
        return task
    return await _task_page(request, user, task)


def _edit_list(answer: Any, path: str, *, add: bool) -> None:
    """Adds an empty item to the list at ``path`` or removes the item ``path`` names
    (the form's "add"/"remove" buttons without JavaScript)."""
    parts = [p for p in path.split(".") if p]
    if not add:
        parts, last = parts[:-1], parts[-1] if parts else ""
    node = answer
    for part in parts:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, [] if part == parts[-1] and add else {})
        else:
            return
    if isinstance(node, list):
        if add:
            node.append(None)
        elif last.isdigit() and int(last) < len(node):
            del node[int(last)]


@router.post("/tasks/{task_id}/review", dependencies=[Depends(verify_csrf)])
async def review(request: Request, task_id: str, user: User = Depends(page_user)) -> Response:
    """The form posted: errors next to their fields, or the review of what changed."""
    task = await _task(request, user, task_id)
    if isinstance(task, HTMLResponse):
        return task
    _check_may_answer(user, task)
    posted = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    buttons = dict(posted)
    if "_edit" in buttons:  # "back to the form" from the review, with the answer kept
        with contextlib.suppress(ValueError):
            return await _task_page(
                request, user, task, value=json.loads(buttons.get("answer", ""))
            )
    answer, errors = parse_form(task.form_schema, posted)
    if "_add" in buttons or "_remove" in buttons:
        _edit_list(answer, buttons.get("_add") or buttons.get("_remove", ""), add="_add" in buttons)
        return await _task_page(request, user, task, value=answer)
    if not task.is_open:
        return await _task_page(request, user, task, flash=_not_open(task), status=409)
    errors = errors or validate(task.form_schema, answer)
    if errors:
        return await _task_page(request, user, task, value=answer, errors=errors, status=422)
    form = build_form(task.form_schema, answer, proposal=task.proposal)
    diff = changes(form, task.proposal, answer) if task.proposal is not None else []
    return await render(
        request,
        "review.html",
        user,
        {"task": task, "diff": diff, "answer": answer, "standalone": True},
    )


def _check_may_answer(user: User, task: plait.HumanTask) -> None:
    require_role(user, Role.APPROVER, "answer human tasks")
    if not may_answer(user, task):
        raise ApiError(
            403,
            f"{user.name} may not answer this task: it is assigned to {task.assignee}"
            + (f" and claimed by {task.claimed_by}" if task.claimed_by else ""),
        )


def _not_open(task: plait.HumanTask) -> str:
    if task.status == "completed":
        return f"{task.completed_by or 'Someone'} answered this task first; nothing was changed."
    return f"This task is {task.status}; it takes no answer."


@router.post("/tasks/{task_id}/complete", dependencies=[Depends(verify_csrf)])
async def complete(request: Request, task_id: str, user: User = Depends(page_user)) -> Response:
    """Records the answer (as ``user``) and goes to the workflow, which continues with it."""
    task = await _task(request, user, task_id)
    if isinstance(task, HTMLResponse):
        return task
    _check_may_answer(user, task)
    posted = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    fields = dict(posted)
    comment = (fields.get("comment") or fields.get("f.comment") or "").strip() or None
    answer: Any
    if task.form == APPROVAL_FORM and fields.get("decision") in ("approve", "reject"):
        answer = {"approved": fields["decision"] == "approve", "comment": comment}
    elif "answer" in fields:
        try:
            answer = json.loads(fields["answer"])
        except ValueError:
            return await _task_page(
                request,
                user,
                task,
                flash="The answer was not readable; fill in the form again.",
                status=422,
            )
    else:
        answer, errors = parse_form(task.form_schema, posted)
        if errors:
            return await _task_page(request, user, task, value=answer, errors=errors, status=422)
    try:
        await engine_of(request).complete_task(task.id, answer, by=user.name, comment=comment)
    except plait.InvalidAnswer as exc:
        errors = {("" if f == "(answer)" else f): why for f, why in exc.errors}
        return await _task_page(
            request, user, task, value=answer, errors=errors, status=422, comment=comment
        )
    except (plait.TaskAlreadyCompleted, plait.TaskNotOpen):
        fresh = await engine_of(request).task(task.id)
        return await _task_page(request, user, fresh, flash=_not_open(fresh), status=409)
    except plait.PermissionDenied as exc:
        raise ApiError(403, str(exc)) from None
    return RedirectResponse(f"/workflows/{task.workflow_id}?done=answered", status_code=303)
