"""``/api/subjects`` and ``/api/gc``: what carries a person's data, erasing it, and gc.

All three need the admin role: erasure and gc delete data for good. Each passes ``by=`` the
acting user's name, so the event log of every erased or collected workflow says who did it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

import plait
from plait.server.api.common import engine_of as _engine
from plait.server.api.models import (
    NO_NUL,
    Strict,
    WorkflowEventModel,
    WorkflowSummary,
    event_model,
    now_of,
    summary,
)
from plait.server.auth import require, verify_csrf
from plait.server.errors import ApiError, responses
from plait.server.users import Role, User

router = APIRouter(tags=["retention"], dependencies=[Depends(verify_csrf)])
Admin = Annotated[User, Depends(require(Role.ADMIN))]
Subject = Annotated[str, Path(min_length=1, max_length=500, pattern=NO_NUL)]
SHOWN = 50  # workflows a subject's summary lists


class SubjectModel(BaseModel):
    """What carries one subject: what erasing it would erase."""

    subject: str
    workflows: list[WorkflowSummary] = Field(
        description=f"the workflows started with this subject, newest first (at most {SHOWN})"
    )
    workflow_count: int = Field(description="workflows erasure touches, children included")
    records: int
    blobs: int
    erasures: list[WorkflowEventModel] = Field(description="erasures done before")
    empty: bool = Field(description="nothing carries the subject")


class ErasureModel(BaseModel):
    """What an erasure erased."""

    subject: str
    workflows: list[str]
    cancelled: list[str] = Field(description="workflows that had to be cancelled first")
    records: int
    blobs: int
    at: datetime
    by: str


class GcRequest(Strict):
    """What to collect: ended workflows older than ``older_than``."""

    older_than: str = Field(
        min_length=1, max_length=50, description="a duration: 30d, 12h, 90m, 45s, 2w"
    )
    name: str | None = Field(default=None, min_length=1, max_length=500, pattern=NO_NUL)
    dry_run: bool = False


class GcModel(BaseModel):
    """What gc deleted (or would delete, dry): rows per table."""

    dry_run: bool
    deleted: dict[str, int]


def subject_model(info: plait.SubjectInfo) -> SubjectModel:
    return SubjectModel(
        subject=info.subject,
        workflows=[summary(w) for w in info.workflows],
        workflow_count=info.workflow_count,
        records=info.records,
        blobs=info.blobs,
        erasures=[event_model(e) for e in info.erasures],
        empty=info.empty,
    )


@router.get(
    "/api/subjects/{subject}",
    summary="what carries a subject (a person's data): workflows, records, blobs",
    description="`empty` is true when nothing carries it (it answers 200, not 404, so a "
    "confirmation page can say so).",
    responses=responses(401, 403, 404, 422),
)
async def show_subject(request: Request, user: Admin, subject: Subject) -> SubjectModel:
    return subject_model(await _engine(request).subject(subject, limit=SHOWN))


@router.post(
    "/api/subjects/{subject}/erase",
    summary="erase every payload about a subject (cancels its running workflows first)",
    description="404 when nothing carries the subject. The journal's shape and the event "
    "log stay; each erased workflow's event log records who erased it.",
    responses=responses(401, 403, 404, 409, 422),
)
async def erase(request: Request, user: Admin, subject: Subject) -> ErasureModel:
    engine = _engine(request)
    if (await engine.subject(subject, limit=1)).empty:
        raise ApiError(404, f"nothing carries the subject {subject!r}: no workflow, record or blob")
    done = await engine.erase_subject(subject, by=user.name)
    return ErasureModel(
        subject=done.subject,
        workflows=list(done.workflows),
        cancelled=list(done.cancelled),
        records=done.records,
        blobs=done.blobs,
        at=now_of(engine),
        by=user.name,
    )


@router.post(
    "/api/gc",
    summary="delete ended workflows older than a duration (and orphan blobs)",
    responses=responses(401, 403, 409, 422),
)
async def gc(request: Request, user: Admin, body: GcRequest) -> GcModel:
    try:
        done = await _engine(request).gc(
            older_than=body.older_than, name=body.name, dry_run=body.dry_run, by=user.name
        )
    except plait.ConfigurationError as exc:
        field = "older_than" if "older_than" in str(exc) else None
        raise ApiError(422, str(exc), field=field) from None
    return GcModel(dry_run=done.dry_run, deleted=done.deleted)
