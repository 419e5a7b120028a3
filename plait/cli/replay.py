"""``plait replay-check --app module:engine``: would the code of this app replay the journals
of the stored in-flight workflows (or golden journal files), or block them? Run it before a
deploy, or in CI over golden journals. Exit 0 when every checked workflow replays, 1 when
any would block (or fail, or end early), 2 bad usage, 3 a ``--workflow`` id not found.

``--export DIR`` writes golden journals of stored workflows instead (``--workflow`` ids, or
every workflow of ``--name``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from plait.cli.base import (
    EXIT_FAILED,
    EXIT_USAGE,
    CommandError,
    app_option,
    exit_code,
    json_option,
    load_app,
    main,
)
from plait.engine import Engine
from plait.errors import PlaitError
from plait.replaycheck import ReplayOutcome, ReplayReport, ReplayResult, export_journals

T = TypeVar("T")

_LABEL = {
    ReplayOutcome.PASSED: "passed",
    ReplayOutcome.BLOCKED: "WOULD BLOCK",
    ReplayOutcome.FAILED: "WOULD FAIL",
    ReplayOutcome.DIVERGED: "DIVERGES",
    ReplayOutcome.NOT_CHECKED: "not checked",
}


def _line(r: ReplayResult) -> str:
    head = f"{_LABEL[r.outcome]:<12} {r.workflow_id}  {r.name}@{r.version} ({r.status})"
    if r.source != "database":
        head += f"  [{r.source}]"
    if r.outcome == ReplayOutcome.PASSED:
        return f"{head}: replayed {r.replayed} journal entries"
    if r.position is not None:
        return (
            f"{head}\n    at position {r.position}: the journal recorded {r.recorded}, "
            f"the code now calls {r.called}"
        )
    return f"{head}\n    {r.message}"


def render(report: ReplayReport, app: str) -> str:
    if not report.results:
        return f"replay-check: no workflow to check with {app}"
    counts = {o: sum(1 for r in report.results if r.outcome == o) for o in ReplayOutcome}
    lines = [_line(r) for r in report.results]
    parts = [f"{counts[ReplayOutcome.PASSED]} passed"]
    if counts[ReplayOutcome.BLOCKED]:
        parts.append(f"{counts[ReplayOutcome.BLOCKED]} would block")
    if counts[ReplayOutcome.FAILED]:
        parts.append(f"{counts[ReplayOutcome.FAILED]} would fail")
    if counts[ReplayOutcome.DIVERGED]:
        parts.append(f"{counts[ReplayOutcome.DIVERGED]} diverge")
    if counts[ReplayOutcome.NOT_CHECKED]:
        parts.append(f"{counts[ReplayOutcome.NOT_CHECKED]} not checked (version not registered)")
    lines.append(
        f"replay-check of {len(report.results)} workflow(s) with {app}: {', '.join(parts)}"
    )
    if not report.ok:
        lines.append(
            "fix the code (restore the old path or guard the change with ctx.patched(...)) "
            "before deploying it"
        )
    return "\n".join(lines)


@main.command("replay-check")
@app_option
@click.option("--workflow", "workflow_ids", multiple=True, help="only this workflow id (repeat)")
@click.option("--name", help="only workflows of this name")
@click.option(
    "--golden",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="golden journal files or directories instead of the database (repeat)",
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="write golden journals of stored workflows (--workflow or --name) to this directory",
)
@json_option
def replay_check_cmd(
    app: str | None,
    workflow_ids: tuple[str, ...],
    name: str | None,
    golden: tuple[Path, ...],
    export_dir: Path | None,
    as_json: bool,
) -> None:
    """Replay the journals of in-flight workflows (or --golden files) with the app's code,
    without side effects; report every workflow that would block, with its first mismatch.
    Exit 1 if any would."""
    if not app:
        raise CommandError(
            "replay-check needs the new code: give --app module:engine (or PLAIT_APP)", EXIT_USAGE
        )
    if export_dir is not None:
        if golden:
            raise CommandError("give either --export or --golden, not both", EXIT_USAGE)
        if not workflow_ids and not name:
            raise CommandError("--export needs --workflow ID (repeat) or --name NAME", EXIT_USAGE)
        written = _reading(load_app(app), lambda e: _export(e, workflow_ids, name, export_dir))
        for path in written:
            click.echo(f"wrote {path}")
        return
    report = _reading(
        load_app(app),
        lambda e: e.replay_check(workflow_ids=workflow_ids, name=name, golden=golden),
        database=not golden,  # golden journals: the database is not even opened
    )
    if as_json:
        doc = {"ok": report.ok, "results": [dataclasses.asdict(r) for r in report.results]}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render(report, app))
    if not report.ok:
        raise SystemExit(EXIT_FAILED)


def _reading(engine: Engine, fn: Callable[[Engine], Awaitable[T]], *, database: bool = True) -> T:
    """Runs ``fn`` with the engine's store open for reading only: unlike ``engine.open()``,
    the app's queue limits are not stored (migrations, when pending, are applied by the
    store as by every command)."""

    async def go() -> T:
        try:
            if database:
                try:
                    await engine.store.open()
                except PlaitError:
                    raise
                except Exception as exc:
                    raise CommandError(
                        f"cannot reach the database at {engine.store.url}: {exc}", EXIT_FAILED
                    ) from None
                try:
                    return await fn(engine)
                finally:
                    await engine.store.close()
            return await fn(engine)
        finally:
            await engine.close()

    try:
        return asyncio.run(go())
    except click.ClickException:
        raise
    except PlaitError as exc:
        raise CommandError(str(exc), exit_code(exc)) from None
    except Exception as exc:
        raise CommandError(f"{type(exc).__name__}: {exc}", EXIT_FAILED) from None


async def _export(
    engine: Engine, workflow_ids: tuple[str, ...], name: str | None, directory: Path
) -> list[Path]:
    ids = list(workflow_ids)
    if name is not None:
        offset = 0
        while True:
            batch = await engine.list(name=name, limit=500, offset=offset)
            ids.extend(i.id for i in batch if i.id not in ids)
            if len(batch) < 500:
                break
            offset += 500
    return await export_journals(engine, ids, directory)
