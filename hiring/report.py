"""What people read about a job: its pipeline board, its report (stages, selection rates,
impact ratios), and one candidate's data as an export.

Everything is read through plait's public API (workflow pages filtered by the status
attributes the pipeline sets, records), so it works in the server, the CLI and tests alike.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

import plait
from hiring import book

ACTIVE = ("pending", "running", "waiting", "blocked")
FUNNEL = ("screened", "shortlisted", "contacted", "replied", "interviewing", "offer")
WORKFLOWS = ("hiring.screening", "hiring.decline", "hiring.candidate")


class Card(BaseModel):
    """A candidate on the board: where they are and who the next move waits for."""

    candidate_id: str
    name: str
    stage: str
    status_text: str
    score: float | None = None
    waiting_for: str = ""
    updated_at: datetime | None = None
    workflow_id: str | None = None


async def candidates_of(engine: plait.Engine, job_id: str) -> list[book.Profile]:
    found = await engine.records.list(book.CANDIDATE, type=book.Profile)
    return [
        r.value for r in found if isinstance(r.value, book.Profile) and r.value.job_id == job_id
    ]


async def _latest(engine: plait.Engine, cid: str) -> list[plait.WorkflowInfo]:
    page = await engine.page(attributes={"candidate": cid}, limit=20)
    return [w for w in page.items if w.name in WORKFLOWS]


async def _waiting_for(engine: plait.Engine, w: plait.WorkflowInfo) -> str:
    if w.status != plait.WorkflowStatus.WAITING:
        return "" if w.status.finished else str(w.status)
    tasks = await engine.tasks(workflow_id=w.id, status="open", limit=5)
    if tasks:
        t = tasks[0]
        due = f", due {t.due_at:%d %b %H:%M} UTC" if t.due_at else ""
        return f"{t.assignee or 'anyone'}: {t.title}{due}"
    return "the candidate"


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)")


def readable(status_text: str) -> str:
    """A status text for people: a time written as ISO 8601 (``interview at
    2026-12-07T09:00:00+00:00``) becomes ``Mon 07 Dec 2026, 09:00 UTC``."""

    def one(match: re.Match[str]) -> str:
        when = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        return when.astimezone(UTC).strftime("%a %d %b %Y, %H:%M UTC")

    return _ISO_TIME.sub(one, status_text)


async def board(engine: plait.Engine, job_id: str) -> list[Card]:
    """Every candidate of the job with their stage, score and what they wait for."""
    if await engine.records.get(book.JOB, job_id) is None:
        raise LookupError(f"no job {job_id!r}: create it with 'python -m hiring job create'")
    cards = []
    for p in await candidates_of(engine, job_id):
        flows = await _latest(engine, p.id)
        score = None
        for w in flows:
            if w.name == "hiring.screening" and isinstance(w.output, dict):
                score = float(w.output.get("value", 0.0))
        # the furthest along: the outreach or decline after the screening (one each)
        current = max(flows, key=lambda w: WORKFLOWS.index(w.name)) if flows else None
        cards.append(
            Card(
                candidate_id=p.id,
                name=p.name,
                stage=str(current.attributes.get("stage", "received")) if current else "received",
                status_text=readable(current.status_text or "")
                if current
                else "waiting to be screened",
                score=score,
                waiting_for=await _waiting_for(engine, current) if current else "",
                updated_at=current.updated_at if current else None,
                workflow_id=current.id if current else None,
            )
        )
    cards += [
        Card(
            candidate_id=cid,
            name="(erased)",
            stage="erased",
            status_text="personal data erased on request",
        )
        for cid in await _erased(engine, job_id, {c.candidate_id for c in cards})
    ]
    return sorted(cards, key=lambda c: (-(c.score or 0.0), c.name))


async def _erased(engine: plait.Engine, job_id: str, known: set[str]) -> list[str]:
    """The job's candidates whose profile is gone (erased): the subjects of its children."""
    job = await engine.records.get(book.JOB, job_id)
    wid = job.get("workflow") if isinstance(job, dict) else None
    if not isinstance(wid, str):
        return []
    found: set[str] = set()
    cursor = None
    while True:
        page = await engine.page(parent_id=wid, limit=1000, cursor=cursor)
        found.update(w.subject for w in page.items if w.subject and w.subject not in known)
        if page.next_cursor is None:
            return sorted(found)
        cursor = page.next_cursor


