"""The app of tests/test_startup.py: one plain-JSON workflow whose step writes the names of
the modules its worker process has imported (``PLAIT_STARTUP_DUMP``) to a file."""

from __future__ import annotations

import json
import os
import sys

import plait


@plait.step
async def dump_modules() -> int:
    with open(os.environ["PLAIT_STARTUP_DUMP"], "w") as f:
        json.dump(sorted(sys.modules), f)
    return len(sys.modules)


@plait.workflow
async def report(ctx: plait.Context, label: str) -> dict[str, int]:
    return {label: await dump_modules()}


engine = plait.Engine(
    os.environ.get("PLAIT_STARTUP_DB", "sqlite:///startup.db"), workflows=[report]
)
