"""An app for the rollout test: workflow "x" in the version ``ROLLOUT_VERSION`` names, on
the database ``ROLLOUT_DB``; each run says which version and which process ran it."""

from __future__ import annotations

import os
from datetime import timedelta

import plait


@plait.step
async def where() -> int:
    return os.getpid()


def x_workflow(version: str) -> plait.WorkflowDef[..., dict[str, object]]:
    """Workflow "x" as version ``version`` of the code has it."""

    async def x(ctx: plait.Context, n: int) -> dict[str, object]:
        pid = await where()
        return {"n": n, "version": version, "pid": pid}

    return plait.workflow(name="x", version=version)(x)


engine = plait.Engine(
    os.environ.get("ROLLOUT_DB", "sqlite:///rollout.db"),
    workflows=[x_workflow(os.environ.get("ROLLOUT_VERSION", "1"))],
    poll_interval=timedelta(milliseconds=100),
)
