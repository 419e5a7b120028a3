"""Driving the hiring pipeline in tests: a job folder with ten candidates, a local SMTP
server, the fake clock, and the people's answers given through the engine's API."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from hiring import book, jobs, routing
from hiring import settings as hiring_settings
from hiring.app import WORKFLOWS
from hiring.demo import sample_jobs
from hiring.intake import load_candidates, load_job_folder
from hiring.mail.devserver import DevMailServer, ReceivedMail
from hiring.mail.inbound import parse_json
from plait.testing import TestEngine

SECRET = "a-test-secret-long-enough-0123"
JOB = "backend-engineer"
TENTH = """Zoe Fallon
Boston, MA, USA
zoe.fallon@example.org

SUMMARY
Backend engineer with seven years of Python, Django and FastAPI services on PostgreSQL.
Led the migration of a payments ledger to partitioned PostgreSQL tables with zero downtime.

EXPERIENCE
Senior Backend Engineer, Harbor Freight Data (2019 - present)
- Built async Python services (asyncio, FastAPI) processing 2M events a day.
- Tuned PostgreSQL queries and indexes; introduced logical replication.
- Ran the team's on-call rotation and mentored three engineers.
"""


def job_folder(tmp: Path, *, shortlist_size: int = 5) -> Path:
    """The sample backend job, copied, with a tenth candidate and the shortlist size set."""
    folder = tmp / JOB
    shutil.copytree(next(p for p in sample_jobs() if p.name == JOB), folder)
    (folder / "candidates" / "zoe-fallon.txt").write_text(TENTH)
    with (folder / "candidates.csv").open("a") as listing:
        listing.write(
            "Zoe Fallon,zoe.fallon@example.org,America/New_York,"
            "candidates/zoe-fallon.txt,referral\n"
        )
    config = folder / "job.toml"
    text = re.sub(r"shortlist_size = \d+", f"shortlist_size = {shortlist_size}", config.read_text())
    config.write_text(text)
    return folder


@dataclass
class Pipeline:
    """One running job and what the mail server received."""

    engine: TestEngine
    folder: Path
    received: list[ReceivedMail] = field(default_factory=list)
    job_wid: str = ""

    async def step(self, within: timedelta = timedelta(minutes=1)) -> None:
        """Runs what can run, moving the fake clock at most ``within``."""
        await self.engine.run_until_idle(within=within)

    async def profile(self, cid: str) -> book.Profile:
        found = await self.engine.records.get(book.CANDIDATE, cid, type=book.Profile)
        assert isinstance(found, book.Profile)
        return found

    async def open_tasks(self, title: str) -> list[Any]:
        return [t for t in await self.engine.tasks(status="open") if t.title.startswith(title)]

    async def journey(self, cid: str) -> str:
        wid = await routing.journey(self.engine, cid)
        assert wid is not None, f"{cid} has no outreach workflow"
        return wid

    def mails_to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.received if address in m.rcpt_tos]

    async def start(self, by: str = "rita") -> None:
        files = load_job_folder(self.folder)
        self.job_wid = await jobs.create_job(
            self.engine, files, load_candidates(self.folder), by=by
        )
        await self.step()

    async def confirm_skills(self, by: str = "rita") -> dict[str, Any]:
        (task,) = await self.open_tasks("Confirm the skills")
        answer = dict(task.proposal)
        await self.engine.complete_task(task.id, answer, by=by)
        await self.step()
        return answer

    async def shortlist(
        self, *, add: int = 0, remove: int = 0, by: str = "hank"
    ) -> tuple[list[str], list[str]]:
        """Answers the shortlist (the proposal, with ``add``/``remove`` counts of changes);
        returns (chosen, proposed) ids in ranked order."""
        (task,) = await self.open_tasks("Approve the shortlist")
        entries = [dict(e) for e in task.proposal["candidates"]]
        proposed = [e["candidate_id"] for e in entries if e["include"]]
        included = [e for e in entries if e["include"]]
        excluded = [e for e in entries if not e["include"]]
        for e in included[1 : 1 + remove]:
            e["include"] = False
        for e in excluded[:add]:
            e["include"] = True
        await self.engine.complete_task(task.id, {"candidates": entries}, by=by)
        await self.step()
        return [e["candidate_id"] for e in entries if e["include"]], proposed

    async def confirm_declines(self, by: str = "rita") -> None:
        (task,) = await self.open_tasks("Send a courteous decline")
        await self.engine.complete_task(task.id, {"approved": True}, by=by)
        await self.step()

    async def approve_outreach(
        self, edits: dict[str, str] | None = None, by: str = "rita"
    ) -> dict[str, str]:
        """Approves every open outreach draft (adding ``edits[email]`` to a body); returns
        candidate id → the outreach's Message-ID."""
        edits = edits or {}
        for task in await self.open_tasks("Approve the outreach e-mail"):
            answer = dict(task.proposal)
            email = task.context["email"]
            if email in edits:
                answer["body"] = answer["body"] + "\n\n" + edits[email]
            await self.engine.complete_task(task.id, answer, by=by)
        await self.step()
        sent = {}
        for r in await self.engine.records.list(routing.MESSAGE_ID):
            sent.setdefault(str(r.value), r.key)
        return sent

    async def reply(
        self, address: str, text: str, *, number: int, to_mail: ReceivedMail | None = None
    ) -> routing.Routed:
        """The candidate answers the last mail they got, through the JSON webhook path."""
        payload = reply_payload(self, address, text, number, to_mail)
        return await routing.route(self.engine, parse_json(payload))


