"""``score(job_text, resume_text)``: how well a résumé fits a job, and why.

The résumé is redacted first (``redaction.redact``) and everything after sees only the
redacted text; evidence is quoted from the original lines the redacted ones came from. The
value is a weighted sum of transparent parts (``features``), each in 0..1, so a reviewer can
see what moved it. The score is a ranking aid for a person, never a decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hiring.scoring.embedding import embed
from hiring.scoring.features import (
    coverage,
    evidence_units,
    load_job,
    role_part,
    seniority_part,
    sim01,
    skill_part,
    task_part,
    title_entries,
    with_skills,
)
from hiring.scoring.redaction import redact
from hiring.scoring.resume import parse_resume
from hiring.scoring.skills import vocabulary

__all__ = ["WEIGHTS", "MatchedSkill", "Part", "Score", "score"]

# How the parts add up (tuned on the eight dev pools of tests/hiring/eval; see
# docs/hiring-scoring.md for what that means for other data).
WEIGHTS: dict[str, float] = {
    "role": 0.35,
    "skills": 0.25,
    "tasks": 0.15,
    "seniority": 0.15,
    "document": 0.10,
}


# A job with this many distinct skills in the vocabulary gets the skill part's full weight.
FULL_SKILL_SLOTS = 6


@dataclass(frozen=True)
class MatchedSkill:
    """A job skill the résumé shows, the sentence that shows it (verbatim), and how strongly."""

    name: str
    required: bool
    evidence: str
    strength: float
    section: str


@dataclass(frozen=True)
class Part:
    """One part of the score: its value (0..1), its weight, and what it was made from."""

    name: str
    value: float
    weight: float
    detail: str


@dataclass(frozen=True)
class Score:
    """A résumé's fit to a job: ``value`` (higher is better, 0..1) and its explanation."""

    value: float
    matched: tuple[MatchedSkill, ...]
    missing: tuple[str, ...]
    missing_optional: tuple[str, ...]
    parts: tuple[Part, ...]
    titles: tuple[str, ...]
    # the kinds of personal cue removed before scoring ("name", "email", ...), not the
    # removed text: a score travels to the job's workflow and must not carry who it is about
    redacted: tuple[str, ...]

    def explain(self) -> str:
        """The explanation as plain text: the parts and weights, matched and missing skills."""
        lines = [
            f"score {self.value:.3f} = "
            + " + ".join(f"{p.weight:.2f}×{p.name} {p.value:.2f}" for p in self.parts)
        ]
        lines += [f"  {p.name}: {p.detail}" for p in self.parts]
        for m in self.matched:
            kind = "required" if m.required else "nice-to-have"
            lines.append(f"  ✓ {m.name} ({kind}, {m.strength:.2f}, {m.section}): “{m.evidence}”")
        if self.missing:
            lines.append("  ✗ missing required: " + ", ".join(self.missing))
        if self.missing_optional:
            lines.append("  ✗ missing nice-to-have: " + ", ".join(self.missing_optional))
        return "\n".join(lines)


def _quote(sentence: str, source: str, resume_text: str) -> str:
    """The evidence as it stands in the résumé: the sentence if verbatim, else its line."""
    if sentence and sentence in resume_text:
        return sentence
    stripped = source.strip()
    return stripped if stripped in resume_text else ""


