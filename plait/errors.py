"""Errors plait raises, and the private exceptions it uses for control flow.

Every error a caller can act on derives from :class:`PlaitError`::

    PlaitError
    ├── ConfigurationError          bad engine set-up (duplicate names, bad URL, ...)
    │   └── InvalidArguments        start(): the arguments do not fit (a ValueError)
    ├── SerializationError          a value cannot be encoded or decoded as JSON
    ├── StepFailed                  a step exhausted its retries (same on replay)
    ├── WaitTimeout (TimeoutError)  a signal, child or human task was not there in time
    ├── NondeterminismError         replay found other operations than the journal
    ├── WorkflowNotFound            no workflow with that id
    ├── WorkflowAlreadyExists       same id, different arguments
    ├── WorkflowFinished            the workflow is finished: no signal, cancel, ...
    ├── InvalidState                the operation does not apply in the workflow's status
    ├── WorkflowFailed              handle.result(): the workflow failed
    │   └── ChildWorkflowFailed     ctx.child(): the child failed or was cancelled
    ├── WorkflowCancelled           handle.result(): the workflow was cancelled
    ├── WorkflowBlocked             handle.result(): parked until the code is fixed
    ├── TaskNotFound                no human task with that id
    ├── TaskNotOpen                 the human task is expired or cancelled: no answer
    │   └── TaskAlreadyCompleted    someone answered it already (a race has one winner)
    ├── InvalidAnswer               the answer does not fit the form (lists each field)
    ├── PermissionDenied            the person may not act on that human task
    ├── BlobNotFound                no blob with that digest (never stored, or collected)
    ├── ScheduleNotFound            no schedule with that id
    └── ScheduleAlreadyExists       a schedule with that id exists (delete it first)

Control flow inside a running workflow (suspending, losing the lease, shutting down) uses
private ``BaseException`` subclasses so that a user's ``except Exception:`` cannot swallow it.
"""

from __future__ import annotations

import traceback as _traceback

MAX_TRACEBACK_CHARS = 16_000  # a deep recursion is cut in the middle, keeping both ends


