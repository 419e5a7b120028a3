"""The jobs pages: the list with counts per stage, the "New job" and "Add candidates" forms,
a job's pipeline board (columns by stage, who each card waits for), closing a job, and the
job's report (stages, funnel, impact ratios)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

import plait
from hiring import book, intake, jobs, report
from hiring.jobs import workflow_id as job_workflow
from hiring.web import (
    ENDS,
    FLOW,
    done,
    engine_of,
    form_of,
    job_config,
    page,
    refused,
)
from plait.server import Role, User, confirm, page_user, show_error, verify_csrf

router = APIRouter()

DOCUMENT_TYPES = intake.DOCUMENT_SUFFIXES


@router.get("/hiring", include_in_schema=False)
async def hiring_home(user: User = Depends(page_user)) -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse("/hiring/jobs", status_code=303)


@router.get("/hiring/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    engine = engine_of(request)
    rows = []
    for r in await engine.records.list(book.JOB):
        value = r.value if isinstance(r.value, dict) else {}
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        assert isinstance(config, dict)
        cards = await report.board(engine, r.key)
        counts: dict[str, int] = {}
        for c in cards:
            counts[c.stage] = counts.get(c.stage, 0) + 1
        try:
            info: plait.WorkflowInfo | None = await engine.get(job_workflow(r.key))
        except plait.WorkflowNotFound:
            info = None
        open_tasks = (
            await engine.tasks(workflow_id=info.id, status="open", limit=10) if info else []
        )
        rows.append(
            {
                "id": r.key,
                "title": config.get("title") or r.key,
                "location": config.get("location") or "",
                "info": info,
                "counts": counts,
                "total": len(cards),
                "tasks": open_tasks,
                "created_at": r.created_at,
            }
        )
    rows.sort(key=lambda row: str(row["created_at"]), reverse=True)
    return await page(request, "hiring_jobs.html", user, {"rows": rows, "flow": FLOW, "ends": ENDS})


# -- new job ---------------------------------------------------------------------------------
@router.get("/hiring/jobs/new", response_class=HTMLResponse)
async def new_job_page(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    return await page(request, "hiring_new_job.html", user, {"errors": {}, "values": {}})


def _panel_from(values: dict[str, str]) -> list[dict[str, Any]]:
    """Panel rows of the form (name, e-mail, zone, hours 'mon-fri 09:00-17:00')."""
    panel = []
    for i in range(6):
        name = values.get(f"panel{i}_name", "").strip()
        email = values.get(f"panel{i}_email", "").strip()
        if not name and not email:
            continue
        member: dict[str, Any] = {
            "name": name,
            "email": email,
            "time_zone": values.get(f"panel{i}_zone", "").strip() or "UTC",
        }
        hours = values.get(f"panel{i}_hours", "").strip()
        if hours:
            member["working_hours"] = {
                "mon": hours,
                "tue": hours,
                "wed": hours,
                "thu": hours,
                "fri": hours,
            }
        panel.append(member)
    return panel


def _config_from(values: dict[str, str]) -> dict[str, Any]:
    sender: dict[str, Any] = {
        "name": values.get("sender_name", "").strip(),
        "email": values.get("sender_email", "").strip(),
        "company": values.get("sender_company", "").strip(),
    }
    if values.get("privacy_contact", "").strip():
        sender["privacy_contact"] = values["privacy_contact"].strip()
    config: dict[str, Any] = {
        "id": values.get("id", "").strip(),
        "title": values.get("title", "").strip() or None,
        "time_zone": values.get("time_zone", "").strip() or "UTC",
        "panel": _panel_from(values),
        "sender": sender,
    }
    if values.get("location", "").strip():
        config["location"] = values["location"].strip()
    if values.get("shortlist_size", "").strip():
        config["shortlist_size"] = values["shortlist_size"].strip()
    return config


# The routes that take files check the CSRF token inside the handler, on the handler's own
# request, so the multipart form (and its uploads' temporary files) is parsed once and
# closed when the handler ends. As a route dependency, ``verify_csrf`` parses the body on
# the dependency's request object, whose uploaded files nobody closes.
async def _upload(form: Any, name: str) -> tuple[str, bytes] | None:
    item = form.get(name)
    if isinstance(item, UploadFile) and item.filename:
        return item.filename, await item.read()
    return None


@router.post("/hiring/jobs/new")
async def create_job(request: Request, user: User = Depends(page_user)) -> Response:
    """Creates the job from its description and configuration (form fields or job.toml) and
    starts its pipeline with the résumés uploaded alongside (if any)."""
    form = await request.form()
    try:
        await verify_csrf(request)  # here, not as a dependency: see _upload
        why = refused(user, Role.OPERATOR, "create jobs")
        if why:
            return await show_error(request, user, 403, why, back="/hiring/jobs")
        return await _create_job(request, user, form)
    finally:
        await form.close()  # the uploads' temporary files


async def _create_job(request: Request, user: User, form: Any) -> Response:
    import tomli_w

    engine = engine_of(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    errors: dict[str, str] = {}
    description = await _upload(form, "description")
    toml_file = await _upload(form, "job_toml")
    if description is None:
        errors["description"] = "Upload the job description (a .txt, .md, .pdf or .docx file)."
    elif not description[0].lower().endswith(DOCUMENT_TYPES):
        errors["description"] = f"{description[0]!r} is not a .txt, .md, .pdf or .docx file."
    resumes = [
        (f.filename, await f.read())
        for f in form.getlist("resumes")
        if isinstance(f, UploadFile) and f.filename
    ]
    if errors:
        return await _new_job_again(request, user, errors, values)
    assert description is not None
    with tempfile.TemporaryDirectory(prefix="hiring-job-") as tmp:
        folder = Path(tmp)
        suffix = Path(description[0]).suffix.lower()
        (folder / f"description{suffix}").write_bytes(description[1])
        if toml_file is not None:
            (folder / "job.toml").write_bytes(toml_file[1])
        else:
            config = {k: v for k, v in _config_from(values).items() if v is not None}
            if "shortlist_size" in config:
                try:
                    config["shortlist_size"] = int(config["shortlist_size"])
                except ValueError:
                    errors["shortlist_size"] = "A whole number, e.g. 5."
            (folder / "job.toml").write_text(tomli_w.dumps(config))
        calendars = [
            (f.filename, await f.read())
            for f in form.getlist("calendars")
            if isinstance(f, UploadFile) and f.filename
        ]
        if calendars:
            (folder / "calendars").mkdir()
            for name, data in calendars:
                (folder / "calendars" / Path(name).name).write_bytes(data)
        if resumes:
            (folder / "candidates").mkdir()
            for name, data in resumes:
                (folder / "candidates" / Path(name).name).write_bytes(data)
        if errors:
            return await _new_job_again(request, user, errors, values)
        try:
            files = intake.load_job_folder(folder)
            found = intake.load_candidates(folder / "candidates") if resumes else []
        except ValueError as exc:  # IntakeError: every problem, each naming file and field
            errors["config"] = str(exc)
            return await _new_job_again(request, user, errors, values)
    job_id = files.config.id
    if await engine.records.get(book.JOB, job_id) is not None:
        errors["id"] = f"A job {job_id!r} exists already: choose another id."
        return await _new_job_again(request, user, errors, values)
    try:
        await jobs.create_job(engine, files, found, by=user.name, demo_cadence=_demo())
    except plait.PlaitError as exc:
        errors["config"] = str(exc)
        return await _new_job_again(request, user, errors, values)
    return done(f"/hiring/jobs/{job_id}", "job-created")


def _demo() -> bool:
    from hiring.web import demo_mode

    return demo_mode()


async def _new_job_again(
    request: Request, user: User, errors: dict[str, str], values: dict[str, str]
) -> HTMLResponse:
    return await page(
        request,
        "hiring_new_job.html",
        user,
        {
            "errors": errors,
            "values": values,
            "flash": "The job was not created: see below.",
            "flash_error": True,
        },
        status=422,
    )


# -- add candidates --------------------------------------------------------------------------
@router.post("/hiring/jobs/{job_id}/candidates")
async def add_candidates(
    request: Request, job_id: str, user: User = Depends(page_user)
) -> Response:
    """One résumé with the person's name and e-mail, or a CSV of candidates."""
    back = f"/hiring/jobs/{job_id}"
    form = await request.form()
    try:
        await verify_csrf(request)  # here, not as a dependency: see _upload
        why = refused(user, Role.OPERATOR, "add candidates")
        if why:
            return await show_error(request, user, 403, why, back=back)
        return await _add_candidates(request, user, job_id, form)
    finally:
        await form.close()


