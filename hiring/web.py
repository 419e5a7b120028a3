"""The hiring pages on ``plait server``, through its extension point.

:func:`extension` is what ``hiring.app.plait_server_extensions`` hands the server: the jobs
list and the "New job" form, a job's pipeline board and report, a candidate's page (score
explanation with the résumé evidence highlighted, messages, audit trail, export and erasure,
interview changes), the public routes candidates and mail providers reach without a session
(:mod:`hiring.public`) and, in demo mode (``HIRING_DEMO=1``), the mailbox of the local mail
server (:mod:`hiring.mailbox`).

Every page needs a signed-in person (``page_user``); every form carries the CSRF token; every
action that changes something asks for confirmation first and says afterwards what it did;
actions pass ``by=<the person>`` to the engine. Everything is read through plait's public API
and the records described in :mod:`hiring.book`.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

import plait
from hiring import book, report
from hiring.models import STAGES
from plait.server import (
    Extension,
    NavItem,
    Role,
    User,
    confirm,
    page_user,
    render,
    show_error,
    verify_csrf,
)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# The board's columns: the way through the pipeline, then where it can end.
FLOW = (
    "received",
    "screened",
    "shortlisted",
    "contacted",
    "replied",
    "scheduling",
    "interviewing",
    "decided",
)
ENDS = tuple(s for s in STAGES if s not in FLOW)

# What an action did, shown once after its redirect (?done=...).
DONE = {
    "job-created": "Job created: its pipeline reads the description and proposes the skills.",
    "candidates-added": "Candidates added: they are screened and shortlisted in a new round.",
    "closed": "Close requested: the job takes no more candidates and ends once every "
    "shortlisted candidate has an outcome.",
    "rescheduled": "New time sent: the candidate and the panel get an updated invite.",
    "interview-cancelled": "Cancellation sent: the candidate and the panel get a cancelled invite.",
    "erased": "Erased: the candidate's résumé, messages, scores and AI outputs are gone; the "
    "audit trail keeps who did what and when.",
    "replied": "Reply delivered through the inbound-mail path.",
}


def demo_mode() -> bool:
    """Whether the demo's extras (the mailbox) are on: ``HIRING_DEMO=1``."""
    return os.environ.get("HIRING_DEMO", "").strip().lower() in ("1", "true", "yes", "on")


def extension(engine: plait.Engine) -> Extension:
    """The hiring application's part of ``plait server``."""
    from hiring import api, imap_loop, jobs_pages, mailbox, public

    # The IMAP poller (HIRING_IMAP) runs in the server's process while it serves.
    router = APIRouter(lifespan=imap_loop.lifespan(engine))
    router.include_router(pages)
    router.include_router(jobs_pages.router)
    router.include_router(public.router)
    router.include_router(api.router)
    nav = [NavItem("Jobs", "/hiring/jobs")]
    if demo_mode():
        router.include_router(mailbox.router)
        nav.append(NavItem("Mailbox", "/hiring/mailbox"))
    return Extension(
        name="hiring",
        router=router,
        templates=TEMPLATES,
        nav=tuple(nav),
        public_paths=("/hiring/unsubscribe", "/hiring/slot", "/hiring/inbound"),
        static=STATIC,
    )


# -- helpers shared by the hiring pages ---------------------------------------------------
def engine_of(request: Request) -> plait.Engine:
    found: plait.Engine = request.app.state.engine
    return found


