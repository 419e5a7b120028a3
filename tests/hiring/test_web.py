"""The hiring pages and public routes, served in process (httpx over ASGI) on a TestEngine.

The job and its candidates are seeded as the pipeline leaves them (records in the layout of
``hiring.book``, and small workflows under the pipeline's names that set the same status
attributes and wait for the same signals), so these tests exercise the pages and the
routing without the scorer or a mail server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import plait
from hiring import book, mailbox
from hiring.mail.devserver import ReceivedMail
from hiring.mail.tokens import make_token
from hiring.settings import settings
from hiring.web import extension
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from plait.testing import TestEngine

SECRET = "s" * 32
JOB = "backend"
ADA = f"{JOB}-aaaa0001"
BO = f"{JOB}-bbbb0002"


@plait.workflow(name="hiring.job")
async def fake_job(ctx: plait.Context, job_id: str) -> str:
    ctx.set_status(
        "following 2 shortlisted candidates; open for more", stage="outreach", job=job_id
    )
    name, _ = await ctx.wait_for_signal(["close"])
    return name


@plait.workflow(name="hiring.screening")
async def fake_screening(ctx: plait.Context, job_id: str, cid: str, value: float) -> dict[str, Any]:
    ctx.set_status(f"scored {value:.2f}", stage="screened", job=job_id, candidate=cid)
    return {
        "candidate_id": cid,
        "value": value,
        "parts": {"document_fit": 0.7, "skills_covered": 0.8},
        "weights": {"document_fit": 0.4, "skills_covered": 0.6},
        "matched": [
            {
                "skill": "PostgreSQL",
                "sentence": "Ran PostgreSQL clusters for payments.",
                "required": True,
            }
        ],
        "missing": ["Kubernetes"],
        "method": "hybrid",
        "model": "offline",
    }


@plait.workflow(name="hiring.candidate")
async def fake_journey(ctx: plait.Context, job_id: str, cid: str) -> Any:
    ctx.set_status("contacted, waiting for a reply", stage="contacted", job=job_id, candidate=cid)
    name, payload = await ctx.wait_for_signal(["reply", "unsubscribe", "bounce"])
    return {"signal": name, "payload": payload}


async def seed(engine: plait.Engine) -> None:
    blob = await engine.put_blob(
        b"Backend engineer.\nRan PostgreSQL clusters for payments.\nWrote Python services.\n",
        content_type="text/plain",
        subject=ADA,
    )
    for cid, name, email in (
        (ADA, "Ada Lovelace", "ada@example.org"),
        (BO, "Bo Chen", "bo@example.org"),
    ):
        await engine.records.put(
            book.CANDIDATE,
            cid,
            book.Profile(
                id=cid, job_id=JOB, name=name, email=email, resume=blob, resume_name="ada.txt"
            ),
            subject=cid,
        )
    await engine.records.put(
        book.JOB,
        JOB,
        {"config": {"id": JOB, "title": "Backend Engineer"}, "workflow": f"job-{JOB}"},
    )
    for cid, kinds in (
        (ADA, ["ai.score", "human.shortlisted", "mail.outreach"]),
        (BO, ["ai.score"]),
    ):
        for i, kind in enumerate(kinds):
            key = f"{cid}/20261206T09000{i}.000000/k{i}"
            at = datetime(2026, 12, 6, 9, 0, i, tzinfo=UTC)
            actor = "model:offline@1" if kind.startswith("ai.") else "rita"
            await engine.records.put(
                book.AUDIT, key, {"candidate_id": cid, "at": at, "actor": actor, "kind": kind}
            )
            await engine.records.put(
                book.AUDIT_DETAIL,
                key,
                {"inputs_hash": "sha256:ab12", "output": kind, "explanation": None},
                subject=cid,
            )
    await engine.records.put(book.SELF_ID, ADA, {"gender": "woman"}, subject=ADA)
    await engine.records.put(book.SELF_ID, BO, {"gender": "man"}, subject=BO)
    await engine.start(fake_job, JOB, id=f"job-{JOB}")
    for cid, value in ((ADA, 0.82), (BO, 0.41)):
        await engine.start(fake_screening, JOB, cid, value, subject=cid)
        engine.clock.advance(timedelta(seconds=1))  # the journey is the newer workflow
        await engine.start(fake_journey, JOB, cid, id=f"journey-{cid}", subject=cid)
    await engine.run_until_idle(within=timedelta(minutes=1))


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("users") / "users.toml"
    users = Users(path)
    users.add("ada", password="ada-pass-1234", roles=["admin"])
    users.add("olga", password="olga-pass-123", roles=["operator"], groups=["recruiters"])
    users.add("vic", password="vic-pass-1234", roles=["viewer"])
    return path


@pytest.fixture
async def site(tmp_path, monkeypatch, users_file):
    monkeypatch.setenv("HIRING_SECRET", SECRET)
    monkeypatch.setenv("HIRING_DEMO", "1")
    monkeypatch.delenv("HIRING_WEBHOOK_SECRET", raising=False)
    settings.cache_clear()
    (tmp_path / "users.toml").write_bytes(users_file.read_bytes())
    server = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    async with TestEngine(workflows=[fake_job, fake_screening, fake_journey]) as engine:
        await seed(engine)
        app = create_app(engine, server, [extension(engine)])
        yield engine, httpx.ASGITransport(app=app)
    settings.cache_clear()


async def signed_in(transport, name: str, password: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers={"accept": "text/html"}
    )
    form = (await c.get("/login")).text
    login_token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
    r = await c.post(
        "/login",
        data={
            "name": name,
            "password": password,
            "next": "/hiring/jobs",
            "login_token": login_token,
        },
    )
    assert r.status_code == 303
    return c


def anonymous(transport) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers={"accept": "text/html"}
    )


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def reply_address(cid: str) -> str:
    return f"reply+{make_token('reply', cid, SECRET)}@hiring.localhost"


async def test_pages_render_for_a_signed_in_person_and_redirect_otherwise(site):
    engine, transport = site
    received = ReceivedMail(
        mail_from="talent@example.com",
        rcpt_tos=("ada@example.org",),
        data=outreach_mail(ADA, "ada@example.org"),
        received_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
    )
    key = await mailbox.store_received(engine, received)
    urls = [
        "/hiring/jobs",
        "/hiring/jobs/new",
        f"/hiring/jobs/{JOB}",
        f"/hiring/jobs/{JOB}/report",
        f"/hiring/candidates/{ADA}",
        f"/hiring/candidates/{ADA}/export.json",
        "/hiring/mailbox",
        mailbox.mailbox_url(key),
    ]
    vic = await signed_in(transport, "vic", "vic-pass-1234")
    pages = {}
    for url in urls:
        r = await vic.get(url)
        assert r.status_code == 200, (url, r.text[:400])
        pages[url] = r.text
    # The board: both candidates in their column with score and who they wait for.
    board = pages[f"/hiring/jobs/{JOB}"]
    assert "Ada Lovelace" in board and "Bo Chen" in board and "0.82" in board
    assert "waits for the candidate" in board
    assert board.index("Ada Lovelace") < board.index("Bo Chen")  # higher score first
    # The candidate: score parts, the quoted sentence highlighted in the résumé, missing skill.
    cand = pages[f"/hiring/candidates/{ADA}"]
    assert '<mark class="ev" title="evidence for PostgreSQL">Ran PostgreSQL clusters' in cand
    assert "Kubernetes" in cand and "Document fit" in cand and "0.480" in cand
    assert "Erase" not in cand  # a viewer is not offered erasure
    # The report: impact ratio below 0.8 warned about (one group shortlisted, one not).
    report = pages[f"/hiring/jobs/{JOB}/report"]
    assert "never given to the scorer" in report
    assert "Possible adverse impact on gender" in report and "below 0.8" in report
    assert "human.shortlisted" in cand and "rita" in cand  # the audit trail
    export = json.loads(pages[f"/hiring/candidates/{ADA}/export.json"])
    assert export["candidate"]["email"] == "ada@example.org"
    # The mailbox lists the message and shows it with its headers and the reply form.
    assert "Backend Engineer at Lindenwerk" in pages["/hiring/mailbox"]
    message = pages[mailbox.mailbox_url(key)]
    assert "List-Unsubscribe" in message and "Reply as the candidate" in message
    assert "&gt; Dear Ada" in message  # the quoted text is prefilled

    anon = anonymous(transport)
    for url in urls:
        r = await anon.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url


async def test_the_mailbox_is_only_there_in_demo_mode(site, monkeypatch, tmp_path):
    engine, transport = site
    monkeypatch.setenv("HIRING_DEMO", "0")
    ext = extension(engine)
    assert [n.href for n in ext.nav] == ["/hiring/jobs"]
    server = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    plain = httpx.ASGITransport(app=create_app(engine, server, [ext]))
    vic = await signed_in(plain, "vic", "vic-pass-1234")
    assert (await vic.get("/hiring/mailbox")).status_code == 404
    assert (await vic.get("/hiring/jobs")).status_code == 200


async def test_webhook_routes_json_and_raw_replies_once(site):
    engine, transport = site
    hook = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
    payload = {
        "from": "Ada <ada@example.org>",
        "to": reply_address(ADA),
        "subject": "Re: Backend Engineer",
        "text": "Yes, I am interested!\n\nOn Mon, Talent wrote:\n> Dear Ada",
        "message_id": "<r1@example.org>",
    }
    r = await hook.post("/hiring/inbound", json=payload)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "reply" and r.json()["candidate_id"] == ADA
    again = await hook.post("/hiring/inbound", json=payload)
    assert again.json()["outcome"] == "duplicate"
    raw = (
        f"From: Bo <bo@example.org>\r\nTo: {reply_address(BO)}\r\nSubject: Re: hello\r\n"
        "Message-ID: <r2@example.org>\r\n\r\nNot for me, thanks.\r\n"
    ).encode()
    r = await hook.post("/hiring/inbound", content=raw, headers={"content-type": "message/rfc822"})
    assert r.status_code == 200 and r.json() == {
        "outcome": "reply",
        "candidate_id": BO,
        "workflow_id": f"journey-{BO}",
    }
    mailto = {
        "from": "bo@example.org",
        "to": f"unsubscribe+{make_token('unsubscribe', BO, SECRET)}@hiring.localhost",
        "subject": "unsubscribe",
        "text": "unsubscribe",
    }
    r = await hook.post("/hiring/inbound", json=mailto)
    assert r.json() == {"outcome": "unsubscribed", "candidate_id": BO, "workflow_id": None}
    assert await engine.records.get(book.SUPPRESSED, book.address_key("bo@example.org"))
    await engine.run_until_idle(within=timedelta(minutes=1))
    ada = await engine.get(f"journey-{ADA}")
    bo = await engine.get(f"journey-{BO}")
    assert ada.output["signal"] == "reply" and ada.output["payload"]["text"].startswith("Yes")
    assert "Dear Ada" not in ada.output["payload"]["text"]  # quoted history stripped
    assert bo.output["payload"]["text"].startswith("Not for me")


async def test_webhook_refuses_bad_tokens_secrets_and_payloads(site, monkeypatch):
    engine, transport = site
    hook = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
    forged = make_token("reply", ADA, "x" * 32)
    bad = {"from": "a@example.org", "to": f"reply+{forged}@hiring.localhost", "text": "hi"}
    r = await hook.post("/hiring/inbound", json=bad)
    assert r.status_code == 403 and r.json()["error"] == "invalid_token"
    r = await hook.post("/hiring/inbound", json={"to": reply_address(ADA), "text": "hi"})
    assert r.status_code == 422 and "'from'" in r.json()["message"]
    r = await hook.post("/hiring/inbound", content=b"hello", headers={"content-type": "text/html"})
    assert r.status_code == 415
    bounce = {
        "from": "MAILER-DAEMON@mx.example.org",
        "to": "talent@example.com",
        "subject": "Undelivered Mail Returned to Sender",
        "text": "The mail to bo@example.org could not be delivered.",
        "headers": {"X-Failed-Recipients": "bo@example.org"},
    }
    r = await hook.post("/hiring/inbound", json=bounce)  # no token, quotes nothing we sent
    assert r.status_code == 403 and r.json()["error"] == "unverified_bounce"
    assert (await engine.get(f"journey-{BO}")).status == plait.WorkflowStatus.WAITING
    monkeypatch.setenv("HIRING_WEBHOOK_SECRET", "hook-secret")
    r = await hook.post(
        "/hiring/inbound", json=bounce, headers={"X-Hiring-Webhook-Secret": "hook-secret"}
    )
    assert r.status_code == 200 and r.json()["outcome"] == "bounce"
    good = {"from": "a@example.org", "to": reply_address(ADA), "text": "hi", "message_id": "<x@y>"}
    r = await hook.post("/hiring/inbound", json=good, headers={"X-Hiring-Webhook-Secret": "nope"})
    assert r.status_code == 401
    r = await hook.post("/hiring/inbound", json=good)
    assert r.status_code == 401
    r = await hook.post(
        "/hiring/inbound", json=good, headers={"X-Hiring-Webhook-Secret": "hook-secret"}
    )
    assert r.status_code == 200 and r.json()["outcome"] == "reply"
    info = await engine.get(f"journey-{ADA}")
    assert info.status != plait.WorkflowStatus.FAILED


async def test_one_click_unsubscribe_suppresses_the_address(site):
    engine, transport = site
    anon = anonymous(transport)
    token = make_token("unsubscribe", BO, SECRET)
    page = await anon.get(f"/hiring/unsubscribe/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert await engine.records.get(book.SUPPRESSED, book.address_key("bo@example.org")) is None
    r = await anon.post(
        f"/hiring/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "unsubscribed" in r.text
    assert await engine.records.get(book.SUPPRESSED, book.address_key("bo@example.org"))
    await engine.run_until_idle(within=timedelta(minutes=1))
    assert (await engine.get(f"journey-{BO}")).output["signal"] == "unsubscribe"
    broken = await anon.get("/hiring/unsubscribe/not-a-token")
    assert broken.status_code == 400 and "Traceback" not in broken.text
    assert "This link does not work" in broken.text
    wrong_kind = await anon.post(f"/hiring/unsubscribe/{make_token('reply', BO, SECRET)}")
    assert wrong_kind.status_code == 400


async def test_slot_links_show_a_confirmation_and_signal_the_choice(site):
    engine, transport = site
    anon = anonymous(transport)
    token = make_token("slot", f"{ADA}.2", SECRET)
    page = await anon.get(f"/hiring/slot/{token}")
    assert page.status_code == 200 and "Confirm this time" in page.text
    r = await anon.post(f"/hiring/slot/{token}")
    assert r.status_code == 200 and "confirmed" in r.text
    await engine.run_until_idle(within=timedelta(minutes=1))
    # the fake journey does not wait for "slot": the signal is in its mailbox
    events = [e for e in await engine.events(f"journey-{ADA}") if e.kind == "signalled"]
    assert [e.details.get("name") for e in events] == ["slot"]
    assert (await anon.get("/hiring/slot/garbage")).status_code == 400


async def test_erasure_needs_an_admin_and_a_confirmation(site):
    engine, transport = site
    olga = await signed_in(transport, "olga", "olga-pass-123")
    page = (await olga.get(f"/hiring/candidates/{BO}")).text
    r = await olga.post(f"/hiring/candidates/{BO}/erase", data={"csrf_token": csrf(page)})
    assert r.status_code == 403 and "admin" in r.text
    no_csrf = await olga.post(f"/hiring/candidates/{BO}/erase", data={})
    assert no_csrf.status_code == 403
    mail = ReceivedMail(
        "talent@example.com",
        ("bo@example.org",),
        outreach_mail(BO, "bo@example.org"),
        datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
    )
    key = await mailbox.store_received(engine, mail)
    ada = await signed_in(transport, "ada", "ada-pass-1234")
    page = (await ada.get(f"/hiring/candidates/{BO}")).text
    token = csrf(page)
    ask = await ada.post(f"/hiring/candidates/{BO}/erase", data={"csrf_token": token})
    assert ask.status_code == 200 and "Erase everything held about Bo Chen?" in ask.text
    assert await engine.records.get(book.CANDIDATE, BO) is not None
    r = await ada.post(
        f"/hiring/candidates/{BO}/erase", data={"csrf_token": token, "confirmed": "1"}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?done=erased")
    assert await engine.records.get(book.CANDIDATE, BO) is None
    assert await engine.records.get(mailbox.MAILBOX, key) is None  # the demo mailbox too
    after = await ada.get(r.headers["location"])
    assert (
        after.status_code == 200
        and "Erased candidate" in after.text
        or "no candidate" in after.text
    )


async def test_close_job_asks_then_signals(site):
    engine, transport = site
    vic = await signed_in(transport, "vic", "vic-pass-1234")
    page = (await vic.get(f"/hiring/jobs/{JOB}")).text
    assert "Close job" not in page
    r = await vic.post(f"/hiring/jobs/{JOB}/close", data={"csrf_token": csrf(page)})
    assert r.status_code == 403
    olga = await signed_in(transport, "olga", "olga-pass-123")
    page = (await olga.get(f"/hiring/jobs/{JOB}")).text
    ask = await olga.post(f"/hiring/jobs/{JOB}/close", data={"csrf_token": csrf(page)})
    assert ask.status_code == 200 and "Close the job" in ask.text
    assert not (await engine.get(f"job-{JOB}")).status.finished
    r = await olga.post(
        f"/hiring/jobs/{JOB}/close", data={"csrf_token": csrf(page), "confirmed": "1"}
    )
    assert r.status_code == 303
    await engine.run_until_idle(within=timedelta(minutes=1))
    assert (await engine.get(f"job-{JOB}")).output == "close"


async def test_reply_as_the_candidate_goes_through_the_webhook_path(site):
    engine, transport = site
    received = ReceivedMail(
        mail_from="talent@example.com",
        rcpt_tos=("ada@example.org",),
        data=outreach_mail(ADA, "ada@example.org"),
        received_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
    )
    key = await mailbox.store_received(engine, received)
    record = await engine.records.record(mailbox.MAILBOX, key)
    assert record.subject == ADA  # erasing Ada removes her mail from the mailbox
    olga = await signed_in(transport, "olga", "olga-pass-123")
    page = (await olga.get(mailbox.mailbox_url(key))).text
    r = await olga.post(
        mailbox.mailbox_url(key) + "/reply",
        data={"csrf_token": csrf(page), "text": "Sounds great, tell me more.\n\n> Dear Ada"},
    )
    assert r.status_code == 303 and "outcome=reply" in r.headers["location"]
    shown = await olga.get(r.headers["location"])
    assert "Reply delivered" in shown.text
    await engine.run_until_idle(within=timedelta(minutes=1))
    got = (await engine.get(f"journey-{ADA}")).output
    assert got["signal"] == "reply" and got["payload"]["text"] == "Sounds great, tell me more."


def outreach_mail(cid: str, to: str) -> bytes:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Miriam Vogt <talent@example.com>"
    message["To"] = f"Ada Lovelace <{to}>"
    message["Subject"] = "Backend Engineer at Lindenwerk"
    message["Message-ID"] = "<out-1@example.com>"
    message["Date"] = "Sun, 06 Dec 2026 09:00:00 +0000"
    message["Reply-To"] = reply_address(cid)
    unsubscribe = make_token("unsubscribe", cid, SECRET)
    message["List-Unsubscribe"] = (
        f"<mailto:unsubscribe+{unsubscribe}@hiring.localhost?subject=unsubscribe>, "
        f"<http://127.0.0.1:8765/hiring/unsubscribe/{unsubscribe}>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("Dear Ada,\n\nWould you like to talk about the role?\n\nMiriam\n")
    return bytes(message)


@pytest.fixture
async def empty_site(tmp_path, monkeypatch, users_file):
    """The real pipeline's workflows registered (nothing is run: the job stays pending)."""
    from hiring.pipeline import candidate_journey, decline, job_pipeline, screening

    monkeypatch.setenv("HIRING_SECRET", SECRET)
    settings.cache_clear()
    (tmp_path / "users.toml").write_bytes(users_file.read_bytes())
    server = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    flows = [job_pipeline, screening, decline, candidate_journey]
    async with TestEngine(workflows=flows) as engine:
        yield engine, httpx.ASGITransport(app=create_app(engine, server, [extension(engine)]))
    settings.cache_clear()


