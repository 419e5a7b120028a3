"""The application the server tests serve: a review with a typed form for a group, an
approval for one person, a workflow waiting for a signal, one that fails, and an extension
with a private page and a public webhook. ``PLAIT_SERVER_DB`` names the database."""

from __future__ import annotations

import os
from datetime import timedelta

import pydantic
from fastapi import APIRouter, Depends, Request

import plait
from plait.server import Extension, NavItem, User, current_user


class Offer(pydantic.BaseModel):
    title: str
    salary: int = pydantic.Field(ge=0, le=1_000_000)
    remote: bool = False


@plait.step
async def draft_offer(role: str) -> Offer:
    return Offer(title=role, salary=50_000)


@plait.workflow
async def review(ctx: plait.Context, role: str) -> str:
    """An offer proposed by a step, edited and approved by a recruiter."""
    draft = await draft_offer(role)
    ctx.set_status("waiting for a recruiter", stage="review")
    offer = await ctx.ask_human(
        f"Review the offer for {role}",
        form=Offer,
        proposal=draft,
        context={"role": role},
        assignee="recruiters",
        due=timedelta(days=2),
    )
    return f"{offer.title}:{offer.salary}"


@plait.workflow
async def approve(ctx: plait.Context, who: str) -> bool:
    """An approval asked of one person."""
    answer = await ctx.ask_human("Ship it?", assignee=who)
    return answer.approved


@plait.workflow
async def waiter(ctx: plait.Context, n: int) -> int:
    """Waits for the signal "go" and adds its payload."""
    got = await ctx.wait_for_signal("go", type=int)
    return n + got


class Boom(Exception):
    pass


@plait.step
async def explode() -> None:
    raise Boom("the step failed on purpose")


@plait.workflow
async def failing(ctx: plait.Context) -> None:
    await explode()


WORKFLOWS = [review, approve, waiter, failing]
engine = plait.Engine(
    os.environ.get("PLAIT_SERVER_DB", "sqlite:///server-test.db"), workflows=WORKFLOWS
)

hooks: list[str] = []


def plait_server_extensions(engine: plait.Engine) -> list[Extension]:
    router = APIRouter()

    @router.get("/hiring/whoami")
    async def whoami(user: User = Depends(current_user)) -> dict[str, str]:
        return {"name": user.name}

    @router.post("/hooks/mail")
    async def mail_hook(request: Request) -> dict[str, bool]:
        ok = request.headers.get("x-signature") == "good"
        if ok:
            hooks.append((await request.body()).decode())
        return {"accepted": ok}

    return [
        Extension(
            name="hiring",
            router=router,
            nav=(NavItem("Hiring", "/hiring/whoami"),),
            public_paths=("/hooks",),
        )
    ]