async def page(
    request: Request, name: str, user: User, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    """A hiring page: plait's layout, the hiring stylesheet, and this module's messages."""
    done = DONE.get(request.query_params.get("done", ""))
    extra: dict[str, Any] = {"demo": demo_mode(), "viewer_zone": user.time_zone or "UTC"}
    if done:
        extra["flash"] = done
    return await render(request, name, user, {**extra, **context}, status=status)


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def refused(user: User, role: Role, action: str) -> str | None:
    """Why ``user`` may not do ``action`` (None when they may)."""
    if user.can(role):
        return None
    have = ", ".join(sorted(str(r) for r in user.roles)) or "no role"
    return (
        f"{user.name} may not {action}: it needs the {role} role (you have {have}). An admin "
        "gives roles with `plait users add NAME --role ROLE`."
    )


def done(url: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?done={what}", status_code=303)


def as_time(value: object) -> datetime | None:
    """A time kept in a record (JSON: an ISO string) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return as_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def candidate_url(candidate_id: str) -> str:
    return f"/hiring/candidates/{quote(candidate_id, safe='')}"


async def job_config(engine: plait.Engine, job_id: str) -> dict[str, Any] | None:
    value = await engine.records.get(book.JOB, job_id)
    if not isinstance(value, dict):
        return None
    config = value.get("config")
    return config if isinstance(config, dict) else {}


# -- the candidate page -------------------------------------------------------------------
pages = APIRouter()


async def _score_card(engine: plait.Engine, cid: str) -> dict[str, Any] | None:
    """The score with its evidence (kept with the candidate, so erasure removes it)."""
    return await report.score_card(engine, cid)


async def _resume_texts(engine: plait.Engine, profile: book.Profile) -> tuple[str, str, str]:
    """The résumé's text, the same text redacted as the scorer reads it, and a note if it
    could not be read."""
    from hiring.documents import read_document
    from hiring.scoring.redaction import redact

    try:
        blob = await engine.get_blob(profile.resume)
        text = read_document(blob.data, profile.resume_name, blob.content_type).text
    except Exception as exc:  # a missing blob (erased) or an unreadable file: say so
        return "", "", f"the résumé could not be read: {exc}"
    return text, redact(text).text, ""


def _find(text: str, sentence: str) -> tuple[int, int] | None:
    """Where ``sentence`` stands in ``text``, line breaks and spacing aside."""
    words = sentence.split()
    if not words:
        return None
    at = text.find(sentence.strip())
    if at >= 0:
        return at, at + len(sentence.strip())
    found = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (found.start(), found.end()) if found else None


def highlight(text: str, sentences: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """``text`` cut into pieces, each with the skills whose evidence it quotes (or None):
    the page marks those pieces. A sentence not found in the text is left out; one that
    overlaps an earlier mark is added to that mark's skills."""
    spans: list[list[Any]] = []  # [start, end, skills]
    for skill, sentence in sentences:
        where = _find(text, sentence)
        if where is None:
            continue
        at, end = where
        overlapping = next((sp for sp in spans if sp[0] < end and at < sp[1]), None)
        if overlapping is not None:
            if skill not in overlapping[2]:
                overlapping[2] = f"{overlapping[2]}, {skill}"
            continue
        spans.append([at, end, skill])
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for at, end, skill in sorted(spans):
        if at > position:
            pieces.append((text[position:at], None))
        pieces.append((text[at:end], skill))
        position = end
    if position < len(text):
        pieces.append((text[position:], None))
    return pieces


async def _interview(engine: plait.Engine, cid: str) -> plait.WorkflowInfo | None:
    """The candidate's journey while an interview is booked (it can be moved or cancelled)."""
    found = await engine.page(name="hiring.candidate", attributes={"candidate": cid}, limit=5)
    for w in found.items:
        if (
            w.status == plait.WorkflowStatus.WAITING
            and w.attributes.get("stage") == "interviewing"
            and "interview at" in (w.status_text or "")
        ):
            return w
    return None


def _booked_at(flow: plait.WorkflowInfo | None, zone: str) -> str:
    """The booked interview's start (from the journey's status) in the viewer's zone."""
    from zoneinfo import ZoneInfo

    found = re.search(r"interview at (\S+)", flow.status_text or "") if flow else None
    when = as_time(found.group(1)) if found else None
    if when is None:
        return ""
    try:
        local = when.astimezone(ZoneInfo(zone))
    except (ValueError, KeyError):
        local, zone = when, "UTC"
    return f"{local:%A %d %B %Y, %H:%M} ({zone})"


@pages.get("/hiring/candidates/{candidate_id}", response_class=HTMLResponse)
async def candidate_page(
    request: Request, candidate_id: str, user: User = Depends(page_user)
) -> HTMLResponse:
    engine = engine_of(request)
    profile = await engine.records.get(book.CANDIDATE, candidate_id, type=book.Profile)
    trail = await book.audit_trail_for(engine, candidate_id)
    if not isinstance(profile, book.Profile):
        if not trail:
            return await show_error(
                request,
                user,
                404,
                f"There is no candidate {candidate_id!r}: the link is wrong, or the candidate "
                "was never added.",
                back="/hiring/jobs",
            )
        return await page(
            request, "hiring_candidate_erased.html", user, {"cid": candidate_id, "trail": trail}
        )
    card = await _score_card(engine, candidate_id)
    original, redacted, resume_note = await _resume_texts(engine, profile)
    matched = card.get("matched", []) if card else []
    evidence = [(str(m.get("skill", "")), str(m.get("sentence", ""))) for m in matched]
    # The evidence quotes the résumé as the scorer read it; that is the original text
    # wherever nothing personal was removed. Show the version that holds more of it.
    pieces = highlight(original, evidence)
    scorer_view = highlight(redacted, evidence)
    shown_redacted = sum(1 for _, k in scorer_view if k) > sum(1 for _, k in pieces if k)
    if shown_redacted:
        pieces = scorer_view
    found = {k.strip() for _, ks in pieces if ks for k in ks.split(",")}
    messages = [
        {**r.value, "at": as_time(r.value.get("at")) or r.created_at}
        for r in await engine.records.list(book.MESSAGE, prefix=f"{candidate_id}/")
        if isinstance(r.value, dict)
    ]
    flows = (await engine.page(attributes={"candidate": candidate_id}, limit=20)).items
    tasks: list[plait.HumanTask] = []
    for w in flows:
        tasks += await engine.tasks(workflow_id=w.id, status="open", limit=10)
    stage = "received"
    for w in flows:
        if w.name in report.WORKFLOWS:
            stage = str(w.attributes.get("stage", stage))
            break
    config = await job_config(engine, profile.job_id) or {}
    interview = await _interview(engine, candidate_id)
    return await page(
        request,
        "hiring_candidate.html",
        user,
        {
            "p": profile,
            "cid": candidate_id,
            "stage": stage,
            "job_title": config.get("title") or profile.job_id,
            "card": card,
            "pieces": pieces,
            "resume_note": resume_note,
            "shown_redacted": shown_redacted,
            "unquoted": [s for s, _ in evidence if s not in found],
            "messages": sorted(messages, key=lambda m: m["at"]),
            "flows": flows,
            "tasks": tasks,
            "trail": trail,
            "interview": interview,
            "interview_at": _booked_at(interview, user.time_zone or "UTC"),
            "interview_minutes": int(config.get("interview_minutes", 45)),
            "can_erase": user.can(Role.ADMIN),
            "can_operate": user.can(Role.OPERATOR),
        },
    )


@pages.get("/hiring/candidates/{candidate_id}/export.json")
async def export_candidate(
    request: Request, candidate_id: str, user: User = Depends(page_user)
) -> Response:
    engine = engine_of(request)
    try:
        data = await report.export(engine, candidate_id)
    except LookupError as exc:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)
    return Response(
        _json(data),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{candidate_id}.json"'},
    )


def _json(data: object) -> str:
    import json

    from pydantic import BaseModel

    def default(value: object) -> object:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value)

    return json.dumps(data, default=default, indent=2, ensure_ascii=False)


