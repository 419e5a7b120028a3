"""The hiring pipeline, as workflows: from a job description to scheduled interviews, with
people deciding at every consequential point.

Three kinds of workflow, so that personal data stays with the person it is about:

- ``hiring.job`` (one per job) reads the description, proposes the skills, has a recruiter
  confirm them, screens every candidate, has the hiring manager approve the shortlist, has a
  recruiter confirm the declines, and follows each shortlisted candidate to a decision. It
  holds ids, skills and scores, never a name or a résumé.
- ``hiring.screening`` (a child per candidate, ``subject`` = the candidate's id) parses and
  redacts the résumé and scores it with an explanation.
- ``hiring.candidate`` (a child per shortlisted candidate, same subject) drafts the outreach,
  has it approved, sends it, follows up, reads the replies, proposes interview slots, sends
  the invites and asks for the decision; ``hiring.decline`` sends a confirmed decline.

Every ``await`` below is durable: a crash or a restart continues from the last one finished,
and no e-mail is sent twice (its Message-ID comes from the step's idempotency key).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

import plait
from hiring import ai_tasks, steps
from hiring.ai_tasks import OutreachBrief
from hiring.models import (
    Decision,
    Job,
    JobConfig,
    Outreach,
    QuestionAnswer,
    Reply,
    ScoreCard,
    Shortlist,
    ShortlistEntry,
    SkillReview,
    Slot,
)


@plait.workflow(name="hiring.job")
async def job_pipeline(
    ctx: plait.Context, config: JobConfig, description: plait.BlobRef, candidates: list[str]
) -> dict[str, str]:
    """One job, from its description to a decision on every shortlisted candidate. More
    candidates may arrive (signal ``add_candidates`` with their ids): each batch is screened
    and shortlisted in its own round. The job ends when a recruiter closes it (signal
    ``close``) and every shortlisted candidate has an outcome."""
    status = steps.Status(ctx, job=config.id)
    status.set("reading the job description", "parsing")
    job = await steps.parse_job(config, description)

    status.set("proposing the skills to look for", "skills")
    proposed = await ai_tasks.propose_skills(job, config.ai)
    context: dict[str, Any] = {
        "job": job.title,
        "description": job.text[:4000],
        "proposed_by": proposed.model,
    }
    if proposed.notes:
        context["notes"] = proposed.notes
    status.set("waiting for a recruiter to confirm the skills", "skills")
    skills = await _until_answered(
        ctx,
        f"Confirm the skills for {job.title}",
        form=SkillReview,
        proposal=proposed.review,
        context=context,
        assignee=config.recruiters,
        due=config.cadence.skills_review_due,
        escalate_to=config.hiring_managers,
    )
    await steps.audit_decision(ctx.workflow_id, "skills confirmed", None, ctx.idempotency_key)

    journeys: dict[str, plait.ChildHandle] = {}
    pending = list(candidates)
    while True:
        if pending:
            chosen = await _round(ctx, config, job, skills, pending, status)
            for card in chosen:
                cid = card.candidate_id
                brief = ai_tasks.brief_for(config, job, [m.skill for m in card.matched])
                journeys[cid] = await ctx.start_child(
                    candidate_journey, config, job.title, cid, brief, subject=cid
                )
            status.set(
                f"following {len(journeys)} shortlisted candidates; open for more",
                "outreach",
                shortlisted=len(journeys),
            )
        name, payload = await ctx.wait_for_signal(["add_candidates", "close"])
        if name == "close":
            break
        known = set(candidates)
        pending = [c for c in payload or [] if isinstance(c, str) and c not in known]
        candidates = [*candidates, *pending]

    status.set("closed: waiting for the shortlisted candidates' outcomes", "closing")
    outcomes: dict[str, str] = {}
    for cid, handle in journeys.items():
        try:
            outcomes[cid] = str(await handle.result())
        except plait.ChildWorkflowFailed as exc:  # cancelled, or erased on request
            outcomes[cid] = f"ended: {exc.error_type}"
    status.set("closed: every shortlisted candidate has an outcome", "done")
    return outcomes


async def _round(
    ctx: plait.Context,
    config: JobConfig,
    job: Job,
    skills: SkillReview,
    candidates: list[str],
    status: steps.Status,
) -> list[ScoreCard]:
    """Screens ``candidates``, has the shortlist approved and the declines confirmed;
    returns the shortlisted candidates' score cards."""
    status.set(f"scoring {len(candidates)} candidates", "screening", candidates=len(candidates))
    cards: list[ScoreCard] = list(
        await asyncio.gather(
            *(
                ctx.child(screening, config.id, job.text, skills, cid, subject=cid)
                for cid in candidates
            )
        )
    )
    ranked = sorted(cards, key=lambda c: (-c.value, c.candidate_id))

    status.set("waiting for the shortlist", "shortlist")
    shortlist = await ctx.ask_human(
        f"Approve the shortlist for {job.title}",
        form=Shortlist,
        proposal=Shortlist(
            candidates=[
                ShortlistEntry(
                    candidate_id=c.candidate_id,
                    score=round(c.value, 3),
                    summary=steps.summary(c),
                    include=i < config.shortlist_size,
                )
                for i, c in enumerate(ranked)
            ]
        ),
        context={"job": job.title, "skills": [s.name for s in skills.skills]},
        assignee=config.hiring_managers,
    )
    chosen = [c for c in shortlist.chosen() if c in candidates]
    others = [c for c in candidates if c not in chosen]
    await steps.audit_shortlist(ctx.workflow_id, chosen, others, ctx.idempotency_key)

    if others:
        confirm = await ctx.ask_human(
            f"Send a courteous decline to {len(others)} candidate(s) not shortlisted?",
            context={"job": job.title, "candidates": others},
            assignee=config.recruiters,
        )
        if confirm.approved:
            await asyncio.gather(
                *(ctx.child(decline, config, job.title, cid, subject=cid) for cid in others)
            )
    by_id = {c.candidate_id: c for c in cards}
    return [by_id[cid] for cid in chosen]