async def test_new_job_form_creates_the_job_and_adds_candidates(empty_site):
    engine, transport = empty_site
    olga = await signed_in(transport, "olga", "olga-pass-123")
    token = csrf((await olga.get("/hiring/jobs/new")).text)
    fields = {
        "csrf_token": token,
        "id": "data-analyst",
        "title": "Data Analyst",
        "time_zone": "Europe/Berlin",
        "sender_name": "Miriam Vogt",
        "sender_email": "talent@example.com",
        "sender_company": "Lindenwerk",
        "panel0_name": "Jana Petersen",
        "panel0_email": "not-an-address",
        "panel0_zone": "Europe/Berlin",
        "panel0_hours": "09:00-17:00",
    }
    description = ("description.md", b"# Data Analyst\n\nYou will write SQL.\n", "text/markdown")
    resumes = [
        ("resumes", ("kim.txt", b"Kim Park\nkim@example.net\nSQL analyst.\n", "text/plain")),
        ("resumes", ("lee.md", b"Lee Wong\nlee@example.net\nDashboards.\n", "text/markdown")),
    ]
    forged = await olga.post(
        "/hiring/jobs/new", data={**fields, "csrf_token": "x"}, files=[("description", description)]
    )
    assert forged.status_code == 403
    bad = await olga.post(
        "/hiring/jobs/new", data=fields, files=[("description", description), *resumes]
    )
    assert bad.status_code == 422 and "panel.0.email" in bad.text
    assert 'value="Data Analyst"' in bad.text  # what was typed is kept
    missing = await olga.post("/hiring/jobs/new", data=fields, files=resumes)
    assert missing.status_code == 422 and "Upload the job description" in missing.text
    fields["panel0_email"] = "jana@example.com"
    r = await olga.post(
        "/hiring/jobs/new", data=fields, files=[("description", description), *resumes]
    )
    assert r.status_code == 303, r.text[:600]
    assert r.headers["location"] == "/hiring/jobs/data-analyst?done=job-created"
    info = await engine.get("job-data-analyst")
    assert info.name == "hiring.job" and not info.status.finished
    cands = await engine.records.list(book.CANDIDATE)
    assert sorted(c.value["name"] for c in cands if c.value["job_id"] == "data-analyst") == [
        "Kim Park",
        "Lee Wong",
    ]
    board = await olga.get(r.headers["location"])
    assert board.status_code == 200 and "Kim Park" in board.text and "Job created" in board.text
    again = await olga.post(
        "/hiring/jobs/new", data=fields, files=[("description", description), *resumes]
    )
    assert again.status_code == 422 and "exists already" in again.text

    token = csrf(board.text)
    r = await olga.post(
        "/hiring/jobs/data-analyst/candidates",
        data={"csrf_token": token, "name": "Sam Doe", "email": "sam@example.net"},
        files={"resume": ("sam.txt", b"Sam Doe\nSQL and Python.\n", "text/plain")},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=candidates-added")
    listing = b"name,email,file\nAl Roe,al@example.net,al.txt\n"
    r = await olga.post(
        "/hiring/jobs/data-analyst/candidates",
        data={"csrf_token": token},
        files=[
            ("csv", ("list.csv", listing, "text/csv")),
            ("files", ("al.txt", b"Al Roe\nSQL.\n", "text/plain")),
        ],
    )
    assert r.status_code == 303
    names = {c.value["name"] for c in await engine.records.list(book.CANDIDATE)}
    assert {"Sam Doe", "Al Roe"} <= names
    events = [e for e in await engine.events("job-data-analyst") if e.kind == "signalled"]
    assert [e.details.get("name") for e in events] == ["add_candidates", "add_candidates"]
    r = await olga.post(
        "/hiring/jobs/data-analyst/candidates",
        data={"csrf_token": token},
        files=[("csv", ("list.csv", b"name,email,file\nX,x@example.net,nope.txt\n", "text/csv"))],
    )
    assert r.status_code == 422 and "nope.txt" in r.text


def composed(cid: str, *, text: str, calendar: bytes | None = None, key: str = "k1") -> bytes:
    """A message as the pipeline sends it (hiring.mail.outbound.compose)."""
    from hiring.mail.outbound import Draft, MessageKind, Sender, compose

    sender = Sender(
        name="Miriam Vogt",
        address="talent@example.com",
        reply_domain="hiring.localhost",
        unsubscribe_url="http://127.0.0.1:8765/hiring/unsubscribe",
    )
    draft = Draft(
        kind=MessageKind.INVITE if calendar else MessageKind.FOLLOW_UP,
        to="ada@example.org",
        to_name="Ada Lovelace",
        subject="Interview times",
        text=text,
        idempotency_key=key,
        recipient_id=cid,
        calendar=calendar,
    )
    return bytes(compose(draft, sender, SECRET))


async def test_a_received_invite_reads_as_an_event_in_the_viewers_zone(site):
    from hiring.scheduling.invites import Attendee, Interview, invite

    engine, transport = site
    interview = Interview(
        uid="iv-1@example.com",
        start=datetime(2026, 12, 10, 13, 0, tzinfo=UTC),
        end=datetime(2026, 12, 10, 13, 45, tzinfo=UTC),
        summary="Interview: Backend Engineer",
        organizer=Attendee("Miriam Vogt", "talent@example.com"),
        attendees=(Attendee("Ada Lovelace", "ada@example.org"),),
        timezone="Europe/Berlin",
    )
    slot = make_token("slot", f"{ADA}.1", SECRET)
    raw = composed(
        ADA,
        text=f"Pick a time:\n  1. Thu 10 Dec 14:00  http://127.0.0.1:8765/hiring/slot/{slot}\n",
        calendar=invite(interview),
    )
    received = ReceivedMail(
        "talent@example.com", ("ada@example.org",), raw, datetime(2026, 12, 6, 9, 5, tzinfo=UTC)
    )
    key = await mailbox.store_received(engine, received)
    vic = await signed_in(transport, "vic", "vic-pass-1234")
    page = (await vic.get(mailbox.mailbox_url(key))).text
    assert "Interview: Backend Engineer" in page and "Thu 10 Dec 2026, 13:00" in page  # UTC viewer
    assert "sequence 0" in page and "REQUEST" in page
    assert f'action="/hiring/slot/{slot}"' in page and "Pick slot 1" in page
    assert "Click the unsubscribe link" in page
    listing = (await vic.get("/hiring/mailbox")).text
    assert "invite" in listing and "Ada Lovelace" in listing
    panel = ReceivedMail(
        "talent@example.com",
        ("jana@example.com",),
        raw.replace(b"ada@example.org", b"jana@example.com").replace(b"Reply-To", b"X-Was"),
        datetime(2026, 12, 6, 9, 6, tzinfo=UTC),
    )
    panel_key = await mailbox.store_received(engine, panel)
    assert (await engine.records.record(mailbox.MAILBOX, panel_key)).subject is None
    page = (await vic.get(mailbox.mailbox_url(panel_key))).text
    assert "Not a candidate" in page and "Send the reply" not in page


async def test_candidate_page_lists_messages_in_order_and_interview_actions(site):
    engine, transport = site
    for i, (direction, text) in enumerate([("sent", "First outreach"), ("received", "Yes!")]):
        await engine.records.put(
            book.MESSAGE,
            f"{ADA}/2026120{6 + i}T090000.000000/<m{i}@x>",
            {
                "message_id": f"<m{i}@x>",
                "subject": "Backend",
                "text": text,
                "direction": direction,
                "at": datetime(2026, 12, 6 + i, 9, tzinfo=UTC),
            },
            subject=ADA,
        )
    olga = await signed_in(transport, "olga", "olga-pass-123")
    page = (await olga.get(f"/hiring/candidates/{ADA}")).text
    assert page.index("First outreach") < page.index("Yes!")
    assert "Reschedule" not in page  # no interview booked
    r = await olga.post(
        f"/hiring/candidates/{ADA}/interview",
        data={"csrf_token": csrf(page), "action": "cancel"},
    )
    assert r.status_code == 409 and "No interview is booked" in r.text


@plait.workflow(name="hiring.candidate")
async def booked(ctx: plait.Context, job_id: str, cid: str) -> Any:
    ctx.set_status(
        "interview at 2026-12-10T13:00:00+00:00", stage="interviewing", job=job_id, candidate=cid
    )
    name, payload = await ctx.wait_for_signal(["reschedule", "cancel_interview"])
    return {"signal": name, "payload": payload}


async def test_reschedule_and_cancel_a_booked_interview(tmp_path, monkeypatch, users_file):
    monkeypatch.setenv("HIRING_SECRET", SECRET)
    settings.cache_clear()
    (tmp_path / "users.toml").write_bytes(users_file.read_bytes())
    server = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    async with TestEngine(workflows=[fake_job, fake_screening, booked]) as engine:
        await seed_booked(engine)
        transport = httpx.ASGITransport(app=create_app(engine, server, [extension(engine)]))
        olga = await signed_in(transport, "olga", "olga-pass-123")
        page = (await olga.get(f"/hiring/candidates/{ADA}")).text
        assert "Reschedule" in page and "Cancel the interview" in page
        assert "Booked for <b>Thursday 10 December 2026, 13:00 (UTC)</b>" in page
        form = {
            "csrf_token": csrf(page),
            "action": "reschedule",
            "start": "2026-12-11T15:30",
            "zone": "Europe/Berlin",
            "minutes": "45",
        }
        bad = await olga.post(
            f"/hiring/candidates/{ADA}/interview", data={**form, "start": "tomorrow"}
        )
        assert bad.status_code == 422 and "2026-12-10T14:00" in bad.text
        ask = await olga.post(f"/hiring/candidates/{ADA}/interview", data=form)
        assert ask.status_code == 200 and "Move the interview to Fri 11 Dec 2026, 15:30" in ask.text
        r = await olga.post(f"/hiring/candidates/{ADA}/interview", data={**form, "confirmed": "1"})
        assert r.status_code == 303 and r.headers["location"].endswith("done=rescheduled")
        await engine.run_until_idle(within=timedelta(minutes=1))
        got = (await engine.get(f"journey-{ADA}")).output
        assert got["signal"] == "reschedule"
        assert got["payload"] == {
            "start": "2026-12-11T14:30:00+00:00",
            "end": "2026-12-11T15:15:00+00:00",
        }
    settings.cache_clear()


async def seed_booked(engine: plait.Engine) -> None:
    blob = await engine.put_blob(b"Ada\n", content_type="text/plain", subject=ADA)
    await engine.records.put(
        book.CANDIDATE,
        ADA,
        book.Profile(id=ADA, job_id=JOB, name="Ada Lovelace", email="ada@example.org", resume=blob),
        subject=ADA,
    )
    await engine.records.put(book.JOB, JOB, {"config": {"id": JOB}, "workflow": f"job-{JOB}"})
    await engine.start(booked, JOB, ADA, id=f"journey-{ADA}", subject=ADA)
    await engine.run_until_idle(within=timedelta(minutes=1))


def test_highlight_finds_quotes_across_line_breaks_and_merges_overlaps():
    from hiring.web import highlight

    text = "Summary.\nLed the  migration of\nbilling to PostgreSQL.\nOther."
    pieces = highlight(
        text,
        [
            ("PostgreSQL", "Led the migration of billing to PostgreSQL."),
            ("Migrations", "the migration of billing"),
            ("Kubernetes", "Ran Kubernetes."),
        ],
    )
    marked = [(t, k) for t, k in pieces if k]
    assert marked == [("Led the  migration of\nbilling to PostgreSQL.", "PostgreSQL, Migrations")]
    assert "".join(t for t, _ in pieces) == text