@pages.post("/hiring/candidates/{candidate_id}/erase", dependencies=[Depends(verify_csrf)])
async def erase_candidate(
    request: Request, candidate_id: str, user: User = Depends(page_user)
) -> Response:
    back = candidate_url(candidate_id)
    why = refused(user, Role.ADMIN, "erase a candidate's data")
    if why:
        return await show_error(request, user, 403, why, back=back)
    engine = engine_of(request)
    form = await form_of(request)
    if form.get("confirmed") != "1":
        profile = await engine.records.get(book.CANDIDATE, candidate_id, type=book.Profile)
        name = profile.name if isinstance(profile, book.Profile) else candidate_id
        return await confirm(
            request,
            user,
            question=f"Erase everything held about {name}?",
            detail="Their résumé, profile, messages, scores, AI outputs and the payloads of "
            "their workflows are deleted, and an unfinished workflow of theirs is cancelled. "
            "The audit trail keeps who did what and when, without the content. This cannot "
            "be undone.",
            action=f"{back}/erase",
            back=back,
            button="Yes, erase it",
            danger=True,
        )
    try:
        await engine.erase_subject(candidate_id, by=user.name)
    except plait.PlaitError as exc:
        return await show_error(request, user, 409, str(exc), back=back)
    # The mailbox keeps the demo's received mail under the candidate as subject, so it went
    # too; the audit skeleton (no subject) stays.
    return done(back, "erased")


