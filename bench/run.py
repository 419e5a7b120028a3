"""The benchmark runner: every run of every scenario in a fresh process on a fresh database.

    python -m bench.run [--scenarios a,b] [--backend sqlite] [--runs 3] [--out file.json]
                        [--limit-probe PATH] [--peers DIR [--peers-runner runner.py]]

Prints one JSON document: the machine, then for each scenario the median, min and max over
the runs of every figure (and the raw runs); with ``--limit-probe`` the physical limit
measured in the same session (before and after plait's runs), with ``--peers`` the DBOS and
LangGraph figures of ``run_all.sh timing`` and the ratios SCENARIOS.md sets targets for.
With ``--peers-runner`` the peers are run here, beside plait: before each of plait's runs,
the same scenario's peer runs on the same backend (``runner.py timing --runs 1 --only
/BACKEND/SCENARIO/``, results into ``--peers``), so a machine whose speed drifts over
minutes slows both alike. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.backends import Backend, backend_for
from bench.child import PREFIX
from bench.compare import compare, peer_figures, peers_backend
from bench.measure import filesystem, machine, machine_busy, summary

ROOT = Path(__file__).resolve().parent.parent
ALL = ("seq_steps", "fanout", "latency", "waiters", "worker_rss", "recovery", "scale_workers")
EXTRA = ("watch_latency",)  # run only when named in --scenarios
POSTGRES_ONLY = ("scale_workers",)
# scenario: its sizes option
SIZED = {"waiters": "waiters", "worker_rss": "worker_sizes", "scale_workers": "workers"}
# plait's scenario: the peers' name for it (run beside plait with --peers-runner). The
# waiters targets are absolute (no peer ratio), so the peers' minutes-long waiters are not.
PEER_SCENARIOS = {
    "seq_steps": "seq_steps",
    "fanout": "fanout",
    "latency": "latency",
    "recovery": "crash_recovery",
}
PEERS_PG_PORT = 55432  # the peers' own cluster (their run_all.sh starts it)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class Quiet:
    """Before a run, waits (up to 2 min) until other processes use less than ``threshold`` of
    the CPUs and of the database's disk, so a run does not share the machine."""

    def __init__(self, threshold: float, device: str | None) -> None:
        self.threshold = threshold
        self.device = device  # e.g. "vda", or None to watch the CPUs only

    def wait(self, patience: float = 120) -> float | None:
        """The busy share last seen (None when not waiting: threshold >= 1)."""
        if self.threshold >= 1:
            return None
        end = time.monotonic() + patience
        busy = machine_busy(1.0, self.device)
        while busy > self.threshold and time.monotonic() < end:
            busy = machine_busy(1.0, self.device)
        return busy


