"""The hiring pipeline on a real clock, its worker processes killed (``kill -9``) mid-way.

Two ``python -m plait.cli worker tests.hiring.crash_app:engine`` processes (``hiring.app``'s
workflows, with a lease short enough for a quick takeover) run one job of seven candidates
on the test's database (SQLite, PostgreSQL); their mail goes to a ``DevMailServer`` in the
test process. The test plays every person through the engine API
(skills, shortlist, declines, outreach, a question, the decision) and every candidate
through ``hiring.routing`` (replies, a slot link, an unsubscribe link), while it kills
workers with SIGKILL at random moments and starts new ones. At the end every candidate
reached the outcome their story leads to, and the mail server received every message
exactly once -- except one, on purpose:

- **the window**: for B's outreach the worker is stopped as it hands the message over,
  the server accepts it (its ``250`` reaches the worker's socket, unread), and the worker
  is killed before it journals the step. A new worker runs the step again: the server
  gets a second copy with the same Message-ID, recipient, subject and text, and no other
  message twice.
- **before acceptance**: for C's first follow-up the worker is killed while the server
  holds the message, which the server then does not accept; the step's re-run sends it
  once.
- **a busy server**: F's decline is answered ``451`` once; the step tries again later and
  the decline arrives once.
- **random kills** land anywhere except inside the acceptance-to-journal window (they
  wait until every accepted message's step is journaled, holding back new acceptances
  meanwhile): whatever they interrupt, nothing is lost and nothing sent twice.

Which worker sent a message is read from ``/proc`` (the SMTP client's socket), so the
workers run the application unchanged. Linux only, like the engine's crash tests.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import plait
from hiring import book, jobs, routing
from hiring import settings as hiring_settings
from hiring.app import WORKFLOWS
from hiring.intake import load_candidates, load_job_folder
from hiring.mail.devserver import DevMailServer, MailView, ReceivedMail
from hiring.mail.inbound import parse_raw
from hiring.mail.outbound import Sender, message_id_for
from hiring.models import Slot
from plait.testing import TestEngine
from tests.procs import WorkerProcesses

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SECRET = "a-crash-test-secret-long-enough"
JOB_ID = "crash-job"
TITLE = "Backend Engineer"
COMPANY = "Kestrel Freight"
FROM = "talent@kestrel.example"
PANEL = ("ines.moreau@kestrel.example", "olu.bello@kestrel.example")
BUDGET = 90.0  # seconds: only catches a hang (a run takes 20-40 s)

DESCRIPTION = """# Backend Engineer

Kestrel Freight moves parcels across Europe; our backend plans the routes.

## Responsibilities
- Build and run Python services on PostgreSQL
- Design REST APIs used by our mobile apps

## Requirements
- Several years of Python in production
- PostgreSQL: schema design and query tuning
- Docker and CI pipelines
"""

JOB_TOML = f"""
id = "{JOB_ID}"
title = "{TITLE}"
time_zone = "UTC"
interview_minutes = 30
buffer_minutes = 0
shortlist_size = 5

[sender]
name = "Mara Lind"
email = "{FROM}"
company = "{COMPANY}"

[[panel]]
name = "Ines Moreau"
email = "{PANEL[0]}"

[[panel]]
name = "Olu Bello"
email = "{PANEL[1]}"

