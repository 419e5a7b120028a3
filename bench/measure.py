"""Measuring helpers: process memory and threads, CPU time, statistics, machine facts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """RSS, peak RSS (MB) and thread count of a process, from ``/proc/<pid>/status``."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_mb"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "VmHWM":
                out["peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                out["threads"] = int(value)
    return out


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (ns resolution, not clock ticks)."""
    return time.process_time()


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each Python thread of this process, by thread name (the
    event loop is ``MainThread``; the store's group-commit thread is ``plait-sqlite``).
    Read from each thread's CPU clock (ns resolution; /proc counts 10 ms ticks)."""
    import threading

    out: dict[str, float] = {}
    for t in threading.enumerate():
        if t.ident is None:
            continue
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, ProcessLookupError):
            continue
        name = t.name.split(" ")[0]
        out[name] = out.get(name, 0.0) + seconds
    return out


def thread_cpu_since(before: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 6) for k, v in thread_cpu().items()}


def live_rss_mb() -> float:
    """RSS after a garbage collection and returning freed heap to the OS (``malloc_trim``):
    the memory still in use, without the high-water mark of an earlier burst."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return proc_status()["rss_mb"]


def machine_busy(seconds: float = 1.0, device: str | None = None) -> float:
    """How busy the machine is (0..1) over ``seconds``: the CPUs' busy share from
    ``/proc/stat``, or the disk ``device``'s (e.g. ``vda``) if that is higher."""

    def sample() -> tuple[int, int, int]:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        idle = values[3] + values[4]
        io_ms = 0
        if device:
            with open("/proc/diskstats") as f:
                for line in f:
                    fields = line.split()
                    if fields[2] == device:
                        io_ms = int(fields[12])
        return sum(values) - idle, sum(values), io_ms

    busy0, total0, io0 = sample()
    t0 = time.perf_counter()
    time.sleep(seconds)
    busy1, total1, io1 = sample()
    cpu = (busy1 - busy0) / max(1, total1 - total0)
    disk = (io1 - io0) / 1000 / (time.perf_counter() - t0)
    return max(cpu, disk)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100), the same definition as the peers' benchmark."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100.0 * len(s) + 0.5) - 1))
    return s[k]


def summary(values: list[float]) -> dict[str, Any]:
    """Median, min and max of one figure over runs, with the runs in order."""
    return {
        "median": _round(statistics.median(values)),
        "min": _round(min(values)),
        "max": _round(max(values)),
        "runs": [_round(v) for v in values],
    }


def _round(value: float) -> float:
    if value == 0 or abs(value) >= 100:
        return round(value, 1)
    return float(f"{value:.4g}")


async def wait_until(check: Any, timeout: float, interval: float = 0.01) -> float:
    """Polls the coroutine function ``check`` until it returns true; returns the
    ``perf_counter`` time at which it did. Raises ``TimeoutError`` after ``timeout`` s."""
    import asyncio

    end = time.perf_counter() + timeout
    while True:
        if await check():
            return time.perf_counter()
        if time.perf_counter() > end:
            raise TimeoutError(f"condition not reached within {timeout} s")
        await asyncio.sleep(interval)


def machine(db_dir: str | None) -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "plait_commit": _git("rev-parse", "HEAD"),
        "plait_dirty": bool(_git("status", "--porcelain", "--", "plait")),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if db_dir:
        info["database_dir"] = db_dir
        info["database_fs"] = filesystem(db_dir)
    return info


def filesystem(path: str) -> dict[str, Any]:
    """The device, type and size of the filesystem holding ``path`` (tmpfs is not a disk)."""
    target = Path(path).resolve()
    best: tuple[str, str, str] = ("?", "?", "/")
    with open("/proc/mounts") as f:
        for line in f:
            dev, mount, fstype = line.split()[:3]
            if target.is_relative_to(mount) and len(mount) >= len(best[2]):
                best = (dev, fstype, mount)
    usage = shutil.disk_usage(target)
    return {
        "device": best[0],
        "type": best[1],
        "mount": best[2],
        "size_gib": round(usage.total / 2**30),
    }


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def emit(doc: dict[str, Any], out: str | None, indent: int = 2) -> None:
    """Prints a result document as JSON and, with ``out``, writes it there too."""
    text = json.dumps(doc, indent=indent)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
