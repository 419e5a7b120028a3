"""``plait costs``: what model calls cost (the cost ledger), per model, workflow or step."""

from __future__ import annotations

import json

import click

from plait.cli.base import app_option, db_option, engine_from, json_option, jsonable, main, run_on
from plait.cli.render import table


@main.command("costs")
@app_option
@db_option
@click.option("--workflow", "workflow_id", help="only this workflow's model calls")
@click.option(
    "--by",
    "group",
    type=click.Choice(["model", "workflow", "step"]),
    default="model",
    show_default=True,
    help="sum per model (the one that answered), workflow or step",
)
@json_option
def costs_cmd(
    app: str | None, database: str | None, workflow_id: str | None, group: str, as_json: bool
) -> None:
    """What model calls cost (the cost ledger), per model, workflow or step."""
    report = run_on(engine_from(app, database), lambda e: e.costs(workflow_id, by=group))
    if as_json:
        click.echo(json.dumps(jsonable(report), indent=2))
        return
    rows = [
        [
            line.key,
            line.attempts,
            line.failed,
            line.input_tokens,
            line.output_tokens,
            f"{line.cost_usd:.6f}",
        ]
        for line in (*report.lines, report.total)
    ]
    click.echo(table([group, "attempts", "failed", "in", "out", "USD"], rows))
