"""The parts of a score, each a number in 0..1 with the evidence behind it.

- **role**: does the person hold (or recently held) the job's role? Their job titles,
  abbreviations spelled out, compared with the job's title by embedding; a title in a
  family that talks about others' work (sales, recruiting, marketing) when the job is not in
  that family counts for a quarter.
- **skills**: evidence-weighted coverage of the job's skills: a skill counts by the best line
  that shows it (``resume.evidence_weight``): an action in an experience section fully, a
  keyword list or summary partly, a sales or recruiting line about it barely.
- **tasks**: each of the job's requirement sentences against the résumé's experience lines,
  by embedding, weighted the same way; this is what carries fields the vocabulary does not
  know.
- **seniority**: years in matching roles against the years asked for, and the level of the
  title (intern ... head of) against the job's.
- **document**: the whole redacted résumé against the whole job, by embedding.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hiring.scoring.embedding import Vectors, cached_job, embed
from hiring.scoring.resume import (
    ROLE_NOUNS,
    Line,
    ParsedResume,
    evidence_weight,
    has_role_noun,
    job_title,
    required_years,
)
from hiring.scoring.skills import Skill, Vocabulary, extract_skills, is_heading, sentences

__all__ = [
    "Job",
    "SkillEvidence",
    "TitleMatch",
    "evidence_units",
    "load_job",
    "role_part",
    "seniority_part",
    "skill_part",
    "task_part",
    "title_entries",
]


def sim01(cos: float, low: float = 0.2, high: float = 0.75) -> float:
    """A cosine mapped onto 0..1 over the range MiniLM uses for related texts."""
    return float(min(1.0, max(0.0, (cos - low) / (high - low))))


@dataclass(frozen=True)
class Job:
    """What the scorer needs from a job description, computed once per job text."""

    text: str
    title: str
    skills: tuple[Skill, ...]
    groups: tuple[tuple[str, ...], ...]  # skills that are alternatives ("Zendesk or Freshdesk")
    years: float
    level: int
    managerial: bool  # a supervisor, lead or manager title, not just a senior one
    role_nouns: frozenset[str]  # the role words of its title ("nurse", "accountant")
    meta_family: str | None
    tasks: tuple[str, ...]
    title_vector: Vectors  # the title as written, and its role alone ("Product Manager")
    core_vector: Vectors
    task_vectors: Vectors
    doc_vector: Vectors


_MANAGERIAL = re.compile(
    r"\b(?:lead|supervisor|manager|head|chief|director|foreman|superintendent)\b", re.IGNORECASE
)


# Title words too general to say which job it is: a "Talent Acquisition Specialist" is not a
# "Customer Support Specialist", a "Sales Engineer" not a "Machine Learning Engineer".
_GENERIC_HEADS = frozenset(
    """
    manager specialist representative rep agent associate officer executive consultant
    coordinator assistant administrator analyst lead supervisor director head engineer
    partner owner founder president vp worker professional
    """.split()
)


def _head(title: str, vocab: Vocabulary) -> str:
    """The head word of a title's first part: "Nurse Recruiter" -> "recruiter"."""
    separators = r"\s*(?:,|\(|—|–|\|| - | for | of | at )\s*"
    first = re.split(separators, vocab.expand(title), maxsplit=1)[0]
    words = re.findall(r"[a-z']+", first.lower())
    return words[-1] if words else ""


def level_of(title: str, vocab: Vocabulary) -> int:
    """0 intern/junior/assistant, 1 plain, 2 senior/lead/manager, 3 head/director/VP."""
    low = " " + re.sub(r"[^a-z0-9 ]+", " ", vocab.expand(title).lower()) + " "
    for level, name in ((3, "executive"), (0, "junior"), (2, "senior")):
        if any(f" {w} " in low for w in vocab.levels[name]):
            return level
    return 1


def meta_family(title: str, vocab: Vocabulary) -> str | None:
    """The family of a title that is about other people's work (sales, recruiting, ...)."""
    expanded = vocab.expand(title)
    low = " " + re.sub(r"[^a-z0-9 ]+", " ", expanded.lower()) + " "
    for family, words in vocab.meta_roles.items():
        for word in words:
            if word.isupper():
                if re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", title):
                    return family
            elif f" {word.lower()} " in low:
                return family
    return None


