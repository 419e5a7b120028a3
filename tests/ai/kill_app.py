"""A tool-loop workflow for the kill tests, loaded by real worker processes
(``python -m plait.cli worker tests.ai.kill_app:engine``).

- ``PLAIT_AI_DB``: the database shared by the test and the workers.
- ``PLAIT_AI_SERVER``: the test's OpenAI-wire model server (``http://127.0.0.1:PORT``).
- ``PLAIT_AI_SIDE``: a file each tool appends a line to when it starts (kept across SIGKILL).
- ``PLAIT_AI_KILL_AFTER``: the journal position of a model call; the worker SIGKILLs itself
  right after that call's entry (and ledger row) is committed.

The kill point is wrapped around this engine's store here, never written into ``plait/``.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from typing import Any

import plait
import plait.ai
from plait.ai.providers import OpenAIModel


def _note(line: str) -> None:
    path = os.environ.get("PLAIT_AI_SIDE")
    if path:  # one write(2) on an O_APPEND file survives a SIGKILL
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


@plait.step
async def weather(city: str) -> str:
    """The weather in a city."""
    _note(f"weather {city}")
    return f"sunny in {city}"


@plait.step
async def invite(who: str, text: str) -> str:
    """Sends an invitation."""
    _note(f"invite {who}")
    return f"invited {who}"


@plait.workflow
async def picnic(ctx: plait.Context) -> str:
    run = await ctx.ai.run_tools(None, "Plan a picnic in Paris", tools=[weather, invite])
    return f"{run.turns} calls: {run.text}"


model = OpenAIModel(
    "tiny",
    base_url=os.environ.get("PLAIT_AI_SERVER", "http://127.0.0.1:9") + "/v1",
    provider="local",
    key_required=False,
    timeout=60,
)
engine = plait.Engine(
    os.environ.get("PLAIT_AI_DB", "sqlite://:memory:"),
    workflows=[picnic],
    model=model,
    prices=plait.ai.Prices({"local:tiny": plait.ai.Price(1.0, 2.0)}),
    poll_interval=timedelta(milliseconds=50),
)

if os.environ.get("PLAIT_AI_KILL_AFTER"):
    _seq = int(os.environ["PLAIT_AI_KILL_AFTER"])
    _store: Any = engine.store
    _real = _store.record_model

    async def _record_model(fence: Any, now: int, pending: Any, entry: Any, *a: Any) -> Any:
        result = await _real(fence, now, pending, entry, *a)
        if entry.seq == _seq:
            os.kill(os.getpid(), signal.SIGKILL)  # committed; the worker never goes on
        return result

    _store.record_model = _record_model