@plait.workflow(name="hiring.screening")
async def screening(
    ctx: plait.Context, job_id: str, job_text: str, skills: SkillReview, candidate_id: str
) -> ScoreCard:
    """One candidate's résumé, read, redacted and scored against the confirmed skills."""
    status = steps.Status(ctx, job=job_id, candidate=candidate_id)
    status.set("reading the résumé", "received")
    resume = await steps.read_resume(candidate_id)
    card: ScoreCard = await steps.score_resume(
        job_id, job_text, skills, candidate_id, resume, ctx.idempotency_key
    )
    status.set(f"scored {card.value:.2f}", "screened", score=round(card.value, 3))
    # The job's workflow keeps what this returns, and it is not the candidate's to erase:
    # it gets the score and the skill names; the evidence and the method (which quote the
    # résumé) stay with the candidate, in the ``ai.score`` audit detail, erased with them.
    blind = [m.model_copy(update={"sentence": ""}) for m in card.matched]
    return card.model_copy(update={"matched": blind, "method": ""})


@plait.workflow(name="hiring.decline")
async def decline(ctx: plait.Context, config: JobConfig, job_title: str, candidate_id: str) -> str:
    """A courteous decline, sent once a recruiter confirmed it."""
    status = steps.Status(ctx, job=config.id, candidate=candidate_id)
    sent = await steps.send_decline(config, job_title, candidate_id, ctx.idempotency_key)
    status.set("declined with a message" if sent else "declined (no message)", "not selected")
    return "not selected"


