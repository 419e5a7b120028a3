"""Readable output of the CLI: aligned tables and a workflow's timeline, from the plain JSON
shapes a source returns (``--json`` prints those shapes instead)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]


def when(value: Any) -> str:
    """An ISO time as ``2026-12-06 14:03:07`` in UTC (with a trailing ``Z``), or ``-``."""
    if not value:
        return "-"
    if isinstance(value, int | float):  # milliseconds since the epoch, as the store keeps them
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def duration(start: Any, end: Any) -> str:
    """The time between two ISO times, readably (``340 ms``, ``12.5 s``, ``3 min``, ``2 h``)."""
    if not start or not end:
        return ""
    seconds = (
        datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))
    ).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def short(value: Any, width: int = 60) -> str:
    """A JSON value on one line, cut to ``width`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned to their widest cell; the last column is not padded."""
    cells = [[str(h).upper() for h in headers]] + [
        ["" if c is None else str(c) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def workflows_table(items: Sequence[Json]) -> str:
    if not items:
        return "no workflows match (start one with 'plait workflows start')"
    return table(
        ["id", "name", "version", "status", "status text", "started", "updated"],
        [
            [
                w["id"],
                w["name"],
                w.get("version", "-"),
                w["status"],
                short(w.get("status_text") or "", 40),
                when(w.get("created_at")),
                when(w.get("updated_at")),
            ]
            for w in items
        ],
    )


_VERSION_KEYS = ("name", "version", "in_flight", "pending", "running", "waiting", "blocked")


def versions_table(items: Sequence[Json]) -> str:
    if not items:
        return "no workflows in flight"
    return table(
        ["name", "version", "in flight", "pending", "running", "waiting", "blocked"],
        [[v[k] for k in _VERSION_KEYS] for v in items],
    )


def tasks_table(items: Sequence[Json], now: datetime) -> str:
    if not items:
        return "no human tasks match"
    rows = []
    for t in items:
        rows.append(
            [
                t["id"],
                short(t["title"], 40),
                t["status"],
                t.get("assignee") or "-",
                t.get("claimed_by") or "-",
                due_text(t, now),
                t["workflow_id"],
            ]
        )
    return table(["id", "title", "status", "assignee", "claimed by", "due", "workflow"], rows)


def due_text(task: Json, now: datetime) -> str:
    due = task.get("due_at")
    if not due:
        return "-"
    at = datetime.fromisoformat(str(due))
    late = task.get("status") == "open" and at < now
    return f"{when(due)} (OVERDUE)" if late else when(due)


def waiting_text(waiting: Json) -> str:
    """What a waiting workflow waits for, in words: signals, human tasks, children, a time."""
    parts = []
    for name in waiting.get("signals") or []:
        if name.startswith("plait:task:"):
            parts.append(f"human task {name.removeprefix('plait:task:')}")
        elif name.startswith("plait:child:"):
            parts.append(f"child workflow {name.removeprefix('plait:child:')}")
        else:
            parts.append(f"signal {name!r}")
    what = " or ".join(parts) if parts else "a timer"
    until = waiting.get("until")
    return f"{what} until {when(until)}" if until else what


def _block(title: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict) and value:
        width = max(len(str(k)) for k in value)
        return [f"{title}:"] + [
            f"  {str(k).ljust(width)}  {short(v, 90)}" for k, v in value.items()
        ]
    return [f"{title}: {short(value, 100)}"]


def model_facts(record: Any) -> list[str]:
    """A model entry's who-answered, tokens, cost and re-asks, as the journal recorded them."""
    if not isinstance(record, dict) or not isinstance(record.get("response"), dict):
        return []
    usage = record.get("usage") or {}
    facts = [
        str(record["response"].get("model") or "?"),
        f"{usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out tokens",
    ]
    if record.get("cost_usd"):
        facts.append(f"${float(record['cost_usd']):.4f}")
    if record.get("reasks"):
        facts.append(f"{record['reasks']} re-ask(s)")
    return facts


def timeline(detail: Json) -> str:
    """A workflow as a person reads it: header, waiting-on line, input and output, the
    journal with attempts and errors, children, human tasks and the event log."""
    w = detail["workflow"]
    out = [f"{w['name']}  {w['id']}  {str(w['status']).upper()}"]
    if w.get("status_text"):
        out.append(f"status: {w['status_text']}")
    attrs = w.get("attributes") or {}
    if attrs:
        out.append("attributes: " + ", ".join(f"{k}={v}" for k, v in attrs.items()))
    out.append(
        f"started {when(w.get('created_at'))}   updated {when(w.get('updated_at'))}"
        + (f"   finished {when(w['completed_at'])}" if w.get("completed_at") else "")
    )
    if w.get("parent_id"):
        out.append(f"parent: {w['parent_id']}")
    waiting = w.get("waiting_on")
    if w.get("status") == "waiting" and waiting:
        out.append("waiting for " + waiting_text(waiting))
    out += _block("input", w.get("input"))
    if w.get("output") is not None:
        out += _block("output", w.get("output"))
    err = w.get("error")
    if err:
        out.append(f"error: {err.get('type')}: {err.get('message')}")
        if err.get("traceback"):
            out += ["  " + line for line in str(err["traceback"]).rstrip().splitlines()]
    attempts: dict[int, list[Json]] = {}
    for a in detail.get("attempts") or []:
        attempts.setdefault(a["seq"], []).append(a)
    out += ["", "journal:"]
    journal = detail.get("journal") or []
    if not journal:
        out.append("  (empty: the workflow has not run a durable operation yet)")
    for e in journal:
        took = duration(e.get("started_at"), e.get("completed_at"))
        extra = []
        if e.get("attempts", 1) > 1:
            extra.append(f"{e['attempts']} attempts")
        if e.get("status") == "waiting" and e.get("wake_at"):
            extra.append(f"until {when(e['wake_at'])}")
        if e.get("kind") == "model":
            extra += model_facts(e.get("output"))
        line = f"  {e['seq']:>3}  {e['kind']:<8} {e['name']:<28} {e['status']:<10} {took:>9}"
        out.append((line + "  " + ", ".join(extra)).rstrip())
        for a in attempts.get(e["seq"], []):
            if a.get("error"):
                er = a["error"]
                out.append(
                    f"         attempt {a['attempt']}: {er.get('type')}: "
                    f"{short(er.get('message'), 80)}"
                )
        if e.get("error"):
            out.append(
                f"         error: {e['error'].get('type')}: {short(e['error'].get('message'), 80)}"
            )
    children = detail.get("children") or []
    if children:
        out += ["", "children:"]
        out += [f"  {c['id']}  {c['name']}  {c['status']}" for c in children]
    tasks = detail.get("tasks") or []
    if tasks:
        out += ["", "human tasks:"]
        for t in tasks:
            who = f" by {t['completed_by']}" if t.get("completed_by") else ""
            out.append(
                f"  {t['id']}  {short(t['title'], 40)}  {t['status']}{who}"
                f"  -> {t.get('assignee') or '-'}"
            )
    events = detail.get("events") or []
    if events:
        out += ["", "events:"]
        out += [f"  {when(ev['at'])}  {ev['kind']:<10} by {ev['by']}" for ev in events]
    return "\n".join(out)


def task_detail(t: Json, now: datetime) -> str:
    out = [f"{t['title']}  [{t['id']}]  {str(t['status']).upper()}"]
    out.append(
        f"workflow: {t['workflow_id']}   assignee: {t.get('assignee') or '-'}"
        f"   claimed by: {t.get('claimed_by') or '-'}   due: {due_text(t, now)}"
    )
    out.append(f"form: {t.get('form')}")
    out += _block("context", t.get("context"))
    out += _block("proposal", t.get("proposal"))
    if t.get("answer") is not None:
        out += _block("answer", t.get("answer"))
        if t.get("completed_by"):
            out.append(f"answered by {t['completed_by']} at {when(t.get('completed_at'))}")
    for c in t.get("changes") or []:
        out.append(
            f"  changed {c['field']}: {short(c.get('before'), 40)} -> {short(c.get('after'), 40)}"
        )
    events = t.get("events") or []
    if events:
        out += ["", "audit trail:"]
        out += [
            f"  {when(ev['at'])}  {ev['kind']:<10} {ev.get('actor') or 'plait'}" for ev in events
        ]
    return "\n".join(out)
