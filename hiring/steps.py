"""The hiring pipeline's steps: each a ``@plait.step``, journaled once it has finished, so a
replay never parses, scores or sends again. Side effects carry the step's idempotency key
(an e-mail's Message-ID is derived from it), so a retry after a crash repeats the same
message, never a different one.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import plait
from hiring import book
from hiring.documents import read_document
from hiring.mail.errors import PERMANENT_ERRORS, RecipientRefused
from hiring.mail.outbound import Draft, MessageKind, PrivacyNotice, compose, send
from hiring.mail.outbound import Sender as MailSender
from hiring.models import (
    Evidence,
    Job,
    JobConfig,
    Outreach,
    QuestionAnswer,
    Reply,
    ScoreCard,
    Skill,
    SkillReview,
    Slot,
)
from hiring.settings import settings

# A server that is down is tried again; a refused recipient or message is not (errors.py).
RETRY = plait.Retry(
    max_attempts=5, initial_interval=timedelta(seconds=2), non_retryable=PERMANENT_ERRORS
)
SOURCES = {  # how the privacy notice names where a candidate's details came from
    "upload": "the application you sent us",
    "folder": "the application you sent us",
    "csv": "the application you sent us",
    "json": "the application you sent us",
    "api": "the application you sent us",
    "ui": "the application you sent us",
}


class Status:
    """``ctx.set_status`` with the attributes the pipeline board filters on."""

    def __init__(self, ctx: plait.Context, **attributes: str) -> None:
        self.ctx = ctx
        self.attributes = attributes

    def set(self, text: str, stage: str, **more: str | int | float | bool) -> None:
        self.ctx.set_status(text, stage=stage, **self.attributes, **more)


def summary(card: ScoreCard) -> str:
    """One line for the shortlist: the required skills met and the strongest evidence."""
    required = [m for m in card.matched if m.required]
    missing = ", ".join(card.missing[:3])
    text = f"{len(required)} required skills shown ({', '.join(m.skill for m in required[:4])})"
    return text + (f"; missing {missing}" if missing else "")


# -- the job ---------------------------------------------------------------------------
_SECTION = re.compile(r"^\s*#*\s*(?P<h>[A-Za-z][A-Za-z /&'-]{2,40}?)\s*:?\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(?P<t>.+)$")
_SENIORITY = re.compile(r"\b(intern|junior|mid-level|senior|staff|principal|lead|head of)\b", re.I)


@plait.step(retry=RETRY)
async def parse_job(config: JobConfig, description: plait.BlobRef) -> Job:
    """The description's text and its parts: title, responsibilities, requirements."""
    blob = await plait.get_blob(description)
    doc = read_document(blob.data, None, blob.content_type)
    lines = [ln.rstrip() for ln in doc.text.splitlines()]
    title = config.title or next((ln.strip("# ").strip() for ln in lines if ln.strip()), config.id)
    sections: dict[str, list[str]] = {}
    current = "summary"
    for line in lines[1:]:
        heading = _SECTION.match(line)
        bullet = _BULLET.match(line)
        if heading and not bullet and len(line.split()) <= 5:
            current = heading.group("h").strip().lower()
            continue
        if line.strip():
            sections.setdefault(current, []).append(bullet.group("t") if bullet else line.strip())

    def pick(*names: str) -> list[str]:
        return [t for key, items in sections.items() if any(n in key for n in names) for t in items]

    seniority = _SENIORITY.search(title) or _SENIORITY.search(doc.text)
    return Job(
        id=config.id,
        title=title,
        summary=" ".join(sections.get("summary", [])[:3]),
        responsibilities=pick("responsib", "what you will do", "what you'll do", "the role"),
        requirements=pick("requir", "qualif", "what you bring", "skills", "nice", "bonus"),
        seniority=seniority.group(1).lower() if seniority else None,
        location=config.location,
        time_zone=config.time_zone,
        text=doc.text,
        source=description,
    )


@plait.step
async def propose_skills(job: Job, ai: str) -> SkillReview:
    """The skills the description asks for, each with the sentence that asked (offline: the
    skill vocabulary and the sentence's wording; see docs/hiring.md)."""
    from hiring import extract_skills

    found = extract_skills(job.text)
    skills = [Skill(name=s.name, required=s.required, sentence=s.sentence) for s in found]
    return SkillReview(skills=skills or [Skill(name=job.title, required=True)])


# -- screening --------------------------------------------------------------------------
@plait.step(retry=RETRY)
async def read_resume(candidate_id: str) -> str:
    """The résumé's text (from its stored file: text, Markdown, PDF or DOCX)."""
    p = await book.profile(candidate_id)
    blob = await plait.get_blob(p.resume)
    return read_document(blob.data, p.resume_name, blob.content_type).text


