"""Rows of the workflow and journal tables as the store's records and the engine's types.

Each function maps one row (selected with the matching column list) to one value; nothing
here runs a statement. Shared by the parts of the SQL store that read workflows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plait.frozen import build
from plait.store.records import Claimed, Entry, ResultRow
from plait.store.sqlbase import Dialect, Row, load_json
from plait.types import (
    EntryStatus,
    ErrorInfo,
    StepRecord,
    WorkflowInfo,
    WorkflowStatus,
    ms_to_datetime,
)

WORKFLOW_COLUMNS = (
    "id, name, version, status, queue, priority, created_at, updated_at, completed_at, "
    "parent_id, attempt, recoveries, cancel_requested, error, waiting_on, available_at, "
    "status_text, attributes, concurrency_key, lease_owner, input, output, subject"
)
"""The columns :func:`workflow_info` reads."""


RESULT_COLUMNS = "id, name, status, output, error"
"""The columns :func:`result_row` reads."""

_STATUS = {str(s): s for s in WorkflowStatus}  # a dict lookup: WorkflowStatus(x) is slower


def result_row(r: Row) -> ResultRow:
    """A workflow row (:data:`RESULT_COLUMNS`) as ``WorkflowHandle.result`` reads it."""
    return ResultRow(
        r["name"], _STATUS[r["status"]], r["output"], ErrorInfo.from_json(load_json(r["error"]))
    )


def workflow_filters(
    dialect: Dialect,
    status: Sequence[str],
    name: str | None,
    parent_id: str | None,
    attributes: Sequence[tuple[str, str]],
    subject: str | None = None,
) -> tuple[list[str], list[object]]:
    """The WHERE conditions and their parameters shared by the workflow listings."""
    where: list[str] = []
    params: list[object] = []
    if status:
        where.append(f"status IN ({', '.join('?' for _ in status)})")
        params.extend(str(s) for s in status)
    for column, value in (("name", name), ("parent_id", parent_id), ("subject", subject)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    for key, text in attributes:
        expr = dialect.json_text("attributes", "?")
        where.append(f"{expr} = ?")
        params.extend([key] * expr.count("?") + [text])
    return where, params


def claimed(r: Row, journal: list[Entry]) -> Claimed:
    """A workflow row (id, name, version, input, attempt, cancel_requested, parent_id, queue,
    run, seq_base) with its journal, as a worker runs it."""
    return Claimed(
        id=r["id"],
        name=r["name"],
        version=r["version"],
        input=r["input"],
        attempt=r["attempt"],
        cancel_requested=bool(r["cancel_requested"]),
        parent_id=r["parent_id"],
        queue=r["queue"],
        journal=journal,
        run=r["run"],
        seq_base=r["seq_base"],
    )


def entry(r: Row) -> Entry:
    """A journal row (``JOURNAL_COLUMNS``) as the engine reads it."""
    return Entry(
        seq=r["seq"],
        kind=r["kind"],
        name=r["name"],
        status=r["status"],
        output=r["output"],
        error=load_json(r["error"]),
        wake_at=r["wake_at"],
        attempts=r["attempts"],
        started_at=r["started_at"],
        completed_at=r["completed_at"],
        fingerprint=r["fingerprint"],
    )


def step_record(r: Row) -> StepRecord:
    """A journal row (``JOURNAL_COLUMNS``) as a client reads it."""
    return StepRecord(
        workflow_id=r["workflow_id"],
        seq=r["seq"],
        kind=r["kind"],
        name=r["name"],
        status=EntryStatus(r["status"]),
        output=_output(r["output"]),
        error=ErrorInfo.from_json(load_json(r["error"])),
        wake_at=ms_to_datetime(r["wake_at"]),
        attempts=r["attempts"],
        worker_attempt=r["worker_attempt"],
        started_at=ms_to_datetime(r["started_at"]),  # type: ignore[arg-type]
        completed_at=ms_to_datetime(r["completed_at"]),
        fingerprint=r["fingerprint"],
    )


def _output(text: str | None) -> object:
    """A journal output as JSON data; text that is not JSON (a codec transform's output,
    e.g. an encrypted value) stays text, for the engine to open."""
    try:
        return load_json(text)
    except ValueError:
        return text


def built_info(**values: Any) -> WorkflowInfo:
    """``WorkflowInfo(**values)`` for values the store has already typed, without the frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field, most of the CPU a read
    of a workflow cost the store): the same fields, an equal object. WorkflowInfo has no
    ``__post_init__`` or slots for it to miss (checked below). The class is made a dataclass
    here, at the first read, not at import (plait.frozen): a worker need never read one."""
    build(WorkflowInfo)  # once made, a set lookup per class of its MRO
    info = object.__new__(WorkflowInfo)
    info.__dict__.update(values)
    return info


assert not hasattr(WorkflowInfo, "__post_init__") and "__slots__" not in vars(WorkflowInfo)


def workflow_info(r: Row) -> WorkflowInfo:
    """A workflow row (:data:`WORKFLOW_COLUMNS`) as a client reads it."""
    return built_info(
        id=r["id"],
        name=r["name"],
        version=r["version"],
        status=_STATUS[r["status"]],
        queue=r["queue"],
        priority=r["priority"],
        created_at=ms_to_datetime(r["created_at"]),  # type: ignore[arg-type]
        updated_at=ms_to_datetime(r["updated_at"]),  # type: ignore[arg-type]
        completed_at=ms_to_datetime(r["completed_at"]),
        parent_id=r["parent_id"],
        attempt=r["attempt"],
        recoveries=r["recoveries"],
        cancel_requested=bool(r["cancel_requested"]),
        error=ErrorInfo.from_json(load_json(r["error"])),
        waiting_on=load_json(r["waiting_on"]),
        available_at=ms_to_datetime(r["available_at"]),
        status_text=r["status_text"],
        attributes=load_json(r["attributes"]) or {},
        concurrency_key=r["concurrency_key"],
        lease_owner=r["lease_owner"],
        input=r["input"],
        output=r["output"],
        subject=r["subject"],
    )
