"""``python -m hiring``: create a job from a folder, add candidates, show a job's pipeline,
close it, export or erase a candidate, and run the demo.

Every command talks to the database through plait's public API (``PLAIT_DATABASE_URL``
as it is when the command runs, default ``sqlite:///hiring.db``); bad input prints
``error: ...`` (one line per problem) and exits 2; an unknown job or candidate exits 3.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

import plait
from hiring import book, jobs, report
from hiring.intake import IntakeError, load_candidates, load_job_folder

T = TypeVar("T")


class Failed(click.ClickException):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click: per class; here per error

    def show(self, file: Any = None) -> None:
        for line in self.message.splitlines() or [""]:  # an intake error: one per problem
            click.echo(f"error: {line}", err=True)


def reading(load: Callable[[], T]) -> T:
    """Reads a job folder or candidates: a problem with them is bad input (exit 2)."""
    try:
        return load()
    except (IntakeError, ValueError) as exc:
        raise Failed(str(exc)) from None


def run(fn: Callable[[plait.Engine], Awaitable[T]]) -> T:
    """Runs ``fn`` on an engine over ``PLAIT_DATABASE_URL`` as it is when the command runs."""
    from hiring.app import WORKFLOWS

    engine = plait.Engine(
        os.environ.get("PLAIT_DATABASE_URL", "sqlite:///hiring.db"), workflows=WORKFLOWS
    )

    async def go() -> T:
        async with engine:
            return await fn(engine)

    try:
        return asyncio.run(go())
    except (IntakeError, plait.ConfigurationError, ValueError) as exc:
        raise Failed(str(exc)) from None
    except (plait.WorkflowNotFound, LookupError) as exc:
        raise Failed(str(exc), 3) from None
    except plait.PlaitError as exc:
        raise Failed(str(exc), 1) from None


@click.group()
def main() -> None:
    """The hiring pipeline on plait."""


@main.group()
def job() -> None:
    """Create, show and close jobs."""


@job.command("create")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--candidates",
    type=click.Path(path_type=Path),
    help="a folder of résumés, or a CSV/JSON file (default: FOLDER/candidates)",
)
@click.option("--by", default="system", help="who creates the job (the event log)")
def job_create(folder: Path, candidates: Path | None, by: str) -> None:
    """Create the job in FOLDER (description + job.toml) and start its pipeline."""
    files = reading(lambda: load_job_folder(folder))
    source = candidates or (folder / "candidates")
    found = reading(lambda: load_candidates(source)) if candidates or source.exists() else []

    async def go(engine: plait.Engine) -> str:
        return await jobs.create_job(engine, files, found, by=by)

    wid = run(go)
    click.echo(f"{wid}: {files.config.id} with {len(found)} candidate(s)")


@job.command("add")
@click.argument("job_id")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--by", default="system", help="who adds them (the event log)")
def job_add(job_id: str, path: Path, by: str) -> None:
    """Add the candidates in PATH (a folder, CSV or JSON) to a running job."""
    found = reading(lambda: load_candidates(path))

    async def go(engine: plait.Engine) -> list[str]:
        return await jobs.add_candidates(engine, job_id, found, by=by)

    ids = run(go)
    click.echo(f"added {len(ids)} candidate(s) to {job_id}")


@job.command("close")
@click.argument("job_id")
@click.option("--by", default="system")
def job_close(job_id: str, by: str) -> None:
    """Close a job: no more candidates; it ends when every shortlisted one has an outcome."""
    run(lambda e: e.signal(jobs.workflow_id(job_id), "close", None, dedup_key="close", by=by))
    click.echo(f"closed {job_id}")


@job.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
def job_show(job_id: str, as_json: bool) -> None:
    """The job's pipeline: every candidate by stage, with score and what each waits for."""
    board = run(lambda e: report.board(e, job_id))
    if as_json:
        click.echo(json.dumps([c.model_dump(mode="json") for c in board], indent=2))
        return
    for card in board:
        score = "" if card.score is None else f"{card.score:.2f}"
        click.echo(f"{card.stage:<14} {score:>5}  {card.name:<28} {card.waiting_for}")


@main.group()
def candidate() -> None:
    """Export or erase one candidate's data."""


@candidate.command("export")
@click.argument("candidate_id")
def candidate_export(candidate_id: str) -> None:
    """Print everything held about a candidate as JSON (a subject access request)."""
    data = run(lambda e: report.export(e, candidate_id))
    click.echo(json.dumps(data, indent=2, default=str))


@candidate.command("erase")
@click.argument("candidate_id")
@click.option("--by", required=True, help="who asks for the erasure (the audit trail)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def candidate_erase(candidate_id: str, by: str, yes: bool) -> None:
    """Erase a candidate's personal data (their résumé, messages, scores' details)."""
    if not yes:
        click.confirm(f"Erase every personal detail of {candidate_id}?", abort=True)

    async def go(engine: plait.Engine) -> plait.ErasureReport:
        erased = await engine.erase_subject(candidate_id, by=by)
        if not (erased.workflows or erased.records or erased.blobs):
            raise LookupError(f"no candidate {candidate_id!r} (never added, or already erased)")
        return erased

    erased = run(go)
    click.echo(
        f"erased {candidate_id}: {len(erased.workflows)} workflow(s), "
        f"{erased.records} record(s), {erased.blobs} file(s)"
    )


@main.command()
@click.option("--port", default=8765, show_default=True)
@click.option("--smtp-port", default=8025, show_default=True)
@click.option(
    "--data", default=".demo", show_default=True, help="where the demo keeps its database"
)
def demo(port: int, smtp_port: int, data: str) -> None:
    """Run the demo: the server with a worker, a local mail server, three sample jobs."""
    from hiring.demo import run_demo

    sys.exit(run_demo(port=port, smtp_port=smtp_port, data=Path(data)))


_ = book