@plait.step
async def score_resume(
    job_id: str, job_text: str, skills: SkillReview, candidate_id: str, resume: str, key: str
) -> ScoreCard:
    """The résumé, redacted, scored against the confirmed skills, with the evidence."""
    from hiring import redact, score

    redacted = redact(resume).text
    result = score(job_text, resume, skills=[(s.name, s.required) for s in skills.skills])
    card = ScoreCard(
        candidate_id=candidate_id,
        value=float(result.value),
        parts={p.name: round(p.value, 4) for p in result.parts},
        weights={p.name: p.weight for p in result.parts},
        matched=[
            Evidence(skill=m.name, sentence=m.evidence, required=m.required)
            for m in result.matched
            if m.evidence
        ],
        missing=list(result.missing),
        method=result.explain(),
        model="offline:all-MiniLM-L6-v2-int8",
    )
    await book.audit(
        candidate_id,
        actor=f"model:{card.model}",
        kind="ai.score",
        key=key,
        inputs={"job": job_text, "skills": skills.model_dump(), "resume": redacted},
        output={"value": card.value, "parts": card.parts},
        explanation={
            "matched": [m.model_dump() for m in card.matched],
            "missing": card.missing,
            "method": card.method,
        },
    )
    return card


# -- people's decisions, for the audit trail --------------------------------------------
@plait.step
async def audit_decision(
    workflow_id: str, what: str, candidate_id: str | None, key: str
) -> str | None:
    """Finds who answered the workflow's latest human task and writes the audit line."""
    engine = plait.current_engine()
    done = await engine.tasks(workflow_id=workflow_id, status="completed", limit=1000)
    if not done:
        return None
    task = max(done, key=lambda t: t.seq)  # the one just answered (times may tie)
    who = task.completed_by or "?"
    if candidate_id is not None:
        await book.audit(
            candidate_id,
            actor=who,
            kind=f"human.{what}",
            key=key,
            inputs=task.proposal,
            output=task.answer,
            explanation={"changes": [dataclasses.asdict(c) for c in task.changes]},
            at=task.completed_at,
        )
    return who


@plait.step
async def audit_shortlist(workflow_id: str, chosen: list[str], others: list[str], key: str) -> None:
    """One audit line per scored candidate: shortlisted or not, and by whom."""
    engine = plait.current_engine()
    done = await engine.tasks(workflow_id=workflow_id, status="completed", limit=1000)
    task = max(done, key=lambda t: t.seq) if done else None
    who = (task.completed_by if task else None) or "?"
    for cid in chosen + others:
        await book.audit(
            cid,
            actor=who,
            kind="human.shortlisted" if cid in chosen else "human.not shortlisted",
            key=key,
            at=task.completed_at if task else None,
        )


# -- mail ------------------------------------------------------------------------------
def _sender(config: JobConfig) -> MailSender:
    s = settings()
    return MailSender(
        name=f"{config.sender.name} ({config.sender.company})",
        address=str(config.sender.email),
        reply_domain=s.mail_domain,
        unsubscribe_url=f"{s.base_url}/hiring/unsubscribe",
    )


def _notice(config: JobConfig) -> PrivacyNotice:
    return PrivacyNotice(
        controller=config.sender.company,
        contact=str(config.sender.privacy_contact or config.sender.email),
    )


async def _send(
    config: JobConfig,
    candidate_id: str,
    kind: MessageKind,
    subject: str,
    text: str,
    key: str,
    *,
    first: bool = False,
    thread: tuple[str, ...] = (),
    calendar: bytes | None = None,
    to: tuple[str, str] | None = None,
    recipient_id: str | None = None,
) -> str:
    """Composes and sends one message; returns its Message-ID (derived from ``key``, so a
    retry after a crash sends the same message with the same id)."""
    p = await book.profile(candidate_id)
    name, address = to or (p.name, p.email)
    source = SOURCES.get(p.source.lower(), p.source)
    draft = Draft(
        kind=kind,
        to=address,
        to_name=name,
        subject=subject,
        text=text,
        idempotency_key=key,
        recipient_id=recipient_id or candidate_id,
        first_message=first,
        data_source=source if first else None,
        thread=thread,
        calendar=calendar,
    )
    message = compose(draft, _sender(config), settings().secret, _notice(config) if first else None)
    result = await send(message, settings().smtp)
    if recipient_id is None:
        await book.records().put(
            "hiring.message-id", result.message_id, candidate_id, subject=candidate_id
        )
    await book.log_message(
        candidate_id,
        "sent",
        {
            "message_id": result.message_id,
            "kind": str(kind),
            "subject": subject,
            "text": text,
            "to": address,
        },
    )
    await book.audit(
        candidate_id, actor="plait", kind=f"mail.{kind}", key=key, output=result.message_id
    )
    return result.message_id


