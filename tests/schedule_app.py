"""An engine with two schedules for the process test (``tests/test_schedule_workers.py``):
``all`` and ``one``, each every second, differing in their catch-up policy.
``PLAIT_SCHEDULE_DB`` is the database the test and its worker processes share."""

from __future__ import annotations

import os
from datetime import timedelta

import plait


@plait.workflow
async def tick(ctx: plait.Context, label: str) -> str:
    return label


engine = plait.Engine(
    os.environ.get("PLAIT_SCHEDULE_DB", "sqlite:///plait-schedules.db"),
    workflows=[tick],
    schedules=[
        plait.Schedule("all", tick, "all", every=timedelta(seconds=1), catchup="all"),
        plait.Schedule("one", tick, "one", every=timedelta(seconds=1), catchup="one"),
    ],
    poll_interval=timedelta(milliseconds=200),
)
