"""The plait command: workflows start/list/show/signal/cancel/resume, exit codes 0/1/2/3;
every command given bad input (an unknown database URL, an unreachable server, an unknown
module, an unknown id, bad arguments) prints one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
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
    code, out = run("workflows", "show", "--database", env["url"], "d1", "--json")
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


# -- bad input: one line on stderr, the documented exit code, never a traceback ------------

UNKNOWN_URL = "foo://x"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/plait"  # nothing listens on port 1

# Every command, with what it needs after the engine option (``--app`` is added for start).
DB_COMMANDS = {
    "list": ["workflows", "list"],
    "show": ["workflows", "show", "nope"],
    "signal": ["workflows", "signal", "nope", "go", "1"],
    "cancel": ["workflows", "cancel", "nope"],
    "resume": ["workflows", "resume", "nope"],
}
ID_COMMANDS = ["show", "signal", "cancel", "resume"]
ALL_COMMANDS = [*DB_COMMANDS, "start", "worker"]


def invoke_app(command: str, app: str) -> list[str]:
    """``command`` given its app as ``module:engine`` (positional for ``plait worker``)."""
    if command == "worker":
        return ["worker", app]
    if command == "start":
        return ["workflows", "start", "--app", app, "doubler", "1"]
    return [*DB_COMMANDS[command], "--app", app]


def one_error_line(args: list[str], code: int) -> str:
    """Runs ``plait ARGS``; checks the exit code and a single ``error:`` line on stderr."""
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == code, (args, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    assert "Traceback" not in result.output and result.stdout == ""
    return lines[0]


def use_app_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("PLAIT_CLI_DB", url)
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_an_unknown_database_url_is_bad_input(
    command: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if command in DB_COMMANDS:
        args = [*DB_COMMANDS[command], "--database", UNKNOWN_URL]
    else:  # the app's engine names the database
        use_app_database(monkeypatch, UNKNOWN_URL)
        args = invoke_app(command, "tests.cli_app:engine")
    assert "unknown database URL 'foo://x'" in one_error_line(args, 2)


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_an_unreachable_server_fails_at_once(
    command: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if command in DB_COMMANDS:
        args = [*DB_COMMANDS[command], "--database", UNREACHABLE]
    else:
        use_app_database(monkeypatch, UNREACHABLE)
        args = invoke_app(command, "tests.cli_app:engine")
    line = one_error_line(args, 1)
    assert line.startswith(f"error: cannot reach the database at {UNREACHABLE}: ")
    assert "Connection refused" in line or "connect" in line


def test_the_unreachable_server_s_password_is_not_shown(env: dict[str, str]) -> None:
    url = "postgresql://ada:s3cret@127.0.0.1:1/plait"
    line = one_error_line(["workflows", "list", "--database", url], 1)
    assert "s3cret" not in line and "ada:***@127.0.0.1:1" in line


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_an_app_that_names_no_engine_is_bad_input(command: str, env: dict[str, str]) -> None:
    line = one_error_line(invoke_app(command, "nomodule:engine"), 2)
    assert "cannot import 'nomodule'" in line
    line = one_error_line(invoke_app(command, "tests.cli_app:nothing"), 2)
    assert "module 'tests.cli_app' has no attribute 'nothing'" in line
    line = one_error_line(invoke_app(command, "tests.cli_app:doubler"), 2)
    assert "is a WorkflowDef, not a plait.Engine" in line
    assert "expected module:engine" in one_error_line(invoke_app(command, "tests.cli_app"), 2)


@pytest.mark.parametrize("command", ID_COMMANDS)
def test_an_unknown_workflow_id_is_not_found(command: str, env: dict[str, str]) -> None:
    for engine in (["--database", env["url"]], ["--app", "tests.cli_app:engine"]):
        line = one_error_line([*DB_COMMANDS[command], *engine], 3)
        assert "no workflow 'nope'" in line


def test_start_rejects_bad_names_and_arguments_writing_nothing(env: dict[str, str]) -> None:
    start = ["workflows", "start", "--app", "tests.cli_app:engine"]
    assert "no workflow named 'nope'" in one_error_line([*start, "nope"], 2)
    assert "must be JSON" in one_error_line([*start, "doubler", "{bad"], 2)
    line = one_error_line([*start, "doubler", '"notint"', "--id", "d9"], 2)
    assert "workflow 'doubler': argument 'n' expects int, got 'notint'" in line
    assert "doubler(n: int)" in one_error_line([*start, "doubler", "1", "2"], 2)
    assert "doubler(n: int)" in one_error_line([*start, "doubler"], 2)
    code, out = run("workflows", "list", "--database", env["url"], "--json")
    assert (code, json.loads(out)) == (0, [])


def test_bad_payloads_statuses_and_options_are_one_line(env: dict[str, str]) -> None:
    db = ["--database", env["url"]]
    assert "must be JSON" in one_error_line(["workflows", "signal", *db, "x", "go", "{"], 2)
    assert "unknown status" in one_error_line(["workflows", "list", *db, "--status", "x"], 2)
    assert "--database" in one_error_line(["workflows", "list"], 2)
    line = one_error_line(["workflows", "show", *db], 2)
    assert "Missing argument 'WORKFLOW_ID'" in line and "workflows show --help" in line
    assert "--nope" in one_error_line(["workflows", "list", *db, "--nope"], 2)
    assert "No such command" in one_error_line(["workflows", "frobnicate"], 2)
    assert "--concurrency" in one_error_line(["worker", "x:y", "--concurrency", "0"], 2)
    assert "--limit" in one_error_line(["workflows", "list", *db, "--limit", "-1"], 2)


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["workflows", "list", "--database", UNKNOWN_URL], 2, "unknown database URL"),
        (["worker", "tests.cli_app:engine"], 1, "cannot reach the database"),
        (["workflows", "show", "--app", "nomodule:engine", "x"], 2, "cannot import"),
    ],
)
def test_the_installed_command_prints_one_line(
    args: list[str], code: int, expected: str, env: dict[str, str]
) -> None:
    entry = Path(sys.executable).parent / "plait"
    command = [str(entry)] if entry.exists() else [sys.executable, "-m", "plait.cli"]
    done = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PLAIT_CLI_DB": UNREACHABLE},
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == code, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr
