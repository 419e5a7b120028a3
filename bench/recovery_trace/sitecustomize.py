"""Start-up marks of a traced process (``bench/recovery.py`` with ``PLAIT_BENCH_TRACE=1``).

Put on ``PYTHONPATH`` of the restarted worker only, Python imports this at the end of its
start-up (``site``). It records the wall time then (the interpreter is up), when a few
modules begin to import (a finder first on ``sys.meta_path`` that only looks at the name and
finds nothing) and the first SQLite connection (an audit hook); no code of plait is changed.
It writes them as JSON to ``$PLAIT_BENCH_TRACE_OUT`` when the process exits. Costs one
Python call per module imported and per audit event: well under 1 ms in a start-up.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time

_MARKS: dict[str, float] = {"interpreter_up": time.time()}
_WATCH = {
    "plait": "import_plait",
    "plait.cli.worker_cmd": "import_worker_cmd",
    "bench.app": "import_app",
    "psycopg": "import_psycopg",
}


class _Marks:
    """Notes when a watched module starts to import; finds nothing itself."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        mark = _WATCH.get(name)
        if mark is not None and mark not in _MARKS:
            _MARKS[mark] = time.time()


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "sqlite3.connect" and "sqlite_connect" not in _MARKS:
        _MARKS["sqlite_connect"] = time.time()


def _write() -> None:
    out = os.environ.get("PLAIT_BENCH_TRACE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(_MARKS, f)


sys.meta_path.insert(0, _Marks)  # type: ignore[arg-type]
sys.addaudithook(_hook)
atexit.register(_write)