@plait.workflow(name="hiring.candidate")
async def candidate_journey(
    ctx: plait.Context,
    config: JobConfig,
    job_title: str,
    candidate_id: str,
    brief: OutreachBrief | None = None,
) -> str:
    """A shortlisted candidate: outreach, replies, interview scheduling, the decision.
    ``brief`` is what a drafting model may know (the job, the skills matched)."""
    status = steps.Status(ctx, job=config.id, candidate=candidate_id)
    if await steps.is_suppressed(candidate_id):
        status.set("on the suppression list: not contacted", "unsubscribed")
        return "unsubscribed"

    status.set("drafting the outreach", "shortlisted")
    draft = await ai_tasks.draft_outreach(ctx, config, job_title, candidate_id, brief)
    message = await ctx.ask_human(
        "Approve the outreach e-mail",
        form=Outreach,
        proposal=draft,
        context=await steps.candidate_context(candidate_id),
        assignee=config.recruiters,
    )
    await steps.audit_decision(
        ctx.workflow_id, "outreach answered", candidate_id, ctx.idempotency_key
    )
    if not message.approved:
        status.set("not contacted: the recruiter declined to send", "not selected")
        return "not contacted"
    thread = [await steps.send_outreach(config, candidate_id, message, ctx.idempotency_key)]
    status.set("contacted, waiting for a reply", "contacted")

    reply = await _await_reply(ctx, config, candidate_id, message, thread, status)
    if isinstance(reply, str):
        return reply
    while reply.label == "question":
        answer = await ctx.ask_human(
            "Answer the candidate's question",
            form=QuestionAnswer,
            context={"question": reply.text, "subject": reply.subject},
            assignee=config.recruiters,
        )
        thread.append(
            await steps.send_answer(config, candidate_id, answer, thread, ctx.idempotency_key)
        )
        status.set("answered a question, waiting for a reply", "replied")
        got = await _await_reply(ctx, config, candidate_id, None, thread, status)
        if isinstance(got, str):
            return got
        reply = got
    if reply.label == "not interested":
        status.set("not interested", "declined")
        return "declined"

    status.set("proposing interview slots", "scheduling")
    slots = await steps.propose_slots(config, candidate_id, ctx.now())
    if not slots:
        status.set("no common free slot on the panel: a recruiter must schedule", "scheduling")
        await ctx.ask_human(
            "Schedule this interview by hand (no common free slot)",
            context={"candidate": candidate_id},
            assignee=config.recruiters,
        )
        return "scheduled by hand"
    thread.append(
        await steps.send_slot_options(config, candidate_id, slots, thread, ctx.idempotency_key)
    )
    status.set("waiting for the candidate to pick an interview time", "scheduling")
    chosen = await _await_slot(ctx, config, candidate_id, slots)
    if chosen is None:
        status.set("no slot chosen in time", "no response")
        return "no response"
    sequence = 0
    thread.append(
        await steps.send_invites(
            config, job_title, candidate_id, chosen, sequence, ctx.idempotency_key
        )
    )
    while True:
        status.set(f"interview at {chosen.start.isoformat()}", "interviewing")
        wait = max(chosen.end - ctx.now(), timedelta(seconds=0))
        try:
            name, payload = await ctx.wait_for_signal(
                ["reschedule", "cancel_interview"], timeout=wait
            )
        except plait.WaitTimeout:
            break
        sequence += 1
        if name == "cancel_interview":
            await steps.cancel_invites(
                config, job_title, candidate_id, chosen, sequence, ctx.idempotency_key
            )
            status.set("interview cancelled", "decided")
            return "interview cancelled"
        chosen = Slot.model_validate(payload)
        thread.append(
            await steps.send_invites(
                config, job_title, candidate_id, chosen, sequence, ctx.idempotency_key
            )
        )

    status.set("waiting for the decision", "interviewing")
    decision = await _until_answered(
        ctx,
        "Record the hiring decision",
        form=Decision,
        proposal=None,
        context=await steps.candidate_context(candidate_id),
        assignee=config.hiring_managers,
        due=config.cadence.decision_due,
        escalate_to=config.recruiters,
    )
    await steps.audit_decision(
        ctx.workflow_id, f"decision: {decision.outcome}", candidate_id, ctx.idempotency_key
    )
    status.set(f"decided: {decision.outcome}", "decided", outcome=decision.outcome)
    return decision.outcome


