"""A candidate's data: exported on request (everything held about them), then erased (by
the engine's API and by ``python -m hiring candidate erase``): their name, e-mail and
résumé are in no table afterwards, the audit skeleton stays, the job goes on."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hiring import book, report
from plait.testing import TestEngine
from tests.hiring.pipeline_kit import JOB, SECRET, Pipeline, pipeline
from tests.rawsql import sql

pytestmark = pytest.mark.timeout(120)


def everything(url: str) -> str:
    """Every payload column of every table and every blob, as one text to search."""
    queries = [
        "SELECT id, input, output, error, status_text, attributes FROM workflows",
        "SELECT output, error FROM journal",
        "SELECT error FROM step_attempts",
        "SELECT payload FROM signals",
        "SELECT title, proposal, context, answer, changes, comment FROM human_tasks",
        "SELECT payload FROM task_events",
        "SELECT kind, key, value FROM records",
        "SELECT input, journal, attempts FROM workflow_runs",
    ]
    text = " ".join(repr(sql(url, q)) for q in queries)
    blobs = sql(url, "SELECT data FROM blobs")
    text += " ".join(bytes(b[0]).decode(errors="replace") for b in blobs)  # type: ignore[arg-type]
    return unescape(text)


def unescape(text: str) -> str:
    """JSON inside JSON inside a repr: every level of escaping undone, so a name with an
    accent or a quoted sentence is found however deep it was encoded."""
    previous = None
    while previous != text:
        previous, text = text, text.replace("\\\\", "\\")
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return text.replace('\\"', '"').replace("\\n", "\n")


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLAIT_DATABASE_URL": url, "HIRING_SECRET": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "hiring", "candidate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def resume_line(engine: TestEngine, cid: str) -> str:
    """A long, distinctive line of the candidate's résumé, as the screening read it."""
    (screening,) = (await engine.page(name="hiring.screening", attributes={"candidate": cid})).items
    text = next(
        e.output for e in await engine.journal(screening.id) if e.name.endswith("read_resume")
    )
    assert isinstance(text, str)
    return max(text.splitlines(), key=len).strip()


async def contacted(p: Pipeline) -> tuple[list[str], list[str]]:
    await p.start()
    await p.confirm_skills()
    chosen, _ = await p.shortlist()
    await p.confirm_declines()
    await p.approve_outreach()
    cids = [c.candidate_id for c in await report.board(p.engine, JOB)]
    return chosen, [c for c in cids if c not in chosen]


async def test_export_then_erase_by_api_and_cli(
    test_engine: TestEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = test_engine
    async with pipeline(engine, tmp_path, monkeypatch) as p:
        chosen, declined = await contacted(p)
        cid = chosen[0]
        person = await p.profile(cid)
        assert (await p.reply(person.email, "Is the role remote?", number=1)).outcome == "reply"
        await p.step()
        line = await resume_line(engine, cid)
        assert len(line) > 40

        # -- the export: profile, messages both ways, the audit trail, the workflows
        data = await report.export(engine, cid)
        json.dumps(data, default=str)  # JSON-ready
        assert data["candidate"]["name"] == person.name
        assert data["candidate"]["email"] == person.email
        directions = {m["direction"] for m in data["messages"]}
        assert directions == {"sent", "received"}
        assert any("remote" in str(m.get("text")) for m in data["messages"])
        audit_kinds = {a["kind"] for a in data["audit"]}
        assert {"ai.score", "human.shortlisted", "mail.outreach"} <= audit_kinds
        names = {w["name"] for w in data["workflows"]}
        assert names == {"hiring.screening", "hiring.candidate"}
        assert line in json.dumps(data, default=str, ensure_ascii=False)
        before = await book.audit_trail_for(engine, cid)
        score = next(x for x in before if x.kind == "ai.score")
        evidence = [m["sentence"] for m in score.explanation["matched"]]
        assert evidence and all(len(s) > 20 for s in evidence)

        text = everything(engine.url)
        assert person.name in text and person.email in text and line in text

        # -- erased through the engine's API
        erased = await engine.erase_subject(cid, by="dpo")
        assert erased.cancelled  # the outreach was still waiting: cancelled first
        await p.step()

        text = everything(engine.url)
        for secret in (person.name, person.email, line, *evidence):
            assert secret not in text, f"{secret!r} is still in the database"
        after = await book.audit_trail_for(engine, cid)
        assert [(x.kind, x.actor, x.at) for x in after] == [(x.kind, x.actor, x.at) for x in before]
        assert all(x.output is None and x.explanation is None for x in after)
        with pytest.raises(LookupError, match="erased"):
            await report.export(engine, cid)

        # -- the job goes on; the board shows the erased candidate as erased
        job = await engine.get(p.job_wid)
        assert not job.status.finished
        board = {c.candidate_id: c for c in await report.board(engine, JOB)}
        assert len(board) == 10 and board[cid].stage == "erased"
        assert person.name not in board[cid].name
        other = await p.profile(chosen[1])
        await p.reply(other.email, "Yes, I'd love to talk!", number=2)
        await p.step()
        assert "Interview times" in p.mails_to(other.email)[-1].view().subject

        # -- and through the command line, for a declined candidate
        gone = await p.profile(declined[0])
        gone_line = await resume_line(engine, gone.id)
        text = everything(engine.url)
        assert all(s in text for s in (gone.name, gone.email, gone_line))
        done = await asyncio.to_thread(cli, engine.url, "erase", gone.id, "--by", "dpo", "--yes")
        assert done.returncode == 0, done.stderr
        assert f"erased {gone.id}" in done.stdout
        text = everything(engine.url)
        for secret in (gone.name, gone.email, gone_line):
            assert secret not in text, f"{secret!r} is still in the database"
        refused = await asyncio.to_thread(cli, engine.url, "export", gone.id)
        assert refused.returncode == 3 and "erased" in refused.stderr
        assert refused.stderr.startswith("error:") and "Traceback" not in refused.stderr
        kept = await p.profile(declined[1])  # the others' data is untouched
        assert kept.name in text
