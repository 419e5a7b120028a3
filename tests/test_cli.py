"""The plait command: workflows start/list/show/signal/cancel/resume, exit codes 0/1/2/3."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from plait.cli import main

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("PLAIT_CLI_DB", url)
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)  # read the new URL
    return {"url": url}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_start_list_show_signal_cancel(env: dict[str, str]) -> None:
    code, out = run(
        "workflows", "start", "--app", "tests.cli_app:engine", "doubler", "20", "--id", "d1"
    )
    assert (code, out.strip()) == (0, "d1")
    code, out = run("workflows", "list", "--database", env["url"], "--json")
    assert code == 0
    assert [(w["id"], w["status"]) for w in json.loads(out)] == [("d1", "pending")]
    code, out = run(
        "workflows", "signal", "--database", env["url"], "d1", "go", "1", "--dedup-key", "k"
    )
    assert (code, out.strip()) == (0, "sent")
    code, out = run(
        "workflows", "signal", "--database", env["url"], "d1", "go", "1", "--dedup-key", "k"
    )
    assert (code, out.strip()) == (0, "already sent (same dedup key)")
    code, out = run("workflows", "show", "--database", env["url"], "d1")
    assert code == 0 and json.loads(out)["workflow"]["input"] == [20]
    code, out = run("workflows", "cancel", "--database", env["url"], "d1")
    assert code == 0 and "cancel" in out
    code, out = run("workflows", "list", "--database", env["url"], "--status", "cancelled")
    assert code == 0 and "d1" in out


def test_exit_codes(env: dict[str, str]) -> None:
    code, out = run("workflows", "show", "--database", env["url"], "nope")
    assert code == 3 and "no workflow 'nope'" in out
    code, out = run("workflows", "resume", "--database", env["url"], "nope")
    assert code == 3
    run("workflows", "start", "--app", "tests.cli_app:engine", "doubler", "1", "--id", "d2")
    code, out = run("workflows", "resume", "--database", env["url"], "d2")
    assert code == 2 and "only failed or blocked" in out
    code, out = run(
        "workflows", "start", "--app", "tests.cli_app:engine", "doubler", "2", "--id", "d2"
    )
    assert code == 2 and "already exists" in out
    code, out = run("workflows", "start", "--app", "tests.cli_app:engine", "doubler", "{bad")
    assert code == 2 and "JSON" in out
    code, out = run("workflows", "list", "--status", "nonsense", "--database", env["url"])
    assert code == 2 and "unknown status" in out
    code, out = run("workflows", "list")
    assert code == 2 and "--database" in out
    code, out = run("worker", "nomodule:engine")
    assert code == 2 and "cannot import" in out