@plait.step
async def is_suppressed(candidate_id: str) -> bool:
    p = await book.profile(candidate_id)
    return p.undeliverable or await book.is_suppressed(p.email)


@plait.step
async def suppress(candidate_id: str) -> None:
    """Honours an unsubscribe at once: the address goes on the global suppression list."""
    p = await book.profile(candidate_id)
    await book.suppress(p.email, "unsubscribed")
    await book.audit(candidate_id, actor="candidate", kind="mail.unsubscribed", key="unsubscribe")


@plait.step
async def mark_undeliverable(candidate_id: str) -> None:
    p = await book.profile(candidate_id)
    await book.save_profile(p.model_copy(update={"undeliverable": True}))
    await book.suppress(p.email, "bounced")
    await book.audit(candidate_id, actor="mail server", kind="mail.bounced", key="bounce")


@plait.step(retry=RETRY)
async def send_decline(config: JobConfig, job_title: str, candidate_id: str, key: str) -> bool:
    """A courteous decline (never to a suppressed or undeliverable address); False when
    none was sent (a refused address is marked undeliverable, and the job goes on)."""
    p = await book.profile(candidate_id)
    if p.undeliverable or await book.is_suppressed(p.email):
        return False
    first = p.name.split()[0]
    text = (
        f"Dear {first},\n\nThank you for your interest in the {job_title} role at "
        f"{config.sender.company}. After careful review we have decided not to move forward "
        "with your application for this position. We appreciate the time you took, and we "
        f"wish you every success.\n\nKind regards,\n{config.sender.name}"
    )
    try:
        await _send(
            config,
            candidate_id,
            MessageKind.DECLINE,
            f"Your application: {job_title}",
            text,
            key,
            first=True,
        )
    except RecipientRefused:  # no such mailbox: the job goes on without this message
        await book.save_profile(p.model_copy(update={"undeliverable": True}))
        await book.suppress(p.email, "bounced")
        await book.audit(candidate_id, actor="mail server", kind="mail.bounced", key=key)
        return False
    return True


@plait.step
async def candidate_context(candidate_id: str) -> dict[str, Any]:
    """What a person deciding about this candidate sees beside the form."""
    p = await book.profile(candidate_id)
    return {"candidate": p.name, "email": p.email, "time zone": p.time_zone, "source": p.source}


@plait.step
async def draft_outreach(config: JobConfig, job_title: str, candidate_id: str) -> Outreach:
    """A personal first message from the template (an AI draft when a model is set)."""
    p = await book.profile(candidate_id)
    first = p.name.split()[0]
    body = (
        f"Dear {first},\n\nI am {config.sender.name} at {config.sender.company}. Your "
        f"experience stood out to us for our {job_title} role, and I would like to tell you "
        "more about it.\n\nWould you be open to a conversation with the team? If so, reply "
        "to this e-mail and I will send you a few times to choose from.\n\n"
        f"Best regards,\n{config.sender.name}"
    )
    draft = Outreach(subject=f"{job_title} at {config.sender.company}", body=body)
    await book.audit(
        candidate_id,
        actor="model:template",
        kind="ai.draft outreach",
        key="draft-outreach",
        inputs={"job_title": job_title, "company": config.sender.company},
        output={"subject": draft.subject, "body": draft.body},
    )
    return draft


@plait.step(retry=RETRY)
async def send_outreach(config: JobConfig, candidate_id: str, message: Outreach, key: str) -> str:
    return await _send(
        config,
        candidate_id,
        MessageKind.OUTREACH,
        message.subject,
        message.body,
        key,
        first=True,
    )


@plait.step(retry=RETRY)
async def send_follow_up(
    config: JobConfig, candidate_id: str, first: Outreach, thread: list[str], n: int, key: str
) -> str:
    p = await book.profile(candidate_id)
    text = (
        f"Dear {p.name.split()[0]},\n\nI wanted to follow up on my message below in case it "
        "got buried. I would be glad to tell you more about the role; a short reply is "
        f"enough.\n\nBest regards,\n{config.sender.name}\n\n> " + first.body.replace("\n", "\n> ")
    )
    return await _send(
        config,
        candidate_id,
        MessageKind.FOLLOW_UP,
        f"Re: {first.subject}",
        text,
        key,
        thread=tuple(thread),
    )


