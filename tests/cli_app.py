"""A tiny app for the CLI tests: ``PLAIT_CLI_DB`` names the database."""

from __future__ import annotations

import os

import pydantic

import plait


@plait.step
async def double(n: int) -> int:
    return 2 * n


@plait.workflow
async def doubler(ctx: plait.Context, n: int) -> int:
    got = await ctx.wait_for_signal("go", type=int)
    return await double(n + got)


engine = plait.Engine(os.environ.get("PLAIT_CLI_DB", "sqlite:///cli.db"), workflows=[doubler])


class Offer(pydantic.BaseModel):
    salary: int
    title: str


@plait.workflow
async def review(ctx: plait.Context, title: str) -> int:
    offer = await ctx.ask_human(
        "Check the offer",
        form=Offer,
        proposal=Offer(salary=100, title=title),
        context={"candidate": "c-1"},
        assignee="recruiters",
    )
    ok = await ctx.ask_human("Send it?", assignee="ada")
    return offer.salary if ok.approved else 0


engine.register(review)
