"""The erasure pages (admin only): find a subject (a person's id), see what carries it,
erase it after a confirmation, and see the result.

``GET /subjects`` searches, ``GET /subjects/{subject}`` shows the workflows, records and
blobs that carry the subject and the erasures done before; ``POST /subjects/{subject}/erase``
asks for confirmation first (the shared confirmation page) and then erases with ``by=`` the
person, so every erased workflow's event log says who did it.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import plait
from plait.server.auth import Role, User, page_user, verify_csrf
from plait.server.pages.common import confirm, engine_of, render, require_role, show_error
from plait.server.pages.render import counted

router = APIRouter()
SHOWN = 50  # workflows listed on a subject's page


def _path(subject: str) -> str:
    return f"/subjects/{quote(subject, safe='')}"


@router.get("/subjects", response_class=HTMLResponse)
async def search(request: Request, user: User = Depends(page_user)) -> Response:
    require_role(user, Role.ADMIN, "erase personal data")
    subject = request.query_params.get("subject", "").strip()
    if subject:
        return RedirectResponse(_path(subject), status_code=303)
    return await render(request, "subject.html", user, {"subject": "", "info": None})


@router.get("/subjects/{subject}", response_class=HTMLResponse)
async def show(request: Request, subject: str, user: User = Depends(page_user)) -> Response:
    require_role(user, Role.ADMIN, "erase personal data")
    try:
        info = await engine_of(request).subject(subject, limit=SHOWN)
    except plait.PlaitError as exc:
        return await show_error(request, user, 422, str(exc), back="/subjects")
    erased = {e.workflow_id for e in info.erasures}
    # One line per erase_subject call (its events share who and when), newest first.
    done: dict[tuple[str, datetime], int] = {}
    for e in info.erasures:
        done[(e.by, e.at)] = done.get((e.by, e.at), 0) + 1
    erasures = [{"by": by, "at": at, "workflows": n} for (by, at), n in reversed(done.items())]
    left = bool(
        info.records
        or info.blobs
        or len(info.workflows) >= SHOWN
        or any(w.id not in erased for w in info.workflows)
    )
    return await render(
        request,
        "subject.html",
        user,
        {
            "subject": subject,
            "info": info,
            "erased": erased,
            "erasures": erasures,
            "left": left,
            "action": _path(subject) + "/erase",
            "shown": SHOWN,
        },
    )


@router.post("/subjects/{subject}/erase", dependencies=[Depends(verify_csrf)])
async def erase(request: Request, subject: str, user: User = Depends(page_user)) -> Response:
    require_role(user, Role.ADMIN, "erase personal data")
    engine = engine_of(request)
    form = await request.form()
    back = _path(subject)
    try:
        info = await engine.subject(subject, limit=1)
        if info.empty:
            return await show_error(
                request,
                user,
                404,
                f"Nothing carries the subject {subject!r}: no workflow, record or blob.",
                back="/subjects",
            )
        if form.get("confirmed") != "1":
            return await confirm(
                request,
                user,
                question=f"Erase everything about {subject}?",
                detail=f"{counted(info.workflow_count, 'workflow')} (children included), "
                f"{counted(info.records, 'record')} and {counted(info.blobs, 'blob')}: "
                "their inputs, outputs, "
                "step results, signals, task answers and files are deleted for good; running "
                "workflows are cancelled first. The journals keep their shape and the event "
                "log records that you erased it. This cannot be undone.",
                action=back + "/erase",
                back=back,
                button="Yes, erase it",
                danger=True,
            )
        await engine.erase_subject(subject, by=user.name)
    except plait.PlaitError as exc:
        return await show_error(request, user, 422, str(exc), back=back)
    return RedirectResponse(back + "?done=erased", status_code=303)