async def _add_candidates(request: Request, user: User, job_id: str, form: Any) -> Response:
    back = f"/hiring/jobs/{job_id}"
    engine = engine_of(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    resume = await _upload(form, "resume")
    table = await _upload(form, "csv")
    found: list[Any] = []
    try:
        if table is not None:
            _check_csv(table[1])
            with tempfile.TemporaryDirectory(prefix="hiring-cands-") as tmp:
                folder = Path(tmp)
                (folder / "candidates.csv").write_bytes(table[1])
                for f in form.getlist("files"):
                    if isinstance(f, UploadFile) and f.filename:
                        (folder / Path(f.filename).name).write_bytes(await f.read())
                found = intake.load_candidates(folder)
        elif resume is not None:
            name = values.get("name", "").strip()
            email = values.get("email", "").strip()
            if not name or "@" not in email:
                raise ValueError("give the candidate's name and e-mail address with the résumé")
            if not resume[0].lower().endswith(DOCUMENT_TYPES):
                raise ValueError(f"{resume[0]!r} is not a .txt, .md, .pdf or .docx file")
            found = [
                intake.CandidateFile(
                    name=name,
                    email=email,
                    time_zone=values.get("time_zone", "").strip() or "UTC",
                    filename=resume[0],
                    data=resume[1],
                    source="upload",
                )
            ]
        else:
            raise ValueError("upload a résumé (with name and e-mail) or a CSV of candidates")
        await jobs.add_candidates(engine, job_id, found, by=user.name)
    except (ValueError, plait.PlaitError) as exc:  # IntakeError is both
        return await show_error(request, user, 422, f"No candidate was added: {exc}", back=back)
    return done(back, "candidates-added")


def _check_csv(data: bytes) -> None:
    try:
        header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))), [])
    except UnicodeDecodeError:
        raise ValueError("the CSV is not UTF-8 text") from None
    if not header:
        raise ValueError("the CSV is empty: its first line names the columns (name,email,...)")


