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
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.app import DATABASE_ENV, crashy, make_engine
from bench.backends import backend_of_url

ROOT = Path(__file__).resolve().parent.parent
STEPS = 10
KILL_AFTER = 5


def spawn_worker(url: str, concurrency: int = 10) -> subprocess.Popen[bytes]:
    """``plait worker bench.app:engine`` on ``url``, as a separate process."""
    env = dict(os.environ, **{DATABASE_ENV: url})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
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

        restart_epoch, restart = time.time(), time.perf_counter()
        second = spawn_worker(url)
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
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=15)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
    assert result == n and info.completed_at is not None
    lines = _log(log_path)
    runs = [sum(1 for s, _, _ in lines if s == i) for i in range(1, n + 1)]
    after = [t for s, pid, t in lines if pid == second.pid]
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
    }


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds a running process has used (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
