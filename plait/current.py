"""What is running in this task: the workflow's context and the engine (context variables).

- ``journal_var`` holds the :class:`~plait.journal.Journal` of the workflow run whose code
  runs in this asyncio task; inside a step it is ``None`` again (a step calling a step makes
  a plain call).
- ``engine_var`` holds the engine of the running workflow or step, for
  :func:`current_engine` and ``plait.limit``.
- ``workflow_var`` holds the id of the workflow whose code or step runs (a blob put there
  belongs to it, ``plait/blobs.py``).
- ``step_var`` holds ``(seq, name, attempt)`` of the step whose code runs (``None``
  elsewhere): a model call made in a step charges the cost ledger under that step
  (``plait/ai/call.py``); JSON logs name it (``plait/telemetry/logs.py``).
- ``run_var`` holds ``(workflow id, workflow name, segment)`` of the run segment the worker
  runs in this task (the segment is the claim's ``attempt`` counter), for JSON logs.

The worker sets ``run_var`` in the task of each claim, and the others once per run in the
run's own ``contextvars`` copy; the step call path resets ``journal_var`` and keeps the others
in the step's copy.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any

from plait.errors import ConfigurationError

if TYPE_CHECKING:
    from plait.engine import Engine
    from plait.journal import Journal

journal_var: contextvars.ContextVar[Journal | None] = contextvars.ContextVar(
    "plait_journal", default=None
)
engine_var: contextvars.ContextVar[Engine | None] = contextvars.ContextVar(
    "plait_engine", default=None
)
workflow_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "plait_workflow", default=None
)
step_var: contextvars.ContextVar[tuple[int, str, int] | None] = contextvars.ContextVar(
    "plait_step", default=None
)
run_var: contextvars.ContextVar[tuple[str, str, int] | None] = contextvars.ContextVar(
    "plait_run", default=None
)


def current_engine() -> Engine:
    """The engine running the current workflow or step (e.g. for ``engine.records`` in a
    step). Raises ``ConfigurationError`` outside one."""
    engine = engine_var.get()
    if engine is None:
        raise ConfigurationError(
            "plait.current_engine() is only available while a workflow or a step runs; "
            "elsewhere use the Engine you opened"
        )
    return engine


_FRESH = object()  # InContext: the coroutine has not started


class InContext:
    """Awaits ``coro`` in the awaiting task, with every resumption of it run in ``scope``.

    What a task of its own gives a step or a run (its code sees its own context variables;
    what it sets stays in ``scope``), without the task: no scheduling, no extra loop turns.
    The awaiting task's cancellation reaches ``coro`` where it waits, as it would reach its
    task.
    """

    __slots__ = ("coro", "scope", "waited")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], scope: contextvars.Context, waited: Any = _FRESH
    ) -> None:
        """``waited``, when given: ``coro`` was started already (in ``scope``) and waits
        for it."""
        self.coro = coro
        self.scope = scope
        self.waited = waited

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, run, waited = self.coro, self.scope.run, self.waited
        send: Any = None
        error: BaseException | None = None
        advance = waited is _FRESH
        while True:
            if advance:
                try:
                    if error is None:
                        waited = run(coro.send, send)
                    else:
                        waited, error = run(coro.throw, error), None
                except StopIteration as done:
                    return done.value
            advance = True
            try:
                send = yield waited
            except GeneratorExit:
                run(coro.close)
                raise
            except BaseException as exc:  # cancellation: delivered where the step waits
                send, error = None, exc


__all__ = [
    "InContext",
    "current_engine",
    "engine_var",
    "journal_var",
    "run_var",
    "step_var",
    "workflow_var",
]