def _groups(job_text: str, skills: list[Skill], vocab: Vocabulary) -> tuple[tuple[str, ...], ...]:
    """Skills named as alternatives of each other ("Zendesk, Freshdesk or Intercom")."""
    wanted = {s.name for s in skills}
    groups: list[tuple[str, ...]] = []
    for line in job_text.splitlines():
        for sentence in sentences(line):
            mentions = [m for m in vocab.mentions(sentence) if m.name in wanted]
            run: list[str] = []
            for prev, cur in itertools.pairwise(mentions):
                between = sentence[prev.end : cur.start]
                if re.fullmatch(r"\s*(?:,|,?\s*or|/)\s*", between) and (
                    " or " in sentence[prev.start : cur.end + 40] or "/" in between
                ):
                    run = run or [prev.name]
                    run.append(cur.name)
                elif run:
                    groups.append(tuple(dict.fromkeys(run)))
                    run = []
            if run:
                groups.append(tuple(dict.fromkeys(run)))
    return tuple(g for g in groups if len(g) > 1)


def _tasks(job_text: str, title: str) -> list[str]:
    """The job's requirement and responsibility sentences (not headings, not the title)."""
    out: list[str] = []
    for line in job_text.splitlines():
        if not line.strip() or line.strip() == title or is_heading(line):
            continue
        for sentence in sentences(line):
            if len(sentence.split()) >= 3:
                out.append(sentence)
    return out


def _core_title(title: str, vocab: Vocabulary) -> str:
    """The role named in a job title, without its qualifiers ("ICU Registered Nurse")."""
    core = re.sub(r"\([^)]*\)?", " ", title)
    parts = [p.strip() for p in re.split(r"\s*(?:,|\||—|–|\s-\s|:)\s*", core) if p.strip()]
    titled = [p for p in parts if has_role_noun(p, vocab)]
    return (titled or parts or [title])[0]


def load_job(job_text: str, vocab: Vocabulary) -> Job:
    """The job's parts and vectors (cached by the job text's hash)."""

    def build(text: str) -> Job:
        title = job_title(text, vocab)
        skills = extract_skills(text)
        tasks = _tasks(text, title)
        core = _core_title(title, vocab)
        vectors = embed(
            [vocab.expand(title), vocab.expand(core), *[vocab.expand(t) for t in tasks]]
        )
        doc = embed([vocab.expand(text)])
        return Job(
            text=text,
            title=title,
            skills=tuple(skills),
            groups=_groups(text, skills, vocab),
            years=required_years(text),
            level=level_of(title, vocab),
            managerial=bool(_MANAGERIAL.search(vocab.expand(title))),
            role_nouns=frozenset(
                w
                for w in re.findall(r"[a-z']+", vocab.expand(title).lower())
                if w in ROLE_NOUNS and w not in _GENERIC_HEADS
            ),
            meta_family=meta_family(title, vocab),
            tasks=tuple(tasks),
            title_vector=vectors[0],
            core_vector=vectors[1],
            task_vectors=vectors[2:],
            doc_vector=doc[0],
        )

    return cached_job(job_text, build)


def with_skills(job: Job, skills: Sequence[tuple[str, bool]], vocab: Vocabulary) -> Job:
    """The job scored on ``skills`` (name, required) instead of those read from its text:
    each name mapped to the vocabulary's canonical name when it knows it, and kept with the
    description's sentence that named it, if any."""
    asked = {s.name: s.sentence for s in job.skills}
    chosen: dict[str, Skill] = {}
    for name, required in skills:
        found = vocab.mentions(name)
        canonical = found[0].name if found and len(found) == 1 else name.strip()
        if canonical and canonical not in chosen:
            chosen[canonical] = Skill(canonical, bool(required), asked.get(canonical, ""))
    picked = list(chosen.values())
    return dataclasses.replace(job, skills=tuple(picked), groups=_groups(job.text, picked, vocab))


@dataclass(frozen=True)
class TitleMatch:
    """How one of the person's titles matches the job's."""

    title: str
    similarity: float  # 0..1
    meta_family: str | None
    value: float  # similarity after the family rule and recency
    years: float
    level: int


