"""CPU per workflow of two (or more) checkouts of ``plait/``, side by side, interleaved.

``python -m bench.cpu_ab before=/tmp/a after=. --scenarios fanout,seq_steps --rounds 5``
runs each scenario once per checkout per round (A, B, A, B, ...), every run a fresh
process (``bench.child``) on a fresh SQLite file in ``--dir`` (or, with ``--backend
postgresql --database URL``, a fresh database on that server), with ``PYTHONPATH`` set to the
checkout first, so its ``plait`` is the one imported (``bench`` comes from this one). A
checkout is any folder holding a ``plait/`` package, e.g. ``git archive <commit> plait |
tar -x -C /tmp/a``. It prints, per checkout and scenario, the median [min..max] over the
rounds of the CPU figures: all threads and the event loop's, in µs per workflow (fanout)
or per step (seq_steps); the store thread's is the difference. CPU time, not wall time, is
the figure to read on a shared machine: waiting for a core does not count in it (but a
loaded machine inflates it too, through caches; hence the interleaving, and the ratio of
each checkout to the first, paired by round).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from bench.backends import backend_for
from bench.child import PREFIX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FIGURES = {
    "fanout": ("cpu_us_per_workflow", "loop_cpu_us_per_workflow", "wf_per_s"),
    "seq_steps": ("cpu_us_per_step", "loop_cpu_us_per_step", "us_per_step"),
}


def run(checkout: str, scenario: str, url: str, timeout: float) -> dict[str, Any]:
    folder = os.path.abspath(checkout)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([folder, ROOT]))
    proc = subprocess.run(  # in the checkout's folder: ``-m`` puts the cwd first on sys.path
        [sys.executable, "-m", "bench.child", scenario, "--database", url],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(PREFIX):
            result: dict[str, Any] = json.loads(line[len(PREFIX) :])
            return result
    return {"error": proc.stderr[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu_ab")
    ap.add_argument("checkouts", nargs="+", help="NAME=FOLDER (a folder holding plait/)")
    ap.add_argument("--scenarios", default="fanout,seq_steps")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default="bench/results/db")
    ap.add_argument("--backend", default="sqlite", help="sqlite, or postgresql with --database")
    ap.add_argument("--database", help="PostgreSQL server URL (a fresh database per run)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", help="also write every run as JSON")
    a = ap.parse_args()
    checkouts = dict(c.split("=", 1) for c in a.checkouts)
    backend = backend_for(a.backend, a.database, a.dir)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in range(a.rounds):
        for scenario in a.scenarios.split(","):
            for name, folder in checkouts.items():
                url = backend.fresh(f"ab-{scenario}-{name}")
                try:
                    result = run(folder, scenario, url, a.timeout)
                finally:
                    backend.discard(url)
                runs.setdefault(scenario, {}).setdefault(name, []).append(result)
                shown = {k: round(result[k], 1) for k in FIGURES[scenario] if k in result}
                print(f"round {r + 1} {scenario:<9} {name:<12} {shown or result}", flush=True)
    print()
    for scenario, by_name in runs.items():
        for key in FIGURES[scenario]:
            cells = []
            for name, results in by_name.items():
                values = [x[key] for x in results if key in x]
                if values:
                    cells.append(
                        f"{name} {statistics.median(values):.1f} "
                        f"[{min(values):.1f}..{max(values):.1f}]"
                    )
            print(f"{scenario:<9} {key:<26} " + "  |  ".join(cells))
        # Paired by round (runs of one round are minutes apart at most): the median ratio
        # to the first checkout is steadier than the medians when the machine's load drifts.
        names = list(by_name)
        for key in FIGURES[scenario][:2]:
            base = by_name[names[0]]
            cells = []
            for name in names[1:]:
                ratios = [
                    x[key] / b[key]
                    for b, x in zip(base, by_name[name], strict=False)
                    if key in x and key in b and b[key]
                ]
                if ratios:
                    cells.append(f"{name}/{names[0]} {statistics.median(ratios):.3f}")
            if cells:
                print(f"{scenario:<9} {key:<26} paired: " + "  |  ".join(cells))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
