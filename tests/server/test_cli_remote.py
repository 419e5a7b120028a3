"""The plait command talking to a running server (``--url`` and ``--token``) instead of the
database: the same commands and output, the token's user acting, HTTP errors as the CLI's
exit codes, and one ``error:`` line for a wrong token or an unreachable server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from plait.cli import main
from tests.server.running import free_port, running_server

pytestmark = pytest.mark.backends("sqlite")


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def wait_for_task(url: str, token: str, workflow_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, out, _ = cli("tasks", "list", "--url", url, "--token", token, "--json")
        found = [t["id"] for t in json.loads(out) if t["workflow_id"] == workflow_id]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no task for {workflow_id}")


def wait_for_status(url: str, token: str, workflow_id: str, status: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, out, _ = cli(
            "workflows", "show", workflow_id, "--url", url, "--token", token, "--json"
        )
        shown = json.loads(out)
        if shown["workflow"]["status"] == status:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{workflow_id} never became {status}")


def test_every_command_through_a_running_server(
    tmp_path: Path, users_file: Path, tokens: dict[str, str], db_url: str
) -> None:
    with running_server(tmp_path, users_file, db_url) as server:
        url = server.url
        olga, ada, vera = tokens["olga"], tokens["ada"], tokens["vera"]
        remote = ["--url", url, "--token"]

        code, out, _ = cli(
            "workflows", "start", "review", '"Engineer"', "--id", "r1", *remote, olga
        )
        assert (code, out.strip()) == (0, "r1")
        task = wait_for_task(url, ada, "r1")

        code, out, _ = cli("workflows", "list", *remote, vera)
        assert code == 0 and out.splitlines()[0].split()[:4] == ["ID", "NAME", "VERSION", "STATUS"]
        assert any(line.split()[:3] == ["r1", "review", "1"] for line in out.splitlines())
        code, out, _ = cli("workflows", "versions", *remote, vera)
        assert code == 0 and ["review", "1", "1"] in [ln.split()[:3] for ln in out.splitlines()]
        code, out, _ = cli("workflows", "show", "r1", *remote, vera)
        assert code == 0 and out.splitlines()[0].split() == ["review", "r1", "WAITING"]
        assert "waiting for human task" in out and "draft_offer" in out

        code, out, _ = cli("tasks", "list", "--for", "ada", *remote, ada)
        assert code == 0 and task in out and "recruiters" in out
        code, out, _ = cli("tasks", "show", task, *remote, ada)
        assert code == 0 and "salary  50000" in out
        code, out, _ = cli("tasks", "claim", task, *remote, ada)
        assert (code, out.strip()) == (0, "claimed by ada")
        answer = '{"title": "Engineer", "salary": 61000, "remote": true}'
        code, out, _ = cli("tasks", "complete", task, "--answer", answer, *remote, ada)
        assert code == 0 and out.startswith("completed by ada") and "salary" in out
        shown = wait_for_status(url, vera, "r1", "completed")
        assert shown["workflow"]["output"] == "Engineer:61000"
        assert [e["kind"] for e in shown["journal"]][:2] == ["step", "human_task"]

        cli("workflows", "start", "waiter", "1", "--id", "w1", *remote, olga)
        code, out, _ = cli(
            "workflows", "signal", "w1", "ping", "2", "--dedup-key", "k", *remote, olga
        )
        assert (code, out.strip()) == (0, "sent")
        code, out, _ = cli(
            "workflows", "signal", "w1", "ping", "2", "--dedup-key", "k", *remote, olga
        )
        assert (code, out.strip()) == (0, "already sent (same dedup key)")
        cli("workflows", "start", "waiter", "1", "--id", "w2", *remote, olga)
        code, out, _ = cli("workflows", "cancel", "w2", *remote, olga)
        assert code == 0 and out.startswith("cancel requested")
        events = wait_for_status(url, vera, "w2", "cancelled")["events"]
        assert ("cancelled", "olga") in [(e["kind"], e["by"]) for e in events]

        # errors: the server's answer as the CLI's exit code, one line
        for args, code_wanted, text in [
            (["workflows", "show", "nope", *remote, vera], 3, "nope"),
            (["tasks", "show", "nope:1", *remote, vera], 3, "nope"),
            (["workflows", "cancel", "w1", *remote, vera], 1, "HTTP 403"),
            (["workflows", "show", "r1", "--url", url, "--token", "wrong"], 2, "HTTP 401"),
            (["tasks", "complete", task, "--answer", answer, *remote, ada], 2, "HTTP 409"),
            (["workflows", "show", "r1", "--url", url], 2, "--url needs --token"),
            (
                ["workflows", "list", "--url", url, "--database", db_url, "--token", vera],
                2,
                "not both",
            ),
        ]:
            code, out, err = cli(*args)
            assert code == code_wanted, (args, err)
            assert out == "" and len(err.splitlines()) == 1 and text in err, (args, err)
        assert tokens["ada"] not in server.log_text() and tokens["olga"] not in server.log_text()

    gone = f"http://127.0.0.1:{free_port()}"
    code, out, err = cli("workflows", "list", "--url", gone, "--token", "t")
    assert code == 1 and out == "" and err.startswith("error: cannot reach the plait server")
    assert len(err.splitlines()) == 1
    assert httpx  # the CLI's client library is installed with plait
