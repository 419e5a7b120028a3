"""``bench.run --peers-runner``: each scenario's peers run beside plait's runs, into --peers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.run import PeerRunner

FAKE_RUNNER = """
import json, os, sys
with open(os.path.join(os.environ["PEERS_RESULTS"], "calls.jsonl"), "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def calls(folder: Path) -> list[list[str]]:
    path = folder / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_scenario_runs_its_peers_on_the_same_backend(tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    results = tmp_path / "peers"
    sqlite = PeerRunner(str(runner), sys.executable, str(results), "sqlite")
    sqlite.run("seq_steps", timeout=30)
    sqlite.run("recovery", timeout=30)
    sqlite.run("waiters", timeout=30)  # absolute targets: no peer runs
    PeerRunner(str(runner), sys.executable, str(results), "postgresql").run("fanout", 30)
    assert calls(results) == [
        ["timing", "--runs", "1", "--only", "/sqlite/seq_steps/"],
        ["timing", "--runs", "1", "--only", "/sqlite/crash_recovery/"],
        ["timing", "--runs", "1", "--only", "/pg/fanout/"],
    ]


def test_a_missing_runner_or_python_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such file"):
        PeerRunner(str(tmp_path / "runner.py"), sys.executable, str(tmp_path), "sqlite")
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    with pytest.raises(SystemExit, match="virtualenv"):
        PeerRunner(str(runner), str(tmp_path / "nope" / "python"), str(tmp_path), "sqlite")