async def score_card(engine: plait.Engine, cid: str) -> dict[str, Any] | None:
    """The candidate's score with its explanation: the number and its parts from the
    screening, the evidence sentences and the method from the candidate's ``ai.score`` audit
    detail (the job's workflow gets no résumé text, so the screening returns none)."""
    page = await engine.page(name="hiring.screening", attributes={"candidate": cid}, limit=5)
    card = next((dict(w.output) for w in page.items if isinstance(w.output, dict)), None)
    if card is None:
        return None
    trail = await book.audit_trail_for(engine, cid)
    scored = next((e for e in reversed(trail) if e.kind == "ai.score"), None)
    if scored is not None and isinstance(scored.explanation, dict):
        for name in ("matched", "method"):
            if scored.explanation.get(name):
                card[name] = scored.explanation[name]
    return card


async def reached(engine: plait.Engine, cid: str) -> set[str]:
    """The funnel stages a candidate reached, from their audit trail and messages."""
    kinds = {e.kind for e in await book.audit_trail_for(engine, cid)}
    stages = set()
    if "ai.score" in kinds:
        stages.add("screened")
    if "human.shortlisted" in kinds:
        stages.add("shortlisted")
    if "mail.outreach" in kinds:
        stages.add("contacted")
    if "ai.classify reply" in kinds:
        stages.add("replied")
    if "mail.invite" in kinds:
        stages.add("interviewing")
    if "human.decision: offer" in kinds:
        stages.add("offer")
    return stages


class GroupRate(BaseModel):
    attribute: str
    group: str
    candidates: int
    selected: int
    rate: float
    impact_ratio: float | None
    warning: bool


class JobReport(BaseModel):
    job_id: str
    by_stage: dict[str, int]
    funnel: dict[str, int]
    selection_rates: dict[str, float]
    impact: list[GroupRate]
    cards: list[Card]


async def job_report(engine: plait.Engine, job_id: str) -> JobReport:
    """Candidates by stage, the funnel's selection rates, and (only where candidates chose
    to self-identify) shortlist rates and impact ratios per group, warning below 0.8."""
    cards = await board(engine, job_id)
    funnel: Counter[str] = Counter()
    selected: dict[str, bool] = {}
    for c in cards:
        stages = await reached(engine, c.candidate_id)
        funnel.update(stages)
        selected[c.candidate_id] = "shortlisted" in stages
    rates = {}
    previous = len(cards)
    for stage in FUNNEL:
        rates[stage] = round(funnel[stage] / previous, 3) if previous else 0.0
        previous = funnel[stage]
    impact: list[GroupRate] = []
    groups: dict[str, dict[str, list[bool]]] = {}
    for c in cards:
        self_id = await engine.records.get(book.SELF_ID, c.candidate_id)
        if not isinstance(self_id, dict):
            continue
        for attribute, group in self_id.items():
            groups.setdefault(attribute, {}).setdefault(str(group), []).append(
                selected[c.candidate_id]
            )
    for attribute, by_group in sorted(groups.items()):
        group_rates = {g: sum(v) / len(v) for g, v in by_group.items() if v}
        best = max(group_rates.values(), default=0.0)
        for g, v in sorted(by_group.items()):
            rate = group_rates[g]
            ratio = round(rate / best, 3) if best else None
            impact.append(
                GroupRate(
                    attribute=attribute,
                    group=g,
                    candidates=len(v),
                    selected=sum(v),
                    rate=round(rate, 3),
                    impact_ratio=ratio,
                    warning=ratio is not None and ratio < 0.8,
                )
            )
    return JobReport(
        job_id=job_id,
        by_stage=dict(Counter(c.stage for c in cards)),
        funnel={s: funnel[s] for s in FUNNEL},
        selection_rates=rates,
        impact=impact,
        cards=cards,
    )


async def export(engine: plait.Engine, cid: str) -> dict[str, Any]:
    """Everything held about one candidate (a subject access request), as JSON data."""
    profile = await engine.records.get(book.CANDIDATE, cid)
    if profile is None:
        raise LookupError(f"no candidate {cid!r} (never added, or erased)")
    flows = []
    for w in (await engine.page(attributes={"candidate": cid}, limit=50)).items:
        flows.append(
            {
                "workflow": w.id,
                "name": w.name,
                "status": str(w.status),
                "status_text": w.status_text,
                "input": w.input,
                "output": w.output,
                "journal": [
                    {"kind": e.kind, "name": e.name, "status": str(e.status), "output": e.output}
                    for e in await engine.journal(w.id)
                ],
            }
        )
    return {
        "candidate": profile,
        "self_identification": await engine.records.get(book.SELF_ID, cid),
        "messages": [r.value for r in await engine.records.list(book.MESSAGE, prefix=f"{cid}/")],
        "audit": [e.model_dump(mode="json") for e in await book.audit_trail_for(engine, cid)],
        "workflows": flows,
    }
