"""``bench.run --peers-runner``: each scenario's peers run beside plait's runs, into --peers."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from bench import run
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


def test_each_scenario_runs_its_peers_on_the_same_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = socket.create_server(("127.0.0.1", 0))  # stands in for the peers' PostgreSQL
    monkeypatch.setattr(run, "PEERS_PG_PORT", cluster.getsockname()[1])
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    results = tmp_path / "peers"
    sqlite = PeerRunner(str(runner), sys.executable, str(results), "sqlite")
    sqlite.run("seq_steps", timeout=30)
    sqlite.run("recovery", timeout=30)
    sqlite.run("waiters", timeout=30)  # absolute targets: no peer runs
    PeerRunner(str(runner), sys.executable, str(results), "postgresql").run("fanout", 30)
    cluster.close()
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


def test_results_of_an_earlier_sitting_are_not_mixed_in(tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    results = tmp_path / "peers"
    results.mkdir()
    (results / "timing.jsonl").write_text('{"lib": "dbos"}\n')
    with pytest.raises(SystemExit, match="mix two sittings"):
        PeerRunner(str(runner), sys.executable, str(results), "sqlite")


def test_postgresql_peers_need_their_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    monkeypatch.setattr(run, "PEERS_PG_PORT", free)
    with pytest.raises(SystemExit, match="cluster is not running"):
        PeerRunner(str(runner), sys.executable, str(tmp_path / "peers"), "postgresql")