# Demo speed, in seconds: C hears nothing back and gets two follow-ups, then "no response".
[cadence]
follow_ups = [5, 10]
no_response_after = 15
slot_choice_within = 600
decision_due = 600
skills_review_due = 600
"""

# letter -> (name, e-mail, résumé); A-E are shortlisted, F and G declined.
PEOPLE = {
    "A": ("Ada Quist", "ada@mail.example", "Python developer, 7 years: services on PostgreSQL, "
          "REST APIs, Docker, CI pipelines. Tuned slow PostgreSQL queries."),
    "B": ("Ben Ortiz", "ben@mail.example", "Backend engineer. Python and Django for 5 years, "
          "PostgreSQL schema design, Docker."),
    "C": ("Cai Wen", "cai@mail.example", "Software engineer: Python APIs, PostgreSQL, GitLab "
          "CI, Docker images for our services."),
    "D": ("Dana Roe", "dana@mail.example", "Python engineer building REST APIs with FastAPI "
          "and PostgreSQL; CI with GitHub Actions."),
    "E": ("Eli Park", "eli@mail.example", "Python scripting for data pipelines; some SQL "
          "and Docker."),
    "F": ("Fay Lund", "fay@mail.example", "Accountant: month-end close, audits, Excel."),
    "G": ("Gus Moss", "gus@mail.example", "Nurse on a cardiac ward for ten years."),
}  # fmt: skip
SHORTLISTED = ("A", "B", "C", "D", "E")
OUTCOMES = {  # what each shortlisted candidate's story ends in
    "A": "offer",  # interested, picks a slot by link, is rescheduled, gets an offer
    "B": "declined",  # asks a question, gets an answer, then is not interested
    "C": "no response",  # never answers: two follow-ups, then no response
    "D": "unsubscribed",  # one-click unsubscribe link
    "E": "not contacted",  # the recruiter declines to send the outreach
}
WINDOW = ("B", "outreach")  # killed after the server accepted it, before the journal
BEFORE = ("C", "follow-up")  # killed while the server holds it, before accepting it
TRANSIENT = ("F", "decline")  # the server answers 451 once: the step tries again later


def expected_mail() -> collections.Counter[tuple[str, str]]:
    """(recipient, kind) of every message the run must send, once each."""
    email = {k: v[1] for k, v in PEOPLE.items()}
    want = [(email[k], "outreach") for k in "ABCD"]
    want += [(email["A"], "slots"), (email["B"], "answer")]
    want += [(email["C"], "follow-up")] * 2
    want += [(to, f"invite/{seq}") for seq in (0, 1) for to in (email["A"], *PANEL)]
    want += [(email[k], "decline") for k in "FG"]
    return collections.Counter(want)


def kind_of(view: MailView) -> str:
    subject = view.subject
    if subject == f"{TITLE} at {COMPANY}":
        return "outreach"
    if subject == f"Re: {TITLE} at {COMPANY}":
        return "follow-up"
    if subject == "Re: Interview times":
        return "slots"
    if subject == "Re: your question":
        return "answer"
    if subject == f"Your application: {TITLE}":
        return "decline"
    if subject == f"Interview: {TITLE}" and view.invite is not None:
        return f"invite/{view.invite.sequence}"
    return f"unexpected: {subject}"


# -- which worker process sent a message -----------------------------------------------------
def _tcp_sockets() -> list[tuple[int, int, int, str]]:
    """(local port, remote port, receive queue bytes, inode) of every IPv4 TCP socket."""
    out = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        local, remote, queues, inode = f[1], f[2], f[4], f[9]
        out.append(
            (
                int(local.rsplit(":", 1)[1], 16),
                int(remote.rsplit(":", 1)[1], 16),
                int(queues.split(":")[1], 16),
                inode,
            )
        )
    return out


def client_socket(peer: str, server_port: int) -> tuple[str, int] | None:
    """The SMTP client's socket (inode, unread bytes) for the server's peer ``host:port``."""
    port = int(peer.rsplit(":", 1)[1])
    for local, remote, unread, inode in _tcp_sockets():
        if local == port and remote == server_port and inode != "0":
            return inode, unread
    return None


def owner(inode: str, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the socket ``inode``."""
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


class NotAccepted(Exception):
    """Raised by the mail callback: the server answers 451 and keeps nothing."""


