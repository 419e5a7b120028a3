"""The recovery scenario: a worker process is ``kill -9``ed mid-workflow; a new one finishes.

This process is only the controller (a client engine, no worker). It starts the ``crashy``
workflow (10 steps; each appends ``<step> <pid> <time>`` to a log file, fsync'd, then sleeps
0.2 s), runs ``plait worker bench.app:engine`` as a separate process, sends it SIGKILL as
soon as step 5's line is in the log, starts a new worker process, and waits for the workflow
to complete. Figures: which steps ran more than once (from the log; a completed step must
never run again, the interrupted one may), and the seconds from the restart (the new
process being spawned) to the first re-executed step and to the completion the worker
recorded in the database; and the CPU time the restarted worker used up to that completion
(``restarted_worker_cpu_s``: start-up, the claim, the replay and the five remaining steps;
steady when the machine is shared, unlike the wall times).

``restart_breakdown_s`` says where the restart's time went, each mark in seconds from the
spawn (the same origin): the worker's registration, each re-run step's start (its log line)
and its commit, the completion, the controller seeing it (from the database and the log; no
code runs in the worker for it). With ``PLAIT_BENCH_TRACE=1`` the restarted worker also
reports when its interpreter was up, when ``plait`` and the app began to import and when it
first connected to SQLite (``bench/recovery_trace/sitecustomize.py``: audit events, nothing in
plait changes). ``floor`` is ``bench/recovery_floor.py`` measured in the same run, after
plait's restart: the least restart → result any Python asyncio engine reaches here
(``PLAIT_BENCH_FLOOR=0`` skips it).

The worker processes run with a bytecode cache (``PYTHONPYCACHEPREFIX`` under
``bench/results/pycache``, written by the first worker), as an installed plait (and the
peers' installed packages) would: a checkout run with ``PYTHONDONTWRITEBYTECODE=1``
otherwise compiles every plait module again in the restarted process.
``PLAIT_BENCH_BYTECODE=0`` runs them without (``worker_bytecode_cache`` says which).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.app import DATABASE_ENV, crashy, make_engine
from bench.backends import backend_of_url
from bench.recovery_floor import floor_once

ROOT = Path(__file__).resolve().parent.parent
STEPS = 10
KILL_AFTER = 5
TRACE_DIR = Path(__file__).resolve().parent / "recovery_trace"
PYCACHE = Path(__file__).resolve().parent / "results" / "pycache"


def bytecode_cache() -> bool:
    return os.environ.get("PLAIT_BENCH_BYTECODE", "1") != "0"


def spawn_worker(
    url: str, concurrency: int = 10, trace: str | None = None
) -> subprocess.Popen[bytes]:
    """``plait worker bench.app:engine`` on ``url``, as a separate process; with ``trace``,
    its start-up marks are written to that file (see ``bench/recovery_trace``)."""
    env = dict(os.environ, **{DATABASE_ENV: url})
    paths = [str(ROOT), env.get("PYTHONPATH"), str(TRACE_DIR) if trace else None]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    if trace:
        env["PLAIT_BENCH_TRACE_OUT"] = trace
    if bytecode_cache():
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plait.cli",
            "worker",
            "bench.app:engine",
            "--concurrency",
            str(concurrency),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _log(path: str) -> list[tuple[int, int, float]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(s), int(p), float(t)) for s, p, t in (line.split() for line in f if line)]


async def recovery(url: str, n: int = STEPS) -> dict[str, Any]:
    backend = backend_of_url(url)
    folder = os.path.dirname(url[len("sqlite:///") :]) if url.startswith("sqlite:") else "/tmp"
    log_path = os.path.join(folder, f"recovery-{os.getpid()}.log")
    if os.path.exists(log_path):
        os.remove(log_path)
    async with make_engine(url) as engine:
        handle = await engine.start(crashy, log_path, n, id="crash-1")
        first = spawn_worker(url)
        deadline = time.monotonic() + 60
        while len(_log(log_path)) < KILL_AFTER:
            if first.poll() is not None:
                err = first.stderr.read().decode() if first.stderr else ""
                raise RuntimeError(f"the first worker exited early: {err[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("the first worker did not reach step 5 within 60 s")
            await asyncio.sleep(0.002)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        recorded = [e.seq for e in await engine.journal(handle.id) if e.status == "completed"]

        trace = None
        if os.environ.get("PLAIT_BENCH_TRACE") == "1":
            trace = os.path.join(folder, f"recovery-{os.getpid()}.trace.json")
            if os.path.exists(trace):
                os.remove(trace)
        restart_epoch, restart = time.time(), time.perf_counter()
        second = spawn_worker(url, trace=trace)
        try:
            while await asyncio.to_thread(backend.count, url, "completed") < 1:
                if second.poll() is not None:
                    err = second.stderr.read().decode() if second.stderr else ""
                    raise RuntimeError(f"the restarted worker exited: {err[-2000:]}")
                if time.perf_counter() - restart > 60:
                    raise TimeoutError("the restarted worker did not finish within 60 s")
                await asyncio.sleep(0.005)
            observed = time.perf_counter() - restart
            worker_cpu = _cpu_of(second.pid)  # start-up, the claim, replay and five steps
            result = await handle.result(timeout=10)
            info = await engine.get(handle.id)
            journal = await engine.journal(handle.id)
            registered = [w.started_at for w in await engine.workers() if w.pid == second.pid]
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=15)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
            err = second.stderr.read().decode() if second.stderr else ""
    assert result == n and info.completed_at is not None
    lines = _log(log_path)
    runs = [sum(1 for s, _, _ in lines if s == i) for i in range(1, n + 1)]
    after = [t for s, pid, t in lines if pid == second.pid]
    marks: dict[str, float] = {}
    if trace and os.path.exists(trace):
        with open(trace) as f:
            marks.update(json.load(f))
        os.remove(trace)
    if registered:
        marks["worker_registered"] = registered[0].timestamp()
    for s, pid, t in lines:
        if pid == second.pid:
            marks[f"step_{s}_started"] = t
    for e in journal:
        if e.completed_at is not None and e.completed_at.timestamp() >= restart_epoch:
            marks[f"step_{e.seq}_committed"] = e.completed_at.timestamp()
    marks["completed"] = info.completed_at.timestamp()
    breakdown = {k: round(v - restart_epoch, 4) for k, v in sorted(marks.items(), key=_by_time)}
    breakdown["observed"] = round(observed, 4)
    floor: dict[str, Any] = {}
    if os.environ.get("PLAIT_BENCH_FLOOR", "1") != "0":
        floor = floor_once(folder, f"floor-{os.getpid()}")
    return {
        "steps": n,
        "killed_after_step": KILL_AFTER,
        "executions_per_step": runs,
        "reexecuted_steps": [i for i, c in enumerate(runs, 1) if c > 1],
        "completed_before_kill": recorded,
        "completed_steps_reexecuted": [i for i in recorded if runs[i - 1] > 1],
        "completed_steps_reexecuted_count": sum(1 for i in recorded if runs[i - 1] > 1),
        "steps_reexecuted": sum(c - 1 for c in runs),
        "restart_to_first_step_s": (min(after) - restart_epoch) if after else None,
        "restart_to_completed_s": info.completed_at.timestamp() - restart_epoch,
        "restart_to_observed_s": observed,
        "restarted_worker_cpu_s": worker_cpu,
        # the restarted worker found the killed one's process gone and took its lease at once
        "dead_worker_reaped": "of dead worker(s)" in err,
        "worker_bytecode_cache": bytecode_cache(),
        "restart_breakdown_s": breakdown,
        **(
            {
                "floor_restart_to_completed_s": floor["restart_to_completed_s"],
                "floor_restart_to_first_step_s": floor["restart_to_first_step_s"],
                "floor_marks_s": floor["marks_s"],
            }
            if floor
            else {}
        ),
    }


def _by_time(item: tuple[str, float]) -> float:
    return item[1]


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds a running process has used (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
