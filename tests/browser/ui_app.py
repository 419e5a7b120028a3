"""The application the browser tests serve: an offer that waits for a recruiter's decision
through a typed form, a sync that waits for a signal (to cancel), an import that fails, a
screening that runs children; for the operator's pages, a nightly report on a schedule, a
candidate's file that carries a subject (to erase), and an index refresh whose old and new
versions are both in flight."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

import pydantic

import plait


class Offer(pydantic.BaseModel):
    salary: int = pydantic.Field(ge=30_000, le=300_000, description="Yearly gross, in euros")
    level: Literal["junior", "mid", "senior"]
    remote: bool = False
    skills: list[str] = []
    note: str | None = None


@plait.step
async def draft_offer(candidate: str) -> dict[str, object]:
    return {"salary": 52_000, "level": "mid", "skills": ["python", "sql"], "remote": True}


@plait.step
async def send_offer(candidate: str, salary: int) -> str:
    await asyncio.sleep(0.2)
    return f"offer-{candidate.split()[0].lower()}-{salary}"


@plait.workflow
async def make_offer(ctx: plait.Context, candidate: str) -> dict[str, object]:
    ctx.set_status("drafting the offer", stage="offer")
    proposal = await draft_offer(candidate)
    ctx.set_status("waiting for a recruiter", stage="offer")
    answer = await ctx.ask_human(
        f"Approve offer for {candidate}",
        form=Offer,
        proposal=Offer.model_validate(proposal),
        context={
            "candidate": candidate,
            "role": "Backend engineer",
            "why this salary": "median of the band for mid-level, Lyon office",
            "score": {"document fit": 0.82, "skills covered": "7 of 9", "required met": True},
        },
        assignee="recruiters",
        due=timedelta(hours=4),
    )
    ctx.set_status("sending the offer", stage="offer")
    await ctx.sleep(timedelta(seconds=2))
    receipt = await send_offer(candidate, answer.salary)
    ctx.set_status("offer sent", stage="done")
    return {"candidate": candidate, "salary": answer.salary, "receipt": receipt}


@plait.workflow
async def nightly_sync(ctx: plait.Context, region: str) -> str:
    ctx.set_status(f"waiting for the {region} export")
    await ctx.wait_for_signal("export-ready", timeout=timedelta(days=1))
    return "synced"


class UpstreamDown(Exception):
    pass


@plait.step(retry=plait.Retry(max_attempts=3, initial_interval=0.05, jitter=0))
async def fetch_batch(batch: int) -> list[int]:
    raise UpstreamDown(f"upstream returned 503 for batch {batch}")


@plait.workflow
async def import_batch(ctx: plait.Context, batch: int) -> int:
    rows = await fetch_batch(batch)
    return len(rows)


@plait.step
async def score(candidate: str) -> float:
    return round(0.5 + len(candidate) % 5 / 10, 2)


@plait.workflow
async def score_candidate(ctx: plait.Context, candidate: str) -> float:
    ctx.set_status(f"scoring {candidate}")
    return await score(candidate)


@plait.workflow
async def screening(ctx: plait.Context, job: str) -> dict[str, float]:
    names = ["Ada Lovelace", "Alan Turing"]
    scores = [await ctx.child(score_candidate, n) for n in names]
    ctx.set_status("screened 2 of 2", job=job)
    return dict(zip(names, scores, strict=True))


@plait.step
async def build_report(region: str) -> dict[str, object]:
    return {"region": region, "rows": 1280, "late": 3}


@plait.workflow
async def nightly_report(ctx: plait.Context, region: str) -> dict[str, object]:
    ctx.set_status(f"report for {region}")
    return await build_report(region)


@plait.step
async def read_cv(candidate_id: str, name: str, email: str) -> dict[str, object]:
    await plait.current_engine().records.put(
        "notes", candidate_id, {"phone": "+33 6 12 34 56 78"}, subject=candidate_id
    )
    return {"name": name, "email": email, "years": 12, "skills": ["python", "postgres"]}


@plait.workflow
async def candidate_file(
    ctx: plait.Context, candidate_id: str, name: str, email: str
) -> dict[str, object]:
    cv = await read_cv(candidate_id, name, email)
    ctx.set_status("file read", stage="screened")
    return {"summary": f"{cv['name']}, {cv['years']} years", "email": email}


@plait.workflow(name="refresh_index", version="1")
async def refresh_index_v1(ctx: plait.Context, shard: int) -> str:
    ctx.set_status(f"shard {shard}: waiting for the nightly window")
    await ctx.sleep(timedelta(days=1))
    return "refreshed"


@plait.workflow(name="refresh_index", version="2")
async def refresh_index_v2(ctx: plait.Context, shard: int) -> str:
    ctx.set_status(f"shard {shard}: waiting for the nightly window (batched)")
    await ctx.sleep(timedelta(days=1))
    return "refreshed in batches"


WORKFLOWS = [
    make_offer,
    nightly_sync,
    import_batch,
    score_candidate,
    screening,
    nightly_report,
    candidate_file,
    refresh_index_v1,
    refresh_index_v2,
]
SCHEDULES = [
    # Read in New York's wall-clock time: the page shows it in the viewer's zone.
    plait.Schedule(
        "nightly-report", nightly_report, "eu-west", cron="0 2 * * *", timezone="America/New_York"
    ),
    plait.Schedule(
        "hourly-report", nightly_report, "us-east", every=timedelta(hours=1), paused=True
    ),
]
