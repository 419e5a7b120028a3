"""``plait costs``: the cost ledger summed per model, workflow or step, as a table or JSON;
a wrong workflow id is "not found" (exit 3)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
import plait.ai
from plait.cli import main
from plait.testing import TestEngine

from .scripted import Scripted, says

pytestmark = pytest.mark.backends("sqlite")


@plait.workflow
async def two_calls(ctx: plait.Context) -> None:
    await ctx.ai.chat(None, "first", name="draft")
    await ctx.ai.chat(None, "second", name="review")


async def _fill(url: str) -> None:
    prices = plait.ai.Prices({"test:scripted": plait.ai.Price(1.0, 10.0)})
    async with TestEngine(url, workflows=[two_calls], prices=prices) as engine:
        engine.model = Scripted(says("ok"))
        for wid in ("w1", "w2"):
            await engine.start(two_calls, id=wid)
        await engine.run_until_idle()


def test_plait_costs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/costs.db"
    asyncio.run(_fill(url))
    runner = CliRunner()
    table = runner.invoke(main, ["costs", "--database", url], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["MODEL", "ATTEMPTS", "FAILED", "IN", "OUT", "USD"]
    assert lines[1].split() == ["test:scripted", "4", "0", "4000", "400", "0.008000"]
    assert lines[2].split() == ["total", "4", "0", "4000", "400", "0.008000"]
    out = runner.invoke(
        main, ["costs", "--database", url, "--workflow", "w1", "--by", "step", "--json"]
    )
    report = json.loads(out.output)
    assert report["by"] == "step" and report["workflow_id"] == "w1"
    assert {x["key"]: x["cost_usd"] for x in report["lines"]} == {
        "draft": pytest.approx(0.002),
        "review": pytest.approx(0.002),
    }
    missing = runner.invoke(main, ["costs", "--database", url, "--workflow", "nope"])
    assert missing.exit_code == 3 and "no workflow 'nope'" in missing.output
