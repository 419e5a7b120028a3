"""The golden journals in tests/golden/ (the example workflows and the hiring workflows, as
recorded by tests/golden/generate.py) replay with the current code: a change that would
block workflows in flight fails here, before it is deployed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from plait.replaycheck import ReplayOutcome
from plait.testing import TestEngine
from tests.golden.generate import HERE, example_workflows, hiring_workflows

REGENERATE = (
    "If the change is intended, and workflows in flight are taken care of (a new "
    "version=, or ctx.patched(...); see docs/operations.md), regenerate the golden journals: "
    "PYTHONPATH=. python -m tests.golden.generate"
)
NAMES = {
    "onboarding",
    "send_welcome",
    "pipeline",
    "announce",
    "hiring.job",
    "hiring.screening",
    "hiring.decline",
    "hiring.candidate",
}


async def test_golden_journals_replay_with_the_current_code() -> None:
    files = sorted(HERE.glob("*.json"))
    async with TestEngine(workflows=[*example_workflows(), *hiring_workflows()]) as engine:
        report = await engine.replay_check(golden=[HERE])
    assert len(report.results) == len(files)
    problems = "\n".join(
        f"{r.source}: {r.outcome}: {r.message}" for r in report.results if r.outcome != "passed"
    )
    assert not problems, f"golden journals no longer replay:\n{problems}\n{REGENERATE}"
    assert {r.name for r in report.results} == NAMES  # every workflow has a golden
    statuses = {r.status for r in report.results}
    assert {"completed", "waiting"} <= statuses  # to the end, and up to a pending wait


async def test_a_golden_journal_catches_a_renamed_step(tmp_path: Path) -> None:
    golden = tmp_path / "pipeline.json"
    shutil.copy(HERE / "example-pipeline.json", golden)
    data = json.loads(golden.read_text())
    data["journal"][2]["name"] = "stage_v0"  # as if the code had renamed the step since
    golden.write_text(json.dumps(data))
    async with TestEngine(workflows=example_workflows()) as engine:
        (result,) = (await engine.replay_check(golden=[golden])).results
    assert result.outcome == ReplayOutcome.BLOCKED
    assert (result.position, result.recorded, result.called) == (
        3,
        "step 'stage_v0'",
        "step 'stage'",
    )
