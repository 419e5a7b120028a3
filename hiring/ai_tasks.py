"""The hiring pipeline's AI tasks, each with an offline implementation and an LLM one.

- **extract skills**: offline, the skill vocabulary and each sentence's wording
  (``hiring.extract_skills``); LLM, canonical names, required or nice-to-have, each with
  the sentence that asked for it, checked to be in the description.
- **classify a reply**: offline, rules then example replies (``plait.ai.classify``); LLM,
  one of the four labels and the slot it names. An explicit "unsubscribe" is a rule first.
- **draft the outreach**: offline, a template; LLM, a subject and a body from the job and
  the skills the candidate matched.
- **score**: always ``hiring.score``, offline (it is the scorer that is evaluated).

The choice is the job's ``JobConfig.ai``, which travels in the job's workflow input (and
its children's), so a replay chooses the same way. An LLM task is a *durable model call
in workflow code* (``plait.ai.chat``): journaled with a fingerprint (a replay returns the
recorded answer and calls nothing), its attempts in the cost ledger (``engine.costs``).
A model that is down is retried, then handed to the next model of a fallback
(``ai = "openai:gpt-4o-mini,ollama:qwen2.5"``) if there is one; otherwise the call fails
and so does the workflow, visibly and resumably (``engine.resume``): it never switches
to the offline implementation halfway.

What a model sees: the job's description (skills); the reply's text (classification);
the job's title and summary, the company, the sender's name and the skill names the
candidate matched (drafting) — never the résumé, the candidate's name or address. The
greeting with the candidate's name and the signature are added afterwards, in a step.

Every output about a candidate (offline or LLM) is a line of their audit trail
(``hiring.book.audit``): ``model:<who answered>``, the inputs' hash, the output.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

import plait
import plait.ai
from hiring import book, steps
from hiring.models import Job, JobConfig, Outreach, Reply, ReplyLabel, Skill, SkillReview
from plait.ai import MODEL_ENV as ENV
from plait.ai import Message, is_offline

OFFLINE = "offline"
TEMPERATURE = 0.0


def uses_model(ai: str) -> bool:
    """Whether a job's ``ai`` setting selects the LLM implementations."""
    return not is_offline(ai)


def default_ai() -> str:
    """What a new job uses when its configuration names no ``ai``: ``PLAIT_MODEL`` when it
    is set, else ``offline``. Read once, when the job is created (never in a replay)."""
    return os.environ.get(ENV, "").strip() or OFFLINE


# -- what the model answers (structured output) -----------------------------------------
class ExtractedSkill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="the skill's usual, canonical name")
    required: bool = Field(description="false when the description says nice to have, a plus")
    sentence: str = Field(
        min_length=1, description="the description's sentence that asks for it, copied exactly"
    )


class ExtractedSkills(BaseModel):
    """The skills a job description asks for."""

    model_config = ConfigDict(extra="forbid")

    skills: list[ExtractedSkill]


class ReplyIntent(BaseModel):
    """What a candidate's reply means."""

    model_config = ConfigDict(extra="forbid")

    label: ReplyLabel
    slot: int | None = Field(
        ge=1, le=9, description="the number of the proposed interview time it picks, or null"
    )


_PLACEHOLDER = re.compile(r"\[[^\]\n]{1,40}\]|\{[^}\n]{1,40}\}|<[A-Za-z ]{1,30}>")


