"""The floor of the recovery scenario: the least restart → result any Python asyncio engine
can reach on this machine, measured the way ``bench/recovery.py`` times plait.

    python -m bench.recovery_floor [--dir DIR] [--runs 10] [--out file.json]

A durable engine that resumes the scenario after the kill must at least start an
interpreter, import asyncio and sqlite3, open its SQLite file, read what was recorded, and
run the remaining steps: the interrupted step 5 again and steps 6-10, each exactly as the
scenario's step (append ``<i> <pid> <time>`` to a log file, fsync, sleep 0.2 s) followed by
one fsync'd commit of its result (WAL, ``synchronous=FULL``, as plait's SQLite store); the
last step's commit also records the workflow as completed. That is what the child below
does and nothing else: no engine, no framework, no ``site`` customisation beyond what the
interpreter itself does (the same interpreter and environment as plait's worker).

Timing as in ``bench/recovery.py``: the parent takes ``time.time()`` just before spawning
the child; ``restart_to_completed_s`` is the child's wall time right after the completing
commit minus that. The child also reports when its interpreter was up (after ``site``),
when the imports were done, when the database was open and read, and each step's start
and commit, all as seconds from the spawn.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import emit

STEPS = 10
FIRST = 5  # the interrupted step runs again
SLEEP_S = 0.2

# The restarted "engine": what a durable asyncio engine needs at the very least.
CHILD = """
import time
up = time.time()
import asyncio, os, sqlite3, sys
imported = time.time()
db, log_path = sys.argv[1], sys.argv[2]
first, last, sleep = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
marks = [("interpreter_up", up), ("imports_done", imported)]

async def main():
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous = FULL")
    done = {r[0] for r in conn.execute("SELECT seq FROM journal")}  # replay: what is recorded
    marks.append(("database_open", time.time()))
    for i in range(first, last + 1):
        if i in done:
            continue
        with open(log_path, "a") as f:
            f.write(f"{i} {os.getpid()} {time.time():.6f}\\n")
            f.flush()
            os.fsync(f.fileno())
        marks.append((f"step_{i}_started", time.time()))
        await asyncio.sleep(sleep)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO journal (seq, result) VALUES (?, ?)", (i, '{"i": %d}' % i))
        if i == last:
            conn.execute("UPDATE workflow SET status = 'completed'")
        conn.execute("COMMIT")
        marks.append((f"step_{i}_committed", time.time()))
    conn.close()

asyncio.run(main())
print(" ".join(f"{k}={v!r}" for k, v in marks))
"""


def prepare(folder: str, label: str) -> tuple[str, str]:
    """A SQLite file as the kill left it (steps 1-4 recorded, the workflow running) and an
    empty step log; their paths."""
    db = os.path.join(folder, f"floor-{label}.db")
    log_path = os.path.join(folder, f"floor-{label}.log")
    for path in (db, db + "-wal", db + "-shm", log_path):
        if os.path.exists(path):
            os.remove(path)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, result TEXT NOT NULL)")
    conn.execute("CREATE TABLE workflow (id TEXT PRIMARY KEY, status TEXT NOT NULL)")
    conn.execute("INSERT INTO workflow VALUES ('crash-1', 'running')")
    for i in range(1, FIRST):
        conn.execute("INSERT INTO journal VALUES (?, ?)", (i, f'{{"i": {i}}}'))
    conn.close()
    return db, log_path


def floor_once(folder: str, label: str = "floor") -> dict[str, Any]:
    """One restart of the minimal engine; seconds from the spawn to each of its marks."""
    db, log_path = prepare(folder, label)
    args = [db, log_path, str(FIRST), str(STEPS), str(SLEEP_S)]
    restart_epoch = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the floor child failed: {proc.stderr[-2000:]}")
    marks = {
        k: float(v) - restart_epoch for k, v in (item.split("=", 1) for item in proc.stdout.split())
    }
    conn = sqlite3.connect(db)
    status = conn.execute("SELECT status FROM workflow").fetchone()[0]
    recorded = [r[0] for r in conn.execute("SELECT seq FROM journal ORDER BY seq")]
    conn.close()
    assert status == "completed" and recorded == list(range(1, STEPS + 1)), (status, recorded)
    for path in (db, db + "-wal", db + "-shm", log_path):
        if os.path.exists(path):
            os.remove(path)
    last = f"step_{STEPS}_committed"
    return {
        "restart_to_completed_s": marks[last],
        "restart_to_first_step_s": marks[f"step_{FIRST}_started"],
        "sleeping_s": (STEPS - FIRST + 1) * SLEEP_S,
        "marks_s": {k: round(v, 4) for k, v in marks.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.recovery_floor")
    ap.add_argument("--dir", default=str(Path(__file__).resolve().parent / "results" / "db"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    runs = [floor_once(a.dir, f"floor-{i}") for i in range(a.runs)]
    figures = {
        key: {
            "median": round(statistics.median(r[key] for r in runs), 4),
            "min": round(min(r[key] for r in runs), 4),
            "max": round(max(r[key] for r in runs), 4),
            "n": len(runs),
        }
        for key in ("restart_to_completed_s", "restart_to_first_step_s")
    }
    doc = {
        "bench": "recovery_floor",
        "python": sys.version.split()[0],
        "dir": a.dir,
        "load_average": os.getloadavg(),
        "figures": figures,
        "raw": runs,
    }
    emit(doc, a.out)


if __name__ == "__main__":
    main()