def title_entries(resume: ParsedResume, limit: int = 6) -> list[tuple[str, float, bool]]:
    """(title, years, current) for the roles held and headline titles, each title once.

    A title held twice (promoted in place, or repeated as the headline) adds its years and
    is current if either is. At most ``limit`` titles, the first ones (résumés list the most
    recent first); an older role counts as current only if it is still going on.
    """
    most_recent = max((r.start or 0) for r in resume.roles) if resume.roles else None
    order: list[str] = []
    merged: dict[str, tuple[str, float, bool]] = {}
    items = [(r.title, r.years, r.current or r.start == most_recent) for r in resume.roles]
    items += [(h, 0.0, True) for h in resume.headlines]
    for title, years, current in items:
        key = " ".join(title.lower().split())
        if key in merged:
            old = merged[key]
            merged[key] = (old[0], old[1] + years, old[2] or current)
        elif len(order) < limit:
            order.append(key)
            merged[key] = (title, years, current)
    return [merged[k] for k in order]


_CONNECTORS = frozenset(
    {"&", "and", "of", "the", "for", "de", "van", "von", "al", "da", "-", "–", "—"}
)


def _label_line(text: str) -> bool:
    """A short line of capitalised words only: a name, a company or a heading."""
    tokens = text.strip().split()
    if not 1 <= len(tokens) <= 5 or re.search(r"[\d.:;!?]", text):
        return False
    return all(t[0].isupper() or t.lower() in _CONNECTORS for t in tokens)


def evidence_units(
    lines: tuple[Line, ...],
    vocab: Vocabulary,
    limit: int = 8,
    words: int = 16,
    chars: int = 420,
    *,
    prose: bool = False,
) -> list[tuple[str, float]]:
    """(text, evidence weight) of the lines that describe work: experience, training, summary.

    At most ``limit`` lines of at most ``words`` words each and ``chars`` characters in all:
    embedding cost grows with tokens, and a job's fit shows in its first lines (the most
    recent roles). ``prose``: the résumé names no dated role, so its opening sentences are
    all there is to read.
    """
    units: list[tuple[str, float, str]] = []
    for line in lines:
        if line.kind == "heading" or line.section in {"skills", "credentials", "education"}:
            continue
        if line.section == "header" and (not prose or len(line.text.split()) < 6):
            continue  # before the first role: contact, headline, profile claims
        if _label_line(line.text):
            continue  # a company, a heading or a stray name: not a description of work
        weight = evidence_weight(line, vocab)
        if weight > 0.0:
            units.append((" ".join(line.text.split()[:words]), weight, line.section))
    # experience first (most recent first, as written), then training, then the summary
    order = {"experience": 0, "training": 1}
    ranked = sorted(range(len(units)), key=lambda i: (order.get(units[i][2], 2), i))[:limit]
    # and a budget in characters (a proxy for tokens, which is what the embedder pays for)
    kept: list[int] = []
    spent = 0
    for i in ranked:
        if kept and spent + len(units[i][0]) > chars:
            break
        kept.append(i)
        spent += len(units[i][0])
    return [(units[i][0], units[i][1]) for i in sorted(kept)]


def role_part(
    job: Job, resume: ParsedResume, vectors: Vectors, vocab: Vocabulary
) -> list[TitleMatch]:
    """Every title the person held or claims, matched against the job's title, best first.

    ``vectors``: one row per ``title_entries(resume)`` entry.
    """
    entries = title_entries(resume)
    if not entries:
        return []
    cos = np.maximum(vectors @ job.title_vector, vectors @ job.core_vector)
    work_families = {
        " ".join(r.title.lower().split()): r.work_family for r in resume.roles if r.work_family
    }
    out = []
    for (title, years, current), c in zip(entries, cos, strict=True):
        family = meta_family(title, vocab) or work_families.get(" ".join(title.lower().split()))
        if family is not None and _head(title, vocab) in job.role_nouns:
            family = None  # a "Sales Tax Accountant", an "ICU Nurse" placed by a staffing firm
        similarity = sim01(float(c), 0.25, 0.8)
        value = similarity
        if family is not None and family != job.meta_family:
            value *= 0.25
        if not current:
            value *= 0.9
        level = level_of(title, vocab)
        if level == 1 and years >= max(5.0, job.years + 2) and not job.managerial:
            level = 2  # years make a plain title senior, but not a supervisor
        # holding the role at another level is holding a different job: an associate is not
        # the supervisor, a head of support is not the specialist
        gap = job.level - level
        value *= 1.0 - 0.15 * max(0, gap) - 0.1 * max(0, -gap - 1)
        out.append(TitleMatch(title, similarity, family, value, years, level))
    out.sort(key=lambda m: m.value, reverse=True)
    return out


