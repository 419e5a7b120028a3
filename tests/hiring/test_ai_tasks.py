"""The hiring pipeline's AI tasks through a model: skill extraction, reply classification
and drafting as durable model calls against a loopback OpenAI-wire server; and offline,
unchanged. A job's ``ai`` setting chooses; replays call the model no more; the ledger has
every request; invalid answers are re-asked; a model that is down fails visibly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import plait
import plait.ai
from hiring import ai_tasks, book, extract_skills
from hiring.mail.devserver import DevMailServer, ReceivedMail
from hiring.mail.view import read_mail
from hiring.models import Job, JobConfig, PanelMember, Reply, Sender
from hiring.pipeline import candidate_journey, decline, job_pipeline, screening
from hiring.replies import classify as classify_offline
from hiring.settings import settings
from plait.testing import TestEngine
from tests.ai.wire import Reply as Wire
from tests.ai.wire import WireServer, free_port, wire_server

DESCRIPTION = """# Senior Data Engineer

We build the data platform behind Acme's pricing, in a small team that ships every day.

## Requirements
- Five years of Python in production.
- You design schemas and tune queries in PostgreSQL.
- Kubernetes experience is a plus.
"""
RESUME = """Sam Example
sam@example.org

Data engineer at Bolt (2018-2025): Python services and PostgreSQL tuning for billing.
"""
PRICES = plait.ai.Prices({"openai:test": plait.ai.Price(1.0, 10.0)})  # USD per Mtok
SKILLS = {
    "skills": [
        {"name": "Python", "required": True, "sentence": "Five years of Python in production."},
        {
            "name": "PostgreSQL",
            "required": True,
            "sentence": "You design schemas and tune queries in PostgreSQL.",
        },
        {"name": "Kubernetes", "required": False, "sentence": "Kubernetes experience is a plus"},
    ]
}
DRAFT = {
    "subject": "Senior Data Engineer at Acme",
    "body": "Your Python and PostgreSQL work looks like a close fit for our pricing platform. "
    "Would you like to talk? A reply is enough.",
}


def answer(content: object) -> Wire:
    """A chat completion whose text is ``content`` (JSON-encoded unless a string)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return Wire(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 200, "completion_tokens": 50, "total_tokens": 250},
        }
    )


def config(ai: str, **more: Any) -> JobConfig:
    return JobConfig(
        id="data-eng",
        panel=[PanelMember(name="Kim Lee", email="kim@acme.example")],
        sender=Sender(name="Ana Ruiz", email="ana@acme.example", company="Acme"),
        ai=ai,
        **more,
    )


def job() -> Job:
    return Job(
        id="data-eng",
        title="Senior Data Engineer",
        summary="We build the data platform.",
        text=DESCRIPTION,
    )


@pytest.fixture
def server() -> Iterator[WireServer]:
    with wire_server() as s:
        yield s


def spec(server: WireServer) -> str:
    return f"openai:test@{server.url}/v1"


def asked(server: WireServer) -> list[str]:
    """The output schema's name of each request the model server got, in order."""
    return [s.body["response_format"]["json_schema"]["name"] for s in server.seen]


async def add_candidate(engine: plait.Engine, cid: str = "c1") -> str:
    resume = await engine.put_blob(RESUME.encode(), content_type="text/plain", subject=cid)
    profile = book.Profile(
        id=cid, job_id="data-eng", name="Sam Example", email="sam@example.org", resume=resume
    )
    await engine.records.put(book.CANDIDATE, cid, profile, subject=cid)
    return cid


# -- each task, in a workflow of its own ------------------------------------------------
@plait.workflow(name="test.hiring.ai_tasks")
async def tasks(
    ctx: plait.Context, cfg: JobConfig, job: Job, cid: str, reply: Reply
) -> dict[str, Any]:
    proposal = await ai_tasks.propose_skills(job, cfg.ai)
    brief = ai_tasks.brief_for(cfg, job, ["Python", "PostgreSQL"])
    draft = await ai_tasks.draft_outreach(ctx, cfg, job.title, cid, brief)
    classified = await ai_tasks.classify_reply(ctx, cfg, cid, reply)
    return {
        "skills": proposal.review.model_dump()["skills"],
        "notes": proposal.notes,
        "proposed_by": proposal.model,
        "draft": draft.model_dump(),
        "reply": [classified.label, classified.slot],
    }


