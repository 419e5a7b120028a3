"""Creating a job and its candidates: files become blobs and records, and the job's
workflow starts. Idempotent: the same folder loaded twice starts nothing new (ids derive
from the job's id and each candidate's e-mail), so ``make demo`` can be restarted."""

from __future__ import annotations

import hashlib
import mimetypes
from datetime import timedelta

import plait
from hiring import book
from hiring.ai_tasks import default_ai
from hiring.intake import CandidateFile, JobFiles
from hiring.models import Cadence, JobConfig, ai_setting
from hiring.pipeline import job_pipeline


def candidate_id(job_id: str, email: str) -> str:
    """A candidate's id for one job: stable, short (it rides in reply and unsubscribe
    addresses, at most 64 characters before the @), and no personal data in it."""
    key = f"{job_id}\n{email.strip().lower()}".encode()
    return "c" + hashlib.sha256(key).hexdigest()[:11]


def workflow_id(job_id: str) -> str:
    return f"job-{job_id}"


def _type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


async def add_candidate(engine: plait.Engine, job_id: str, c: CandidateFile) -> str:
    """Stores the résumé (a blob of the candidate's) and their profile; returns the id."""
    cid = candidate_id(job_id, c.email)
    resume = await engine.put_blob(c.data, content_type=_type(c.filename), subject=cid)
    profile = book.Profile(
        id=cid,
        job_id=job_id,
        name=c.name,
        email=c.email,
        time_zone=c.time_zone,
        resume=resume,
        resume_name=c.filename,
        source=c.source,
    )
    await engine.records.put(book.CANDIDATE, cid, profile, subject=cid)
    return cid


async def create_job(
    engine: plait.Engine,
    files: JobFiles,
    candidates: list[CandidateFile],
    *,
    by: str = "system",
    demo_cadence: bool = False,
) -> str:
    """Stores the description and calendars, adds the candidates and starts the job's
    workflow; returns its id. ``demo_cadence`` shortens days to minutes."""
    config = files.config
    description = await engine.put_blob(
        files.description, content_type=_type(files.description_name)
    )
    refs = {
        path: await engine.put_blob(data, content_type="text/calendar")
        for path, data in files.calendars.items()
    }
    config = files.with_calendars(refs)
    if "ai" not in config.model_fields_set:  # chosen once, here: it rides in the input
        config = config.model_copy(update={"ai": ai_setting(default_ai())})
    if demo_cadence:
        config = config.model_copy(update={"cadence": demo(config)})
    ids = [await add_candidate(engine, config.id, c) for c in candidates]
    await engine.records.put(
        book.JOB, config.id, {"config": config, "workflow": workflow_id(config.id)}
    )
    handle = await engine.start(
        job_pipeline, config, description, ids, id=workflow_id(config.id), by=by
    )
    return handle.id


def demo(config: JobConfig) -> Cadence:
    """The cadence at demo speed: minutes where a real job waits days."""
    return Cadence(
        follow_ups=[timedelta(minutes=3), timedelta(minutes=7)],
        no_response_after=timedelta(minutes=14),
        slot_choice_within=timedelta(minutes=30),
        decision_due=timedelta(minutes=30),
        skills_review_due=timedelta(hours=2),
    )


async def add_candidates(
    engine: plait.Engine, job_id: str, candidates: list[CandidateFile], *, by: str = "system"
) -> list[str]:
    """Adds candidates to a running job: they are screened and shortlisted in a new round."""
    info = await engine.get(workflow_id(job_id))  # WorkflowNotFound for an unknown job
    if info.status.finished:
        raise plait.ConfigurationError(f"job {job_id!r} is {info.status}: it takes no candidates")
    ids = [await add_candidate(engine, job_id, c) for c in candidates]
    key = "add:" + hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:16]
    await engine.signal(workflow_id(job_id), "add_candidates", ids, dedup_key=key, by=by)
    return ids
