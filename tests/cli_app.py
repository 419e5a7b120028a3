"""A tiny app for the CLI tests: ``PLAIT_CLI_DB`` names the database."""

from __future__ import annotations

import os

import plait


@plait.step
async def double(n: int) -> int:
    return 2 * n


@plait.workflow
async def doubler(ctx: plait.Context, n: int) -> int:
    got = await ctx.wait_for_signal("go", type=int)
    return await double(n + got)


engine = plait.Engine(os.environ.get("PLAIT_CLI_DB", "sqlite:///cli.db"), workflows=[doubler])