REPLY = Reply(
    message_id="<r1@example.org>",
    text="Sounds good. The second time works for me.",
    received_at=datetime(2026, 12, 1, tzinfo=UTC),
)


@pytest.fixture
async def engine(test_engine: TestEngine) -> AsyncIterator[TestEngine]:
    test_engine.register(tasks)
    test_engine.prices = PRICES
    yield test_engine


async def test_each_llm_task_returns_its_structured_result(
    engine: TestEngine, server: WireServer
) -> None:
    server.reply(
        answer(SKILLS),
        answer(DRAFT),
        answer({"label": "interested", "slot": 2}),
    )
    cid = await add_candidate(engine)
    h = await engine.start(tasks, config(spec(server)), job(), cid, REPLY, id="t")
    await engine.run_until_idle()
    out = await h.result()

    assert asked(server) == ["ExtractedSkills", "DraftText", "ReplyIntent"]
    assert out["skills"] == [
        {"name": "Python", "required": True, "sentence": "Five years of Python in production."},
        {  # the skill vocabulary's canonical name for PostgreSQL, as the scorer knows it
            "name": "SQL",
            "required": True,
            "sentence": "You design schemas and tune queries in PostgreSQL.",
        },
        # the quote without its full stop is found, and kept as the description writes it
        {"name": "Kubernetes", "required": False, "sentence": "Kubernetes experience is a plus."},
    ]
    assert out["notes"] == [] and out["proposed_by"] == "openai:test"
    assert out["reply"] == ["interested", 2]
    draft = out["draft"]
    assert draft["subject"] == "Senior Data Engineer at Acme"
    assert draft["body"].startswith("Dear Sam,\n\nYour Python and PostgreSQL work")
    assert draft["body"].endswith("Best regards,\nAna Ruiz")
    assert draft["drafted_by"] == "model:openai:test"

    # The model saw the job and the matched skills, never the candidate's name or résumé.
    sent = json.dumps([s.body["messages"] for s in server.seen])
    assert "Sam" not in sent and "sam@example.org" not in sent and "Bolt" not in sent
    assert "Python, PostgreSQL" in json.dumps(server.seen[1].body["messages"])

    # Durable calls: journaled with a fingerprint, each request in the ledger.
    calls = [e for e in await engine.journal("t") if e.kind == "model"]
    assert [e.name for e in calls] == [
        "hiring.skills",
        "hiring.draft outreach",
        "hiring.classify reply",
    ]
    assert all(e.fingerprint for e in calls)
    rows = await engine.ledger("t")
    assert [(r.step, r.outcome) for r in rows] == [
        ("hiring.skills", "ok"),
        ("hiring.draft outreach", "ok"),
        ("hiring.classify reply", "ok"),
    ]
    costs = await engine.costs("t")
    assert costs.total.cost_usd == pytest.approx(3 * (200 * 1 + 50 * 10) / 1e6)

    # The candidate's audit trail names the model for both outputs about them.
    trail = await book.audit_trail_for(engine, cid)
    ai = [(e.kind, e.actor, e.output) for e in trail if e.kind.startswith("ai.")]
    assert ("ai.classify reply", "model:openai:test", "interested") in ai
    drafted = next(e for e in trail if e.kind == "ai.draft outreach")
    assert drafted.actor == "model:openai:test" and drafted.output == DRAFT
    assert drafted.inputs_hash and drafted.inputs_hash.startswith("sha256:")