@dataclass(frozen=True)
class SkillEvidence:
    """The best line that shows one of the job's skills, and how strongly."""

    skill: Skill
    strength: float
    line: Line | None
    sentence: str


def skill_part(job: Job, lines: tuple[Line, ...], vocab: Vocabulary) -> list[SkillEvidence]:
    """For each of the job's skills, the résumé line that best shows it."""
    best: dict[str, tuple[float, Line, str]] = {}
    for line in lines:
        if line.kind == "heading":
            continue
        for sentence in sentences(line.text) or [line.text]:
            for mention in vocab.mentions(sentence):
                weight = evidence_weight(line, vocab, mention.name in vocab.credentials)
                if weight > best.get(mention.name, (0.0,))[0]:
                    best[mention.name] = (weight, line, sentence)
    literal = [s.name for s in job.skills if s.name not in best and s.name not in vocab.aliases]
    for name in literal:  # a recruiter's own skill the vocabulary does not know: as written
        pattern = re.compile(rf"(?<![\w+#]){re.escape(name)}(?![\w+#])", re.IGNORECASE)
        for line in lines:
            if line.kind == "heading":
                continue
            for sentence in sentences(line.text) or [line.text]:
                if pattern.search(sentence):
                    weight = evidence_weight(line, vocab, False)
                    if weight > best.get(name, (0.0,))[0]:
                        best[name] = (weight, line, sentence)
    out = []
    for skill in job.skills:
        found = best.get(skill.name)
        if found is None:
            out.append(SkillEvidence(skill, 0.0, None, ""))
        else:
            out.append(SkillEvidence(skill, found[0], found[1], found[2]))
    return out


def coverage(job: Job, evidence: list[SkillEvidence]) -> float:
    """Weighted share of the job's skills shown (required 1, nice-to-have 0.4).

    Skills named as alternatives of each other count once, by the best of them.
    """
    strength = {e.skill.name: e.strength for e in evidence}
    required = {e.skill.name: e.skill.required for e in evidence}
    seen: set[str] = set()
    total = got = 0.0
    for e in evidence:
        name = e.skill.name
        if name in seen:
            continue
        group = next((g for g in job.groups if name in g), (name,))
        seen.update(group)
        weight = 1.0 if any(required.get(n, False) for n in group) else 0.4
        total += weight
        got += weight * max(strength.get(n, 0.0) for n in group)
    return got / total if total else 0.0


def task_part(
    job: Job, units: list[tuple[str, float]], vectors: Vectors
) -> tuple[float, list[tuple[str, str, float]]]:
    """Mean over the job's requirement sentences of the best evidence-weighted résumé line.

    ``vectors``: one row per unit of ``evidence_units``.
    """
    if not units or not len(job.tasks):
        return 0.0, []
    cos = job.task_vectors @ vectors.T  # tasks x units
    weights = np.array([u[1] for u in units], dtype=np.float32)
    scaled = np.clip((cos - 0.2) / 0.5, 0.0, 1.0) * weights[None, :]
    best = scaled.argmax(axis=1)
    values = scaled.max(axis=1)
    pairs = [
        (job.tasks[i], units[int(best[i])][0], float(values[i])) for i in range(len(job.tasks))
    ]
    return float(values.mean()), pairs


def seniority_part(
    job: Job, titles: list[TitleMatch], resume: ParsedResume
) -> tuple[float, float, int]:
    """(value, years in matching roles, level of the best-matching title)."""
    relevant = sum(t.years * t.value for t in titles if t.value >= 0.35 and t.years > 0)
    if relevant == 0.0 and resume.claimed_years and titles:
        relevant = resume.claimed_years * titles[0].value
    wanted = job.years or 2.0
    years_fit = min(1.0, relevant / wanted)
    level = titles[0].level if titles else 1
    gap = job.level - level
    level_fit = 1.0 - 0.3 * max(0, gap) - 0.15 * max(0, -gap - 1)
    return 0.5 * years_fit + 0.5 * max(0.0, level_fit), relevant, level