@dataclass
class Run:
    """The workers, the mail server's side, and what the test did to them."""

    tmp: Path
    db_url: str
    rng: random.Random
    workers: WorkerProcesses
    client: plait.Engine
    port: int = 0
    received: list[ReceivedMail] = field(default_factory=list)
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    journaled: set[str] = field(default_factory=set)
    kills: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    kill_log: list[tuple[float, int, str]] = field(default_factory=list)
    window_id: str | None = None
    transient_id: str | None = None
    doomed: set[int] = field(default_factory=set)  # stopped, to be killed in the window
    sent_by: list[tuple[float, int, str, tuple[str, str]]] = field(default_factory=list)
    before_id: str | None = None
    candidates: dict[str, str] = field(default_factory=dict)  # letter -> candidate id
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    # -- workers -----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "PLAIT_DATABASE_URL": self.db_url,
            "HIRING_SMTP": f"smtp://127.0.0.1:{self.port}",
            "HIRING_SECRET": SECRET,
        }

    def spawn(self) -> subprocess.Popen[bytes]:
        return self.workers.start_worker(self.env(), concurrency=50, grace=1)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.workers.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes], why: str) -> None:
        """SIGKILL ``proc``, reap it, start a new worker in its place."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills.append(why)
        self.kill_log.append((time.time(), proc.pid, why))
        print(f"{time.monotonic() - self.t0:6.2f} kill {proc.pid}: {why}")
        self.spawn()

    # -- the mail server's callback --------------------------------------------------------
    async def on_mail(self, mail: ReceivedMail) -> None:
        found = client_socket(mail.peer, self.port)
        pid = owner(found[0], [p.pid for p in self.alive()]) if found else None
        view = mail.view()
        what = (view.to[0] if view.to else "?", kind_of(view))
        before = what == self.target(BEFORE) and self.before_id is None
        window = what == self.target(WINDOW) and self.window_id is None
        # A kill waits until no other accepted message awaits its journal entry; other
        # acceptances wait while it holds the gate.
        async with self.quiet() if before or window else self.gate:
            proc = next((p for p in self.alive() if p.pid == pid), None)
            if proc is None or proc.pid in self.doomed:  # killed meanwhile, or about to be:
                raise NotAccepted("the sender is gone")  # nobody reads an answer
            if what == self.target(TRANSIENT) and self.transient_id is None:
                self.transient_id = view.message_id
                raise NotAccepted("the server is busy: try again later")
            if before:
                self.before_id = view.message_id
                self.kill(proc, f"before acceptance of {what}")
                raise NotAccepted("killed before acceptance")
            self.received.append(mail)
            self.sent_by.append((time.time(), proc.pid, view.message_id, what))
            if window:
                self.window_id = view.message_id
                os.kill(proc.pid, signal.SIGSTOP)  # it cannot read the 250 nor journal
                self.doomed.add(proc.pid)
                self.tasks.append(asyncio.create_task(self.kill_in_window(proc, mail.peer)))

    @contextlib.asynccontextmanager
    async def quiet(self) -> AsyncIterator[None]:
        """Holds the gate at a moment the step of every accepted message is journaled."""
        deadline = time.monotonic() + 30
        while True:
            await self.gate.acquire()
            try:
                if await self.sent_ids_journaled():
                    break
            except BaseException:
                self.gate.release()
                raise
            self.gate.release()
            if time.monotonic() > deadline:
                raise AssertionError(f"messages never journaled\n{self.workers.log_text()}")
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            self.gate.release()

    def target(self, which: tuple[str, str]) -> tuple[str, str]:
        return PEOPLE[which[0]][1], which[1]

    async def kill_in_window(self, proc: subprocess.Popen[bytes], peer: str) -> None:
        """Kills ``proc`` once the server's acceptance sits unread in its socket."""

        async def acceptance_arrived() -> bool:
            found = client_socket(peer, self.port)
            return found is not None and found[1] > 0

        await self.until(acceptance_arrived, 20, "the server's 250 in the stopped worker's socket")
        # Not behind the gate: the stopped worker may hold database locks that the test's
        # own reads (under the gate) queue behind; its later messages are refused anyway.
        self.kill(proc, "between acceptance and journal")

    # -- random kills, outside the window -------------------------------------------------
    async def sent_ids_journaled(self) -> bool:
        """Whether the step of every accepted message is journaled (Message-IDs derive from
        the step's idempotency key: ``<workflow>:<seq>``, ``:<n>`` for the panel's copies)."""
        accepted = {m.view().message_id for m in self.received}
        if accepted <= self.journaled:
            return True
        sender = Sender(name="x", address=FROM, reply_domain="x", unsubscribe_url="http://x")
        page = await self.client.page(limit=500)
        for w in page.items:
            if w.name not in ("hiring.candidate", "hiring.decline"):
                continue
            for e in await self.client.journal(w.id):
                if e.kind == "step" and e.status == "completed":
                    key = f"{w.id}:{e.seq}"
                    self.journaled.add(message_id_for(key, sender, SECRET))
                    for n in range(len(PANEL)):
                        self.journaled.add(message_id_for(f"{key}:{n}", sender, SECRET))
        return accepted <= self.journaled

    async def kill_random(self, why: str) -> None:
        """Kills a random worker, at a moment no accepted message awaits its journal entry."""
        async with self.quiet():
            procs = [p for p in self.alive() if p.pid not in self.doomed]
            self.kill(self.rng.choice(procs), why)

    def maybe_kill(self, why: str, chance: float = 0.6) -> None:
        """With ``chance``, a random kill a random moment (up to 0.5 s) from now."""
        if self.rng.random() >= chance:
            return

        async def later() -> None:
            await asyncio.sleep(self.rng.uniform(0, 0.5))
            await self.kill_random(why)

        self.tasks.append(asyncio.create_task(later()))

    async def until(
        self, predicate: Callable[[], Awaitable[bool]], timeout: float, what: str
    ) -> None:
        await self.workers.until(predicate, timeout, what)