def score(
    job_text: str, resume_text: str, *, skills: Sequence[tuple[str, bool]] | None = None
) -> Score:
    """Score a résumé against a job description; works without the engine.

    ``skills`` (name, required) replaces the skills read from the description, e.g. the list
    a recruiter confirmed or edited; a name outside the vocabulary is matched as written.
    The job's parts and vectors are cached by the job text's hash, so scoring many résumés
    against one job embeds the job once.
    """
    for name, given in (("job_text", job_text), ("resume_text", resume_text)):
        if not isinstance(given, str):
            raise TypeError(f"score(): {name} must be a str, not {type(given).__name__}")
    if not job_text.strip():
        raise ValueError("score(): job_text is empty; pass the job description's text")
    vocab = vocabulary()
    job = load_job(job_text, vocab)
    if skills is not None:
        job = with_skills(job, skills, vocab)
    redacted = redact(resume_text)
    pairs = list(zip(redacted.text.splitlines(), redacted.sources, strict=True))
    resume = parse_resume(pairs, vocab)

    # One embedding call per résumé: its titles and the lines that describe its work. The
    # document vector is their mean, so no long text is embedded per call.
    entries = title_entries(resume)
    units = evidence_units(resume.lines, vocab, prose=not resume.roles)
    vectors = embed([vocab.expand(t) for t, _, _ in entries] + [vocab.expand(u) for u, _ in units])
    title_vectors, unit_vectors = vectors[: len(entries)], vectors[len(entries) :]
    titles = role_part(job, resume, title_vectors, vocab)
    if titles:
        role = titles[0].value
        best = titles[0]
        role_detail = (
            f"best title “{best.title}” vs “{job.title}”: similarity {best.similarity:.2f}"
            + (
                f", a {best.meta_family} title (counts ¼)"
                if best.meta_family and best.meta_family != job.meta_family
                else ""
            )
        )
    else:
        role = 0.0
        role_detail = "no job title found in the résumé"

    evidence = skill_part(job, resume.lines, vocab)
    covered = coverage(job, evidence)
    tasks, task_pairs = task_part(job, units, unit_vectors)
    seniority, years, level = seniority_part(job, titles, resume)

    document = 0.0
    if len(vectors):
        mean = vectors.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            document = sim01(float(mean @ job.doc_vector) / norm, 0.1, 0.7)

    values = {
        "role": role,
        "skills": covered,
        "tasks": tasks,
        "seniority": seniority,
        "document": document,
    }
    n_required = sum(1 for e in evidence if e.skill.required)
    shown = sum(1 for e in evidence if e.skill.required and e.strength > 0)
    details = {
        "role": role_detail,
        "skills": (
            f"{shown}/{n_required} required skills shown, weighted by evidence (action in "
            "experience 1.0, role line 0.6, summary 0.4, skills list 0.3, sales/recruiting 0.2)"
        ),
        "tasks": f"{len(task_pairs)} job sentences matched to experience lines by embedding",
        "seniority": (
            f"{years:.1f} years in matching roles (job asks {job.years:g}), "
            f"title level {level} vs job {job.level}"
        ),
        "document": "the redacted résumé's work lines and titles (mean vector) vs the job text",
    }
    # The vocabulary knows some fields better than others: with few of the job's skills in it
    # (a field it was not written for), the skill part's weight moves to the task part.
    slots = len({next((g for g in job.groups if s.name in g), (s.name,)) for s in job.skills})
    reliability = min(1.0, slots / FULL_SKILL_SLOTS)
    weights = dict(WEIGHTS)
    weights["tasks"] += weights["skills"] * (1.0 - reliability)
    weights["skills"] *= reliability
    if reliability < 1.0:
        details["skills"] += (
            f"; weight scaled by {reliability:.2f}: only {slots} known skills in the job"
        )
    parts = tuple(Part(n, round(values[n], 4), round(weights[n], 4), details[n]) for n in weights)
    value = sum(values[n] * weights[n] for n in weights)

    matched: list[MatchedSkill] = []
    missing: list[str] = []
    missing_optional: list[str] = []
    for e in evidence:
        if e.strength > 0 and e.line is not None:
            quote = _quote(e.sentence, e.line.source, resume_text)
            if quote:
                matched.append(
                    MatchedSkill(
                        e.skill.name, e.skill.required, quote, round(e.strength, 2), e.line.section
                    )
                )
                continue
        (missing if e.skill.required else missing_optional).append(e.skill.name)
    return Score(
        value=round(float(value), 6),
        matched=tuple(matched),
        missing=tuple(missing),
        missing_optional=tuple(missing_optional),
        parts=parts,
        titles=tuple(t.title for t in titles),
        redacted=tuple(sorted({kind for kind, _ in redacted.removed})),
    )
