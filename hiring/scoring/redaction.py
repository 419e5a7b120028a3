"""Redaction: remove who a person is from a résumé before anything scores it.

What goes: the header name and other name-only lines, ``Name:``-style and other personal
``key: value`` lines, e-mail addresses (their local part is usually a name), phone numbers,
links, photos, pronouns and honorifics, ages and birth dates, addresses, marital and family
status, disability and health mentions, nationality and religion cues, sign-offs, and a
"Personal details" / "Personal information" block as a whole.

Invariant the scorer relies on: a cue is removed together with the clause (or line) that
carries it, never leaving a trace, so a résumé with a cue inserted on its own line, appended
to a line as a clause, or in a personal-details block redacts to the same text as the résumé
without it. Removal is deliberately greedy: a name-like line that is really a company name
may go too; that costs the scorer nothing and keeps the invariant.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

__all__ = ["Redacted", "redact"]


@dataclass(frozen=True)
class Redacted:
    """A redacted text and what was taken out of the original: ``(kind, span)`` pairs."""

    text: str
    removed: list[tuple[str, str]] = field(default_factory=list)
    # For each line of ``text``, the original line it came from (for quoting evidence).
    sources: tuple[str, ...] = ()


_I = re.IGNORECASE

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|io|me|dev)/\S*", _I)
_PHONE = re.compile(r"(?<!\w)\+?\(?\d{1,4}\)?(?:[\s.-]?\(?\d{2,4}\)?){2,5}(?!\w)")
_PHOTO = re.compile(r"\S+\.(?:jpe?g|png|gif|heic|webp|bmp)\b|\[(?:photo|picture|image)[^\]]*\]", _I)

# Each kind: patterns that mark a clause as carrying that cue.
_CUES: dict[str, list[re.Pattern[str]]] = {
    "pronoun": [
        re.compile(r"\b(?:she|he|they|ze|xe)\s*/\s*(?:her|him|them|hir|zir|xem)\b", _I),
        re.compile(r"\bpronouns?\b", _I),
        re.compile(r"\b(?:she|he|her|his|him|hers|herself|himself)\b", _I),
        re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?(?=\s+[A-Z][a-z])"),
    ],
    "age": [
        re.compile(r"\bage[d]?\s*:?\s*\d{2}\b", _I),
        re.compile(r"\b\d{2}[\s-]*(?:years?|yrs?)[\s-]*old\b", _I),
        re.compile(r"\b(?:date\s+of\s+birth|d\.?o\.?b\.?|birth\s*date|birthday)\b", _I),
        re.compile(r"\bborn\b", _I),
        re.compile(r"\bb\.\s*(?:19|20)\d\d\b", _I),
        re.compile(
            r"\b(?:in\s+(?:my|her|his|their)\s+)(?:twenties|thirties|forties|fifties|sixties)\b", _I
        ),
    ],
    "family": [
        re.compile(
            r"\b(?:married|unmarried|divorced|widow(?:ed|er)?|single\s+(?:mother|father|parent|mom|dad)|engaged\s+to)\b",
            _I,
        ),
        re.compile(r"\b(?:marital|civil)\s+status\b", _I),
        re.compile(
            r"\b(?:mother|father|mom|dad|mum|parent|grandmother|grandfather)\s+(?:of|to)\s+(?:one|two|three|four|five|six|\d+|a\b|an\b|twins)",
            _I,
        ),
        re.compile(
            r"\b(?:one|two|three|four|five|\d+)\s+(?:young\s+)?(?:children|kids|sons|daughters|dependants|dependents)\b",
            _I,
        ),
        re.compile(
            r"\b(?:my|our)\s+(?:husband|wife|spouse|partner|children|kids|son|daughter|family|baby)\b",
            _I,
        ),
        re.compile(
            r"\b(?:pregnan(?:t|cy)|maternity\s+leave|paternity\s+leave|parental\s+leave|stay-at-home)\b",
            _I,
        ),
        re.compile(r"\b(?:children|dependants|dependents)\s*:", _I),
        re.compile(r"\b(?:husband|wife|fianc[ée]e?|newlywed|grandchildren)\b", _I),
        re.compile(r"\bproud\s+(?:mom|mum|dad|mother|father|parent|grand\w+)\b", _I),
        re.compile(
            r"\brais(?:e|ed|ing)\s+(?:my\s+|our\s+)?(?:children|kids|family|son|daughter|twins)\b",
            _I,
        ),
        re.compile(r"\bcar(?:ing|ed|er)\s+for\s+(?:my|our)\s+\w+", _I),
    ],
    "disability": [
        re.compile(r"\bwheel\s*chair\b", _I),
        re.compile(r"\b(?:disabled|disability|disabilities|handicap(?:ped)?)\b", _I),
        re.compile(
            r"\b(?:deaf|hard\s+of\s+hearing|hearing[\s-]impaired|blind|visually[\s-]impaired|low\s+vision)\b",
            _I,
        ),
        re.compile(r"\b(?:autistic|autism|adhd|dyslexi[ac]|neurodivergent|asperger'?s?)\b", _I),
        re.compile(
            r"\b(?:chronic\s+(?:illness|pain|condition)|diabetic|epilep(?:sy|tic)|cancer\s+survivor|amputee|prosthe(?:sis|tic)\s+(?:leg|arm|limb)|multiple\s+sclerosis|cerebral\s+palsy|ptsd|hiv|mental\s+health\s+condition|medical\s+condition|health\s+condition)\b",
            _I,
        ),
        re.compile(r"\b(?:living\s+with|diagnosed\s+with|in\s+recovery\s+from)\b", _I),
        re.compile(
            r"\b(?:hearing\s+aids?|cochlear\s+implants?|service\s+(?:dog|animal)|guide\s+dog|"
            r"mobility\s+aid|crutches|impairments?|impaired|bipolar|schizophreni\w*|long\s+covid|"
            r"neurodiverse|accessibility\s+needs|reasonable\s+accommodations?)\b",
            _I,
        ),
        re.compile(r"\b(?:health|medical\s+history)\s*:", _I),
    ],
    "nationality": [
        re.compile(
            r"\b(?:nationality|citizenship|citizen\s+of|ethnicity|race\s*:|religion|national\s+origin|visa\s+status|immigration\s+status)\b",
            _I,
        ),
        re.compile(
            r"\b(?:christian|muslim|jewish|hindu|buddhist|sikh|catholic|protestant|atheist)\b", _I
        ),
        re.compile(r"\b(?:[A-Z][a-z]+\s+citizen(?:ship)?|green\s+card\s+holder|native\s+of)\b"),
    ],
    "address": [
        re.compile(
            r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|terrace)\b\.?",
            _I,
        ),
        re.compile(r"\b(?:home\s+)?address\s*:", _I),
        re.compile(r"\b(?:zip|postal|post)\s*code\b", _I),
    ],
}

# Health words a *job* legitimately mentions when it is about others (patients, students).
_ABOUT_OTHERS = re.compile(
    r"\b(?:patients?|clients?|students?|residents?|customers?|people|individuals|children|"
    r"adults|users|members|population|accessib\w*|ada|accommodations?)\b",
    _I,
)
# A third-person pronoun in a job clause about someone else (a student's IEP) is not a cue
# when the clause is long and starts with an action, but a short clause with one is.
_PERSONAL_KEYS = re.compile(
    r"^\s*[-•*·]?\s*(?:full\s+name|first\s+name|last\s+name|surname|name|date\s+of\s+birth|"
    r"d\.?o\.?b\.?|birth\s*date|born|age|gender|sex|pronouns?|marital\s+status|civil\s+status|"
    r"family(?:\s+status)?|children|dependants|dependents|nationality|citizenship|religion|"
    r"ethnicity|race|address|home\s+address|location|phone|mobile|cell|tel(?:ephone)?|e-?mail|"
    r"contact|photo|picture|linkedin|github|website|portfolio|health|disability|disabilities|"
    r"visa(?:\s+status)?|driving\s+licen[cs]e|place\s+of\s+birth|hobbies|interests)"
    r"\s*[:\-–—]",
    _I,
)
_PERSONAL_HEADING = re.compile(
    r"^\s*(?:personal\s+(?:details|information|info|data|profile|particulars|facts)|"
    r"about\s+me\s+personally|contact\s+(?:details|information|info))\s*:?\s*(?P<rest>.*)$",
    _I,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:sincerely|regards|best\s+regards|kind\s+regards|best|thanks|thank\s+you|cheers|"
    r"yours\s+(?:truly|faithfully|sincerely))\s*,?\s*(?P<rest>.*)$",
    _I,
)
_INTRO_NAME = re.compile(r"\b(?:my\s+name\s+is|i\s+am\s+called|name\s*:)\s*", _I)

# Words that make a capitalised short line something other than a person's name.
_NOT_NAME_WORDS = frozenset(
    """
    summary profile objective experience work history employment education skills
    certifications certification licenses licences license licence projects research
    references professional career clinical rotations training courses languages awards
    publications volunteer activities interests contact details information personal
    core competencies tools software technical qualifications highlights achievements
    accomplishments about nurse nursing engineer engineering accountant accounting
    manager director specialist representative agent associate analyst consultant
    coordinator assistant technician operator clerk teacher educator instructor tutor
    designer drafter machinist electrician apprentice intern lead supervisor officer
    executive recruiter sourcer chef cook paralegal secretary receptionist administrator
    scientist researcher owner founder counselor therapist pharmacist physician aide
    worker driver mechanic planner buyer auditor bookkeeper controller writer editor
    architect programmer developer head president partner student advisor adviser sales
    marketing support customer service success product project operations finance legal
    care critical registered certified senior junior staff principal chief vice team sr
    jr mgr eng acct supv mech lit para ii iii iv wireman journeyman creator content
    cashier barista nanny caregiver carer dispatcher courier guard cleaner janitor
    custodian electrical mechanical civil software data hardware quality safety
    maintenance warehouse shift floor store retail restaurant kitchen inc llc ltd corp
    co company group hospital clinic school university college institute center centre
    systems solutions services partners associates labs health medical bank district
    academy studio agency foundation
    """.split()
)


@cache
def _first_names() -> frozenset[str]:
    raw = resources.files("hiring.data").joinpath("first_names.txt").read_text("utf-8")
    words = [w for line in raw.splitlines() if not line.startswith("#") for w in line.split()]
    return frozenset(words)


def _plain(word: str) -> str:
    """'José' -> 'jose': accents off, lower case, for the first-name list."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().strip(".")


