"""schemathesis against the /openapi.json of a real ``plait server`` (a subprocess with an
in-process worker, on SQLite and PostgreSQL): every operation, with valid and invalid
inputs, answers no 500 and only what its schema declares (statuses, bodies, content
types). The server is seeded with workflows and human tasks, and path ids are drawn from
the seeded ones as well as generated, so the examples reach the found, conflict and
validation paths and not only 404.

The live change stream (an endless response) is tested in test_api_stream.py instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.server.running import RunningServer, running_server

EXAMPLES = 10  # per operation and generation mode: ~20 operations, ~30 s per backend


class Live:
    def __init__(self, server: RunningServer, tokens: dict[str, str]) -> None:
        self.server = server
        self.tokens = tokens
        self.workflow_ids: list[str] = []
        self.task_ids: list[str] = []
        self.schedule_ids: list[str] = []

    def auth(self, who: str = "root") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def seed(live: Live) -> None:
    url, headers = live.server.url, live.auth()
    for workflow, args in [
        ("review", ["engineer"]),
        ("review", ["designer"]),
        ("approve", ["bob"]),
        ("waiter", [1]),
        ("waiter", [2]),
        ("failing", []),
    ]:
        r = httpx.post(
            f"{url}/api/workflows", headers=headers, json={"workflow": workflow, "args": args}
        )
        assert r.status_code == 201, r.text
        live.workflow_ids.append(r.json()["id"])
    r = httpx.post(
        f"{url}/api/schedules",
        headers=headers,
        json={"id": "hourly", "workflow": "waiter", "args": [3], "every_seconds": 3600},
    )
    assert r.status_code == 201, r.text
    live.schedule_ids.append("hourly")
    deadline = time.monotonic() + 30
    while len(live.task_ids) < 3:
        assert time.monotonic() < deadline, live.server.log_text()
        r = httpx.get(f"{url}/api/tasks", headers=headers, params={"scope": "all"})
        live.task_ids = [t["id"] for t in r.json()["items"]]
        time.sleep(0.1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    users_template: tuple[Path, dict[str, str]],
) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        db_url, pg = f"sqlite:///{tmp / 'plait.db'}", None
    else:
        pg = request.getfixturevalue("postgres")
        db_url = pg.create()
    try:
        with running_server(tmp, users_template[0], db_url) as server:
            live = Live(server, users_template[1])
            seed(live)
            yield live
            assert server.stop() == 0, server.log_text()
            log = server.log_text()
            assert "Traceback" not in log, log
            for secret in live.tokens.values():
                assert secret not in log
    finally:
        if pg is not None:
            pg.release(db_url)


@pytest.fixture(scope="module")
def api_schema(live: Live) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "checks": {
                # Well-formed input that the schema cannot judge (an unknown workflow name,
                # arguments that do not fit it, an answer the task's form refuses, a cursor
                # from nowhere) is refused with 422, which names the field.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
                },
            },
        }
    )
    return schemathesis.openapi.from_url(f"{live.server.url}/openapi.json", config=config)


STREAM = "/api/events/stream"  # endless: tested in test_api_stream.py


def checker(operation, mode: GenerationMode, live: Live):
    """A hypothesis test of ``operation`` with ``mode`` data, authenticated as the admin."""

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case, data) -> None:
        params = case.path_parameters or {}
        if mode.is_positive:  # real ids too, so the found and conflict paths are reached
            for name, ids in (
                ("workflow_id", live.workflow_ids),
                ("task_id", live.task_ids),
                ("schedule_id", live.schedule_ids),
            ):
                if name in params:
                    params[name] = data.draw(st.sampled_from([*ids, params[name]]))
        case.call_and_validate(headers=live.auth("root"), timeout=30)

    return check


def test_every_operation_answers_as_its_schema_says(api_schema, live: Live) -> None:
    failures: dict[str, str] = {}
    operations = [
        op
        for op in (r.ok() for r in api_schema.get_all_operations())
        if op.path != STREAM and (op.path.startswith("/api/") or op.path in ("/healthz", "/readyz"))
    ]
    # Every API route is generated (the schema lists them all); a handful at least.
    assert len(operations) >= 25, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                checker(operation, mode, live)()
            except Unsatisfiable:
                assert mode.is_negative, operation.label  # nothing in it can be made invalid
            except Exception as exc:  # every operation is tried; all failures are reported
                failures[f"{mode} {operation.label}"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
