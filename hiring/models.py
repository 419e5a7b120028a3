"""The hiring pipeline's records: jobs, panels, candidates, scores, and the forms people
fill in at each checkpoint.

Everything here is JSON (Pydantic), so it travels through workflow arguments, step results,
signals and human-task forms unchanged. Personal data (a candidate's name, address, résumé)
appears only in what belongs to one candidate (their own child workflows, their records and
blobs, all filed under the candidate's id as ``subject``); what the job's workflow holds is
ids, scores and explanations of skills.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

import plait

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


class PanelMember(BaseModel):
    """An interviewer: who, where (an IANA time zone), when they work, and their calendars."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    email: EmailStr
    time_zone: str = "UTC"
    working_hours: dict[str, str] = Field(
        default_factory=lambda: {d: "09:00-17:00" for d in _WEEKDAYS[:5]},
        description="weekday (mon..sun) → 'HH:MM-HH:MM' in the member's time zone",
    )
    calendars: list[plait.BlobRef] = Field(
        default_factory=list, description=".ics files with the member's busy times (stored blobs)"
    )

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for day, span in value.items():
            if day not in _WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday: use one of {', '.join(_WEEKDAYS)}")
            if not _HOURS.match(span):
                raise ValueError(f"{day}: {span!r} is not 'HH:MM-HH:MM' (e.g. '09:00-17:00')")
        return value


class Sender(BaseModel):
    """Who outreach comes from, and the company named in the privacy notice."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    email: EmailStr
    company: str = Field(min_length=1)
    privacy_contact: EmailStr | None = None


class Cadence(BaseModel):
    """When follow-ups go out after the first message without a reply, and when the
    candidate counts as not responding. Demo mode uses minutes instead of days."""

    model_config = ConfigDict(extra="forbid")

    follow_ups: list[timedelta] = Field(
        default_factory=lambda: [timedelta(days=3), timedelta(days=7)]
    )
    no_response_after: timedelta = timedelta(days=14)
    slot_choice_within: timedelta = timedelta(days=5)
    decision_due: timedelta = timedelta(days=3)
    skills_review_due: timedelta = timedelta(days=2)

    @field_validator("follow_ups")
    @classmethod
    def _ordered(cls, value: list[timedelta]) -> list[timedelta]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("follow-ups are times after the first message, in increasing order")
        return value


class JobConfig(BaseModel):
    """The job's configuration file (TOML or YAML beside the description), or the job form."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str | None = None
    location: str | None = None
    time_zone: str = "UTC"
    interview_minutes: int = Field(default=45, ge=15, le=480)
    buffer_minutes: int = Field(default=15, ge=0, le=120)
    shortlist_size: int = Field(default=5, ge=1, le=50)
    panel: list[PanelMember] = Field(min_length=1)
    sender: Sender
    cadence: Cadence = Field(default_factory=Cadence)
    recruiters: str = "recruiters"
    hiring_managers: str = "hiring-managers"
    ai: str = Field(
        default="offline",
        description="'offline' (embeddings and rules) or a model such as 'openai:gpt-4o-mini'",
    )

    @field_validator("ai")
    @classmethod
    def _ai(cls, value: str) -> str:
        try:
            return ai_setting(value)
        except plait.ConfigurationError as exc:
            raise ValueError(str(exc)) from None


def ai_setting(value: str) -> str:
    """A job's ``ai``: ``offline``, or a model spec that plait can read (checked now, so a
    typo fails when the job is created rather than halfway through its pipeline)."""
    from plait.ai import is_offline, resolve_model

    value = value.strip()
    if not value or is_offline(value):
        return "offline"
    resolve_model(value)  # ConfigurationError naming what is wrong
    return value


class Job(BaseModel):
    """A job description, parsed: what the scorer and the drafts work from."""

    id: str
    title: str
    summary: str = ""
    responsibilities: list[str] = Field(default_factory=list)
    requirements: list[str] = Field(default_factory=list)
    seniority: str | None = None
    location: str | None = None
    time_zone: str = "UTC"
    text: str = Field(description="the description's full text")
    source: plait.BlobRef | None = None


class Skill(BaseModel):
    """A skill the job asks for: its canonical name, whether it is required, and the
    description's sentence that asked for it."""

    name: str = Field(min_length=1, max_length=80)
    required: bool = True
    sentence: str = ""


class SkillReview(BaseModel):
    """The recruiter's form: the skills to score candidates on (edit, add or remove)."""

    skills: list[Skill] = Field(min_length=1)


class CandidateIntake(BaseModel):
    """A candidate as they arrive (a folder, CSV/JSON, the API or the UI)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    email: EmailStr
    time_zone: str = "UTC"
    resume: plait.BlobRef
    source: str = "upload"


class Evidence(BaseModel):
    """A matched skill and the résumé sentence that shows it."""

    skill: str
    sentence: str
    required: bool = True


class ScoreCard(BaseModel):
    """A candidate's score against the confirmed skills, with how it was made. No personal
    data: evidence sentences come from the redacted résumé."""

    candidate_id: str
    value: float
    parts: dict[str, float] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    matched: list[Evidence] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    method: str = ""
    model: str = "offline"


class ShortlistEntry(BaseModel):
    """One scored candidate in the hiring manager's shortlist form. Blind by design: a
    reference and the evidence, no name (names appear once a candidate is contacted)."""

    candidate_id: str = Field(json_schema_extra={"readOnly": True})
    score: float = Field(json_schema_extra={"readOnly": True})
    summary: str = Field(default="", json_schema_extra={"readOnly": True})
    include: bool = False


class Shortlist(BaseModel):
    """The hiring manager's form: every scored candidate, the ranked ones pre-selected."""

    candidates: list[ShortlistEntry] = Field(json_schema_extra={"x-fixed-items": True})
    note: str | None = Field(default=None, json_schema_extra={"format": "textarea"})

    def chosen(self) -> list[str]:
        return [c.candidate_id for c in self.candidates if c.include]


class Outreach(BaseModel):
    """A message to a candidate, as drafted and as a recruiter approved or edited it."""

    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, json_schema_extra={"format": "textarea"})
    approved: bool = True
    drafted_by: str = Field(default="template", json_schema_extra={"readOnly": True})


ReplyLabel = Literal["interested", "not interested", "question", "unsubscribe"]


class Reply(BaseModel):
    """A candidate's answer as it reaches their workflow (signal ``reply``)."""

    message_id: str
    text: str
    received_at: datetime
    subject: str = ""
    label: ReplyLabel | None = None
    slot: int | None = Field(default=None, description="1-based choice of a proposed slot")


class Slot(BaseModel):
    """An interview time, in UTC; pages show it in each viewer's zone."""

    start: datetime
    end: datetime


class QuestionAnswer(BaseModel):
    """The recruiter's answer to a candidate's question, sent in the same thread."""

    answer: str = Field(min_length=1, json_schema_extra={"format": "textarea"})


class Decision(BaseModel):
    """The hiring manager's decision after the interviews."""

    outcome: Literal["offer", "reject", "another round"]
    notes: str = Field(default="", json_schema_extra={"format": "textarea"})


Stage = Literal[
    "received",
    "screened",
    "shortlisted",
    "not selected",
    "contacted",
    "replied",
    "scheduling",
    "interviewing",
    "decided",
    "declined",
    "no response",
    "unsubscribed",
    "undeliverable",
    "erased",
]
STAGES: tuple[str, ...] = Stage.__args__  # type: ignore[attr-defined]