# -- the board -------------------------------------------------------------------------------
@router.get("/hiring/jobs/{job_id}", response_class=HTMLResponse)
async def board_page(
    request: Request, job_id: str, user: User = Depends(page_user)
) -> HTMLResponse:
    engine = engine_of(request)
    try:
        cards = await report.board(engine, job_id)
    except LookupError:
        return await show_error(
            request, user, 404, f"There is no job {job_id!r}.", back="/hiring/jobs"
        )
    config = await job_config(engine, job_id) or {}
    try:
        info: plait.WorkflowInfo | None = await engine.get(job_workflow(job_id))
    except plait.WorkflowNotFound:
        info = None
    job_tasks = await engine.tasks(workflow_id=info.id, status="open", limit=20) if info else []
    card_tasks: dict[str, list[plait.HumanTask]] = {}
    for c in cards:
        if c.workflow_id and c.waiting_for and c.waiting_for != "the candidate":
            card_tasks[c.candidate_id] = await engine.tasks(
                workflow_id=c.workflow_id, status="open", limit=3
            )
    columns = {s: [c for c in cards if c.stage == s] for s in (*FLOW, *ENDS)}
    unknown = [c for c in cards if c.stage not in columns]
    columns["received"] += unknown
    shown = [s for s in FLOW] + [s for s in ENDS if columns[s]]
    return await page(
        request,
        "hiring_board.html",
        user,
        {
            "job_id": job_id,
            "title": config.get("title") or job_id,
            "config": config,
            "info": info,
            "cards": cards,
            "columns": columns,
            "shown": shown,
            "job_tasks": job_tasks,
            "card_tasks": card_tasks,
            "can_operate": user.can(Role.OPERATOR),
        },
    )


@router.post("/hiring/jobs/{job_id}/close", dependencies=[Depends(verify_csrf)])
async def close_job(request: Request, job_id: str, user: User = Depends(page_user)) -> Response:
    back = f"/hiring/jobs/{job_id}"
    why = refused(user, Role.OPERATOR, "close a job")
    if why:
        return await show_error(request, user, 403, why, back=back)
    engine = engine_of(request)
    form = await form_of(request)
    try:
        await engine.get(job_workflow(job_id))
        if form.get("confirmed") != "1":
            return await confirm(
                request,
                user,
                question=f"Close the job {job_id}?",
                detail="It takes no more candidates. Candidates already shortlisted carry on "
                "to their outcome; the job's pipeline ends when every one has one.",
                action=f"{back}/close",
                back=back,
                button="Yes, close the job",
                danger=True,
            )
        await engine.signal(job_workflow(job_id), "close", None, dedup_key="close", by=user.name)
    except plait.WorkflowNotFound:
        return await show_error(request, user, 404, f"There is no job {job_id!r}.", back=back)
    except plait.PlaitError as exc:
        return await show_error(request, user, 409, f"The job was not closed: {exc}", back=back)
    return done(back, "closed")


# -- the report ------------------------------------------------------------------------------
@router.get("/hiring/jobs/{job_id}/report", response_class=HTMLResponse)
async def report_page(
    request: Request, job_id: str, user: User = Depends(page_user)
) -> HTMLResponse:
    engine = engine_of(request)
    try:
        result = await report.job_report(engine, job_id)
    except LookupError:
        return await show_error(
            request, user, 404, f"There is no job {job_id!r}.", back="/hiring/jobs"
        )
    config = await job_config(engine, job_id) or {}
    by_attribute: dict[str, list[report.GroupRate]] = {}
    for g in result.impact:
        by_attribute.setdefault(g.attribute, []).append(g)
    stages = [s for s in (*FLOW, *ENDS) if result.by_stage.get(s)]
    return await page(
        request,
        "hiring_report.html",
        user,
        {
            "job_id": job_id,
            "title": config.get("title") or job_id,
            "r": result,
            "stages": stages,
            "funnel": list(report.FUNNEL),
            "by_attribute": by_attribute,
            "total": len(result.cards),
        },
    )
