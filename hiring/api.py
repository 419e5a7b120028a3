"""The hiring application's JSON API, under ``/hiring/api/``.

Authenticated like plait's REST API (``Authorization: Bearer <token>`` or the session
cookie, which then needs the CSRF token to write): reading needs the viewer role, adding
candidates the operator role. Errors have the server's shape ``{"error", "message",
"field"}``; a candidate that cannot be taken (a bad address, no résumé, a document that
cannot be read) is a 422 whose ``field`` names it (``0.email``, ``1.resume.base64``).

- ``GET /hiring/api/jobs`` — every job: id, title, candidates by stage.
- ``GET /hiring/api/jobs/{job_id}/board`` — the pipeline board's cards.
- ``GET /hiring/api/jobs/{job_id}/report`` — stages, selection rates, impact ratios.
- ``POST /hiring/api/jobs/{job_id}/candidates`` — add candidates to a running job; they are
  screened and shortlisted in a new round. Returns their ids.
- ``GET /hiring/api/candidates/{candidate_id}`` — everything held about one candidate.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

import plait
from hiring import book, jobs, report
from hiring.documents import DocumentError, read_document
from hiring.intake import DOCUMENT_SUFFIXES, CandidateFile
from plait.server import Role, User, require, verify_csrf

router = APIRouter(prefix="/hiring/api", tags=["hiring"], dependencies=[Depends(verify_csrf)])
Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
JobId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00/]+$")]
MAX_CANDIDATES = 200  # per request


class ErrorBody(BaseModel):
    """The body of every error (the server's shape)."""

    error: str = Field(description="unauthenticated, forbidden, not_found, conflict, invalid")
    message: str = Field(description="what went wrong and what to do about it")
    field: str | None = Field(default=None, description="the dotted path of the input at fault")


DESCRIBED = {
    401: "no credentials, or a token or session that is not valid",
    403: "the user lacks the role (viewer to read, operator to add candidates)",
    404: "no such job or candidate",
    409: "the job is closed or finished: it takes no more candidates",
    422: "a bad input; field names it",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": DESCRIBED[s]} for s in statuses}


class Problem(Exception):
    """An error answered in the server's JSON shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field

    def response(self) -> JSONResponse:
        body = {"error": self.code, "message": str(self), "field": self.field}
        return JSONResponse(body, status_code=self.status)


# -- models ------------------------------------------------------------------------------------
class JobSummary(BaseModel):
    id: str
    title: str
    workflow_id: str
    status: str | None = Field(description="the job workflow's status (None: not started)")
    candidates: int
    by_stage: dict[str, int]


class Resume(BaseModel):
    """A résumé: its text, or the file's bytes in base64 (PDF, DOCX, text, Markdown)."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=200, description="e.g. ada.pdf")
    content_type: str | None = None
    text: str | None = Field(default=None, description="the résumé as plain text")
    base64: str | None = Field(default=None, description="the file's bytes, base64-encoded")

    @model_validator(mode="after")
    def one_source(self) -> Resume:
        if (self.text is None) == (self.base64 is None):
            raise ValueError("give the résumé as exactly one of text or base64")
        return self


class NewCandidate(BaseModel):
    """A candidate to add to a job."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    time_zone: str = "UTC"
    source: str = "api"
    resume: Resume


class CandidateExport(BaseModel):
    """Everything held about one candidate (``report.export``)."""

    candidate: dict[str, Any]
    self_identification: dict[str, Any] | None = None
    messages: list[Any]
    audit: list[dict[str, Any]]
    workflows: list[dict[str, Any]]


class Added(BaseModel):
    job_id: str
    candidate_ids: list[str]


# -- helpers -----------------------------------------------------------------------------------
def engine_of(request: Request) -> plait.Engine:
    found: plait.Engine = request.app.state.engine
    return found


async def _job(engine: plait.Engine, job_id: str) -> dict[str, Any]:
    found = await engine.records.get(book.JOB, job_id)
    if not isinstance(found, dict):
        raise Problem(404, "not_found", f"no job {job_id!r}: GET /hiring/api/jobs lists them")
    return found


def _candidate_file(i: int, c: NewCandidate) -> CandidateFile:
    """The candidate with their résumé's bytes, once the document is known to be readable."""
    where = f"{i}.resume"
    suffix = "." + c.resume.filename.rsplit(".", 1)[-1].lower() if "." in c.resume.filename else ""
    if c.resume.text is not None:
        data = c.resume.text.encode()
        filename = c.resume.filename if suffix in (".txt", ".md") else c.resume.filename + ".txt"
        field = f"{where}.text"
    else:
        try:
            data = base64.b64decode(c.resume.base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise Problem(
                422, "invalid", f"{where}.base64 is not valid base64", f"{where}.base64"
            ) from None
        if suffix not in DOCUMENT_SUFFIXES:
            raise Problem(
                422,
                "invalid",
                f"{c.resume.filename!r}: a résumé file must be {', '.join(DOCUMENT_SUFFIXES)}",
                f"{where}.filename",
            )
        filename, field = c.resume.filename, f"{where}.base64"
    try:
        read_document(data, filename, c.resume.content_type)
    except DocumentError as error:
        raise Problem(422, "invalid", f"{field}: {error}", field) from None
    return CandidateFile(
        name=c.name,
        email=str(c.email),
        time_zone=c.time_zone,
        source=c.source,
        filename=filename,
        data=data,
    )


async def _closed(engine: plait.Engine, workflow_id: str) -> str | None:
    """Why the job takes no candidates (finished, or asked to close), or None."""
    info = await engine.get(workflow_id)
    if info.status.finished:
        return f"is {info.status}"
    for event in await engine.events(workflow_id):
        if event.kind == plait.WorkflowEventKind.SIGNALLED and event.details.get("name") == "close":
            return f"was closed by {event.by}"
    return None


# -- routes ------------------------------------------------------------------------------------
@router.get("/jobs", response_model=list[JobSummary], responses=errors(401, 403))
async def list_jobs(request: Request, user: Viewer) -> list[JobSummary]:
    """Every job with its candidates counted by stage."""
    engine = engine_of(request)
    found = []
    for r in await engine.records.list(book.JOB):
        value = r.value if isinstance(r.value, dict) else {}
        config = value.get("config") or {}
        title = config.get("title") if isinstance(config, dict) else getattr(config, "title", "")
        wid = str(value.get("workflow") or jobs.workflow_id(r.key))
        try:
            status: str | None = str((await engine.get(wid)).status)
        except plait.WorkflowNotFound:
            status = None
        cards = await report.board(engine, r.key)
        found.append(
            JobSummary(
                id=r.key,
                title=str(title or r.key),
                workflow_id=wid,
                status=status,
                candidates=len(cards),
                by_stage=dict(Counter(c.stage for c in cards)),
            )
        )
    return found


@router.get(
    "/jobs/{job_id}/board", response_model=list[report.Card], responses=errors(401, 403, 404)
)
async def job_board(request: Request, job_id: JobId, user: Viewer) -> Any:
    """The pipeline board: every candidate with stage, score and what they wait for."""
    engine = engine_of(request)
    try:
        await _job(engine, job_id)
    except Problem as p:
        return p.response()
    return await report.board(engine, job_id)


@router.get(
    "/jobs/{job_id}/report", response_model=report.JobReport, responses=errors(401, 403, 404)
)
async def job_report(request: Request, job_id: JobId, user: Viewer) -> Any:
    """Candidates by stage, selection rates per stage, impact ratios where self-identified."""
    engine = engine_of(request)
    try:
        await _job(engine, job_id)
    except Problem as p:
        return p.response()
    return await report.job_report(engine, job_id)


@router.post(
    "/jobs/{job_id}/candidates",
    response_model=Added,
    status_code=201,
    responses=errors(401, 403, 404, 409, 422),
)
async def add_candidates(
    request: Request,
    job_id: JobId,
    user: Operator,
    candidates: Annotated[list[NewCandidate], Body(min_length=1, max_length=MAX_CANDIDATES)],
) -> Any:
    """Adds candidates to a running job: they are screened and shortlisted in a new round.
    Adding the same people again (same e-mail addresses) starts nothing new."""
    engine = engine_of(request)
    try:
        job = await _job(engine, job_id)
        wid = str(job.get("workflow") or jobs.workflow_id(job_id))
        files = [_candidate_file(i, c) for i, c in enumerate(candidates)]
        seen: dict[str, int] = {}
        for i, f in enumerate(files):
            if f.email.lower() in seen:
                raise Problem(
                    422,
                    "invalid",
                    f"{i}.email: {f.email} is also candidate {seen[f.email.lower()]}: one "
                    "candidate per address",
                    f"{i}.email",
                )
            seen[f.email.lower()] = i
        try:
            why = await _closed(engine, wid)
        except plait.WorkflowNotFound:
            raise Problem(404, "not_found", f"job {job_id!r} has no pipeline running") from None
        if why:
            raise Problem(409, "conflict", f"job {job_id!r} {why}: it takes no more candidates")
    except Problem as p:
        return p.response()
    ids = await jobs.add_candidates(engine, job_id, files, by=user.name)
    return Added(job_id=job_id, candidate_ids=ids)


@router.get(
    "/candidates/{candidate_id}",
    response_model=CandidateExport,
    responses=errors(401, 403, 404),
)
async def candidate(request: Request, candidate_id: JobId, user: Viewer) -> Any:
    """Everything held about one candidate (a subject access request), as JSON."""
    engine = engine_of(request)
    try:
        data = await report.export(engine, candidate_id)
    except LookupError as error:
        return Problem(404, "not_found", str(error)).response()
    return JSONResponse(jsonable_encoder(data))