T = TypeVar("T")


async def _until_answered(
    ctx: plait.Context,
    title: str,
    *,
    form: type[T],
    proposal: T | None,
    context: dict[str, Any],
    assignee: str,
    due: timedelta,
    escalate_to: str,
) -> T:
    """Asks ``assignee`` by ``due``; past it the task goes to ``escalate_to`` for as long
    again; past that it is asked of ``escalate_to`` once more, with no deadline (overdue
    tasks head the inbox): a decision is never skipped or taken by default."""
    try:
        return await ctx.ask_human(
            title,
            form=form,
            proposal=proposal,
            context=context,
            assignee=assignee,
            due=due,
            on_timeout=plait.Escalate(to=escalate_to, due=due),
        )
    except plait.WaitTimeout:
        ctx.logger.warning("%r was not answered in time: asked again without a deadline", title)
    return await ctx.ask_human(
        f"{title} (overdue)", form=form, proposal=proposal, context=context, assignee=escalate_to
    )


async def _await_reply(
    ctx: plait.Context,
    config: JobConfig,
    candidate_id: str,
    first: Outreach | None,
    thread: list[str],
    status: steps.Status,
) -> Reply | str:
    """The candidate's next reply, following up on the cadence while there is none; or the
    outcome (a string) when the sequence ends without one."""
    started = ctx.now()
    follow_ups = list(config.cadence.follow_ups) if first is not None else []
    deadlines = [*follow_ups, config.cadence.no_response_after]
    for i, after in enumerate(deadlines):
        try:
            name, payload = await ctx.wait_for_signal(
                ["reply", "bounce", "unsubscribe"],
                timeout=max(started + after - ctx.now(), timedelta(seconds=0)),
            )
        except plait.WaitTimeout:
            if i < len(follow_ups) and first is not None:
                thread.append(
                    await steps.send_follow_up(
                        config, candidate_id, first, thread, i, ctx.idempotency_key
                    )
                )
                status.set(f"follow-up {i + 1} sent, waiting for a reply", "contacted")
                continue
            status.set("no response", "no response")
            return "no response"
        if name == "bounce":
            await steps.mark_undeliverable(candidate_id)
            status.set("the address bounced", "undeliverable")
            return "undeliverable"
        if name == "unsubscribe":
            await steps.suppress(candidate_id)
            status.set("unsubscribed", "unsubscribed")
            return "unsubscribed"
        reply = await ai_tasks.classify_reply(
            ctx, config, candidate_id, Reply.model_validate(payload)
        )
        if reply.label == "unsubscribe":
            await steps.suppress(candidate_id)
            status.set("asked not to be contacted", "unsubscribed")
            return "unsubscribed"
        status.set(f"replied: {reply.label}", "replied")
        return reply
    return "no response"  # pragma: no cover - the last deadline always returns


async def _await_slot(
    ctx: plait.Context, config: JobConfig, candidate_id: str, slots: list[Slot]
) -> Slot | None:
    """The slot the candidate picked (a signed link, or a reply naming it), or None."""
    deadline = ctx.now() + config.cadence.slot_choice_within
    while True:
        try:
            name, payload = await ctx.wait_for_signal(
                ["slot", "reply"], timeout=max(deadline - ctx.now(), timedelta(seconds=0))
            )
        except plait.WaitTimeout:
            return None
        if name == "slot" and isinstance(payload, int) and 1 <= payload <= len(slots):
            return slots[payload - 1]
        if name == "reply":  # which slot it names: by rule offline, or by the job's model
            reply = await ai_tasks.classify_reply(
                ctx, config, candidate_id, Reply.model_validate(payload)
            )
            choice = reply.slot
            if choice is not None and 1 <= choice <= len(slots):
                return slots[choice - 1]