def run_once(
    backend: Backend, scenario: str, n: int, run: int, timeout: float, quiet: Quiet
) -> dict[str, Any]:
    label = f"{scenario}-{n}-{run}" if n else f"{scenario}-{run}"
    busy = quiet.wait()
    url = backend.fresh(f"{label}-{os.getpid()}")  # two runners at once never share a database
    cmd = [sys.executable, "-m", "bench.child", scenario, "--database", url]
    if n:
        cmd += ["--n", str(n)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        err = f"timed out after {timeout} s"
    finally:
        backend.discard(url)
    result: dict[str, Any] = {"error": f"no result: {err[-1500:]}"}
    for line in out.splitlines():
        if line.startswith(PREFIX):
            result = json.loads(line[len(PREFIX) :])
    if "error" in result and err:
        result["stderr"] = err[-3000:]
    result["run"] = run
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    result["machine_busy_before"] = None if busy is None else round(busy, 3)
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    status = "ok" if "error" not in result else "ERROR " + str(result["error"])[:300]
    seen = "" if busy is None else f" (machine {busy:.0%} busy before)"
    log(f"{label:<22} {result['wall_s']:7.1f}s {status}{seen}")
    return result


def _peers_cluster_up(port: int) -> None:
    """Says how to start the peers' PostgreSQL cluster when nothing listens on ``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        raise SystemExit(
            f"the peers' PostgreSQL cluster is not running on 127.0.0.1:{port}; start it as"
            " their run_all.sh does (pg_ctl -D /tmp/pg-peers -o '-p 55432' ... start)"
        ) from None


class PeerRunner:
    """The peers' ``runner.py``, one scenario's peer runs at a time, in their virtualenv."""

    def __init__(self, runner: str, python: str, results: str, backend: str) -> None:
        if not os.path.isfile(runner):
            raise SystemExit(f"--peers-runner {runner}: no such file (the peers' runner.py)")
        if not os.access(python, os.X_OK):
            raise SystemExit(
                f"--peers-python {python}: not an executable Python; make the peers'"
                " virtualenv first (bench/README.md, Running the benchmarks)"
            )
        earlier = os.path.join(results, "timing.jsonl")
        if os.path.exists(earlier) and os.path.getsize(earlier):
            raise SystemExit(
                f"--peers {results} already holds peer results ({earlier}); the ratios would"
                " mix two sittings: give a new folder, or move that one away"
            )
        self.runner, self.python, self.results = runner, python, results
        self.backend = peers_backend(backend)
        if self.backend == "pg":
            _peers_cluster_up(PEERS_PG_PORT)
        os.makedirs(results, exist_ok=True)

    def run(self, scenario: str, timeout: float) -> None:
        peer = PEER_SCENARIOS.get(scenario)
        if peer is None:
            return
        only = f"/{self.backend}/{peer}/"
        cmd = [self.python, self.runner, "timing", "--runs", "1", "--only", only]
        env = dict(os.environ, PEERS_RESULTS=self.results)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            if proc.returncode:
                status += ": " + proc.stderr[-300:]
        except subprocess.TimeoutExpired:
            status = f"timed out after {timeout} s"
        log(f"peers {only:<22} {time.perf_counter() - t0:6.1f}s {status}")


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    """A run's figures, with those grouped in a dict of numbers (the recovery's breakdown
    and floor marks) as ``group.name``."""
    flat: dict[str, Any] = {}
    for k, v in result.items():
        if isinstance(v, dict) and v and all(isinstance(x, int | float) for x in v.values()):
            flat.update({f"{k}.{name}": x for name, x in v.items()})
        else:
            flat[k] = v
    return flat


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [_numbers(r) for r in runs if "error" not in r]
    keys = [k for k, v in (good[0].items() if good else ()) if isinstance(v, int | float)]
    figures = {
        k: summary([float(r[k]) for r in good])
        for k in keys
        if k not in ("run", "machine_busy_before")
        and all(isinstance(r.get(k), int | float) for r in good)
    }
    return {
        "runs_ok": len(good),
        "runs": len(runs),
        "figures": figures,
        "raw": runs,
    }


def limit_probe(path: str, folder: str, quiet: Quiet) -> dict[str, Any]:
    os.makedirs(folder, exist_ok=True)
    busy = quiet.wait()
    log(f"limit probe {path} in {folder}")
    proc = subprocess.run(
        [sys.executable, path, folder], capture_output=True, text=True, timeout=600, check=False
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": (proc.stdout + proc.stderr)[-1500:]}
    result["time_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["machine_busy_before"] = None if busy is None else round(busy, 3)
    log(f"limit probe: {result}")
    return result


def dumps(value: Any, indent: str = "") -> str:
    """JSON with one line per figure: a dict or list of plain values stays on one line."""
    flat = json.dumps(value)
    if (
        not isinstance(value, dict | list)
        or len(flat) <= 100
        and not any(
            isinstance(v, dict) for v in (value.values() if isinstance(value, dict) else value)
        )
    ):
        return flat
    inner = indent + "  "
    if isinstance(value, list):
        items = [inner + dumps(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default=",".join(ALL), help=f"comma-separated: {','.join(ALL)}")
    ap.add_argument("--backend", default="sqlite", help="sqlite (default) or postgresql")
    ap.add_argument("--database", help="PostgreSQL server URL (one database per run is made)")
    ap.add_argument(
        "--dir",
        default=str(ROOT / "bench" / "results" / "db"),
        help="folder for SQLite files (a disk, not tmpfs)",
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per scenario (>= 3 for medians)")
    ap.add_argument("--waiters", default="1000,10000", help="waiting workflows per waiters run")
    ap.add_argument(
        "--worker-sizes", default="1000,10000,20000", help="waiting workflows per worker_rss run"
    )
    ap.add_argument(
        "--workers", default="1,2,4", help="worker processes per scale_workers run (PostgreSQL)"
    )
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per run")
    ap.add_argument(
        "--quiet",
        type=float,
        default=0.15,
        help="before each run, wait (up to 2 min) until the machine is less busy than this "
        "share of its CPUs (1 = do not wait)",
    )
    ap.add_argument("--out", help="also write the JSON document to this file")
    ap.add_argument("--limit-probe", help="path of limit_probe.py: run it before and after")
    ap.add_argument(
        "--peers", help="results folder of the peers' run_all.sh (or its timing.jsonl file)"
    )
    ap.add_argument(
        "--peers-runner",
        help="the peers' runner.py: run each scenario's peers beside plait, into --peers",
    )
    ap.add_argument(
        "--peers-python",
        default=os.path.join(os.environ.get("PEERS_VENV", "/tmp/peers-venv"), "bin", "python"),
        help="the Python of the peers' virtualenv (default: $PEERS_VENV or /tmp/peers-venv)",
    )
    a = ap.parse_args()
    if a.peers_runner and not a.peers:
        raise SystemExit("--peers-runner needs --peers: the folder the peers' results go to")

    scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    if a.backend == "sqlite":  # the default list runs what the backend can run
        scenarios = [s for s in scenarios if s not in POSTGRES_ONLY]
    unknown = [s for s in scenarios if s not in ALL + EXTRA]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(ALL)}")
    backend = backend_for(a.backend, a.database, a.dir)
    device = None
    if a.backend == "sqlite":
        fs = filesystem(a.dir)
        if fs["device"].startswith("/dev/"):
            device = os.path.basename(fs["device"])
        if fs["type"] in ("tmpfs", "ramfs"):
            log(f"warning: {a.dir} is on {fs['type']}: fsync is free there, figures are not disk")
    quiet = Quiet(a.quiet, device)
    peers = (
        PeerRunner(a.peers_runner, a.peers_python, a.peers, a.backend) if a.peers_runner else None
    )
    doc: dict[str, Any] = {
        "machine": machine(a.dir if a.backend == "sqlite" else None),
        **backend.describe(),
        "runs_per_scenario": a.runs,
        "scenarios": {},
    }
    probe_dir = os.path.join(a.dir, "limit-probe")
    limits: list[dict[str, Any]] = []
    if a.limit_probe:
        limits.append(limit_probe(a.limit_probe, probe_dir, quiet))
    for scenario in scenarios:
        option = SIZED.get(scenario)
        sizes = [int(x) for x in getattr(a, option).split(",")] if option else [0]
        for n in sizes:
            key = f"{scenario}_{n}" if n else scenario
            runs = []
            for r in range(1, a.runs + 1):
                if peers is not None:
                    peers.run(scenario, a.timeout)
                runs.append(run_once(backend, scenario, n, r, a.timeout, quiet))
            doc["scenarios"][key] = summarize(runs)
    if a.limit_probe:
        limits.append(limit_probe(a.limit_probe, probe_dir, quiet))
        doc["limit_probe"] = limits
    if a.peers:
        doc["peers"] = peer_figures(a.peers, a.backend)
    if a.limit_probe or a.peers:
        doc["ratios"] = compare(doc)
    text = dumps(doc)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