def write_job(folder: Path) -> Path:
    (folder / "candidates").mkdir(parents=True)
    (folder / "description.md").write_text(DESCRIPTION)
    (folder / "job.toml").write_text(JOB_TOML)
    rows = ["name,email,time_zone,file,source"]
    for letter, (name, email, resume) in PEOPLE.items():
        (folder / "candidates" / f"{letter}.txt").write_text(f"{name}\n\n{resume}\n")
        rows.append(f"{name},{email},UTC,candidates/{letter}.txt,careers page")
    (folder / "candidates.csv").write_text("\n".join(rows) + "\n")
    return folder


def reply(view: MailView, text: str, n: int) -> bytes:
    """A candidate's reply to ``view``, to its Reply-To address."""
    to = view.reply_to or ""
    return (
        f"From: {view.to[0]}\r\nTo: {to}\r\nSubject: Re: {view.subject}\r\n"
        f"Message-ID: <reply-{n}@mail.example>\r\nIn-Reply-To: {view.message_id}\r\n"
        f"Date: {datetime.now(UTC):%a, %d %b %Y %H:%M:%S +0000}\r\n\r\n{text}\r\n"
    ).encode()


@pytest.fixture
async def run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Run]:
    monkeypatch.setenv("HIRING_SECRET", SECRET)
    hiring_settings.settings.cache_clear()
    seed = int(os.environ.get("HIRING_CRASH_SEED") or random.randrange(1 << 30))
    print(f"HIRING_CRASH_SEED={seed}")  # shown when the test fails: the same kill choices
    workers = WorkerProcesses(tmp_path, "tests.hiring.crash_app:engine")
    client = plait.Engine(db_url, workflows=WORKFLOWS)
    r = Run(tmp_path, db_url, random.Random(seed), workers, client)
    try:
        async with client, DevMailServer(r.on_mail) as server:
            r.port = server.port
            monkeypatch.setenv("HIRING_SMTP", f"smtp://127.0.0.1:{server.port}")
            hiring_settings.settings.cache_clear()
            yield r
            for t in r.tasks:
                t.cancel()
            await asyncio.gather(*r.tasks, return_exceptions=True)
    finally:
        workers.cleanup()
        hiring_settings.settings.cache_clear()


