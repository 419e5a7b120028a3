"""Where the CPU of a scenario goes: cProfile of the event loop and of the store's thread.

``python -m bench.profile fanout --backend sqlite [--top 25] [--sort tottime]`` runs one
scenario (``fanout`` or ``seq_steps``, as ``bench.scenarios`` defines them) once, in this
process, on a fresh database, with one ``cProfile.Profile`` on the event loop's thread and
one on each store thread (the ``BatchExecutor`` threads: ``plait-sqlite``, ``plait-pg-N``),
and prints each thread's top entries by own time. The profilers time with each thread's CPU
clock (``--timer wall`` for the wall clock, where waiting in ``epoll`` or for an fsync
counts). cProfile slows Python code 2-3x, so read the shares, not the absolute times; the
scenario's own CPU figures (µs per workflow) are printed too, from the profiled run.
``--no-profile`` runs the scenario without profilers (its CPU figures only). ``--out FILE``
also writes the raw statistics (``pstats``-readable, one file per thread: ``FILE.loop``,
``FILE.store``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import tempfile
import threading
import time
from typing import Any

from bench.backends import backend_for


def _profiler(timer: str) -> cProfile.Profile:
    """A profiler timing with the thread's CPU clock (``cpu``: waits cost nothing, so
    ``epoll`` and the COMMIT's fsync drop out) or the wall clock (``wall``)."""
    if timer == "cpu":
        return cProfile.Profile(time.thread_time_ns, 1e-9)
    return cProfile.Profile()


def _profile_store_threads(profiles: dict[str, cProfile.Profile], timer: str) -> None:
    """Makes every BatchExecutor thread started from now on run under its own profiler."""
    from plait.store.executor import BatchExecutor

    original = BatchExecutor._main

    def main(self: Any) -> None:
        prof = _profiler(timer)
        profiles[threading.current_thread().name] = prof
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    BatchExecutor._main = main  # type: ignore[method-assign]


def _top(prof: cProfile.Profile, sort: str, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats(sort).print_stats(top)
    text = out.getvalue()
    # Drop pstats' header lines up to the table, keep the totals line.
    lines = text.splitlines()
    keep = [ln for ln in lines if "function calls" in ln]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(keep + lines[start:]).replace(os.getcwd() + "/", "")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile")
    ap.add_argument("scenario", choices=("fanout", "seq_steps"))
    ap.add_argument("--backend", default="sqlite")
    ap.add_argument("--database", help="PostgreSQL server URL (a fresh database is made)")
    ap.add_argument("--dir", default="bench/results/db", help="folder for the SQLite file")
    ap.add_argument("--n", type=int, default=0, help="workflows (fanout) or steps (seq_steps)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", help="pstats key: tottime, cumulative, ...")
    ap.add_argument("--timer", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--no-profile", action="store_true", help="the CPU figures only")
    ap.add_argument("--out", help="also write raw pstats files FILE.loop and FILE.store")
    a = ap.parse_args()

    from bench.scenarios import SCENARIOS

    backend = backend_for(a.backend, a.database, a.dir or tempfile.gettempdir())
    url = backend.fresh(f"profile-{a.scenario}")
    fn = SCENARIOS[a.scenario]
    store_profiles: dict[str, cProfile.Profile] = {}
    loop_prof = _profiler(a.timer)
    if not a.no_profile:
        _profile_store_threads(store_profiles, a.timer)
    try:
        coro = fn(url, a.n) if a.n else fn(url)
        if a.no_profile:
            result = asyncio.run(coro)
        else:
            loop_prof.enable()
            try:
                result = asyncio.run(coro)
            finally:
                loop_prof.disable()
    finally:
        backend.discard(url)
    figures = {
        k: round(v, 1) if isinstance(v, float) else v
        for k, v in result.items()
        if "cpu" in k or k in ("wf_per_s", "us_per_step", "N", "K")
    }
    print(json.dumps(figures))
    if a.no_profile:
        return
    print(f"\n== event loop (MainThread), top {a.top} by {a.sort} ==")
    print(_top(loop_prof, a.sort, a.top))
    for name, prof in store_profiles.items():
        print(f"\n== store thread {name}, top {a.top} by {a.sort} ==")
        print(_top(prof, a.sort, a.top))
    if a.out:
        loop_prof.dump_stats(a.out + ".loop")
        for i, prof in enumerate(store_profiles.values()):
            prof.dump_stats(a.out + (".store" if i == 0 else f".store{i}"))


if __name__ == "__main__":
    main()
