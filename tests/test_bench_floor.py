"""``bench.floor`` (issue 12) still does the scenario's writes with plait's statements: each
variant runs a small fanout, and the database then holds what plait's own run leaves."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench import floor

SMALL = 20


@pytest.mark.parametrize("variant", sorted(floor.VARIANTS))
async def test_each_variant_leaves_what_plait_s_fanout_leaves(variant: str, tmp_path: Path) -> None:
    path = tmp_path / "floor.db"
    result = await floor.VARIANTS[variant](f"sqlite:///{path}", SMALL)
    assert result["wf_per_s"] > 0 and result["cpu_us_per_workflow"] > 0
    runs = floor.WARM + SMALL
    with sqlite3.connect(path) as db:
        statuses = dict(db.execute("SELECT status, count(*) FROM workflows GROUP BY status"))
        # each workflow: its steps journaled by its first attempt, its start logged
        steps = db.execute(
            "SELECT count(*) FROM journal j JOIN workflows w ON w.id = j.workflow_id"
            " WHERE j.kind = 'step' AND j.worker_attempt = 1 AND w.attempt = 1"
        ).fetchone()[0]
        started = db.execute(
            "SELECT count(*) FROM workflow_events WHERE kind = 'started'"
        ).fetchone()[0]
        outputs = {r[0] for r in db.execute("SELECT output FROM workflows")}
    assert statuses == {"completed": runs}
    assert steps == runs * floor.K and started == runs
    assert outputs == {str(floor.K)}