async def test_kill_9_mid_pipeline_loses_nothing_and_sends_once(run: Run) -> None:
    client = run.client
    files = load_job_folder(write_job(run.tmp / "job"))
    people = load_candidates(run.tmp / "job")
    run.candidates = {k: jobs.candidate_id(JOB_ID, v[1]) for k, v in PEOPLE.items()}
    letter_of = {cid: k for k, cid in run.candidates.items()}
    run.spawn()
    run.spawn()
    job = await jobs.create_job(client, files, people, by="test")

    handled: set[str] = set()  # Message-IDs the candidates reacted to (first copies)
    answered: collections.Counter[str] = collections.Counter()

    async def answer(task: Any, label: str, value: object, by: str) -> None:
        await client.complete_task(task.id, value, by=by)
        print(f"{time.monotonic() - run.t0:6.2f} answered {label}")
        answered[label] += 1

    async def journey(letter: str) -> str:
        wid = await routing.journey(client, run.candidates[letter])
        assert wid is not None
        return wid

    async def on_task(task: Any) -> None:
        title = task.title
        if title.startswith("Confirm the skills"):
            await answer(task, "skills", task.proposal, "rita")
            run.maybe_kill("while scoring", chance=1.0)
        elif title.startswith("Approve the shortlist"):
            proposal = dict(task.proposal)
            proposal["candidates"] = [
                {**c, "include": letter_of[c["candidate_id"]] in SHORTLISTED}
                for c in proposal["candidates"]
            ]
            await answer(task, "shortlist", proposal, "hank")
            run.maybe_kill("after the shortlist")
        elif title.startswith("Send a courteous decline"):
            await answer(task, "declines", True, "rita")
            run.maybe_kill("while declining")
        elif title == "Approve the outreach e-mail":
            letter = next(k for k, v in PEOPLE.items() if v[1] == task.context["email"])
            await answer(task, "outreach", {**task.proposal, "approved": letter != "E"}, "rita")
            run.maybe_kill("while sending outreach", chance=0.4)
        elif title == "Answer the candidate's question":
            await answer(task, "question", {"answer": "Yes: two days a week from home."}, "rita")
            run.maybe_kill("while answering")
        elif title.startswith("Record the hiring decision"):
            await answer(task, "decision", {"outcome": "offer", "notes": "strong"}, "hank")
            run.maybe_kill("after the decision")
        else:
            raise AssertionError(f"unexpected task {title!r}")

    async def on_mail(view: MailView) -> None:
        kind = kind_of(view)
        print(f"{time.monotonic() - run.t0:6.2f} received {kind} for {view.to[0]}")
        letter = next((k for k, v in PEOPLE.items() if v[1] == view.to[0]), None)
        if kind == "outreach" and letter == "A":
            got = await routing.route(
                client, parse_raw(reply(view, "Yes, I would love to talk.", 1))
            )
            assert got.outcome == "reply", got
        elif kind == "outreach" and letter == "B":
            text = "Is the role remote, and what is the salary range?"
            got = await routing.route(client, parse_raw(reply(view, text, 2)))
            assert got.outcome == "reply", got
        elif kind == "answer" and letter == "B":
            text = "Thanks, but I am not interested in changing jobs right now."
            got = await routing.route(client, parse_raw(reply(view, text, 3)))
            assert got.outcome == "reply", got
        elif kind == "outreach" and letter == "D":
            url = next(u for u in view.list_unsubscribe if u.startswith("http"))
            await routing.unsubscribe(client, url.rstrip("/").rsplit("/", 1)[1])
        elif kind == "slots" and letter == "A":
            token = re.search(r"/hiring/slot/([A-Za-z0-9._-]+)", view.text)
            assert token, view.text
            await routing.choose_slot(client, token.group(1))
        elif kind == "invite/0" and letter == "A":  # the interview moves to now: it is over soon
            now = datetime.now(UTC)
            slot = Slot(start=now - timedelta(minutes=29), end=now + timedelta(seconds=1))
            await client.signal(await journey("A"), "reschedule", slot.model_dump(mode="json"))
        else:
            return
        run.maybe_kill(f"after {letter}'s {kind}")

    async def drive() -> None:
        closed = False
        while True:
            for t in run.tasks:  # a kill that failed fails the test now
                if t.done() and not t.cancelled() and t.exception() is not None:
                    await t
            info = await client.get(job)
            if info.status == "completed":
                break
            assert info.status in ("running", "waiting", "pending"), (info, run.workers.log_text())
            for task in await client.tasks(status="open"):
                await on_task(task)
            for mail in list(run.received):
                view = mail.view()
                if view.message_id not in handled:
                    handled.add(view.message_id)
                    await on_mail(view)
            if not closed and answered["shortlist"]:
                await client.signal(job, "close", None, dedup_key="close", by="rita")
                closed = True
            await asyncio.sleep(0.05)

    try:  # a bound that only catches a hang (a run takes 25-45 s)
        await asyncio.wait_for(drive(), BUDGET)
    except TimeoutError:
        raise AssertionError(f"the pipeline did not finish\n{run.workers.log_text()}") from None

    # Every candidate reached the outcome of their story: nothing lost.
    outcomes = await client.handle(job).result(timeout=1)
    assert outcomes == {run.candidates[k]: v for k, v in OUTCOMES.items()}, run.workers.log_text()
    for letter in "FG":
        page = await client.page(
            name="hiring.decline", attributes={"candidate": run.candidates[letter]}
        )
        assert [w.status for w in page.items] == ["completed"], (letter, page.items)
        assert await client.handle(page.items[0].id).result(timeout=1) == "not selected"
    # every person's answer was taken once, and nothing waits for one
    assert answered == {"skills": 1, "shortlist": 1, "declines": 1, "outreach": 5,
                        "question": 1, "decision": 1}, answered  # fmt: skip
    assert await client.tasks(status="open") == []
    trail = await book.audit_trail_for(client, run.candidates["A"])
    assert [(e.actor, e.kind) for e in trail if e.kind == "human.decision: offer"] == [
        ("hank", "human.decision: offer")
    ]

    # The workers were killed: at random points, before an acceptance, and in the window.
    assert len(run.kills) >= 3 and "while scoring" in run.kills, run.kills
    assert "between acceptance and journal" in run.kills, run.kills
    assert any(k.startswith("before acceptance") for k in run.kills), run.kills
    for t in run.tasks:  # every kill finished
        await t

    # At the mail server: every message once, but the one killed in the window: twice,
    # with the same Message-ID, recipient, subject and text.
    views = [m.view() for m in run.received]
    copies = collections.Counter(v.message_id for v in views)
    dups = {mid for mid, n in copies.items() if n > 1}
    events = sorted(
        [(t, "KILL", pid, why) for t, pid, why in run.kill_log]
        + [
            (t, "SENT", pid, f"{what} {mid} {'DUP' if mid in dups else ''}")
            for t, pid, mid, what in run.sent_by
        ]
    )
    assert {mid: n for mid, n in copies.items() if n > 1} == {run.window_id: 2}, "\n".join(
        map(str, events)
    )
    twice = [v for v in views if v.message_id == run.window_id]
    assert {(v.to, v.subject, v.text) for v in twice} == {
        (twice[0].to, twice[0].subject, twice[0].text)
    }
    assert (twice[0].to[0], kind_of(twice[0])) == run.target(WINDOW)
    unique = {v.message_id: v for v in views}
    by_kind = collections.Counter((v.to[0], kind_of(v)) for v in unique.values())
    assert by_kind == expected_mail(), by_kind
    all_copies = collections.Counter((v.to[0], kind_of(v)) for v in views)
    assert all_copies == expected_mail() + collections.Counter([run.target(WINDOW)])
    assert run.before_id in unique  # the message killed before acceptance arrived once after
    assert run.transient_id in unique  # so did the one the server asked to send again
    # every message came from a journaled step (its Message-ID is the step's key's)
    assert await run.sent_ids_journaled()
    # and each candidate's page lists each message sent about them once
    for letter, cid in run.candidates.items():
        logged = [
            r.value["message_id"]
            for r in await client.records.list(book.MESSAGE, prefix=f"{cid}/")
            if r.value.get("direction") == "sent"
        ]
        to = {PEOPLE[letter][1], *(PANEL if letter == "A" else ())}  # A's invites: the panel's
        sent = [v.message_id for v in unique.values() if v.to[0] in to]
        assert sorted(logged) == sorted(sent), (letter, logged, sent)
    # the reschedule updated the same interview
    invites = {
        kind_of(v): v.invite for v in unique.values() if v.to[0] == PEOPLE["A"][1] and v.invite
    }
    assert invites["invite/0"].uid == invites["invite/1"].uid


