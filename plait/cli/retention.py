"""``plait gc`` and ``plait erase``: deleting old workflows, and one person's data.

Both work on the database (``--app``/``--database``) or on a running server (``--url`` with
an admin's ``--token``). Exit codes as everywhere: 2 for a bad duration or usage; ``erase``
exits 3 when nothing carries the subject (no workflow, record or blob: a mistyped subject
is not silently "erased"), and 1 when the question is answered no.
"""

from __future__ import annotations

import json
from typing import Any

import click

from plait.cli.base import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CommandError,
    app_option,
    by_option,
    db_option,
    engine_from,
    json_option,
    main,
    run_on,
    token_option,
    url_option,
)
from plait.cli.run import run_source
from plait.errors import ConfigurationError
from plait.retention import parse_duration


def _deleted_lines(deleted: dict[str, Any], dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleted"
    if not deleted:
        return f"nothing to delete ({'dry run' if dry_run else 'done'})"
    width = max(len(t) for t in deleted)
    rows = [f"  {t.ljust(width)}  {n}" for t, n in sorted(deleted.items())]
    head = f"{verb}: {deleted.get('workflows', 0)} workflow(s), rows per table:"
    return "\n".join([head, *rows])


@main.command("gc")
@app_option
@db_option
@url_option
@token_option
@click.option("--older-than", help="delete workflows that ended longer ago: 30d, 12h, 90m")
@click.option("--name", help="only workflows of this name (with their children)")
@click.option("--dry-run", is_flag=True, help="count what would be deleted; delete nothing")
@click.option(
    "--policies",
    is_flag=True,
    help="apply the app's retention policies instead (needs --app)",
)
@by_option
@json_option
def gc_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    older_than: str | None,
    name: str | None,
    dry_run: bool,
    policies: bool,
    by: str,
    as_json: bool,
) -> None:
    """Delete ended workflows (completed, failed, cancelled) older than --older-than, with
    their journals, tasks, signals, children and the blobs only they held, and orphan blobs
    older than a day. Each deleted workflow keeps a 'collected' event in its event log."""
    if policies:
        if older_than or name or url:
            raise CommandError(
                "--policies applies the app's own retention: give it without --older-than, "
                "--name and --url",
                EXIT_USAGE,
            )
        if not app:
            raise CommandError("--policies needs --app module:engine (the policies)", EXIT_USAGE)
        done = run_on(engine_from(app, None), lambda e: e.apply_retention(dry_run=dry_run, by=by))
        result: dict[str, Any] = {"dry_run": done.dry_run, "deleted": done.deleted}
    else:
        if not older_than:
            raise CommandError(
                "give --older-than, e.g. --older-than 30d (or --policies with --app)", EXIT_USAGE
            )
        try:
            parse_duration(older_than, "--older-than")
        except ConfigurationError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        result = run_source(
            app,
            database,
            url,
            token,
            lambda s: s.gc(older_than, name=name, dry_run=dry_run, by=by),
        )
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_deleted_lines(dict(result["deleted"]), bool(result["dry_run"])))


def _subject_text(info: dict[str, Any]) -> str:
    lines = [
        f"subject {info['subject']}: {info['workflow_count']} workflow(s) with their children, "
        f"{info['records']} record(s), {info['blobs']} blob(s)"
    ]
    for w in info.get("workflows", []):
        lines.append(f"  {w['id']}  {w['name']}  {w['status']}")
    for e in info.get("erasures", []):
        lines.append(f"  erased before: {e['workflow_id']} by {e['by']} at {e['at']}")
    return "\n".join(lines)


@main.command("erase")
@app_option
@db_option
@url_option
@token_option
@click.argument("subject")
@click.option("--yes", is_flag=True, help="erase without asking")
@by_option
@json_option
def erase_cmd(
    app: str | None,
    database: str | None,
    url: str | None,
    token: str | None,
    subject: str,
    yes: bool,
    by: str,
    as_json: bool,
) -> None:
    """Erase every payload about SUBJECT (engine.erase_subject): the inputs, outputs, step
    results, signals and task answers of its workflows, its records and blobs. Running
    workflows are cancelled first. The journal's shape and the event log stay."""
    info = run_source(app, database, url, token, lambda s: s.subject(subject))
    if not (info["workflow_count"] or info["records"] or info["blobs"]):
        raise CommandError(
            f"nothing carries the subject {subject!r}: no workflow, record or blob", EXIT_NOT_FOUND
        )
    if not yes:
        click.echo(_subject_text(info), err=as_json)
        try:
            sure = click.confirm(f"Erase everything about {subject}?", default=False, err=True)
        except click.Abort:  # no answer (stdin closed)
            sure = False
        if not sure:
            raise CommandError(
                "not confirmed: nothing was erased (add --yes to erase without the question)",
                EXIT_FAILED,
            )
    report = run_source(app, database, url, token, lambda s: s.erase(subject, by=by))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"erased {subject}: {len(report['workflows'])} workflow(s)"
        f" ({len(report['cancelled'])} cancelled first), {report['records']} record(s),"
        f" {report['blobs']} blob(s)"
    )