def reply_payload(
    p: Pipeline, address: str, text: str, number: int, to_mail: ReceivedMail | None = None
) -> dict[str, Any]:
    last = to_mail or p.mails_to(address)[-1]
    view = last.view()
    assert view.reply_to, "our mail carries a Reply-To address with a token"
    return {
        "from": address,
        "to": view.reply_to,
        "subject": f"Re: {view.subject}",
        "text": f"{text}\n\nOn Tue, {view.from_name} wrote:\n> {view.text[:80]}",
        "message_id": f"<reply-{number}@candidate.example>",
        "in_reply_to": view.message_id,
    }


def reply_raw(p: Pipeline, address: str, text: str, number: int, **headers: str) -> bytes:
    """The same reply as an RFC 822 message (what lands in the IMAP mailbox)."""
    payload = reply_payload(p, address, text, number)
    lines = [
        f"From: {payload['from']}",
        f"To: {payload['to']}",
        f"Subject: {payload['subject']}",
        f"Message-ID: {payload['message_id']}",
        f"In-Reply-To: {payload['in_reply_to']}",
        *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()),
        "Content-Type: text/plain; charset=utf-8",
        "",
        payload["text"],
    ]
    return "\r\n".join(lines).encode()


def calendar_of(mail: ReceivedMail) -> Any:
    """The mail's text/calendar part, parsed with icalendar."""
    import icalendar

    for part in message_from_bytes(mail.data).walk():
        if part.get_content_type() == "text/calendar":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return icalendar.Calendar.from_ical(data)
    raise AssertionError(f"no calendar in {mail.view().subject!r}")


@asynccontextmanager
async def pipeline(
    engine: TestEngine, tmp: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> AsyncIterator[Pipeline]:
    """A job folder, the mail server and the engine's workflows, ready to ``start``."""
    for workflow in WORKFLOWS:
        engine.register(workflow)
    p = Pipeline(engine, job_folder(tmp, **options))

    async def keep(mail: ReceivedMail) -> None:
        p.received.append(mail)

    async with DevMailServer(keep) as server:
        monkeypatch.setenv("HIRING_SECRET", SECRET)
        monkeypatch.setenv("HIRING_SMTP", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("HIRING_BASE_URL", "http://hiring.test")
        hiring_settings.settings.cache_clear()
        try:
            yield p
        finally:
            hiring_settings.settings.cache_clear()