async def test_quotes_not_in_the_description_are_re_asked_then_dropped_with_a_note(
    engine: TestEngine, server: WireServer
) -> None:
    made_up = {"name": "Spark", "required": True, "sentence": "Strong Spark skills are a must."}
    server.reply(
        answer({"skills": [*SKILLS["skills"][:1], made_up]}),  # one quote is invented
        answer({"skills": [SKILLS["skills"][0], made_up]}),  # asked again, still invented
        answer({"subject": "Hello [Name]", "body": "Hi there."}),  # a placeholder: re-asked
        answer(DRAFT),
        answer("not json at all"),  # re-asked by plait.ai
        answer({"label": "question", "slot": None}),
    )
    cid = await add_candidate(engine)
    h = await engine.start(tasks, config(spec(server)), job(), cid, REPLY, id="t")
    await engine.run_until_idle()
    out = await h.result()
    assert [s["name"] for s in out["skills"]] == ["Python"]
    assert out["notes"] == [
        "left out 'Spark': the model's quote 'Strong Spark skills are a must.' is not in the "
        "description"
    ]
    re_ask = server.seen[1].body["messages"]
    assert re_ask[-1]["role"] == "user" and "Strong Spark skills" in re_ask[-1]["content"]
    assert re_ask[-2]["role"] == "assistant"  # the model sees its own answer
    assert "placeholder" in server.seen[3].body["messages"][-1]["content"]
    assert out["draft"]["subject"] == DRAFT["subject"] and out["reply"] == ["question", None]
    rows = await engine.ledger("t")
    assert [(r.step, r.outcome, r.reask) for r in rows] == [
        ("hiring.skills", "ok", 0),
        ("hiring.skills (re-ask)", "ok", 0),
        ("hiring.draft outreach", "invalid_output", 0),
        ("hiring.draft outreach", "ok", 1),
        ("hiring.classify reply", "invalid_output", 0),
        ("hiring.classify reply", "ok", 1),
    ]


async def test_an_explicit_unsubscribe_is_a_rule_no_model_is_asked(
    engine: TestEngine, server: WireServer
) -> None:
    server.reply(answer(SKILLS), answer(DRAFT))
    cid = await add_candidate(engine)
    stop = REPLY.model_copy(update={"text": "Please remove me from your list."})
    h = await engine.start(tasks, config(spec(server)), job(), cid, stop, id="t")
    await engine.run_until_idle()
    assert (await h.result())["reply"] == ["unsubscribe", None]
    assert asked(server) == ["ExtractedSkills", "DraftText"]


async def test_the_offline_path_is_unchanged(engine: TestEngine, server: WireServer) -> None:
    cid = await add_candidate(engine)
    h = await engine.start(tasks, config("offline"), job(), cid, REPLY, id="t")
    await engine.run_until_idle()
    out = await h.result()
    expected = [
        {"name": s.name, "required": s.required, "sentence": s.sentence}
        for s in extract_skills(DESCRIPTION)
    ]
    assert out["skills"] == expected and out["proposed_by"] == "offline"
    assert out["reply"] == list(classify_offline(REPLY.text))
    assert out["draft"]["drafted_by"] == "template"
    assert out["draft"]["body"].startswith("Dear Sam,\n\nI am Ana Ruiz at Acme.")
    assert server.seen == []
    assert not [e for e in await engine.journal("t") if e.kind == "model"]
    assert await engine.ledger("t") == []
    trail = await book.audit_trail_for(engine, cid)
    assert {(e.kind, e.actor) for e in trail} == {
        ("ai.draft outreach", "model:template"),
        ("ai.classify reply", "model:offline"),
    }


async def test_a_model_that_is_down_fails_the_workflow_visibly_and_it_resumes(
    engine: TestEngine, server: WireServer
) -> None:
    cid = await add_candidate(engine)
    h = await engine.start(tasks, config(spec(server)), job(), cid, REPLY, id="t")
    await engine.run_until_idle()  # every attempt gets a 500: the call fails for good
    info = await engine.get("t")
    assert info.status == "failed"
    assert "ModelServerError" in str(info.error)
    assert len(server.seen) == 4  # the retries, then no switch to the offline tasks
    assert await book.audit_trail_for(engine, cid) == []

    server.reply(answer(SKILLS), answer(DRAFT), answer({"label": "interested", "slot": None}))
    await engine.resume("t")
    await engine.run_until_idle()
    assert (await h.result())["proposed_by"] == "openai:test"
    outcomes = [r.outcome for r in await engine.ledger("t")]
    assert outcomes == ["ModelServerError"] * 4 + ["ok"] * 3


@pytest.mark.backends("sqlite")  # about the model, not the store
async def test_a_fallback_answers_when_the_first_model_is_down(
    engine: TestEngine, server: WireServer
) -> None:
    server.reply(answer(SKILLS), answer(DRAFT), answer({"label": "interested", "slot": None}))
    cid = await add_candidate(engine)
    down = f"openai:gone@http://127.0.0.1:{free_port()}/v1"
    h = await engine.start(tasks, config(f"{down},{spec(server)}"), job(), cid, REPLY, id="t")
    await engine.run_until_idle()
    out = await h.result()
    assert out["proposed_by"] == "openai:test" and out["draft"]["drafted_by"] == "model:openai:test"
    rows = await engine.ledger("t")
    assert {r.answered_by for r in rows if r.outcome == "ok"} == {"openai:test"}
    assert {r.model for r in rows if r.outcome != "ok"} == {"openai:gone"}