def _role_word(word: str) -> bool:
    from hiring.scoring.resume import ROLE_NOUNS

    return _plain(word).strip("'’") in ROLE_NOUNS


_PARTICLES = frozenset(
    """
    van von de da del der di la le al bin ibn el du dos das ter ten
    """.split()
)


def _is_name_token(token: str) -> bool:
    """'Walsh', 'Al-Sayed', "O'Neil", 'García', 'K.', 'van' (any script's capital letters)."""
    if token.lower() in _PARTICLES:
        return True
    core = token.rstrip(".")
    if not core or not core[0].isupper():
        return False
    return all(ch.isalpha() or ch in "-'’" for ch in core)


_SPLIT = re.compile(r"(\s*[;,]\s+|(?<=[.!?])\s+(?=[^\W_])|\s+[–—|]\s+|\s+-\s+)")
_PLACE = re.compile(
    r"^\s*(?:[A-Z][\w.'-]*|\d{4,6}(?:-\d{4})?)(?:\s+(?:[A-Z][\w.'-]*|\d{4,6}(?:-\d{4})?)){0,3}\s*$"
)
_HONORIFIC = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+(?=[A-Z])")
_PAREN = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_HEADING_WORD = re.compile(r"^[A-Z][A-Za-z &/]+:?$")


