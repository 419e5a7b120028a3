"""plait: durable AI workflows in plain async Python.

A ``@workflow`` calls ``@step`` functions; every step result is journaled so a crashed or
restarted workflow resumes where it stopped without running finished steps again. Durable
timers, signals, child workflows, cancellation and resumption; SQLite by default, PostgreSQL
for many workers.
"""

from plait.clock import Clock, FakeClock, SystemClock
from plait.context import ChildHandle, Context
from plait.definitions import StepDef, WorkflowDef, step, workflow
from plait.engine import Engine, WorkflowHandle
from plait.errors import (
    ChildWorkflowFailed,
    ConfigurationError,
    InvalidState,
    NondeterminismError,
    PlaitError,
    SerializationError,
    StepFailed,
    WaitTimeout,
    WorkflowAlreadyExists,
    WorkflowBlocked,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowFinished,
    WorkflowNotFound,
)
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
    "AttemptRecord",
    "ChildHandle",
    "ChildWorkflowFailed",
    "Clock",
    "ConfigurationError",
    "Context",
    "Engine",
    "EntryStatus",
    "ErrorInfo",
    "FakeClock",
    "InvalidState",
    "NondeterminismError",
    "PlaitError",
    "Retry",
    "SerializationError",
    "StepDef",
    "StepFailed",
    "StepRecord",
    "SystemClock",
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
    "step",
    "workflow",
]
