"""SQL statements, store calls and loop callbacks per workflow on SQLite (issue 12).

``python -m bench.sqlite_statements [--scenarios fanout,seq_steps] [--top 20] [--out F]``
runs each scenario once, in this process, on a fresh SQLite file, and counts in the measured
window (after a warm-up of 10 workflows):

- **statements**: every statement the store's connection runs (``sqlite3``'s
  ``set_trace_callback``, one call per statement executed, ``BEGIN``/``COMMIT`` included),
  in total, by kind (``BEGIN``, ``COMMIT``, ``SELECT``, ...), and by shape (the SQL with its
  literals and ``IN (...)`` lists folded, cut to 90 characters), most frequent first;
- **transactions**: ``COMMIT``s;
- **store calls**: the store's hot-path coroutines (``create_workflow``, ``get``, ``claim``,
  ``record``, ``finish``, ...), as ``bench.pg_roundtrips`` counts them (``get`` includes
  ``result()``'s polls, which grow with wall time);
- **loop callbacks**: ``asyncio`` handles run by the event loop (``Handle._run``), a proxy
  for the loop's work per workflow (each is a ``Context.run`` of a task step or a callback).

Figures are per workflow for ``fanout`` (1,000 × 5 steps started at once) and per step for
``seq_steps`` (one workflow of 1,000 steps). The counts are deterministic but for the idle
worker's polls and ``result()``'s polls. The output is one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import tempfile
import time
from collections import Counter
from typing import Any

from bench.pg_roundtrips import _count_calls

_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+\b|X'[0-9A-Fa-f]*'")
_LIST = re.compile(r"\((?:\s*\?\s*,?)+\)")
_SPACE = re.compile(r"\s+")


def shape(sql: str) -> str:
    """``sql`` with its literals folded to ``?`` and ``(?, ?, ...)`` lists to ``(…)``."""
    text = _SPACE.sub(" ", _LITERAL.sub("?", sql)).strip()
    return _LIST.sub("(…)", text)[:90]


class _Counter:
    """Counts statements on every connection the SQLite store opens, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.shapes: Counter[str] = Counter()

    def install(self) -> None:
        from plait.store import sqlite

        connect = sqlite._SQLiteBackend.connect
        counter = self

        def traced(self: Any) -> sqlite3.Connection:
            conn = connect(self)

            def trace(sql: str) -> None:
                if counter.on:
                    counter.shapes[shape(sql)] += 1

            conn.set_trace_callback(trace)
            return conn

        sqlite._SQLiteBackend.connect = traced  # type: ignore[method-assign]


def _count_callbacks() -> Counter[str]:
    """Counts the handles the event loop runs (asyncio's pure-Python ``Handle._run``)."""
    counts: Counter[str] = Counter()
    run = asyncio.events.Handle._run

    def counted(self: asyncio.events.Handle) -> None:
        counts["callbacks"] += 1
        run(self)

    asyncio.events.Handle._run = counted  # type: ignore[method-assign]
    return counts


async def _scenario(
    name: str, url: str, counter: _Counter, callbacks: Counter[str]
) -> dict[str, Any]:
    from bench.app import make_engine, steps
    from bench.scenarios import CONCURRENCY

    n, k = (1000, 5) if name == "fanout" else (1, 1000)
    engine_ = make_engine(url)
    calls = _count_calls(engine_.store)
    async with engine_ as engine, engine.worker(concurrency=CONCURRENCY):
        warm = await asyncio.gather(*(engine.start(steps, 5) for _ in range(10)))
        await asyncio.gather(*(h.result() for h in warm))
        await asyncio.sleep(0.2)
        calls.clear()
        callbacks.clear()
        counter.shapes.clear()
        counter.on = True
        t0 = time.perf_counter()
        handles = await asyncio.gather(*(engine.start(steps, k) for _ in range(n)))
        results = await asyncio.gather(*(h.result() for h in handles))
        elapsed = time.perf_counter() - t0
        counter.on = False
        assert results == [k] * n
    units = n if name == "fanout" else k
    kinds: Counter[str] = Counter()
    for text, c in counter.shapes.items():
        kinds[text.split(" ", 1)[0].upper()] += c
    total = sum(counter.shapes.values())
    return {
        "per": "workflow (5 steps)" if name == "fanout" else "step",
        "units": units,
        "wall_s": round(elapsed, 3),
        "statements": round(total / units, 3),
        "transactions": round(kinds["COMMIT"] / units, 3),
        "by_kind": {key: round(v / units, 3) for key, v in kinds.most_common()},
        "store_calls": {key: round(v / units, 3) for key, v in sorted(calls.items())},
        "loop_callbacks": round(callbacks["callbacks"] / units, 2),
        "by_shape": [[round(v / units, 3), text] for text, v in counter.shapes.most_common()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.sqlite_statements")
    ap.add_argument("--scenarios", default="fanout,seq_steps")
    ap.add_argument("--top", type=int, default=20, help="shapes shown per scenario")
    ap.add_argument("--out", help="also write the document (every shape) to this file")
    a = ap.parse_args()
    counter = _Counter()
    counter.install()
    callbacks = _count_callbacks()
    doc: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="plait-stmts-") as folder:
        for name in a.scenarios.split(","):
            url = "sqlite:///" + os.path.join(folder, f"{name}.db")
            doc[name] = asyncio.run(_scenario(name, url, counter, callbacks))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    for name in a.scenarios.split(","):
        doc[name]["by_shape"] = doc[name]["by_shape"][: a.top]
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
