"""Start-up: how long ``import plait`` takes, and a ``plait worker`` from spawn to its first step.

    python -m bench.startup [--rounds 10] [--root DIR --root DIR2] [--out file.json]

Each ``--root`` is a plait checkout (default: this one); with several, the rounds interleave
them (A, B, A, B, ...), so a machine shared with other work loads each the same way. Every
figure is a fresh process:

- ``import_plait``: ``python -c "import plait"``, the time of the import measured inside the
  process (``perf_counter`` around it) and the process's CPU time (user + system) at its end;
- ``worker_first_step``: a SQLite database holding one pending workflow; ``python -m plait.cli
  worker startup_app:engine`` is spawned and the workflow's only step writes the wall time and
  the worker's CPU time when it runs: seconds from spawn to that step, and CPU seconds the
  worker used to get there (interpreter start, imports, opening the store, the claim);
- ``importtime_top``: the largest entries of ``python -X importtime -c "import plait.cli"``
  (cumulative ms; one run per root, indicative only: importtime adds its own overhead).

Installed packages have their bytecode compiled; a checkout run with
``PYTHONDONTWRITEBYTECODE=1`` recompiles plait's modules in every process (~60 ms more). So the
children run with ``PYTHONPYCACHEPREFIX`` (a cache under ``--cache``) and one warm-up round, as
an installed plait would; ``--no-bytecode-cache`` measures without. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import emit

ROOT = Path(__file__).resolve().parent.parent

APP = """
import os, resource, time
import plait

@plait.step
async def first() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["STARTUP_MARK"] + ".tmp", "w") as f:
        f.write(f"{time.time()} {r.ru_utime + r.ru_stime}")
    os.replace(os.environ["STARTUP_MARK"] + ".tmp", os.environ["STARTUP_MARK"])
    return 1

@plait.workflow
async def hello(ctx: plait.Context) -> int:
    return await first()

engine = plait.Engine(os.environ["STARTUP_DB"], workflows=[hello])
"""

IMPORT = (
    "import resource, time, json; t = time.perf_counter(); import plait;"
    " d = time.perf_counter() - t; r = resource.getrusage(resource.RUSAGE_SELF);"
    " print(json.dumps({'import_s': d, 'cpu_s': r.ru_utime + r.ru_stime,"
    " 'file': plait.__file__, 'modules': len(__import__('sys').modules)}))"
)


def child_env(root: Path, app_dir: str, cache: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), app_dir])
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def import_once(env: dict[str, str], root: Path, app_dir: str) -> dict[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", IMPORT],
        cwd=app_dir,  # not a checkout: ``-c`` puts the working folder first on sys.path
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    where = Path(figures.pop("file")).resolve()
    if not where.is_relative_to(root):
        raise RuntimeError(f"imported plait from {where}, not from {root}")
    figures["process_s"] = time.perf_counter() - t0
    return dict(figures)


async def _pending_workflow(url: str, app_dir: str) -> None:
    sys.path.insert(0, app_dir)
    try:
        import startup_app  # type: ignore[import-not-found]

        engine = startup_app.engine.__class__(url, workflows=[startup_app.hello])
        async with engine:
            await engine.start(startup_app.hello)
    finally:
        sys.path.remove(app_dir)


def worker_once(env: dict[str, str], app_dir: str, label: str) -> dict[str, float]:
    db = os.path.join(app_dir, f"{label}.db")
    mark = os.path.join(app_dir, f"{label}.mark")
    for path in (db, db + "-wal", db + "-shm", mark):
        if os.path.exists(path):
            os.remove(path)
    url = "sqlite:///" + db
    env = dict(env, STARTUP_DB=url, STARTUP_MARK=mark)
    os.environ["STARTUP_DB"] = url
    asyncio.run(_pending_workflow(url, app_dir))
    start = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "plait.cli", "worker", "startup_app:engine"],
        cwd=app_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(mark):
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the worker exited: {err[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("no first step within 60 s")
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    at, cpu = (float(x) for x in Path(mark).read_text().split())
    return {"spawn_to_first_step_s": at - start, "worker_cpu_s": cpu}


def importtime_top(env: dict[str, str], app_dir: str, n: int = 15) -> list[dict[str, Any]]:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import plait.cli"],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, total, name = line.split(":", 1)[1].split("|")
        rows.append(
            {"module": name.strip(), "cumulative_ms": int(total) / 1000, "self_ms": int(own) / 1000}
        )
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return rows[:n]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "n": len(values),
    }


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.startup")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--root", action="append", help="a plait checkout (repeat to compare)")
    ap.add_argument("--cache", default=None, help="bytecode cache folder (default: a temp one)")
    ap.add_argument("--no-bytecode-cache", action="store_true")
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args()
    roots = [Path(r).resolve() for r in (a.root or [str(ROOT)])]
    app_dir = tempfile.mkdtemp(prefix="plait-startup-")
    Path(app_dir, "startup_app.py").write_text(APP)
    cache = None if a.no_bytecode_cache else (a.cache or os.path.join(app_dir, "pycache"))
    envs = {str(r): child_env(r, app_dir, cache) for r in roots}
    raw: dict[str, dict[str, list[float]]] = {str(r): {} for r in roots}
    for r in roots:  # warm-up: compiles the bytecode cache, fills the page cache
        import_once(envs[str(r)], r, app_dir)
        worker_once(envs[str(r)], app_dir, "warm")
    for i in range(a.rounds):
        for r in roots:
            key = str(r)
            figures = {
                **import_once(envs[key], r, app_dir),
                **worker_once(envs[key], app_dir, f"r{i}"),
            }
            for name, value in figures.items():
                raw[key].setdefault(name, []).append(value)
            print(f"round {i + 1}/{a.rounds} {r.name}: {figures}", file=sys.stderr, flush=True)
    doc = {
        "bench": "startup",
        "python": sys.version.split()[0],
        "bytecode_cache": cache is not None,
        "rounds": a.rounds,
        "load_average": os.getloadavg(),
        "roots": [
            {
                "root": str(r),
                "commit": git_commit(r),
                "figures": {k: summary(v) for k, v in raw[str(r)].items()},
                "raw": raw[str(r)],
                "importtime_top": importtime_top(envs[str(r)], app_dir),
            }
            for r in roots
        ],
    }
    emit(doc, a.out)


if __name__ == "__main__":
    main()
