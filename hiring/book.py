"""The hiring application's durable state that is not a workflow, kept in the engine's
records (so it lives in the same database on SQLite and PostgreSQL, and erasure finds it).

| kind | key | subject | value |
|---|---|---|---|
| ``hiring.candidate`` | candidate id | the candidate | :class:`Profile` (name, e-mail, résumé) |
| ``hiring.self-id`` | candidate id | the candidate | optional self-identification, never scored |
| ``hiring.audit`` | ``<candidate>/<time>/<key>`` | none | who or which model, when, what kind |
| ``hiring.audit-detail`` | same key | the candidate | the inputs' hash, output, explanation |
| ``hiring.message`` | ``<candidate>/<time>/<id>`` | the candidate | a message sent or received |
| ``hiring.suppressed`` | SHA-256 of the address | none | why and when (no address kept) |
| ``hiring.job`` | job id | none | the job's configuration and its workflow id |

The audit skeleton (who, when, what kind) has no subject, so erasing a candidate keeps it;
its details (outputs, explanations) go with the candidate.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

import plait

CANDIDATE = "hiring.candidate"
SELF_ID = "hiring.self-id"
AUDIT = "hiring.audit"
AUDIT_DETAIL = "hiring.audit-detail"
MESSAGE = "hiring.message"
SUPPRESSED = "hiring.suppressed"
JOB = "hiring.job"


class Profile(BaseModel):
    """What a candidate gave us: kept under their id, erased on request."""

    id: str
    job_id: str
    name: str
    email: str
    time_zone: str = "UTC"
    resume: plait.BlobRef
    resume_name: str | None = None
    source: str = "upload"
    undeliverable: bool = False


class AuditEntry(BaseModel):
    """One line of a candidate's audit trail."""

    candidate_id: str
    at: datetime
    actor: str  # a person's name, or "model:<name>@<version>"
    kind: str  # "ai.score", "human.outreach approved", "mail.sent", ...
    key: str
    inputs_hash: str | None = None
    output: Any = None
    explanation: Any = None


def records() -> plait.Records:
    return plait.current_engine().records


def address_key(email: str) -> str:
    """The suppression list's key for an address (normalised, hashed: no address kept)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def digest(value: object) -> str:
    """A short, stable hash of a JSON-able value (the audit's "inputs' hash")."""
    import json

    text = json.dumps(value, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


async def profile(candidate_id: str) -> Profile:
    found = await records().get(CANDIDATE, candidate_id, type=Profile)
    if found is None:
        raise plait.ConfigurationError(
            f"no candidate {candidate_id!r}: it was never added, or it was erased"
        )
    assert isinstance(found, Profile)
    return found


async def save_profile(p: Profile) -> None:
    await records().put(CANDIDATE, p.id, p, subject=p.id)


async def audit(
    candidate_id: str,
    *,
    actor: str,
    kind: str,
    key: str,
    inputs: object = None,
    output: object = None,
    explanation: object = None,
    at: datetime | None = None,
) -> None:
    """Adds an audit line (idempotent on ``key``: a retried step writes the same line)."""
    when = at or datetime.now(UTC)
    full = f"{candidate_id}/{when.strftime('%Y%m%dT%H%M%S.%f')}/{key}"
    for existing in await records().list(AUDIT, prefix=f"{candidate_id}/"):
        if existing.key.endswith(f"/{key}"):
            return
    skeleton = {"candidate_id": candidate_id, "at": when, "actor": actor, "kind": kind}
    await records().put(AUDIT, full, skeleton)
    detail = {
        "inputs_hash": None if inputs is None else digest(inputs),
        "output": output,
        "explanation": explanation,
    }
    await records().put(AUDIT_DETAIL, full, detail, subject=candidate_id)


async def audit_trail(candidate_id: str) -> list[AuditEntry]:
    """The candidate's audit trail (in a step), oldest first."""
    return await audit_trail_for(plait.current_engine(), candidate_id)


async def audit_trail_for(engine: plait.Engine, candidate_id: str) -> list[AuditEntry]:
    """The candidate's audit trail, oldest first; details are empty once erased."""
    details = {
        r.key: r.value for r in await engine.records.list(AUDIT_DETAIL, prefix=f"{candidate_id}/")
    }
    trail = []
    for r in await engine.records.list(AUDIT, prefix=f"{candidate_id}/"):
        value = dict(r.value) if isinstance(r.value, dict) else {}
        extra = details.get(r.key) or {}
        trail.append(
            AuditEntry(
                candidate_id=candidate_id,
                at=value.get("at", r.created_at),
                actor=str(value.get("actor", "?")),
                kind=str(value.get("kind", "?")),
                key=r.key.rsplit("/", 1)[-1],
                inputs_hash=extra.get("inputs_hash") if isinstance(extra, dict) else None,
                output=extra.get("output") if isinstance(extra, dict) else None,
                explanation=extra.get("explanation") if isinstance(extra, dict) else None,
            )
        )
    return sorted(trail, key=lambda e: e.at)


async def is_suppressed(email: str) -> bool:
    return await records().get(SUPPRESSED, address_key(email)) is not None


async def suppress(email: str, reason: str) -> None:
    await records().put(SUPPRESSED, address_key(email), {"reason": reason, "at": datetime.now(UTC)})


async def log_message(candidate_id: str, direction: str, message: dict[str, Any]) -> None:
    """Keeps a message sent to or received from the candidate for their page (once per
    Message-ID: a step that sends again after a crash or a retry lists it once)."""
    await log_message_for(plait.current_engine(), candidate_id, direction, message)


async def log_message_for(
    engine: plait.Engine, candidate_id: str, direction: str, message: dict[str, Any]
) -> None:
    """``log_message`` outside a step (a webhook): through the given engine."""
    at = message.get("at") or datetime.now(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%S.%f") if isinstance(at, datetime) else str(at)
    message_id = str(message.get("message_id", ""))
    if message_id:
        for existing in await engine.records.list(MESSAGE, prefix=f"{candidate_id}/"):
            if existing.key.endswith(f"/{message_id}"):
                return
    key = f"{candidate_id}/{stamp}/{message_id}"
    await engine.records.put(
        MESSAGE, key, {**message, "direction": direction, "at": at}, subject=candidate_id
    )


async def messages(candidate_id: str) -> list[dict[str, Any]]:
    found = await records().list(MESSAGE, prefix=f"{candidate_id}/")
    return [dict(r.value) for r in found if isinstance(r.value, dict)]