def _cue_kind(clause: str) -> str | None:
    """The kind of personal cue a clause carries, or None."""
    for kind, patterns in _CUES.items():
        for pattern in patterns:
            if pattern.search(clause):
                # a patient's diabetes or a student's "her IEP" is about them, not the person
                about_others = kind == "disability" or pattern.pattern.startswith(
                    r"\b(?:she|he|her"
                )
                if about_others and _ABOUT_OTHERS.search(clause):
                    continue
                return kind
    return None


def _looks_like_name(text: str, *, header: bool = False, greedy: bool = False) -> bool:
    """A short run of capitalised words with no role, section or organisation word.

    ``header``: the line is among the first lines of the résumé, where a name (also in
    capitals, JANE DOE) is usual; elsewhere a capitalised token is an abbreviation (RN, EMT)
    and the first word must be a known given name. ``greedy``: the clause sits beside
    another personal cue ("Jamal Jones, 58, married"), so any name-shaped clause goes.
    """
    stripped = text.strip()
    if not stripped or stripped[0] in "-•*·–—>" or any(ch.isdigit() for ch in stripped):
        return False
    stripped = stripped.strip(".,;:|").strip()
    if "@" in stripped or stripped.count(",") > 1:
        return False
    tokens = stripped.replace(",", " ").split()
    if not 1 <= len(tokens) <= 5:
        return False
    caps = [t for t in tokens if len(t.rstrip(".")) >= 2 and t.rstrip(".").isupper()]
    all_caps_name = len(caps) == len(tokens) and all(len(t) >= 3 for t in caps)
    if caps and not ((header or greedy) and all_caps_name):
        return False
    if any(t.lower().strip(".'’") in _NOT_NAME_WORDS or _role_word(t) for t in tokens):
        return False
    if not all(_is_name_token(t) for t in tokens):
        return False
    # A single capitalised word is more often a heading or a tool than a name.
    if len(tokens) < 2:
        return False
    # At the top of a résumé any such line is taken for a name; elsewhere it must start with
    # a given name the list knows (so "Human Resources Generalist" mid-text stays).
    return header or greedy or _plain(tokens[0]) in _first_names()