def test_a_job_names_a_model_it_can_use() -> None:
    assert config(" Offline ").ai == "offline"
    assert config("openai:gpt-4o-mini").ai == "openai:gpt-4o-mini"
    with pytest.raises(ValueError, match="unknown model 'gpt-4o'"):
        config("gpt-4o")


# -- the pipeline, with a model ---------------------------------------------------------
WORKFLOWS = [job_pipeline, screening, decline, candidate_journey]


@pytest.fixture
async def mailbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[ReceivedMail]]:
    received: list[ReceivedMail] = []

    async def keep(mail: ReceivedMail) -> None:
        received.append(mail)

    async with DevMailServer(keep) as smtp:
        monkeypatch.setenv("HIRING_SMTP", f"smtp://127.0.0.1:{smtp.port}")
        monkeypatch.setenv("HIRING_SECRET", "a-test-secret-that-is-long-enough")
        settings.cache_clear()
        yield received
    settings.cache_clear()


async def answer_task(
    engine: plait.Engine, title: str, edit: dict[str, Any] | None = None
) -> plait.HumanTask:
    found = [t for t in await engine.tasks(status="open") if t.title.startswith(title)]
    assert len(found) == 1, [t.title for t in await engine.tasks(status="open")]
    task = found[0]
    await engine.complete_task(task.id, {**(task.proposal or {}), **(edit or {})}, by="ana")
    return task


