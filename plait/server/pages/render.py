"""How pages show values: times (UTC ISO in a ``<time>`` element, localised by the browser),
durations, statuses (a colour and a word), and JSON values as readable key-value blocks.

These are the Jinja2 filters and globals :func:`install_filters` adds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
import markupsafe

# What each status is called on a page; the colour comes from the CSS class of the same name.
STATUS_WORDS = {
    "pending": "pending",
    "running": "running",
    "waiting": "waiting",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "blocked": "blocked",
    "open": "open",
    "expired": "expired",
    "action": "action",
}
# The order of the filter chips: what needs attention first.
STATUS_ORDER = ("failed", "blocked", "waiting", "running", "pending", "completed", "cancelled")


def iso(when: datetime | None) -> str:
    """UTC ISO 8601 with a ``Z``, for ``<time datetime=...>``."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def absolute(when: datetime | None) -> str:
    """``2026-12-06 14:03 UTC``: what a page shows before the browser localises it."""
    if when is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def span(delta: timedelta | float | None) -> str:
    """A duration in the largest two units: ``850 ms``, ``4.2 s``, ``3 min 5 s``, ``2 d 4 h``."""
    if delta is None:
        return ""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{sign}{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{sign}{seconds:.1f} s"
    if seconds < 60:
        return f"{sign}{round(seconds)} s"
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts = []
    rest = int(seconds)
    for unit, size in units:
        if rest >= size:
            parts.append(f"{rest // size} {unit}")
            rest %= size
        if len(parts) == 2 or (parts and size == 60 and rest == 0):
            break
    return sign + " ".join(parts[:2])


def relative(when: datetime | None, now: datetime) -> str:
    """``5 min ago`` or ``in 2 d 3 h``."""
    if when is None:
        return ""
    delta = when - now
    if abs(delta.total_seconds()) < 5:
        return "just now"
    text = span(abs(delta))
    return f"in {text}" if delta.total_seconds() > 0 else f"{text} ago"


def time_tag(when: datetime | None, now: datetime, *, mode: str = "relative") -> markupsafe.Markup:
    """A ``<time>`` element: the relative (or absolute) text, the absolute time on hover; the
    page's JavaScript rewrites both in the viewer's time zone."""
    if when is None:
        return markupsafe.Markup('<span class="muted">—</span>')
    if mode == "seconds":
        text = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    else:
        text = relative(when, now) if mode == "relative" else absolute(when)
    return markupsafe.Markup(
        '<time datetime="{iso}" title="{abs}" data-mode="{mode}">{text}</time>'
    ).format(iso=iso(when), abs=absolute(when), mode=mode, text=text)


def status_badge(status: object) -> markupsafe.Markup:
    """The status as a word in a coloured badge (never colour alone)."""
    word = STATUS_WORDS.get(str(status), str(status))
    return markupsafe.Markup('<span class="badge s-{cls}">{word}</span>').format(
        cls=str(status), word=word
    )


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def scalar(value: Any) -> str:
    """A scalar as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(scalar(v) for v in value) if value else "(none)"
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def is_scalar_list(value: Any) -> bool:
    return is_list(value) and all(not isinstance(v, Mapping | list | tuple) for v in value)


def humanize(key: object) -> str:
    text = str(key).replace("_", " ")
    return text[:1].upper() + text[1:]


def short_id(workflow_id: str) -> str:
    """A long id shortened for a table (the full id is in the link's title); a child's
    ``parent:seq`` keeps its ``:seq``, which tells siblings apart."""
    if len(workflow_id) <= 14:
        return workflow_id
    head, sep, tail = workflow_id.rpartition(":")
    if sep and head and len(tail) <= 6:
        return f"{head[:8]}\N{HORIZONTAL ELLIPSIS}:{tail}"
    return workflow_id[:12] + "\N{HORIZONTAL ELLIPSIS}"


def counted(n: int, word: str) -> str:
    """``1 workflow``, ``2 workflows``, ``0 blobs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def install_filters(env: jinja2.Environment) -> None:
    env.filters.update(
        iso=iso,
        absolute=absolute,
        span=span,
        pretty_json=pretty_json,
        scalar=scalar,
        humanize=humanize,
        short_id=short_id,
        counted=counted,
    )
    env.tests.update(mapping_value=is_mapping, list_value=is_list, scalar_list=is_scalar_list)
    env.globals.update(
        time_tag=time_tag, status_badge=status_badge, relative=relative, STATUS_ORDER=STATUS_ORDER
    )