def _name_prefix(line: str) -> tuple[str, str] | None:
    """Split 'R. Okafor, CPA' into ('R. Okafor', ', CPA') when the first part is a name."""
    match = re.match(r"^(?P<name>[^,|–—(]+?)(?P<rest>\s*(?:,|\||–|—|\(| - ).*)?$", line.strip())
    if not match:
        return None
    name = match.group("name")
    if _looks_like_name(name, header=True):
        return name, (match.group("rest") or "")
    return None


def _clause_cue(clause: str, greedy: bool = False) -> str | None:
    if greedy and re.fullmatch(r"\s*(?:1[6-9]|[2-9]\d)\s*", clause):
        return "age"  # a bare two-digit number among personal clauses: "Jamal Jones, 58"
    kind = _cue_kind(clause)
    if kind is None and _looks_like_name(clause, greedy=greedy):
        kind = "name"
    return kind


def _strip_clauses(line: str, removed: list[tuple[str, str]]) -> str:
    """Remove every clause of a line that carries a personal cue; keep the rest verbatim."""

    def paren(match: re.Match[str]) -> str:
        kind = _clause_cue(match.group(0).strip(" ()[]"), greedy=True)
        if kind is None:
            return match.group(0)
        removed.append((kind, match.group(0).strip()))
        return ""

    original = line
    line = _PAREN.sub(paren, line)
    for match in _HONORIFIC.findall(line):
        removed.append(("pronoun", match.strip()))
    line = _HONORIFIC.sub("", line)
    parts = _SPLIT.split(line)
    texts = parts[0::2]  # parts alternate clause, separator, clause, ...
    seps = parts[1::2]
    keep = [True] * len(texts)
    after_address = False
    # a line that carries a personal cue is a personal line: its name-shaped clauses and bare
    # ages go with it
    greedy = len(texts) > 1 and any(_cue_kind(t) for t in texts if t.strip())
    for i, text in enumerate(texts):
        kind = _clause_cue(text, greedy) if text.strip() else None
        if kind is None and after_address and _PLACE.match(text):
            kind = "address"  # the town, state or postcode after a street address
        after_address = kind == "address"
        if kind is not None and (kind != "name" or len(texts) > 1):
            removed.append((kind, text.strip()))
            keep[i] = False
    if all(keep):
        return line
    out = ""
    for i, text in enumerate(texts):
        if not keep[i]:
            continue
        if out:
            # the separator that followed the last kept clause joins it to this one
            last = max(j for j in range(i) if keep[j])
            out += seps[last]
        out += text
    if not keep[0]:
        out = re.sub(r"^[\s,;:|–—-]+", "", out)
    out = out.rstrip(" ,;:|–—-")
    if not re.search(r"[^\W_]", out):
        return ""
    # What is left of a line that was mostly a cue ("Born 1966 in Lagos, Nigeria") goes too.
    if len(out.split()) <= 2 and len(original) - len(out) > 2 * len(out):
        removed.append(("personal", out.strip()))
        return ""
    return out


