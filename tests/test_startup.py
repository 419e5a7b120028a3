"""Start-up stays lean: ``import plait`` and a ``plait worker`` process on SQLite running a
workflow of plain JSON values import none of what they do not use (the server and its web
stack, the REST client, the AI layer and its model runtime, the PostgreSQL driver, JSON
Schema validation, cron parsing, telemetry, encryption, pydantic (forms load it when a
workflow asks a human), e-mail and SMTP (alerts load them to send one), time-zone data
(schedules), importlib.resources and zipfile (the migrations are read with os), the replay
check, the other CLI commands). Deterministic: it checks ``sys.modules`` in fresh processes,
not times.

A failure here names the module that was imported; import it inside the function that
needs it (see plait/cli/__init__.py for commands, plait/human/approval.py for a lazy name).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.codec import Codec, _adapter
from plait.engine import new_workflow_id

ROOT = Path(__file__).resolve().parent.parent

NEVER = (
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "httpx",
    "onnxruntime",
    "tokenizers",
    "numpy",
    "jsonschema",
    "croniter",
    "cryptography",
    "opentelemetry",
    "prometheus_client",
    "argon2",
    "plait.server.app",
    "plait.ai",
    "pydantic",  # forms import it when used; Approval (a model) is loaded on first use
    "pydantic_core",  # the codec imports it for values richer than plain JSON
    "smtplib",  # alerts import it when they send an e-mail
    "email",
    "zoneinfo",  # schedules import it when they check or compute a time zone
    "importlib.resources",  # the migrations are read with os (importlib.readers: zipfile)
    "importlib.readers",
    "zipfile",
    "plait.replaycheck",  # plait.ReplayReport and friends are loaded on first use
)
NOT_ON_SQLITE = ("psycopg", "psycopg_pool", "plait.store.postgres")
# The standard library's share: urllib.parse (it imports ipaddress; alerts parse their URLs
# when configured) and pathlib (the SQLite path is checked with os.path), ~4 ms together;
# and, for ``import plait`` without the CLI (click imports uuid), uuid with platform, ~2 ms.
NOT_IN_A_WORKER_STDLIB = ("urllib.parse", "ipaddress", "pathlib")
NOT_AT_IMPORT_STDLIB = (*NOT_IN_A_WORKER_STDLIB, "uuid", "platform")
NOT_IN_A_WORKER = (
    "plait.cli.workflows",
    "plait.cli.tasks",
    "plait.cli.costs",
    "plait.cli.remote",
    "plait.cli.upgrades",
    "plait.server",
)


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def env() -> dict[str, str]:
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [full.get("PYTHONPATH")])])
    return full


def test_import_plait_loads_only_the_core() -> None:
    code = "import json, sys, plait; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, check=True
    ).stdout
    modules = json.loads(out)
    assert loaded(modules, NEVER + NOT_ON_SQLITE + NOT_IN_A_WORKER + ("plait.cli",)) == []
    assert loaded(modules, NOT_AT_IMPORT_STDLIB) == []


def test_public_names_still_resolve() -> None:
    for name in plait.__all__:
        assert getattr(plait, name) is not None, name
        assert name in dir(plait), name
    assert plait.Approval is plait.human.Approval is plait.human.forms.Approval
    assert plait.Approval(approved=True).approved
    from plait.replaycheck import ReplayOutcome, ReplayReport, ReplayResult

    assert (plait.ReplayOutcome, plait.ReplayReport, plait.ReplayResult) == (
        ReplayOutcome,
        ReplayReport,
        ReplayResult,
    )
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        plait.Nope  # noqa: B018


def test_star_import_gives_every_public_name() -> None:
    code = "from plait import *; import plait; print(all(n in globals() for n in plait.__all__))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "True"


@pytest.mark.backends("sqlite")
async def test_a_worker_on_sqlite_loads_only_what_it_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/startup.db"
    dump = tmp_path / "modules.json"
    from tests import startup_app

    async with plait.Engine(url, workflows=[startup_app.report]) as engine:
        handle = await engine.start(startup_app.report, "x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "plait.cli", "worker", "tests.startup_app:engine"],
        cwd=ROOT,
        env={**env(), "PLAIT_STARTUP_DB": url, "PLAIT_STARTUP_DUMP": str(dump)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with plait.Engine(url, workflows=[startup_app.report]) as engine:
            result = await engine.handle(handle.id).result(timeout=60)
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert result == {"x": len(json.loads(dump.read_text()))}, err.decode()[-2000:]
    modules = json.loads(dump.read_text())
    assert "plait.cli.worker_cmd" in modules and "plait.store.sqlite" in modules
    assert loaded(modules, NEVER + NOT_ON_SQLITE + NOT_IN_A_WORKER) == []
    assert loaded(modules, NOT_IN_A_WORKER_STDLIB) == []


def test_a_new_workflow_id_is_a_random_uuid4_as_before() -> None:
    ids = {new_workflow_id() for _ in range(200)}
    assert len(ids) == 200
    for wid in ids:
        parsed = uuid.UUID(wid)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122) and parsed.hex == wid


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (int, 7),
        (str, "héllo"),
        (bool, False),
        (float, 2.5),
        (dict[str, Any], {"a": [1, 2.5, None, {"b": "c"}], "d": True}),
        (list[Any], [1, "x", {"y": 2}]),
        (dict, {"k": 1}),
        (list, []),
    ],
)
def test_plain_json_decodes_as_the_type_adapter_does(annotation: Any, value: Any) -> None:
    codec = Codec()
    text = codec.dumps(value, what="test")
    got = codec.decode_plain(text, annotation, what="test")
    assert got == _adapter(annotation).validate_json(f"[{text}]")[0] == value
    assert type(got) is type(value)


def test_values_that_need_coercion_or_do_not_fit_still_go_through_pydantic() -> None:
    codec = Codec()
    as_float = codec.decode_plain("3", float, what="test")
    assert as_float == 3.0 and type(as_float) is float  # coerced, as before
    with pytest.raises(plait.SerializationError, match="no longer fits its type int"):
        codec.decode_plain('"seven"', int, what="test")
    with pytest.raises(plait.SerializationError, match="no longer fits its type str"):
        codec.decode_plain('"\\ud800"', str, what="test")  # a lone surrogate: refused
    assert codec.misfits('"x"', int) and not codec.misfits("1", int)
