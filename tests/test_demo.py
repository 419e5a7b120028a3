"""``make engine-demo`` runs: both parts of examples/demo.py, including the kill -9 takeover."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.backends("sqlite")


def test_demo_runs_and_recovers_from_a_killed_worker(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAIT_DEMO_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    assert "'approved_by': 'grace'" in out.stdout
    assert "killed with kill -9 after 2 completed steps" in out.stdout
    for name in ("parse", "extract", "rank", "report"):
        assert f"{name:<8} ran 1x" in out.stdout  # finished steps never ran again
    assert "score    ran 2x" in out.stdout  # the interrupted one ran at most twice