@plait.step
async def log_sent_twice(candidate_id: str) -> None:
    """What a send step that runs again after a crash (or a retry) does to the log."""
    for message_id in ("<m1@kestrel.example>", "<m1@kestrel.example>", "<m2@kestrel.example>"):
        await book.log_message(candidate_id, "sent", {"message_id": message_id, "subject": "s"})


@plait.workflow(name="test.log_sent_twice")
async def logs_twice(ctx: plait.Context, candidate_id: str) -> None:
    await log_sent_twice(candidate_id)


async def test_a_message_sent_again_is_listed_once_on_the_candidates_page(
    test_engine: TestEngine,
) -> None:
    test_engine.register(logs_twice)
    handle = await test_engine.start(logs_twice, "c1")
    await test_engine.run_until_idle()
    assert (await handle.info()).status == "completed"
    logged = await test_engine.records.list(book.MESSAGE, prefix="c1/")
    assert sorted(r.value["message_id"] for r in logged) == [
        "<m1@kestrel.example>",
        "<m2@kestrel.example>",
    ]


async def test_a_refused_decline_address_does_not_end_the_job(
    test_engine: TestEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decline the mail server refuses for good (550: no such mailbox) marks the address
    undeliverable; the job goes on with its shortlisted candidates (on the fake clock)."""
    received: list[ReceivedMail] = []

    async def keep(mail: ReceivedMail) -> None:
        received.append(mail)

    gone = PEOPLE["G"][1]
    monkeypatch.setenv("HIRING_SECRET", SECRET)
    async with DevMailServer(keep, refuse=lambda address: address == gone) as server:
        monkeypatch.setenv("HIRING_SMTP", f"smtp://127.0.0.1:{server.port}")
        hiring_settings.settings.cache_clear()
        try:
            for wf in WORKFLOWS:
                test_engine.register(wf)
            files = load_job_folder(write_job(tmp_path / "job"))
            job = await jobs.create_job(
                test_engine, files, load_candidates(tmp_path / "job"), by="test"
            )
            ids = {k: jobs.candidate_id(JOB_ID, v[1]) for k, v in PEOPLE.items()}
            for title, answer in [
                ("Confirm", None),
                ("Approve the shortlist", "A"),
                ("Send", True),
            ]:
                await test_engine.run_until_idle()
                (task,) = await test_engine.tasks(status="open")
                assert task.title.startswith(title), task.title
                if answer is None or answer is True:
                    value = task.proposal if answer is None else True
                else:
                    value = dict(task.proposal)
                    value["candidates"] = [
                        {**c, "include": c["candidate_id"] == ids[answer]}
                        for c in value["candidates"]
                    ]
                await test_engine.complete_task(task.id, value, by="rita")
            await test_engine.run_until_idle()
            assert (await test_engine.get(job)).status == "waiting"  # not failed
            declines = (await test_engine.page(name="hiring.decline", limit=50)).items
            assert len(declines) == 6 and {d.status for d in declines} == {"completed"}
            by_candidate = {d.attributes.get("candidate"): d for d in declines}
            assert by_candidate[ids["G"]].status_text == "declined (no message)"
            profile = await test_engine.records.get(book.CANDIDATE, ids["G"], type=book.Profile)
            assert profile.undeliverable
            assert sorted(m.view().to[0] for m in received) == sorted(PEOPLE[k][1] for k in "BCDEF")
        finally:
            hiring_settings.settings.cache_clear()
