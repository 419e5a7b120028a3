"""Structured logs: one JSON object per line, carrying the workflow and step being run.

``PLAIT_LOG_FORMAT=json`` (or ``plait worker --log-format json`` / ``plait server
--log-format json``) installs :class:`JsonFormatter` on the root logger's handlers. Each line
holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, when the record was
logged while a workflow ran, ``workflow_id``, ``workflow``, ``segment`` (the claim's attempt
counter) and inside a step ``step``, ``seq`` and ``attempt``; an error adds ``exception``
(the traceback text), and fields passed with ``extra={...}`` are kept.

The context comes from the context variables the worker and the step runner set anyway
(``plait.current.run_var``, ``step_var``), so the text format costs nothing more; the JSON
formatter reads two context variables per line.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from plait.current import run_var, step_var
from plait.errors import ConfigurationError

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record came from ``extra=`` (except
# uvicorn's copy of its message with terminal colours).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON with the running workflow's and step's ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        run = run_var.get()
        if run is not None:
            line["workflow_id"], line["workflow"], line["segment"] = run
        step = step_var.get()
        if step is not None:
            line["seq"], line["step"], line["attempt"] = step
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def log_format(given: str | None = None) -> str:
    """``given``, else ``PLAIT_LOG_FORMAT``, else ``text``; checked."""
    chosen = (given or os.environ.get("PLAIT_LOG_FORMAT") or "text").strip().lower()
    if chosen not in FORMATS:
        raise ConfigurationError(
            f"unknown log format {chosen!r} (PLAIT_LOG_FORMAT or --log-format): use text or json"
        )
    return chosen


def configure_logging(format: str | None = None, level: int | None = None) -> None:
    """Makes the root logger write ``format`` (``text`` or ``json``; ``None``:
    ``PLAIT_LOG_FORMAT``) to stderr, adding a handler if it has none; ``level`` too if given."""
    chosen = log_format(format)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    formatter = JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    if level is not None:
        root.setLevel(level)


__all__ = ["FORMATS", "JsonFormatter", "configure_logging", "log_format"]
