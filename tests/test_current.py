"""plait.current_engine(): the engine of the running workflow or step, a clear error elsewhere."""

from __future__ import annotations

import threading

import pytest

import plait
from plait.testing import TestEngine

seen: list[object] = []


@plait.step
async def async_step() -> str:
    seen.append(plait.current_engine())
    return "ok"


@plait.step
def sync_step() -> str:
    assert threading.current_thread() is not threading.main_thread()
    seen.append(plait.current_engine())
    return "ok"


@plait.workflow
async def uses_engine(ctx: plait.Context) -> str:
    seen.append(plait.current_engine())
    await async_step()
    await sync_step()
    return "done"


async def test_current_engine_in_a_workflow_and_its_steps(test_engine: TestEngine) -> None:
    seen.clear()
    test_engine.register(uses_engine)
    h = await test_engine.start(uses_engine)
    await test_engine.run_until_idle()
    assert await h.result() == "done"
    assert seen == [test_engine, test_engine, test_engine]


def test_current_engine_outside_a_run_is_a_clear_error() -> None:
    with pytest.raises(plait.ConfigurationError, match="only available while a workflow"):
        plait.current_engine()
