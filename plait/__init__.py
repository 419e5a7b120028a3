"""plait: durable AI workflows in plain async Python.

A ``@workflow`` calls ``@step`` functions; every step result is journaled so a crashed or
restarted workflow resumes where it stopped without running finished steps again. Durable
timers, signals, child workflows, cancellation and resumption; SQLite by default, PostgreSQL
for many workers.
"""

from typing import TYPE_CHECKING, Any

from plait.alerts import AlertInfo, AlertKind, Alerts, AlertStatus
from plait.blobs import Blob, BlobRef, get_blob, put_blob
from plait.children import ChildHandle
from plait.clock import Clock, FakeClock, SystemClock
from plait.context import Context
from plait.current import current_engine
from plait.definitions import StepDef, WorkflowDef, step, workflow
from plait.encryption import DecryptionError, Encryption
from plait.engine import Engine
from plait.errors import (
    BlobNotFound,
    ChildWorkflowFailed,
    ConfigurationError,
    InvalidAnswer,
    InvalidArguments,
    InvalidState,
    NondeterminismError,
    PermissionDenied,
    PlaitError,
    ScheduleAlreadyExists,
    ScheduleNotFound,
    SerializationError,
    StepFailed,
    TaskAlreadyCompleted,
    TaskNotFound,
    TaskNotOpen,
    WaitTimeout,
    WorkflowAlreadyExists,
    WorkflowBlocked,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowFinished,
    WorkflowNotFound,
)
from plait.handle import WorkflowHandle
from plait.human import (
    Default,
    Directory,
    Escalate,
    FieldChange,
    HumanTask,
    TaskEvent,
    TaskEventKind,
    TaskStatus,
)
from plait.limits import Limit, Queue, Rate, limit
from plait.records import Records
from plait.schedules import Schedule, ScheduleInfo
from plait.types import (
    AttemptRecord,
    EntryStatus,
    ErasureReport,
    ErrorInfo,
    GcReport,
    Record,
    Retry,
    StepRecord,
    SubjectInfo,
    WorkflowEvent,
    WorkflowEventKind,
    WorkflowInfo,
    WorkflowStatus,
)
from plait.views import (
    HeldWorkflow,
    InvalidCursor,
    Page,
    VersionCount,
    WorkerInfo,
    WorkflowChange,
)
from plait.worker import Worker

if TYPE_CHECKING:
    from plait.human.approval import Approval
    from plait.replaycheck import ReplayOutcome, ReplayReport, ReplayResult

__version__ = "0.1.0"

# Public names loaded on first use, by module: what a worker never needs at start-up
# (Approval defines a Pydantic model: plait/human/approval.py says why). A module-level
# ``__getattr__`` runs only for names not set here, so the names above cost nothing.
_LAZY = {
    "Approval": "plait.human.approval",
    "ReplayOutcome": "plait.replaycheck",
    "ReplayReport": "plait.replaycheck",
    "ReplayResult": "plait.replaycheck",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plait' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AlertInfo",
    "AlertKind",
    "AlertStatus",
    "Alerts",
    "Approval",
    "AttemptRecord",
    "Blob",
    "BlobNotFound",
    "BlobRef",
    "ChildHandle",
    "ChildWorkflowFailed",
    "Clock",
    "ConfigurationError",
    "Context",
    "DecryptionError",
    "Default",
    "Directory",
    "Encryption",
    "Engine",
    "EntryStatus",
    "ErasureReport",
    "ErrorInfo",
    "Escalate",
    "FakeClock",
    "FieldChange",
    "GcReport",
    "HeldWorkflow",
    "HumanTask",
    "InvalidAnswer",
    "InvalidArguments",
    "InvalidCursor",
    "InvalidState",
    "Limit",
    "NondeterminismError",
    "Page",
    "PermissionDenied",
    "PlaitError",
    "Queue",
    "Rate",
    "Record",
    "Records",
    "ReplayOutcome",
    "ReplayReport",
    "ReplayResult",
    "Retry",
    "Schedule",
    "ScheduleAlreadyExists",
    "ScheduleInfo",
    "ScheduleNotFound",
    "SerializationError",
    "StepDef",
    "StepFailed",
    "StepRecord",
    "SubjectInfo",
    "SystemClock",
    "TaskAlreadyCompleted",
    "TaskEvent",
    "TaskEventKind",
    "TaskNotFound",
    "TaskNotOpen",
    "TaskStatus",
    "VersionCount",
    "WaitTimeout",
    "Worker",
    "WorkerInfo",
    "WorkflowAlreadyExists",
    "WorkflowBlocked",
    "WorkflowCancelled",
    "WorkflowChange",
    "WorkflowDef",
    "WorkflowEvent",
    "WorkflowEventKind",
    "WorkflowFailed",
    "WorkflowFinished",
    "WorkflowHandle",
    "WorkflowInfo",
    "WorkflowNotFound",
    "WorkflowStatus",
    "current_engine",
    "get_blob",
    "limit",
    "put_blob",
    "step",
    "workflow",
]