class DraftText(BaseModel):
    """A first e-mail to a candidate, without its greeting and signature."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=3000)

    @field_validator("subject", "body")
    @classmethod
    def _no_placeholders(cls, value: str) -> str:
        found = _PLACEHOLDER.search(value)
        if found:
            raise ValueError(
                f"{found.group(0)!r} is a placeholder: write the text as it will be sent"
            )
        return value


class OutreachBrief(BaseModel):
    """What a drafting model may know: the job and the skills the candidate matched (names
    only, from the score's explanation); nothing from the résumé itself."""

    job_title: str
    job_summary: str = ""
    company: str
    sender: str
    matched_skills: list[str] = Field(default_factory=list)


class SkillProposal(NamedTuple):
    """The skills proposed to the recruiter, who proposed them, and notes on what the
    checks dropped."""

    review: SkillReview
    model: str
    notes: list[str]


# -- extract skills ----------------------------------------------------------------------
_SKILLS_SYSTEM = (
    "You read job descriptions and list the skills they ask for: tools, techniques, "
    "qualifications, licences and domain knowledge (not personality traits). Give each skill "
    "its usual canonical name (e.g. 'PostgreSQL' for 'Postgres', 'Registered Nurse' for "
    "'RN'), say whether it is required (false only when the description calls it nice to "
    "have, a plus, preferred or a bonus), and copy the sentence of the description that asks "
    "for it exactly, word for word. List each skill once."
)


async def propose_skills(job: Job, ai: str) -> SkillProposal:
    """The skills ``job`` asks for, for the recruiter to confirm. Workflow code."""
    if not uses_model(ai):
        return SkillProposal(await steps.propose_skills(job, ai), ai, [])
    messages = [Message(role="system", content=_SKILLS_SYSTEM), _user(job.text)]
    result = await plait.ai.chat(
        ai, messages, output=ExtractedSkills, temperature=TEMPERATURE, name="hiring.skills"
    )
    skills, unfound = _checked(result.output, job.text)
    if unfound:  # ask once more, naming the quotes that are not in the description
        listed = "\n".join(f"- {s.name}: {s.sentence!r}" for s in unfound)
        again = (
            "These sentences are not in the description word for word:\n"
            f"{listed}\nAnswer again with the whole list, copying each sentence exactly as "
            "the description writes it (or leave out a skill it does not ask for)."
        )
        result = await plait.ai.chat(
            ai,
            [*messages, result.message, Message(role="user", content=again)],
            output=ExtractedSkills,
            temperature=TEMPERATURE,
            name="hiring.skills (re-ask)",
        )
        skills, unfound = _checked(result.output, job.text)
    notes = [
        f"left out {s.name!r}: the model's quote {s.sentence!r} is not in the description"
        for s in unfound
    ]
    if not skills:
        notes.append("the model found no skill it could quote: the job's title stands in")
        skills = [Skill(name=job.title[:80], required=True)]
    return SkillProposal(SkillReview(skills=skills), result.model, notes)


def _user(text: str) -> Message:
    return Message(role="user", content=text)


def _checked(found: ExtractedSkills, description: str) -> tuple[list[Skill], list[ExtractedSkill]]:
    """The skills whose sentence is in ``description`` (as the description writes it), each
    under its canonical name, once (required wins); and those whose sentence is not."""
    kept: dict[str, Skill] = {}
    unfound: list[ExtractedSkill] = []
    for s in found.skills:
        sentence = locate(s.sentence, description)
        if sentence is None:
            unfound.append(s)
            continue
        name = canonical(s.name)
        key = name.casefold()
        old = kept.get(key)
        if old is None or (s.required and not old.required):
            kept[key] = Skill(name=name, required=s.required, sentence=sentence)
    return list(kept.values()), unfound


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_TRIM = " \t\r\n-*•·.;:,\"'"


def locate(quote: str, text: str) -> str | None:
    """``quote`` as ``text`` writes it, or None when it is not in ``text``. Whitespace runs,
    case, typographic quotes and dashes, a bullet and end punctuation do not matter."""
    want = _fold(quote.strip(_TRIM))
    if len(want) < 3:
        return None
    folded, where = [], []
    previous_space = True
    for i, ch in enumerate(text.translate(_QUOTES)):
        if ch.isspace():
            if previous_space:
                continue
            ch = " "
        previous_space = ch == " "
        folded.append(_low(ch))
        where.append(i)
    start = "".join(folded).find(want)
    if start < 0:
        return None
    end = where[start + len(want) - 1] + 1
    if text[end : end + 1] in (".", "!", "?") and end < len(text):
        end += 1  # the sentence's own full stop, which the trimmed quote left out
    return text[where[start] : end]


def _fold(text: str) -> str:
    return "".join(_low(ch) for ch in " ".join(text.translate(_QUOTES).split()))


def _low(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == 1 else ch  # one character for one, so positions map back


def canonical(name: str) -> str:
    """The vocabulary's canonical name when ``name`` is one of its aliases, else ``name``."""
    from hiring.scoring.skills import vocabulary

    clean = " ".join(name.split())
    mentions = vocabulary().mentions(clean)
    if len(mentions) == 1 and mentions[0].start == 0 and mentions[0].end == len(clean):
        return mentions[0].name
    return clean


# -- classify a reply --------------------------------------------------------------------
_REPLY_SYSTEM = (
    "You read a candidate's reply to a recruiter's e-mail about a job and say what it means: "
    "'interested' (wants to talk or go ahead), 'not interested' (declines), 'question' (asks "
    "something before deciding) or 'unsubscribe' (asks not to be contacted again). If it "
    "picks one of the numbered interview times offered (e.g. 'option 2', 'the second one'), "
    "give that number as slot; otherwise slot is null."
)


async def classify_reply(
    ctx: plait.Context, config: JobConfig, candidate_id: str, reply: Reply
) -> Reply:
    """The reply with its label and the slot it names. Workflow code. An explicit request
    to stop is honoured by rule, before any model is asked."""
    from hiring.replies import wants_to_stop

    if not uses_model(config.ai) or wants_to_stop(reply.text):
        offline: Reply = await steps.classify_reply(
            config, candidate_id, reply, ctx.idempotency_key
        )
        return offline
    text = f"Subject: {reply.subject}\n\n{reply.text}" if reply.subject else reply.text
    result = await plait.ai.chat(
        config.ai,
        [Message(role="system", content=_REPLY_SYSTEM), _user(text or "(empty)")],
        output=ReplyIntent,
        temperature=TEMPERATURE,
        name="hiring.classify reply",
    )
    intent = result.output
    classified: Reply = await record_reply(
        candidate_id, reply, intent.label, intent.slot, f"model:{result.model}", ctx.idempotency_key
    )
    return classified


@plait.step
async def record_reply(
    candidate_id: str, reply: Reply, label: str, slot: int | None, actor: str, key: str
) -> Reply:
    """Keeps the classified reply on the candidate's page and in their audit trail."""
    await steps.keep_reply(candidate_id, reply, label, actor, key)
    return reply.model_copy(update={"label": label, "slot": slot})


# -- draft the outreach ------------------------------------------------------------------
_DRAFT_SYSTEM = (
    "You write a recruiter's first e-mail to a candidate about a job: short (under 150 "
    "words), warm and specific, in plain text. Say why the role may suit them using only the "
    "skills listed as matched; invent nothing about the candidate, the pay or the team. Ask "
    "whether they would like to talk, and say that a reply is enough. Write no greeting line "
    "and no signature (both are added), and no placeholders in brackets."
)


def brief_for(config: JobConfig, job: Job, matched: list[str]) -> OutreachBrief:
    """The drafting brief for one shortlisted candidate."""
    return OutreachBrief(
        job_title=job.title,
        job_summary=job.summary[:1500],
        company=config.sender.company,
        sender=config.sender.name,
        matched_skills=list(dict.fromkeys(matched))[:12],
    )


async def draft_outreach(
    ctx: plait.Context,
    config: JobConfig,
    job_title: str,
    candidate_id: str,
    brief: OutreachBrief | None,
) -> Outreach:
    """The first message for a recruiter to approve or edit. Workflow code."""
    if not uses_model(config.ai):
        template: Outreach = await steps.draft_outreach(config, job_title, candidate_id)
        return template
    brief = brief or OutreachBrief(
        job_title=job_title, company=config.sender.company, sender=config.sender.name
    )
    skills = ", ".join(brief.matched_skills) or "(none listed)"
    prompt = (
        f"Job: {brief.job_title} at {brief.company}\n"
        f"About the job: {brief.job_summary or '(no summary)'}\n"
        f"Skills the candidate showed that the job asks for: {skills}\n"
        f"The e-mail is from: {brief.sender}"
    )
    result = await plait.ai.chat(
        config.ai,
        [Message(role="system", content=_DRAFT_SYSTEM), _user(prompt)],
        output=DraftText,
        temperature=0.3,
        name="hiring.draft outreach",
    )
    drafted: Outreach = await finish_draft(
        config, candidate_id, result.output, brief, result.model, ctx.idempotency_key
    )
    return drafted


@plait.step
async def finish_draft(
    config: JobConfig,
    candidate_id: str,
    draft: DraftText,
    brief: OutreachBrief,
    model: str,
    key: str,
) -> Outreach:
    """The model's draft with the candidate's greeting and the sender's signature, and a
    line in the candidate's audit trail."""
    p = await book.profile(candidate_id)
    body = (
        f"Dear {p.name.split()[0]},\n\n{draft.body.strip()}\n\nBest regards,\n{config.sender.name}"
    )
    await book.audit(
        candidate_id,
        actor=f"model:{model}",
        kind="ai.draft outreach",
        key=key,
        inputs=brief.model_dump(),
        output=draft.model_dump(),
    )
    return Outreach(subject=draft.subject, body=body, drafted_by=f"model:{model}")
