"""The execution record of the crash and chaos tests: one line per step execution *start*.

A step of the test apps calls ``begin`` before its work, so an execution killed mid-step
still leaves its line. Each line is ``<workflow id> <key> <attempt> <pid>``: the workflow
(and the attempt of it, ``ctx.attempt``, set by ``running`` at the top of the workflow body)
that executed step ``key``, in which process. ``check`` holds the record against the journal:

- an attempt executes a step at most once (the apps' steps are never retried);
- the journaled result comes from an execution of the attempt that recorded it;
- no attempt after that one executed the step again: once the entry was committed, a
  replay finds it, so a later execution means a finished step ran again.

One ``write(2)`` on an ``O_APPEND`` file per line: lines from concurrent processes never
interleave, and the line is in the kernel (safe from a SIGKILL) before the step's work
starts. It is not fsync'd: the tests kill processes, never the machine.
"""

from __future__ import annotations

import collections
import contextvars
import os
from dataclasses import dataclass
from pathlib import Path

import plait

# (workflow id, attempt) of the workflow run a step is called from; a step body cannot see
# its Context (plait clears it inside steps), the context variable is copied into it.
_RUN: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "plait_test_run", default=None
)


def running(ctx: plait.Context) -> None:
    """Called first in a workflow body: the steps it calls record this run."""
    _RUN.set((ctx.workflow_id, ctx.attempt))


def begin(path: str | None, key: str) -> None:
    """Records the start of an execution of step ``key`` (before its work)."""
    if not path:
        return
    run = _RUN.get()
    assert run is not None, "executions.running(ctx) was not called in the workflow"
    line = f"{run[0]} {key} {run[1]} {os.getpid()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Execution:
    """One execution start, in record order."""

    workflow_id: str
    key: str
    attempt: int
    pid: int


def read(path: str | Path) -> list[Execution]:
    """Every execution recorded so far, in the order they started."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        wid, key, attempt, pid = line.split(" ")
        out.append(Execution(wid, key, int(attempt), int(pid)))
    return out


def check(
    executions: list[Execution], journaled: dict[tuple[str, str], int]
) -> dict[tuple[str, str], list[Execution]]:
    """Holds the record against ``journaled`` ((workflow id, key) -> the attempt that
    recorded the step) as the module doc says; returns each step's executions."""
    by_step: dict[tuple[str, str], list[Execution]] = collections.defaultdict(list)
    for x in executions:
        by_step[x.workflow_id, x.key].append(x)
    unknown = set(by_step) - set(journaled)
    assert not unknown, f"executions of steps the journal does not hold: {sorted(unknown)[:10]}"
    for step, recorded_by in journaled.items():
        runs = by_step.get(step, [])
        attempts = [x.attempt for x in runs]
        assert len(attempts) == len(set(attempts)), f"{step}: one attempt ran it twice: {runs}"
        assert recorded_by in attempts, (
            f"{step}: journaled by attempt {recorded_by}, which never executed it: {runs}"
        )
        later = [x for x in runs if x.attempt > recorded_by]
        assert not later, (
            f"{step}: journaled by attempt {recorded_by}, executed again after: {later}"
        )
    return dict(by_step)
