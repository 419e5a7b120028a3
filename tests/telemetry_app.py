"""A tiny app for the telemetry tests: ``PLAIT_TELEMETRY_DB`` names the database; its step
logs a line, so a worker's JSON log shows the workflow and the step."""

from __future__ import annotations

import logging
import os

import plait

log = logging.getLogger("tests.telemetry_app")


@plait.step
async def greet(name: str) -> str:
    log.warning("greeting %s", name)
    return f"hello {name}"


@plait.workflow
async def greeter(ctx: plait.Context, name: str) -> str:
    return await greet(name)


engine = plait.Engine(
    os.environ.get("PLAIT_TELEMETRY_DB", "sqlite:///telemetry.db"), workflows=[greeter]
)
