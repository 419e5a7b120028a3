"""One run of one scenario, in its own process: ``python -m bench.child NAME --database URL``.

``bench.run`` starts this for every run with a fresh database and reads the last line of
its output, ``@@RESULT@@ {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback

PREFIX = "@@RESULT@@ "


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.child")
    ap.add_argument("scenario")
    ap.add_argument("--database", required=True, help="the URL of a fresh database")
    ap.add_argument("--n", type=int, default=0, help="the scenario's size (default: its own)")
    a = ap.parse_args()

    t0 = time.perf_counter()
    from bench.recovery import recovery
    from bench.scale_workers import scale_workers
    from bench.scenarios import SCENARIOS
    from bench.watch_latency import watch_latency
    from bench.worker_rss import worker_rss

    imported = time.perf_counter() - t0
    scenarios = {
        **SCENARIOS,
        "recovery": recovery,
        "worker_rss": worker_rss,
        "scale_workers": scale_workers,
        "watch_latency": watch_latency,
    }
    fn = scenarios[a.scenario]
    try:
        result = asyncio.run(fn(a.database, a.n) if a.n else fn(a.database))
        result["import_s"] = imported
    except BaseException as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    sys.stdout.write(PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
