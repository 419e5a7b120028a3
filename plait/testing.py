"""Helpers for testing workflows: an engine on a fake clock that skips time.

``TestEngine`` runs workflows in the test's own event loop, with no worker loop: call
``await engine.run_until_idle()`` to run everything runnable, advancing the fake clock to
the next timer whenever nothing else can run, so a workflow that waits five days finishes
in milliseconds::

    async with TestEngine(workflows=[onboarding]) as engine:
        h = await engine.start(onboarding, "ada")
        await engine.run_until_idle()          # sleeps and deadlines pass instantly
        await engine.signal(h.id, "reply", {"ok": True})
        await engine.run_until_idle()
        assert await h.result() == "welcomed"
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from plait.clock import FakeClock, duration_ms
from plait.definitions import WorkflowDef
from plait.engine import Engine
from plait.types import Duration
from plait.worker import Worker

__all__ = ["FakeClock", "TestEngine"]


class TestEngine(Engine):
    """An engine on a fake clock and a temporary SQLite file (or the URL given)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        url: str | None = None,
        *,
        workflows: Iterable[WorkflowDef[..., Any]] = (),
        start: datetime | None = None,
        **options: Any,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="plait-test-")
            url = "sqlite:///" + os.path.join(self._tmp.name, "plait.db")
        self.clock: FakeClock = FakeClock(start)
        super().__init__(url, workflows=workflows, clock=self.clock, **options)
        self._worker = Worker(self, concurrency=10_000)

    async def close(self) -> None:
        await super().close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def run_until_idle(
        self, *, within: Duration | None = None, max_rounds: int = 100_000
    ) -> int:
        """Runs every runnable workflow until none is left, skipping the fake clock ahead to
        the next timer or deadline when nothing else can run. With ``within``, the clock is
        not moved more than that past its current time (so a test can signal a workflow
        before its wait times out). Schedules start the ticks due at the clock's time; with
        ``within``, the clock also stops at each tick in the window, so each one starts.
        Returns the number of runs executed."""
        limit = None if within is None else self.clock.now_ms() + duration_ms(within, "within")
        runs = 0
        for _ in range(max_rounds):
            tick = await self.schedules.fire_due()  # ticks due at the clock's time
            claimed = await self._worker.claim_once(10_000)
            if claimed:
                runs += len(claimed)
                await asyncio.gather(*self._worker.runs())
                continue
            due = await self.store.next_due(None)
            if limit is not None and tick is not None:  # within=: schedules tick too
                due = tick if due is None else min(due, tick)
            if due is None or due <= self.clock.now_ms():
                return runs
            if limit is not None and due > limit:
                self.clock.set(limit)
                return runs
            self.clock.set(due)
        raise RuntimeError(f"run_until_idle: still busy after {max_rounds} rounds")