def _clean_inline(line: str, removed: list[tuple[str, str]]) -> str:
    for kind, pattern in (("email", _EMAIL), ("link", _URL), ("photo", _PHOTO), ("phone", _PHONE)):
        for match in pattern.findall(line):
            if kind == "phone" and not re.search(r"\d{3}", match):
                continue
            if kind == "phone" and re.search(r"(?:19|20)\d\d\s*[-–/]\s*(?:19|20)?\d\d", match):
                continue  # a date range, not a phone number
            if kind == "phone" and sum(ch.isdigit() for ch in match) < 9:
                continue
            removed.append((kind, match.strip()))
            line = line.replace(match, " ")
            # separators left between removed contact items ("a@b.c | +1 555 | x.com")
            line = re.sub(r"(?:\s*[|•·,;/]\s*){2,}", " | ", line)
            line = re.sub(r"^[\s|•·,;/]+|[\s|•·,;/]+$", "", line)
    return line


def redact(text: str) -> Redacted:
    """Remove names, contact details, pronouns, ages, family, health and similar cues."""
    if not isinstance(text, str):
        raise TypeError(f"redact() takes the résumé as a str, not {type(text).__name__}")
    removed: list[tuple[str, str]] = []
    out_lines: list[str] = []
    sources: list[str] = []
    lines = text.splitlines()
    in_block = False
    seen_content = 0
    for raw in lines:
        line = raw.rstrip()
        if not line.strip():
            # Blank lines are dropped: a removed cue line must leave no trace at all.
            in_block = False
            continue
        heading = _PERSONAL_HEADING.match(line)
        if heading:
            removed.append(("personal details", line.strip()))
            in_block = not heading.group("rest").strip()
            continue
        if in_block:
            stripped = line.strip()
            is_heading = (
                bool(_HEADING_WORD.match(stripped))
                and len(stripped.split()) <= 3
                and (
                    stripped.isupper()
                    or stripped.endswith(":")
                    or stripped.lower() in _NOT_NAME_WORDS
                )
            )
            if not is_heading and (
                _PERSONAL_KEYS.match(line)
                or _cue_kind(line) is not None
                or _looks_like_name(line)
                or (":" in stripped and len(stripped.split(":")[0].split()) <= 3)
            ):
                removed.append(("personal details", stripped))
                continue
            in_block = False
        if _PERSONAL_KEYS.match(line):
            removed.append(("personal", line.strip()))
            continue
        sign_off = _SIGN_OFF.match(line)
        signed = sign_off and (
            not sign_off.group("rest") or _looks_like_name(sign_off.group("rest"))
        )
        if signed and len(line.split()) <= 6:
            removed.append(("name", line.strip()))
            continue
        intro = _INTRO_NAME.search(line)
        if intro:
            end = re.search(r"[.;]\s|$", line[intro.end() :])
            stop = intro.end() + (end.start() + 1 if end else len(line))
            removed.append(("name", line[intro.start() : stop].strip()))
            line = (line[: intro.start()] + line[stop:]).rstrip()
            if not re.search(r"[^\W_]", line):
                continue
        line = _clean_inline(line, removed)
        line = _strip_clauses(line, removed)
        if not line.strip():
            continue
        if _looks_like_name(line, header=seen_content < 2):
            removed.append(("name", line.strip()))
            continue
        if seen_content < 3 and not any(ch.isdigit() for ch in line):
            prefix = _name_prefix(line)
            if prefix is not None:
                name, rest = prefix
                removed.append(("name", name.strip()))
                line = re.sub(r"^[\s,;:|()–—-]+", "", rest)
                if not line.strip():
                    continue
        seen_content += 1
        out_lines.append(re.sub(r"[ \t]{2,}", " ", line).rstrip())
        sources.append(raw)
    return Redacted("\n".join(out_lines), removed, tuple(sources))
