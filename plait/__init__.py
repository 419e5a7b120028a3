"""plait: durable AI workflows in plain async Python.

A ``@workflow`` calls ``@step`` functions; every step result is journaled so a crashed or
restarted workflow resumes where it stopped without running finished steps again. Durable
timers, signals, child workflows, cancellation and resumption; SQLite by default, PostgreSQL
for many workers.
"""

from plait.clock import Clock, FakeClock, SystemClock
from plait.context import ChildHandle, Context
from plait.current import current_engine
from plait.definitions import StepDef, WorkflowDef, step, workflow
from plait.engine import Engine, WorkflowHandle
from plait.errors import (
    ChildWorkflowFailed,
    ConfigurationError,
    InvalidAnswer,
    InvalidState,
    NondeterminismError,
    PermissionDenied,
    PlaitError,
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
from plait.human import (
    Approval,
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
from plait.types import (
    AttemptRecord,
    EntryStatus,
    ErrorInfo,
    Retry,
    StepRecord,
    WorkflowInfo,
    WorkflowStatus,
)
from plait.worker import Worker

__version__ = "0.1.0"

__all__ = [
    "Approval",
    "AttemptRecord",
    "ChildHandle",
    "ChildWorkflowFailed",
    "Clock",
    "ConfigurationError",
    "Context",
    "Default",
    "Directory",
    "Engine",
    "EntryStatus",
    "ErrorInfo",
    "Escalate",
    "FakeClock",
    "FieldChange",
    "HumanTask",
    "InvalidAnswer",
    "InvalidState",
    "Limit",
    "NondeterminismError",
    "PermissionDenied",
    "PlaitError",
    "Queue",
    "Rate",
    "Retry",
    "SerializationError",
    "StepDef",
    "StepFailed",
    "StepRecord",
    "SystemClock",
    "TaskAlreadyCompleted",
    "TaskEvent",
    "TaskEventKind",
    "TaskNotFound",
    "TaskNotOpen",
    "TaskStatus",
    "WaitTimeout",
    "Worker",
    "WorkflowAlreadyExists",
    "WorkflowBlocked",
    "WorkflowCancelled",
    "WorkflowDef",
    "WorkflowFailed",
    "WorkflowFinished",
    "WorkflowHandle",
    "WorkflowInfo",
    "WorkflowNotFound",
    "WorkflowStatus",
    "current_engine",
    "limit",
    "step",
    "workflow",
]
