"""``plait schedules list|add|pause|resume|delete|trigger``: the JSON list, exit codes 2 (bad
input) and 3 (no such schedule), one line on stderr for each error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from plait.cli import main

pytestmark = pytest.mark.backends("sqlite")
APP = "tests.cli_app:engine"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("PLAIT_CLI_DB", url)
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)  # read the new URL
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["schedules", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_add_list_pause_resume_trigger_delete(url: str) -> None:
    code, out = run("add", "--app", APP, "nightly", "doubler", "21", "--cron", "0 2 * * *",
                    "--timezone", "Europe/Paris", "--catchup", "all")  # fmt: skip
    assert code == 0 and out.startswith("nightly: doubler cron '0 2 * * *' (Europe/Paris)")
    code, out = run("add", "--app", APP, "often", "doubler", "1", "--every", "5m", "--paused")
    assert code == 0 and "every 5 min; next run paused" in out
    code, out = run("list", "--database", url, "--json")
    listed = {s["id"]: s for s in json.loads(out)}
    assert listed["nightly"]["args"] == [21] and listed["nightly"]["catchup"] == "all"
    assert listed["often"]["every_seconds"] == 300 and listed["often"]["paused"]
    assert listed["often"]["source"] == "api"
    code, out = run("list", "--database", url)
    assert code == 0 and "nightly" in out and "paused" in out and "NEXT RUN (UTC)" in out
    assert run("resume", "--database", url, "often")[1].startswith("often: active; next run")
    assert run("pause", "--database", url, "often") == (0, "often: paused\n")
    code, out = run("trigger", "--database", url, "nightly", "--by", "ada")
    assert code == 0 and out.startswith("nightly@")
    shown = CliRunner().invoke(
        main, ["workflows", "show", "--database", url, out.strip(), "--json"]
    )
    assert json.loads(shown.output)["events"][0]["by"] == "ada"
    assert run("delete", "--database", url, "often") == (0, "often: deleted\n")
    assert [s["id"] for s in json.loads(run("list", "--database", url, "--json")[1])] == ["nightly"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("pause", "nope"), 3, "error: no schedule 'nope'"),
        (("delete", "nope"), 3, "error: no schedule 'nope'"),
        (("trigger", "nope"), 3, "error: no schedule 'nope'"),
        (("add", "--app", APP, "x", "doubler", "1", "--cron", "99 * * * *"), 2, "bad cron"),
        (("add", "--app", APP, "x", "doubler", "1", "--every", "soon"), 2, "--every 'soon'"),
        (("add", "--app", APP, "x", "doubler", "1"), 2, "exactly one of cron="),
        (
            ("add", "--app", APP, "x", "doubler", "1", "--every", "60", "--timezone", "Nowhere"),
            2,
            "unknown time zone 'Nowhere'",
        ),  # fmt: skip
        (
            ("add", "--app", APP, "x", "doubler", '"a"', "--every", "60"),
            2,
            "argument 'n' expects int",
        ),
        (("add", "--app", APP, "x", "nope", "--every", "60"), 2, "no workflow named 'nope'"),
        (("add", "x", "doubler", "1", "--every", "60"), 2, "needs the workflow's code"),
    ],
)
def test_errors(url: str, args: tuple[str, ...], code: int, message: str) -> None:
    db = ["--database", url] if args[0] != "add" else []
    got, out = run(args[0], *db, *args[1:])
    assert got == code and message in out and out.count("\n") == 1, out


def test_an_id_taken_is_bad_input(url: str) -> None:
    assert run("add", "--app", APP, "x", "doubler", "1", "--every", "60")[0] == 0
    code, out = run("add", "--app", APP, "x", "doubler", "1", "--every", "60")
    assert code == 2 and "'x' exists already" in out
