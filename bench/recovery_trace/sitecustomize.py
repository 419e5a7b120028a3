"""Start-up marks of a traced process (``bench/recovery.py`` with ``PLAIT_BENCH_TRACE=1``).

Put on ``PYTHONPATH`` of the restarted worker only, Python imports this at the end of its
start-up (``site``). It records the wall time then (the interpreter is up), when a few
modules begin to import (a finder first on ``sys.meta_path`` that only looks at the name and
finds nothing), the first SQLite connection (an audit hook) and, on PostgreSQL, when psycopg
finished importing, each connection's start and end (by thread) and the first run of each
distinct statement (psycopg's ``connect`` and ``execute`` wrapped once it is imported); no
code of plait is changed. It writes them as JSON to ``$PLAIT_BENCH_TRACE_OUT`` when the
process exits. Costs one Python call per module imported, per audit event and per statement:
well under 1 ms in a start-up.
"""

from __future__ import annotations

import atexit
import importlib.machinery
import json
import os
import sys
import threading
import time
from typing import Any

_MARKS: dict[str, float] = {"interpreter_up": time.time()}
_WATCH = {
    "plait": "import_plait",
    "plait.cli.worker_cmd": "import_worker_cmd",
    "bench.app": "import_app",
    "psycopg": "import_psycopg",
}


_SQL_MARKS = 24  # the first distinct statements (by their first words) get a mark


def _mark(name: str) -> None:
    if name not in _MARKS:
        _MARKS[name] = time.time()


def _where() -> str:
    return threading.current_thread().name


def _patch_psycopg(psycopg: Any) -> None:
    """Marks each connection opened (start and end, by thread) and the first run of each
    distinct statement, around psycopg's own methods; what they do is unchanged."""
    _mark("psycopg_imported")
    sync_connect = psycopg.Connection.connect.__func__
    async_connect = psycopg.AsyncConnection.connect.__func__
    sync_execute = psycopg.Connection.execute
    async_execute = psycopg.AsyncConnection.execute
    count = {"n": 0}

    def connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        label = f"pg_connect_{count['n']}[{_where()}]"
        _mark(label + "_start")
        try:
            return sync_connect(cls, *args, **kwargs)
        finally:
            _mark(label + "_done")

    async def aconnect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        label = f"pg_connect_{count['n']}[async]"
        _mark(label + "_start")
        try:
            return await async_connect(cls, *args, **kwargs)
        finally:
            _mark(label + "_done")

    def sql_mark(query: object) -> None:
        text = " ".join(str(getattr(query, "_obj", query)).split())[:48]
        if len([k for k in _MARKS if k.startswith("sql: ")]) < _SQL_MARKS:
            _mark(f"sql: {text}")

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sql_mark(query)
        return sync_execute(self, query, *args, **kwargs)

    async def aexecute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sql_mark(query)
        return await async_execute(self, query, *args, **kwargs)

    psycopg.Connection.connect = classmethod(connect)
    psycopg.AsyncConnection.connect = classmethod(aconnect)
    psycopg.connect = psycopg.Connection.connect  # the module's alias, bound at its import
    psycopg.Connection.execute = execute
    psycopg.AsyncConnection.execute = aexecute


class _Loader:
    """Runs the real loader of ``psycopg``, then patches it (see ``_patch_psycopg``)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        _patch_psycopg(module)


class _Marks:
    """Notes when a watched module starts to import; finds nothing itself, except for
    ``psycopg``: its real spec, with a loader that patches it once it is imported."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> Any:
        mark = _WATCH.get(name)
        if mark is not None and mark not in _MARKS:
            _MARKS[mark] = time.time()
        if name == "psycopg":
            spec = importlib.machinery.PathFinder.find_spec(name, path)  # type: ignore[arg-type]
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
            return spec
        if name in ("psycopg_pool", "psycopg_binary", "psycopg.types.json"):
            _mark(f"import_{name}")
        return None


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