@pytest.mark.backends("sqlite")
async def test_a_job_with_a_model_extracts_drafts_and_classifies_through_it(
    test_engine: TestEngine, server: WireServer, mailbox: list[ReceivedMail]
) -> None:
    engine = test_engine
    for wf in WORKFLOWS:
        engine.register(wf)
    engine.prices = PRICES
    server.reply(
        answer(SKILLS),
        answer({"subject": "Hi [First name]", "body": "x"}),  # re-asked
        answer(DRAFT),
        answer({"label": "not interested", "slot": None}),
    )
    cid = await add_candidate(engine)
    description = await engine.put_blob(DESCRIPTION.encode(), content_type="text/markdown")
    job_id = "job-data-eng"
    await engine.start(job_pipeline, config(spec(server)), description, [cid], id=job_id)
    step = timedelta(minutes=1)
    await engine.run_until_idle(within=step)

    skills = await answer_task(engine, "Confirm the skills")
    assert skills.context["proposed_by"] == "openai:test"
    assert [s["name"] for s in skills.proposal["skills"]] == ["Python", "SQL", "Kubernetes"]
    await engine.run_until_idle(within=step)
    await answer_task(engine, "Approve the shortlist")
    await engine.run_until_idle(within=step)
    outreach = await answer_task(engine, "Approve the outreach")
    assert outreach.proposal["drafted_by"] == "model:openai:test"
    await engine.run_until_idle(within=step)
    assert [read_mail(m.data).subject for m in mailbox] == ["Senior Data Engineer at Acme"]
    assert "Your Python and PostgreSQL work" in read_mail(mailbox[0].data).text

    # A restart: another engine on the same database carries on, replaying every journal.
    first = engine
    async with TestEngine(
        first.url, workflows=WORKFLOWS, prices=PRICES, start=first.clock.now()
    ) as engine:
        journey = outreach.workflow_id
        await engine.signal(
            journey,
            "reply",
            {
                "message_id": "<no@example.org>",
                "text": "Thanks, but I have just accepted another offer.",
                "received_at": datetime(2026, 12, 2, tzinfo=UTC).isoformat(),
            },
        )
        await engine.run_until_idle(within=step)
        assert await engine.handle(journey).result() == "declined"
        await engine.signal(job_id, "close", None)
        await engine.run_until_idle(within=step)
        assert await engine.handle(job_id).result() == {cid: "declined"}

    # Four requests in all: the replays after every wait and the restart asked nothing.
    engine = first
    assert asked(server) == ["ExtractedSkills", "DraftText", "DraftText", "ReplyIntent"]
    by_step = await engine.costs(by="step")
    assert {line.key: line.attempts for line in by_step.lines} == {
        "hiring.skills": 1,
        "hiring.draft outreach": 2,
        "hiring.classify reply": 1,
    }
    assert (await engine.costs()).total.cost_usd == pytest.approx(4 * 700 / 1e6)
    kinds = {(e.kind, e.actor) for e in await book.audit_trail_for(engine, cid)}
    assert {
        ("ai.draft outreach", "model:openai:test"),
        ("ai.classify reply", "model:openai:test"),
        ("ai.score", "model:offline:all-MiniLM-L6-v2-int8"),
    } <= kinds


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("plait_model", "written", "chosen"),
    [
        ("openai:gpt-4o-mini", {}, "openai:gpt-4o-mini"),  # PLAIT_MODEL when the file is silent
        ("openai:gpt-4o-mini", {"ai": "offline"}, "offline"),  # the file wins
        (None, {}, "offline"),  # the default
    ],
)
async def test_a_new_job_takes_plait_model_once_into_its_input(
    test_engine: TestEngine,
    monkeypatch: pytest.MonkeyPatch,
    plait_model: str | None,
    written: dict[str, str],
    chosen: str,
) -> None:
    from hiring.intake import JobFiles
    from hiring.jobs import create_job

    if plait_model is None:
        monkeypatch.delenv("PLAIT_MODEL", raising=False)
    else:
        monkeypatch.setenv("PLAIT_MODEL", plait_model)
    cfg = JobConfig.model_validate({**config("offline").model_dump(exclude={"ai"}), **written})
    files = JobFiles(
        config=cfg, description=DESCRIPTION.encode(), description_name="job.md", calendars={}
    )
    wid = await create_job(test_engine, files, [])
    info = await test_engine.get(wid, decode=False)
    assert json.loads(info.input)[0]["ai"] == chosen  # journaled: replays choose the same
    stored = await test_engine.records.get(book.JOB, "data-eng")
    assert stored["config"]["ai"] == chosen


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("through", ["model", "offline"])
async def test_a_reply_naming_a_slot_picks_it(
    test_engine: TestEngine, server: WireServer, mailbox: list[ReceivedMail], through: str
) -> None:
    engine = test_engine
    for wf in WORKFLOWS:
        engine.register(wf)
    engine.prices = PRICES
    server.reply(
        answer(DRAFT),
        answer({"label": "interested", "slot": None}),
        answer({"label": "interested", "slot": 2}),
    )
    cid = await add_candidate(engine)
    brief = ai_tasks.brief_for(config("offline"), job(), ["Python"])
    cfg = config(spec(server) if through == "model" else "offline")
    h = await engine.start(
        candidate_journey, cfg, "Senior Data Engineer", cid, brief, id="j", subject=cid
    )
    step = timedelta(minutes=1)
    await engine.run_until_idle(within=step)
    await answer_task(engine, "Approve the outreach")
    await engine.run_until_idle(within=step)

    async def reply(n: int, text: str) -> None:
        at = datetime(2030, 1, 1, tzinfo=UTC).isoformat()
        payload = {"message_id": f"<r{n}@example.org>", "text": text, "received_at": at}
        await engine.signal("j", "reply", payload)
        await engine.run_until_idle(within=step)

    await reply(1, "Yes, happy to talk.")
    options = read_mail(mailbox[-1].data)
    assert options.subject == "Re: Interview times"
    await reply(2, "The second one works for me, thanks!")
    invite = read_mail(mailbox[-2].data).invite  # the candidate's, then the panel's
    assert invite is not None
    proposed = next(e for e in await engine.journal("j") if e.name.endswith("propose_slots"))
    assert invite.start == datetime.fromisoformat(proposed.output[1]["start"])
    if through == "model":
        assert asked(server) == ["DraftText", "ReplyIntent", "ReplyIntent"]
    else:
        assert server.seen == []
    labels = [
        e.output for e in await book.audit_trail_for(engine, cid) if e.kind == "ai.classify reply"
    ]
    assert labels == ["interested", "interested"]

    # Erasing the candidate erases the model calls' prompts and answers with the journal.
    await engine.erase_subject(cid)
    calls = [e for e in await engine.journal(h.id) if e.kind == "model"]
    assert len(calls) == (3 if through == "model" else 0)
    assert all(e.output is None for e in calls)
    assert "second one" not in json.dumps([e.output for e in await engine.journal(h.id)])
