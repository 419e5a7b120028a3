"""``@plait.step`` and ``@plait.workflow``: what a step and a workflow are.

A step called inside a running workflow is a durable operation: the call reserves the next
sequence number at once (so ``asyncio.gather`` of steps is deterministic) and returns an
awaitable that either replays the journaled result or runs the function under its retry
policy and journals the outcome. Called anywhere else, a step is its plain function.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from plait.current import journal_var
from plait.errors import ConfigurationError
from plait.steps import call_step
from plait.types import Duration, Retry, to_seconds

if TYPE_CHECKING:
    from plait.context import Context

P = ParamSpec("P")
R = TypeVar("R")


def _return_type(fn: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: decode as plain JSON
        return Any
    return hints.get("return", Any)


class StepDef(Generic[P, R]):
    """A function registered as a step."""

    def __init__(
        self,
        fn: Callable[P, Any],
        *,
        name: str | None,
        retry: Retry | None,
        timeout: Duration | None,
    ) -> None:
        if retry is not None and not isinstance(retry, Retry):
            raise ConfigurationError(
                f"@plait.step(retry=...) takes a plait.Retry, not {type(retry).__name__}"
            )
        self.fn = fn
        self.name = name or fn.__qualname__
        self.retry = retry or Retry(max_attempts=1)
        self.timeout = None if timeout is None else to_seconds(timeout, "step timeout")
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def return_type(self) -> Any:
        hint = _return_type(self.fn)
        origin = typing.get_origin(hint)
        if origin in (Awaitable, typing.Coroutine) or (
            origin is not None and getattr(origin, "__name__", "") == "Coroutine"
        ):
            return typing.get_args(hint)[-1]
        return hint

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        journal = journal_var.get()
        if journal is None:
            return self.fn(*args, **kwargs)
        return call_step(journal, self, args, kwargs)

    def __repr__(self) -> str:
        return f"<plait step {self.name!r}>"


class WorkflowDef(Generic[P, R]):
    """An ``async def f(ctx, ...)`` registered as a workflow."""

    def __init__(
        self,
        fn: Callable[..., Awaitable[R]],
        *,
        name: str | None,
        version: str,
        retention: Duration | str | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                f"@plait.workflow needs an async def taking a plait.Context first; "
                f"{fn.__qualname__} is not async"
            )
        params = list(inspect.signature(fn).parameters.values())
        if not params:
            raise ConfigurationError(
                f"workflow {fn.__qualname__} must take a plait.Context as its first argument"
            )
        self.fn = fn
        self.name = name or fn.__qualname__
        self.version = str(version)
        # How long the workflow is kept after it ended (plait/retention.py); None: forever
        # unless the engine's policy says otherwise.
        self.retention: timedelta | None = None
        if retention is not None:
            from plait.retention import parse_duration

            self.retention = parse_duration(retention, f"retention of workflow {self.name!r}")
        self.signature = inspect.Signature(params[1:])
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def param_types(self) -> list[Any]:
        try:
            hints = typing.get_type_hints(self.fn)
        except Exception:
            hints = {}
        return [hints.get(p.name, Any) for p in self.signature.parameters.values()]

    @functools.cached_property
    def return_type(self) -> Any:
        return _return_type(self.fn)

    def bind(self, args: tuple[Any, ...]) -> None:
        """Checks that ``args`` fit the workflow's parameters (raises TypeError if not)."""
        try:
            self.signature.bind(*args)
        except TypeError as exc:
            raise ConfigurationError(
                f"bad arguments for workflow {self.name!r}: {exc}; expected {self.signature}"
            ) from None

    async def __call__(self, ctx: Context, *args: Any) -> R:
        return await self.fn(ctx, *args)

    def __repr__(self) -> str:
        return f"<plait workflow {self.name!r} version {self.version!r}>"


@overload
def step(fn: Callable[P, R], /) -> StepDef[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    retry: Retry | None = None,
    timeout: timedelta | float | None = None,
) -> Callable[[Callable[P, R]], StepDef[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: Retry | None = None,
    timeout: timedelta | float | None = None,
) -> StepDef[P, R] | Callable[[Callable[P, R]], StepDef[P, R]]:
    """Declares a step: its result is journaled, it runs at least once and is recorded once."""

    def wrap(f: Callable[P, R]) -> StepDef[P, R]:
        return StepDef(f, name=name, retry=retry, timeout=timeout)

    return wrap(fn) if fn is not None else wrap


@overload
def workflow(fn: Callable[..., Awaitable[R]], /) -> WorkflowDef[..., R]: ...


@overload
def workflow(
    *, name: str | None = None, version: str = "1", retention: Duration | str | None = None
) -> Callable[[Callable[..., Awaitable[R]]], WorkflowDef[..., R]]: ...


def workflow(
    fn: Callable[..., Awaitable[R]] | None = None,
    /,
    *,
    name: str | None = None,
    version: str = "1",
    retention: Duration | str | None = None,
) -> WorkflowDef[..., R] | Callable[[Callable[..., Awaitable[R]]], WorkflowDef[..., R]]:
    """Declares a workflow: an ``async def f(ctx: plait.Context, ...)`` that the engine runs
    durably, replaying its journal after crashes, restarts and waits. ``retention``
    (``timedelta``, seconds or ``"90d"``): how long workers keep it after it ended."""

    def wrap(f: Callable[..., Awaitable[R]]) -> WorkflowDef[..., R]:
        return WorkflowDef(f, name=name, version=version, retention=retention)

    return wrap(fn) if fn is not None else wrap