def traceback_text(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` as recorded with an error (bounded in size).

    A failed step or child reaches the workflow as a plait error carrying the original
    exception's traceback (recorded, so the same on replay): that one comes first.
    """
    text = "".join(_traceback.format_exception(exc))
    origin = exc.traceback if isinstance(exc, StepFailed | WorkflowFailed) else None
    if origin:
        text = f"{origin}\nThe error above reached the workflow as:\n\n{text}"
    if len(text) > MAX_TRACEBACK_CHARS:
        half = MAX_TRACEBACK_CHARS // 2
        cut = len(text) - 2 * half
        text = f"{text[:half]}\n... ({cut:,} characters cut) ...\n{text[-half:]}"
    return text


def check_text(value: str, what: str) -> None:
    """Refuses text the database cannot store: a NUL character (PostgreSQL's text type has
    none), so it fails where it is given, with its name, not later in a worker."""
    if "\x00" in value:
        raise ConfigurationError(
            f"{what} contains a NUL character (\\x00), which the database cannot store; "
            "remove it (or put binary data in a blob: plait.put_blob)"
        )


class PlaitError(Exception):
    """Root of every error plait raises that a caller can act on."""


class ConfigurationError(PlaitError):
    """The engine or a decorator was set up wrongly."""


class InvalidArguments(ConfigurationError, ValueError):
    """The arguments given to start a workflow do not fit its parameters (their number or
    their annotated types). Nothing was started."""


class SerializationError(PlaitError):
    """A value cannot be encoded to JSON, or a stored value cannot be decoded."""


class StepFailed(PlaitError):
    """A step raised on its last attempt. Carries the original type name, message and
    traceback text.

    The same error is raised on the first run and on every replay, so workflow code never
    depends on exception classes that only exist on the first run.
    """

    def __init__(
        self,
        step: str,
        error_type: str,
        message: str,
        attempts: int = 1,
        traceback: str | None = None,
    ) -> None:
        self.step = step
        self.error_type = error_type
        self.message = message
        self.attempts = attempts
        self.traceback = traceback
        super().__init__(
            f"step {step!r} failed after {attempts} attempt(s): {error_type}: {message}"
        )


class WaitTimeout(PlaitError, TimeoutError):
    """A durable wait (signal, child, human task) passed its deadline."""


class NondeterminismError(PlaitError):
    """Replaying the workflow met a different operation than the journal recorded.

    ``position`` is the journal position, ``recorded`` what the journal holds there and
    ``called`` what the code now calls (``"step 'score'"``), when known."""

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        recorded: str | None = None,
        called: str | None = None,
    ) -> None:
        super().__init__(message)
        self.position = position
        self.recorded = recorded
        self.called = called


class WorkflowNotFound(PlaitError):
    """No workflow has that id."""


class WorkflowAlreadyExists(PlaitError):
    """A workflow with that id exists, started with other arguments or another workflow."""


class WorkflowFinished(PlaitError):
    """The workflow is completed, failed or cancelled; it takes no more signals."""


class InvalidState(PlaitError):
    """The operation does not apply to the workflow in its current status."""


class WorkflowFailed(PlaitError):
    """The workflow raised. Carries the recorded error type, message and traceback."""

    def __init__(
        self, workflow_id: str, error_type: str, message: str, traceback: str | None = None
    ) -> None:
        self.workflow_id = workflow_id
        self.error_type = error_type
        self.message = message
        self.traceback = traceback
        super().__init__(f"workflow {workflow_id!r} failed: {error_type}: {message}")


class ChildWorkflowFailed(WorkflowFailed):
    """A child workflow awaited with ``ctx.child`` failed or was cancelled."""


class WorkflowCancelled(PlaitError):
    """The workflow was cancelled."""


class WorkflowBlocked(PlaitError):
    """The workflow is parked (non-determinism or an undecodable value) until resumed."""


class TaskNotFound(PlaitError):
    """No human task has that id."""


class TaskNotOpen(PlaitError):
    """The human task is no longer open (completed, expired or cancelled): it takes no
    answer, claim or reassignment. Nothing was changed."""

    def __init__(self, task_id: str, status: str, message: str) -> None:
        self.task_id = task_id
        self.status = status
        super().__init__(message)


class TaskAlreadyCompleted(TaskNotOpen):
    """Someone completed the human task already; of two people answering at once, exactly
    one wins and the other gets this. Nothing was changed."""


class InvalidAnswer(PlaitError):
    """An answer does not fit the task's form. ``errors`` lists ``(field, why)`` pairs."""

    def __init__(
        self, task_id: str, form: str, errors: list[tuple[str, str]], *, what: str = ""
    ) -> None:
        self.task_id = task_id
        self.form = form
        self.errors = errors
        what = what or f"the answer to human task {task_id!r}"
        listed = "; ".join(f"{field}: {why}" for field, why in errors)
        super().__init__(f"{what} does not fit its form {form}: {listed}. Nothing was changed.")


class PermissionDenied(PlaitError):
    """The person may not act on that human task (not its assignee, not in the assigned
    group, not an admin; or another person has claimed it). Nothing was changed."""


class BlobNotFound(PlaitError):
    """No blob with that digest is stored: it was never stored, or it was collected as an
    orphan (no workflow or subject held it)."""


class ScheduleNotFound(PlaitError):
    """No schedule with that id."""


class ScheduleAlreadyExists(PlaitError):
    """A schedule with that id exists already: delete it first, or choose another id."""


class _ControlFlow(BaseException):
    """Base of the private control-flow exceptions."""


class _Suspend(_ControlFlow):
    """Unwinds a workflow coroutine that waits for something that has not happened yet."""


class _LeaseLost(_ControlFlow):
    """The worker no longer owns the workflow (another worker took it over, or it ended)."""


class _Released(_ControlFlow):
    """The worker is shutting down; the workflow is handed back to the queue."""


class _StoreUnavailable(_Released):
    """The database stayed unreachable past the store's retries: the run stops without
    recording an outcome (never ``failed`` for an outage); it is handed back, or its lease
    expires and another worker continues it."""