@pages.post("/hiring/candidates/{candidate_id}/interview", dependencies=[Depends(verify_csrf)])
async def change_interview(
    request: Request, candidate_id: str, user: User = Depends(page_user)
) -> Response:
    """Reschedules (a new start in the viewer's zone) or cancels the booked interview."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    back = candidate_url(candidate_id)
    why = refused(user, Role.OPERATOR, "change an interview")
    if why:
        return await show_error(request, user, 403, why, back=back)
    engine = engine_of(request)
    form = await form_of(request)
    action = form.get("action", "")
    flow = await _interview(engine, candidate_id)
    if flow is None:
        return await show_error(
            request, user, 409, "No interview is booked for this candidate now.", back=back
        )
    if action == "cancel":
        if form.get("confirmed") != "1":
            return await confirm(
                request,
                user,
                question="Cancel the interview?",
                detail="The candidate and the panel get a cancelled invite (same UID, higher "
                "SEQUENCE); the candidate's pipeline ends as 'interview cancelled'.",
                action=f"{back}/interview",
                back=back,
                button="Yes, cancel the interview",
                fields={"action": "cancel"},
                danger=True,
            )
        await engine.signal(
            flow.id, "cancel_interview", None, dedup_key=f"cancel:{flow.id}", by=user.name
        )
        return done(back, "interview-cancelled")
    if action != "reschedule":
        return await show_error(request, user, 422, "Choose reschedule or cancel.", back=back)
    zone = form.get("zone") or user.time_zone or "UTC"
    try:
        tz = ZoneInfo(zone)
        start = datetime.fromisoformat(form.get("start", "")).replace(tzinfo=tz)
        minutes = int(form.get("minutes") or 45)
    except (ValueError, KeyError) as exc:
        return await show_error(
            request,
            user,
            422,
            f"The new time is not valid ({exc}): give a date and time such as "
            "2026-12-10T14:00 and an IANA zone such as Europe/Berlin.",
            back=back,
        )
    end = start + timedelta(minutes=minutes)
    if form.get("confirmed") != "1":
        return await confirm(
            request,
            user,
            question=f"Move the interview to {start:%a %d %b %Y, %H:%M} to {end:%H:%M} ({zone})?",
            detail="The candidate and the panel get an updated invite (same UID, higher SEQUENCE).",
            action=f"{back}/interview",
            back=back,
            button="Yes, send the new time",
            fields={
                "action": "reschedule",
                "start": form.get("start", ""),
                "zone": zone,
                "minutes": str(minutes),
            },
        )
    # A Slot is in UTC (hiring.models.Slot): each reader shows it in their own zone.
    payload = {"start": start.astimezone(UTC).isoformat(), "end": end.astimezone(UTC).isoformat()}
    await engine.signal(
        flow.id,
        "reschedule",
        payload,
        dedup_key=f"reschedule:{flow.id}:{start.isoformat()}",
        by=user.name,
    )
    return done(back, "rescheduled")
