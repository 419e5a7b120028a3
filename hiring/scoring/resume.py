"""Résumé structure: sections, roles held (title, years), and how much a line is evidence.

Invariants: this module only ever sees *redacted* text (each line paired with the original
line it came from, for quoting), and it reads structure from headings and dated role lines,
never from blank lines or position, so a removed cue leaves nothing for it to notice.

Evidence weight of a line, the core of "does the person do the job": a line under an
experience heading that describes the person's own work counts fully; the same words in a
line about selling, recruiting or demonstrating to others (a recruiter *of* nurses, a
reseller *of* CAD licences) count little; a keyword list or a self-description counts less
than a described action; a licence counts fully where licences are listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from hiring.scoring.skills import Vocabulary, sentences

__all__ = [
    "ROLE_NOUNS",
    "Line",
    "ParsedResume",
    "Role",
    "has_role_noun",
    "job_title",
    "parse_resume",
    "required_years",
]

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = rf"(?:{_MONTH}\s+|\d{{1,2}}/)?{_YEAR}"
_RANGE = re.compile(
    rf"(?P<start>{_DATE})\s*(?:-|–|—|to|until|→)+\s*(?P<end>{_DATE}|present|current|now|today|date)",
    re.IGNORECASE,
)
_SEASON = re.compile(
    rf"\b(?:summer|spring|fall|autumn|winter)\s+(?P<year>{_YEAR})\b", re.IGNORECASE
)
_TRAILING_YEAR = re.compile(rf"(?:,|\(|\s)\s*(?P<year>{_YEAR})\s*\)?\s*$")

_SECTIONS = {
    "summary": "summary",
    "profile": "summary",
    "objective": "summary",
    "about": "summary",
    "about me": "summary",
    "professional summary": "summary",
    "career summary": "summary",
    "overview": "summary",
    "highlights": "summary",
    "career objective": "summary",
    "experience": "experience",
    "work experience": "experience",
    "work history": "experience",
    "employment": "experience",
    "employment history": "experience",
    "work": "experience",
    "professional experience": "experience",
    "career history": "experience",
    "relevant experience": "experience",
    "career": "experience",
    "positions": "experience",
    "clinical rotations": "training",
    "clinical experience": "training",
    "research": "training",
    "projects": "training",
    "student teaching": "training",
    "internships": "training",
    "volunteer": "training",
    "volunteering": "training",
    "training": "training",
    "education": "education",
    "education and training": "education",
    "qualifications": "education",
    "academic background": "education",
    "skills": "skills",
    "core skills": "skills",
    "key skills": "skills",
    "technical skills": "skills",
    "core competencies": "skills",
    "competencies": "skills",
    "tools": "skills",
    "software": "skills",
    "expertise": "skills",
    "areas of expertise": "skills",
    "technologies": "skills",
    "skills and tools": "skills",
    "certifications": "credentials",
    "certification": "credentials",
    "licenses": "credentials",
    "licences": "credentials",
    "license": "credentials",
    "licence": "credentials",
    "credentials": "credentials",
    "licenses and certifications": "credentials",
    "certifications and licenses": "credentials",
    "licensure": "credentials",
}
_INLINE_KEY = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z &/]{1,30}?)\s*:\s*(?P<rest>\S.*)$")

# Words that make a segment of a role line a job title.
ROLE_NOUNS = frozenset(
    """
    nurse rn lpn lvn np cna aide technician tech engineer eng engineer's designer
    drafter accountant acct bookkeeper controller auditor analyst manager mgr director
    head lead supervisor supv specialist representative rep agent associate officer
    executive consultant coordinator assistant administrator admin clerk teacher
    educator instructor tutor professor lecturer counselor therapist pharmacist
    physician doctor surgeon paramedic emt electrician wireman journeyman apprentice
    plumber carpenter welder machinist mechanic operator driver chef cook baker server
    bartender barista cashier paralegal para lawyer attorney counsel secretary
    receptionist recruiter sourcer scientist researcher developer programmer architect
    owner founder partner president vp intern student trainee writer editor creator
    planner buyer worker hygienist dietitian caregiver nanny guard mle swe sde pm apm ae
    csr csm sdr bdr generalist dispatcher estimator inspector surveyor underwriter adjuster
    banker teller broker steward attendant porter housekeeper landscaper painter roofer
    installer fitter rigger lineman millwright toolmaker fabricator assembler packer picker
    loader handler scheduler expeditor purchaser merchandiser stylist cosmetologist
    technologist radiographer sonographer phlebotomist midwife medic dentist optometrist
    veterinarian groomer trainer coach librarian archivist curator translator interpreter
    economist statistician actuary mathematician physicist chemist biologist geologist
    strategist producer photographer animator illustrator artist musician resident clerk
    """.split()
)


@dataclass(frozen=True)
class Role:
    """A job the person held: its title, its years, and the line that says so."""

    title: str
    years: float
    start: int | None
    line: str
    current: bool
    # "sales" or "recruiting" when most of the role's own lines are about selling to or
    # recruiting others, whatever the title says ("Hospital Account Specialist")
    work_family: str | None = None


@dataclass(frozen=True)
class Line:
    """One redacted line: its text, the original line, its section and kind."""

    text: str
    source: str
    section: str  # header, summary, experience, training, education, skills, credentials, other
    kind: str  # heading, role, content


@dataclass(frozen=True)
class ParsedResume:
    """A redacted résumé read into lines, roles held and headline titles."""

    lines: tuple[Line, ...]
    roles: tuple[Role, ...]
    headlines: tuple[str, ...]
    claimed_years: float | None


_HEADING_WORDS = (
    ("experience", "experience"),
    ("employment", "experience"),
    ("work history", "experience"),
    ("career history", "experience"),
    ("skills", "skills"),
    ("competencies", "skills"),
    ("technologies", "skills"),
    ("tools", "skills"),
    ("education", "education"),
    ("certifications", "credentials"),
    ("licenses", "credentials"),
    ("licences", "credentials"),
    ("credentials", "credentials"),
    ("summary", "summary"),
    ("profile", "summary"),
    ("objective", "summary"),
    ("projects", "training"),
    ("rotations", "training"),
    ("volunteer", "training"),
    ("research", "training"),
)


def _heading_section(line: str, vocab: Vocabulary | None = None) -> str | None:
    """The section a heading line opens ("PROFESSIONAL EXPERIENCE", "Skills & Tools:")."""
    stripped = line.strip()
    text = re.sub(r"^[\W_]+|[\W_]+$", "", stripped).strip().lower()
    text = re.sub(r"\s+", " ", text)
    if text in _SECTIONS and len(stripped) <= 40:
        return _SECTIONS[text]
    words = text.split()
    if not words or len(words) > 5 or re.search(r"\d", text) or stripped.endswith("."):
        return None
    # "Relevant Work Experience", "TECHNICAL SKILLS & TOOLS", but not "Customer Experience
    # Specialist" (a title: it names a role)
    if vocab is not None and has_role_noun(stripped, vocab):
        return None
    if not (stripped.isupper() or stripped.endswith(":") or stripped.istitle()):
        return None
    for word, section in _HEADING_WORDS:
        if word in text:
            return section
    return None


def has_role_noun(text: str, vocab: Vocabulary) -> bool:
    words = re.findall(r"[A-Za-z']+", vocab.expand(text).lower())
    return any(w in ROLE_NOUNS for w in words)


def _titles_of(line: str, match: re.Match[str] | None, vocab: Vocabulary) -> list[str]:
    """The job titles a role line names ("Product Owner → Sr. PM" names two)."""
    text = line
    if match is not None:
        text = text[: match.start()] + " " + text[match.end() :]
    text = _SEASON.sub(" ", text)
    text = _TRAILING_YEAR.sub(" ", text)
    text = re.sub(r"\([^)]*\)?|\[[^\]]*\]?", " ", text)  # "(B2B SaaS)", "(2019 - present"
    text = re.sub(r"^[\s:,;|–—-]+", "", text)  # "2018 - present: Staff RN" left ": Staff RN"
    text = re.sub(r"[:].*$", "", text)  # "Title, Org, 2023 - 2025: what I did"
    text = re.sub(r"^\s*(?:[-•*·]\s+)", "", text)
    segments = [
        s.strip(" ()[]|.,")
        for s in re.split(r"\s*(?:,|\||—|–|@|\bat\b|\s-\s|/|→|->|>)\s*", text)
        if re.search(r"[A-Za-z]{2}", s)
    ]
    titled = [s for s in segments if has_role_noun(s, vocab)]
    if not titled:
        return segments[:1]
    first = segments.index(titled[0])
    titles = []
    for title in titled[:2]:
        index = segments.index(title)
        # a unit or specialty right after the title ("Staff RN, MICU") belongs to it
        if index + 1 < len(segments) and index == first:
            nxt = segments[index + 1]
            if (
                len(nxt.split()) <= 3
                and nxt not in titled
                and (nxt.isupper() or vocab.mentions(nxt))
            ):
                title = f"{title}, {nxt}"
        titles.append(title)
    return titles


def _title_of(line: str, match: re.Match[str] | None, vocab: Vocabulary) -> str:
    titles = _titles_of(line, match, vocab)
    return titles[0] if titles else ""


def _years(match: re.Match[str], today: date) -> tuple[float, int | None, bool]:
    start_y = int(re.search(_YEAR, match.group("start")).group(0))  # type: ignore[union-attr]
    end_raw = match.group("end")
    current = not re.search(_YEAR, end_raw)
    end_y = today.year if current else int(re.search(_YEAR, end_raw).group(0))  # type: ignore[union-attr]
    return max(0.25, float(end_y - start_y)), start_y, current


_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
}
_CLAIM = re.compile(
    r"\b(?P<n>\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty)"
    r"\+?\s+years?\b",
    re.IGNORECASE,
)


def _number(raw: str) -> float:
    return float(_NUMBER_WORDS.get(raw.lower(), 0) or int(raw))


def parse_resume(
    lines: list[tuple[str, str]], vocab: Vocabulary, today: date | None = None
) -> ParsedResume:
    """Read redacted ``(text, source)`` lines into sections, roles and headline titles."""
    today = today or date.today()
    section = "header"
    out: list[Line] = []
    roles: list[Role] = []
    headlines: list[str] = []
    claimed: float | None = None
    for text, source in lines:
        if not text.strip():
            continue
        heading = _heading_section(text, vocab)
        if heading is not None:
            section = heading
            out.append(Line(text, source, section, "heading"))
            continue
        line_section = section
        key = _INLINE_KEY.match(text)
        if key and _heading_section(key.group("key")):
            line_section = _heading_section(key.group("key")) or section
            out.append(Line(text, source, line_section, "content"))
            continue
        match = _RANGE.search(text)
        season = _SEASON.search(text)
        trailing = _TRAILING_YEAR.search(text)
        is_role = False
        if section not in {"education", "skills", "credentials"}:
            if match or season:
                is_role = has_role_noun(text, vocab) or section in {"experience", "header"}
            elif trailing and section == "experience" and has_role_noun(text, vocab):
                is_role = len(text.split()) <= 12
        if is_role:
            if match:
                years, start, current = _years(match, today)
            else:
                found = season or trailing
                assert found is not None
                start, years, current = int(found.group("year")), 0.25, False
            titles = _titles_of(text, match, vocab)
            if not titles:
                # "Staff Nurse, Mercy Hospital" on one line, "June 2018 – Present" on the next
                for back in (1, 2):
                    if len(out) < back or out[-back].kind != "content":
                        break
                    prev = out[-back]
                    if len(prev.text.split()) <= 12 and has_role_noun(prev.text, vocab):
                        titles = _titles_of(prev.text, None, vocab)
                        out[-back] = Line(prev.text, prev.source, "experience", "role")
                        if headlines and headlines[-1] in titles:
                            headlines.pop()
                        break
            for title in titles:
                roles.append(Role(title, years, start, text, current))
            if section in {"header", "summary", "other"}:
                section = "experience"
            out.append(
                Line(text, source, "training" if section == "training" else "experience", "role")
            )
            continue
        if section == "header":
            if (
                len(text.split()) <= 9
                and has_role_noun(text, vocab)
                and not text.rstrip().endswith(".")
            ):
                headlines.append(_title_of(text, None, vocab))
            for sentence in sentences(text):
                claim = _CLAIM.search(sentence)
                if (
                    claim
                    and claimed is None
                    and re.search(r"experience|years (?:of|in|as)", sentence, re.I)
                ):
                    claimed = _number(claim.group("n"))
        elif section == "summary":
            claim = _CLAIM.search(text)
            if claim and claimed is None:
                claimed = _number(claim.group("n"))
            if not headlines and has_role_noun(text, vocab):
                first = re.split(r"\s+with\s+|\s+who\s+|[.,;]", text, maxsplit=1)[0]
                if len(first.split()) <= 6:
                    headlines.append(first.strip())
        out.append(Line(text, source, line_section, "content"))
    if not roles and not headlines:
        # a résumé in prose: "I have worked as an ICU nurse for six years at ..."
        for line in out:
            if line.section in {"skills", "education", "credentials"}:
                continue
            for match in _WORKED_AS.finditer(line.text):
                title = match.group("title").strip()
                if has_role_noun(title, vocab) and title not in headlines:
                    headlines.append(title)
                    claim = _CLAIM.search(line.text[match.end() : match.end() + 40])
                    if claim and claimed is None:
                        claimed = _number(claim.group("n"))
    return ParsedResume(tuple(out), tuple(_with_work_family(roles, out)), tuple(headlines), claimed)


_WORKED_AS = re.compile(
    r"\b(?:I\s+am|I'm|I\s+work(?:ed)?\s+as|I\s+have\s+(?:been\s+)?work(?:ed|ing)\s+as|"
    r"I\s+have\s+been|worked\s+as|working\s+as|employed\s+as|served\s+as|experience\s+as)"
    r"\s+(?:an?\s+|the\s+)?(?P<title>[A-Za-z][\w/&\s-]{2,50}?)"
    r"(?=\s+(?:at|for|in|with|since|from|and|who|on|over)\b|\s*[.,;(]|\s*$)",
    re.IGNORECASE,
)


# stricter than _META_VERBS: only what says the role itself is selling or recruiting
_SELLING_OR_RECRUITING = re.compile(
    r"\b(?:sold|sells?|selling|resold|resell\w*|recruited|recruits?|recruiting|placed|"
    r"promoted\s+\w+\s+(?:products?|solutions?|services?)|promoted\s+[\w\s]{0,40}\bto\b|"
    r"pitched|prospect\w*|quotas?|sales\s+(?:goals?|targets?)|bookings|closed\s+\$|"
    r"new\s+business|ARR|demos?\b|demoed)",
    re.IGNORECASE,
)
_RECRUITING = re.compile(
    r"\b(?:recruit\w*|placed|places|sourc\w+|screened|hired|staff(?:ed|ing))\b", re.I
)


def _with_work_family(roles: list[Role], lines: list[Line]) -> list[Role]:
    """Each role with the family its own lines show: mostly selling or recruiting, or None."""
    out: list[Role] = []
    by_line: dict[str, list[str]] = {}
    current: str | None = None
    for line in lines:
        if line.kind == "role":
            current = line.text
            by_line.setdefault(current, [])
        elif line.kind == "heading":
            current = None
        elif current is not None and line.section in {"experience", "training"}:
            by_line[current].append(line.text)
    for role in roles:
        own = by_line.get(role.line, [])
        meta = [t for t in own if _SELLING_OR_RECRUITING.search(t)]
        family = None
        if own and len(meta) * 2 > len(own):
            recruiting = sum(1 for t in meta if _RECRUITING.search(t))
            family = "recruiting" if recruiting * 2 >= len(meta) else "sales"
        out.append(Role(role.title, role.years, role.start, role.line, role.current, family))
    return out


_META_VERBS = re.compile(
    r"\b(?:sold|sell|sells|selling|resold|resell|resells|reseller|recruited|recruit|recruits|"
    r"recruiting|placed|places|sourced|sourcing|screened|screens|hired|hires|staffed|"
    r"marketed|promoted|promotes|pitched|prospected|prospecting|demoed|demos|demo|"
    r"demonstrated|quoted|quota|relayed|negotiated|bookings|partnered\s+with|"
    r"(?:for|to)\s+(?:our\s+|their\s+|hospital\s+|law\s+firm\s+)?(?:clients|prospects|customers')|"
    r"sponsored|licen[cs]es|sales\s+(?:goals?|targets?|quotas?)|territory|revenue)\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"^\s*(?:[-•*·]\s*)?(?:I\s+\w+|[A-Z][a-z]+(?:ed|e|s)?\b)")


def _keyword_list(text: str) -> bool:
    """'ICU, ventilators, ACLS, CCRN, Epic': five or more short items and no verb."""
    body = re.sub(r"^\s*(?:[-•*·]\s*)?(?:[A-Za-z ]{1,25}:\s*)?", "", text)
    items = [i for i in re.split(r"\s*[,;|/•·]\s*", body) if i.strip()]
    if len(items) < 5 or sum(len(i.split()) for i in items) > 3 * len(items):
        return False
    return not re.search(r"\b[a-z]{3,}(?:ed|ing)\b", body)


def evidence_weight(line: Line, vocab: Vocabulary, credential: bool = False) -> float:
    """How strongly a line shows the person does what it names (0..1)."""
    if line.kind == "heading":
        return 0.0
    meta = bool(_META_VERBS.search(line.text))
    if line.section == "credentials" or (credential and line.section in {"education", "header"}):
        return 1.0 if credential else 0.35
    if line.section == "experience":
        if meta:
            return 0.2
        if line.kind == "role":
            return 0.6
        if _keyword_list(line.text):
            return 0.3  # a keyword list is a keyword list, under whatever heading
        return 1.0 if _FIRST_PERSON.match(line.text) else 0.85
    if line.section == "training":
        return 0.15 if meta else 0.5
    if line.section == "summary":
        return 0.15 if meta else 0.4
    if line.section == "skills":
        return 0.3
    if line.section == "education":
        return 0.35
    # header lines and anything unlabelled: a claim, unless it tells what the person did
    # ("I cared for ventilated patients ..." in a résumé written as prose)
    if meta:
        return 0.15
    return 0.8 if _I_DID.search(line.text) and len(line.text.split()) >= 6 else 0.35


_I_DID = re.compile(r"(?:^|[.;]\s+)I\s+(?:have\s+|had\s+)?[a-z]+(?:ed|t|d)?\b")


def job_title(job_text: str, vocab: Vocabulary) -> str:
    """The job's title: its first line, or the first short line that names a role."""
    lines = [ln.strip() for ln in job_text.splitlines() if ln.strip()]
    for ln in lines[:5]:
        key = _INLINE_KEY.match(ln)
        if key and key.group("key").lower() in {"job title", "title", "position", "role"}:
            return key.group("rest").strip()
    for ln in lines[:5]:
        if len(ln.split()) <= 10 and has_role_noun(ln, vocab):
            return ln
    return lines[0] if lines else ""


_REQ_YEARS = re.compile(
    r"(?:at\s+least|minimum\s+(?:of\s+)?|min\.?\s+)?(?P<n>\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"\s*(?:\+|-\s*\d+|or\s+more)?\s*(?:\+\s*)?years?",
    re.IGNORECASE,
)


def required_years(job_text: str) -> float:
    """The years of experience a job asks for (the largest figure it names; 0 if none)."""
    best = 0.0
    for m in _REQ_YEARS.finditer(job_text):
        context = job_text[m.end() : m.end() + 60].lower()
        if (
            "experience" in context
            or " as " in context
            or " in " in context
            or "supervis" in context
        ):
            best = max(best, _number(m.group("n")))
    return best