@plait.step(retry=RETRY)
async def send_answer(
    config: JobConfig, candidate_id: str, answer: QuestionAnswer, thread: list[str], key: str
) -> str:
    return await _send(
        config,
        candidate_id,
        MessageKind.FOLLOW_UP,
        "Re: your question",
        answer.answer,
        key,
        thread=tuple(thread),
    )


@plait.step
async def classify_reply(config: JobConfig, candidate_id: str, reply: Reply, key: str) -> Reply:
    """The reply's intent (interested, not interested, question, unsubscribe) and a slot
    number if it names one; offline by example replies (``plait.ai.classify``)."""
    from hiring.replies import classify

    label, slot = classify(reply.text)
    await keep_reply(candidate_id, reply, label, "model:offline", key)
    return reply.model_copy(update={"label": label, "slot": slot})


async def keep_reply(candidate_id: str, reply: Reply, label: str, actor: str, key: str) -> None:
    """The classified reply on the candidate's page, and who classified it in their audit
    trail (in a step: offline here, a model's answer in ``hiring.ai_tasks``)."""
    await book.log_message(
        candidate_id,
        "received",
        {
            "message_id": reply.message_id,
            "subject": reply.subject,
            "text": reply.text,
            "label": label,
            "at": reply.received_at,
        },
    )
    await book.audit(
        candidate_id,
        actor=actor,
        kind="ai.classify reply",
        key=key,
        inputs=reply.text,
        output=label,
    )


# -- scheduling ------------------------------------------------------------------------
@plait.step(retry=RETRY)
async def propose_slots(config: JobConfig, candidate_id: str, now: datetime) -> list[Slot]:
    """Three free times across the whole panel in the next two weeks."""
    from hiring.interviews import propose

    found = await propose(config, now)
    return [Slot(start=s.start, end=s.end) for s in found]


@plait.step(retry=RETRY)
async def send_slot_options(
    config: JobConfig, candidate_id: str, slots: list[Slot], thread: list[str], key: str
) -> str:
    from hiring.interviews import slot_links

    p = await book.profile(candidate_id)
    lines = slot_links(config, candidate_id, slots, p.time_zone, settings())
    text = (
        f"Dear {p.name.split()[0]},\n\nThank you for your reply. These times work for the "
        "team (in your time zone):\n\n" + "\n".join(lines) + "\n\nPick one with its link, or "
        f"reply with its number.\n\nBest regards,\n{config.sender.name}"
    )
    return await _send(
        config,
        candidate_id,
        MessageKind.FOLLOW_UP,
        "Interview times",
        text,
        key,
        thread=tuple(thread),
    )


@plait.step(retry=RETRY)
async def send_invites(
    config: JobConfig, job_title: str, candidate_id: str, slot: Slot, sequence: int, key: str
) -> str:
    """The iCalendar invite (METHOD:REQUEST, same UID on every update) to the candidate
    and the panel."""
    from hiring.interviews import calendar_invite

    calendar, text = calendar_invite(
        config,
        job_title,
        candidate_id,
        slot,
        sequence,
        await book.profile(candidate_id),
        settings(),
    )
    panel_text = f"You are on the panel for an interview for the {job_title} role."
    return await _send_calendar(
        config, candidate_id, f"Interview: {job_title}", text, panel_text, calendar, key
    )


async def _send_calendar(
    config: JobConfig,
    candidate_id: str,
    subject: str,
    text: str,
    panel_text: str,
    calendar: bytes,
    key: str,
) -> str:
    """The calendar to the candidate, then to each panel member (each message its own key,
    so a retry re-sends the same ones); returns the candidate's Message-ID."""
    sent = await _send(
        config, candidate_id, MessageKind.INVITE, subject, text, key, calendar=calendar
    )
    for i, member in enumerate(config.panel):
        await _send(
            config,
            candidate_id,
            MessageKind.INVITE,
            subject,
            panel_text,
            f"{key}:{i}",
            calendar=calendar,
            to=(member.name, str(member.email)),
            recipient_id="panel",
        )
    return sent


@plait.step(retry=RETRY)
async def cancel_invites(
    config: JobConfig, job_title: str, candidate_id: str, slot: Slot, sequence: int, key: str
) -> str:
    from hiring.interviews import calendar_invite

    calendar, text = calendar_invite(
        config,
        job_title,
        candidate_id,
        slot,
        sequence,
        await book.profile(candidate_id),
        settings(),
        cancel=True,
    )
    subject = f"Cancelled: interview for {job_title}"
    return await _send_calendar(config, candidate_id, subject, text, text, calendar, key)


def now_utc() -> datetime:
    return datetime.now(UTC)
