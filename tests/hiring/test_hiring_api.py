"""The hiring JSON API (``/hiring/api/``), in process (httpx over ASGI) on a TestEngine.

A sample job is created with ``hiring.jobs.create_job`` (its pipeline is started but not run:
the tests check what the API stores and signals, not the scorer)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import pytest

import plait
from hiring import jobs
from hiring.app import WORKFLOWS
from hiring.intake import CandidateFile, load_job_folder
from hiring.settings import settings
from hiring.web import extension
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from plait.testing import TestEngine

SAMPLE = Path(__file__).parents[2] / "hiring" / "samples" / "jobs" / "backend-engineer"
JOB = "backend-engineer"
RESUME = "Ada Lovelace\nada@example.org\nBackend engineer: Python and PostgreSQL for 8 years.\n"


@pytest.fixture
async def api(tmp_path, monkeypatch):
    monkeypatch.setenv("HIRING_SECRET", "s" * 32)
    monkeypatch.delenv("HIRING_DEMO", raising=False)
    settings.cache_clear()
    users = Users(tmp_path / "users.toml")
    tokens = {
        "olga": users.add("olga", roles=["operator"], token=True),
        "vic": users.add("vic", roles=["viewer"], token=True),
    }
    server = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    async with TestEngine(workflows=WORKFLOWS) as engine:
        first = CandidateFile(
            name="Bo Chen",
            email="bo@example.org",
            time_zone="UTC",
            source="test",
            filename="bo.txt",
            data=b"Bo Chen\nbo@example.org\nSupport engineer.\n",
        )
        await jobs.create_job(engine, load_job_folder(SAMPLE), [first], by="rita")
        app = create_app(engine, server, [extension(engine)])
        transport = httpx.ASGITransport(app=app)

        def client(who: str | None) -> httpx.AsyncClient:
            headers = {"authorization": f"Bearer {tokens[who]}"} if who else {}
            return httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", headers=headers
            )

        yield engine, client
    settings.cache_clear()


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    for line in text.splitlines():
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def test_reads_list_jobs_board_report_and_export(api):
    engine, client = api
    vic = client("vic")
    r = await vic.get("/hiring/api/jobs")
    assert r.status_code == 200, r.text
    [job] = r.json()
    assert job["id"] == JOB and job["title"].startswith("Senior Backend Engineer")
    assert job["candidates"] == 1 and job["by_stage"] == {"received": 1}
    assert job["workflow_id"] == jobs.workflow_id(JOB)

    board = (await vic.get(f"/hiring/api/jobs/{JOB}/board")).json()
    assert [(c["name"], c["stage"]) for c in board] == [("Bo Chen", "received")]

    r = await vic.get(f"/hiring/api/jobs/{JOB}/report")
    assert r.status_code == 200
    assert r.json()["by_stage"] == {"received": 1} and r.json()["job_id"] == JOB

    cid = board[0]["candidate_id"]
    r = await vic.get(f"/hiring/api/candidates/{cid}")
    assert r.status_code == 200
    assert r.json()["candidate"]["email"] == "bo@example.org"
    assert r.json()["candidate"]["name"] == "Bo Chen"


async def test_candidates_added_by_an_operator_are_signalled_for_a_new_round(api):
    engine, client = api
    body = [
        {
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "resume": {"filename": "ada.txt", "text": RESUME},
        },
        {
            "name": "Kenji Watanabe",
            "email": "kenji@example.org",
            "time_zone": "Asia/Tokyo",
            "source": "referral",
            "resume": {
                "filename": "kenji.docx",
                "base64": base64.b64encode(
                    docx_bytes("Kenji Watanabe\nSRE, Go and Python")
                ).decode(),
            },
        },
    ]
    r = await client("olga").post(f"/hiring/api/jobs/{JOB}/candidates", json=body)
    assert r.status_code == 201, r.text
    ids = r.json()["candidate_ids"]
    assert ids == [
        jobs.candidate_id(JOB, "ada@example.org"),
        jobs.candidate_id(JOB, "kenji@example.org"),
    ]
    events = await engine.events(jobs.workflow_id(JOB))
    signalled = [e for e in events if e.kind == plait.WorkflowEventKind.SIGNALLED]
    assert [(e.details["name"], e.by) for e in signalled] == [("add_candidates", "olga")]
    board = (await client("vic").get(f"/hiring/api/jobs/{JOB}/board")).json()
    assert {c["name"] for c in board} == {"Bo Chen", "Ada Lovelace", "Kenji Watanabe"}
    kenji = (await client("vic").get(f"/hiring/api/candidates/{ids[1]}")).json()["candidate"]
    assert kenji["time_zone"] == "Asia/Tokyo" and kenji["source"] == "referral"
    assert kenji["resume_name"] == "kenji.docx"


async def test_credentials_and_roles(api):
    engine, client = api
    for url in (
        "/hiring/api/jobs",
        f"/hiring/api/jobs/{JOB}/board",
        f"/hiring/api/jobs/{JOB}/report",
    ):
        r = await client(None).get(url)
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated", url
    body = [
        {"name": "Ada", "email": "ada@example.org", "resume": {"filename": "a.txt", "text": RESUME}}
    ]
    assert (
        await client(None).post(f"/hiring/api/jobs/{JOB}/candidates", json=body)
    ).status_code == 401
    r = await client("vic").post(f"/hiring/api/jobs/{JOB}/candidates", json=body)
    assert r.status_code == 403 and "operator" in r.json()["message"]
    assert (await engine.events(jobs.workflow_id(JOB)))[
        -1
    ].kind != plait.WorkflowEventKind.SIGNALLED


@pytest.mark.parametrize(
    ("candidate", "field", "says"),
    [
        (
            {
                "name": "Ada",
                "email": "not-an-address",
                "resume": {"filename": "a.txt", "text": RESUME},
            },
            "1.email",
            "email",
        ),
        ({"name": "Ada", "email": "ada@example.org"}, "1.resume", "Field required"),
        (
            {"name": "Ada", "email": "ada@example.org", "resume": {"filename": "a.txt"}},
            "1.resume",
            "exactly one of text or base64",
        ),
        (
            {
                "name": "Ada",
                "email": "ada@example.org",
                "resume": {"filename": "a.txt", "text": RESUME, "base64": "QQ=="},
            },
            "1.resume",
            "exactly one of text or base64",
        ),
        (
            {
                "name": "Ada",
                "email": "ada@example.org",
                "resume": {
                    "filename": "a.pdf",
                    "base64": base64.b64encode(b"%PDF-1.4 broken").decode(),
                },
            },
            "1.resume.base64",
            "a.pdf",
        ),
        (
            {
                "name": "Ada",
                "email": "ada@example.org",
                "resume": {"filename": "a.pdf", "base64": "%%%"},
            },
            "1.resume.base64",
            "not valid base64",
        ),
    ],
)
async def test_a_bad_candidate_is_a_422_naming_the_field(api, candidate, field, says):
    engine, client = api
    good = {
        "name": "Kenji",
        "email": "kenji@example.org",
        "resume": {"filename": "k.txt", "text": RESUME},
    }
    r = await client("olga").post(f"/hiring/api/jobs/{JOB}/candidates", json=[good, candidate])
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and r.json()["field"] == field
    assert says in r.json()["message"]
    board = (await client("vic").get(f"/hiring/api/jobs/{JOB}/board")).json()
    assert [c["name"] for c in board] == ["Bo Chen"]  # nothing of the request was added


async def test_unknown_job_or_candidate_is_404_and_a_closed_job_409(api):
    engine, client = api
    vic, olga = client("vic"), client("olga")
    for url in (
        "/hiring/api/jobs/nope/board",
        "/hiring/api/jobs/nope/report",
        "/hiring/api/candidates/c123",
    ):
        r = await vic.get(url)
        assert r.status_code == 404 and r.json()["error"] == "not_found", url
    body = [
        {"name": "Ada", "email": "ada@example.org", "resume": {"filename": "a.txt", "text": RESUME}}
    ]
    r = await olga.post("/hiring/api/jobs/nope/candidates", json=body)
    assert r.status_code == 404 and "nope" in r.json()["message"]
    await engine.signal(jobs.workflow_id(JOB), "close", None, dedup_key="close", by="rita")
    r = await olga.post(f"/hiring/api/jobs/{JOB}/candidates", json=body)
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert "closed by rita" in r.json()["message"]


async def test_the_routes_and_their_errors_are_in_the_openapi_document(api):
    engine, client = api
    spec = (await client(None).get("/openapi.json")).json()
    post = spec["paths"]["/hiring/api/jobs/{job_id}/candidates"]["post"]
    assert {"201", "401", "403", "404", "409", "422"} <= set(post["responses"])
    assert "NewCandidate" in spec["components"]["schemas"]
    assert "CandidateExport" in spec["components"]["schemas"]
    assert "/hiring/api/jobs" in spec["paths"]
