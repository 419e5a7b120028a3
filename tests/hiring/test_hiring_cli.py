"""``python -m hiring`` (click's CliRunner on ``hiring.cli.main``) against a temporary SQLite
database given by ``PLAIT_DATABASE_URL``. The job's pipeline is started, not run (no worker
here): these tests check what each command stores, prints and how it exits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hiring import jobs
from hiring.cli import main

SAMPLES = Path(__file__).parents[2] / "hiring" / "samples" / "jobs"
JOB = "backend-engineer"
WORKFLOW = jobs.workflow_id(JOB)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAIT_DATABASE_URL", f"sqlite:///{tmp_path / 'hiring.db'}")
    monkeypatch.setenv("HIRING_SECRET", "s" * 32)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == code, (args, result.output, result.stderr)
        return result

    return invoke


@pytest.fixture
def job_folder(tmp_path) -> Path:
    """The sample backend job with two of its candidates in ``candidates/``."""
    folder = tmp_path / "job"
    shutil.copytree(SAMPLES / JOB, folder, ignore=shutil.ignore_patterns("candidates*"))
    (folder / "candidates").mkdir()
    for name in ("kenji-watanabe.txt", "priya-raghunathan.md"):
        shutil.copy(SAMPLES / JOB / "candidates" / name, folder / "candidates" / name)
    return folder


def write_listing(tmp_path: Path) -> Path:
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "ada.txt").write_text("Ada Lovelace\nada@example.org\nPython, PostgreSQL, Go.\n")
    (folder / "bo.md").write_text("# Bo Chen\nbo@example.org\nKafka and Python services.\n")
    (folder / "people.csv").write_text(
        "name,email,time_zone,file,source\n"
        "Ada Lovelace,ada@example.org,Europe/London,ada.txt,fair\n"
        "Bo Chen,bo@example.org,Asia/Shanghai,bo.md,referral\n"
    )
    return folder / "people.csv"


def test_create_show_add_export_erase_close(cli, job_folder, tmp_path):
    created = cli("job", "create", job_folder, "--by", "rita")
    assert created.stdout.strip() == f"{WORKFLOW}: {JOB} with 2 candidate(s)"
    again = cli("job", "create", job_folder, "--by", "rita")  # idempotent: nothing new
    assert again.stdout == created.stdout

    table = cli("job", "show", JOB).stdout.splitlines()
    assert len(table) == 2
    assert all(line.startswith("received") for line in table)
    assert any("Kenji Watanabe" in line for line in table)
    assert any("Priya Raghunathan" in line for line in table)

    added = cli("job", "add", JOB, write_listing(tmp_path), "--by", "olga")
    assert added.stdout.strip() == f"added 2 candidate(s) to {JOB}"
    board = json.loads(cli("job", "show", JOB, "--json").stdout)
    assert {c["name"] for c in board} == {
        "Kenji Watanabe",
        "Priya Raghunathan",
        "Ada Lovelace",
        "Bo Chen",
    }
    ada = next(c for c in board if c["name"] == "Ada Lovelace")
    assert ada["candidate_id"] == jobs.candidate_id(JOB, "ada@example.org")
    assert ada["stage"] == "received" and ada["score"] is None

    exported = json.loads(cli("candidate", "export", ada["candidate_id"]).stdout)
    profile = exported["candidate"]
    assert profile["email"] == "ada@example.org" and profile["time_zone"] == "Europe/London"
    assert profile["source"] == "fair" and profile["job_id"] == JOB

    erased = cli("candidate", "erase", ada["candidate_id"], "--by", "dpo", "--yes")
    assert erased.stdout.startswith(f"erased {ada['candidate_id']}: ")
    assert "1 record(s), 1 file(s)" in erased.stdout
    gone = cli("candidate", "export", ada["candidate_id"], code=3)
    assert gone.stderr.startswith("error: no candidate") and gone.stdout == ""
    board = json.loads(cli("job", "show", JOB, "--json").stdout)
    assert {c["stage"] for c in board if c["candidate_id"] == ada["candidate_id"]} <= {"erased"}
    assert "Ada Lovelace" not in {c["name"] for c in board}

    assert cli("job", "close", JOB, "--by", "rita").stdout.strip() == f"closed {JOB}"


def test_erase_asks_first_unless_yes(cli, job_folder):
    cli("job", "create", job_folder)
    board = json.loads(cli("job", "show", JOB, "--json").stdout)
    cid = next(c["candidate_id"] for c in board if c["name"] == "Kenji Watanabe")
    refused = CliRunner().invoke(main, ["candidate", "erase", cid, "--by", "dpo"], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    exported = json.loads(cli("candidate", "export", cid).stdout)
    assert exported["candidate"]["name"] == "Kenji Watanabe"  # still there


def test_bad_input_is_one_error_line_and_exit_2(cli, job_folder, tmp_path):
    missing = cli("job", "create", tmp_path / "nowhere", code=2)
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("error: ")
    assert "nowhere: no such job folder" in missing.stderr and missing.stdout == ""

    toml = job_folder / "job.toml"
    toml.write_text(
        toml.read_text().replace("interview_minutes = 45", 'interview_minutes = "long"')
    )
    bad = cli("job", "create", job_folder, code=2)
    assert bad.stderr.startswith("error: job.toml") and "interview_minutes" in bad.stderr
    assert bad.stdout == ""

    toml.write_text("id = [unclosed\n")
    broken = cli("job", "create", job_folder, code=2)
    assert broken.stderr.startswith("error: job.toml: not valid TOML")

    add_missing = cli("job", "add", JOB, tmp_path / "nobody.csv", code=2)
    assert add_missing.stderr.strip() == f"error: {tmp_path / 'nobody.csv'}: no such file or folder"


def test_unknown_job_or_candidate_exits_3(cli, tmp_path):
    listing = write_listing(tmp_path)
    for args in (
        ("job", "show", "nope"),
        ("job", "close", "nope"),
        ("job", "add", "nope", listing),
        ("candidate", "export", "c0000"),
        ("candidate", "erase", "c0000", "--by", "dpo", "--yes"),
    ):
        result = cli(*args, code=3)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, args
        assert result.stdout == "", args


def test_python_dash_m_hiring_runs_the_same_commands(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PLAIT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "hiring", "job", "show", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: no job 'nope'") and done.stdout == ""
