"""Skills: the alias table, finding skill mentions in text, and extracting a job's skills.

The vocabulary (``hiring/data/vocabulary.toml``) maps every alias to one canonical name, so
"RN", "registered nurse" and "NCLEX-RN" are one skill. Matching is whole-word, longest alias
first, so "SolidWorks Simulation" is FEA and not SolidWorks; short aliases in capitals (RN,
CPA, SW) match only in capitals. A job's skill is *required* unless the sentence (or the
section) that asks for it says it is optional: "nice to have", "a plus", "preferred",
"bonus", ...
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Mention", "Skill", "Vocabulary", "extract_skills", "vocabulary"]


@dataclass(frozen=True)
class Skill:
    """A skill a job asks for: its canonical name, whether it is required, and the sentence."""

    name: str
    required: bool
    sentence: str


@dataclass(frozen=True)
class Mention:
    """One place a skill is named in a text."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Vocabulary:
    """The loaded vocabulary: skill aliases, title abbreviations, credentials, role families."""

    aliases: dict[str, tuple[str, ...]]  # canonical -> aliases
    abbreviations: dict[str, str]
    credentials: frozenset[str]
    meta_roles: dict[str, tuple[str, ...]]
    levels: dict[str, tuple[str, ...]]
    exact: re.Pattern[str]  # case-sensitive aliases
    folded: re.Pattern[str]  # case-insensitive aliases
    by_alias_exact: dict[str, tuple[str, ...]]
    by_alias_folded: dict[str, tuple[str, ...]]
    abbreviation_pattern: re.Pattern[str]

    def mentions(self, text: str) -> list[Mention]:
        """Every skill named in ``text``, longest alias first, without overlaps."""
        found: list[tuple[int, int, tuple[str, ...]]] = []
        for match in self.exact.finditer(text):
            found.append((match.start(), match.end(), self.by_alias_exact[match.group(0)]))
        for match in self.folded.finditer(text):
            key = _fold(match.group(0))
            names = self.by_alias_folded.get(key)
            for other in _singulars(key):
                names = names or self.by_alias_folded.get(other)
            if names:
                found.append((match.start(), match.end(), names))
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        out: list[Mention] = []
        taken_until = -1
        for start, end, names in found:
            if start < taken_until:
                continue
            taken_until = end
            out.extend(Mention(name, start, end) for name in names)
        return out

    def expand(self, text: str) -> str:
        """The text with abbreviations spelled out ("Sr. Acct" -> "senior accountant")."""
        return self.abbreviation_pattern.sub(lambda m: self.abbreviations[m.group(0)], text)


def _fold(alias: str) -> str:
    return re.sub(r"\s+", " ", alias.lower().replace("-", " ")).strip()


def _singulars(key: str) -> list[str]:
    return [key[:-2], key[:-1]] if key.endswith("es") else [key[:-1]] if key.endswith("s") else []


def _is_exact(alias: str) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", alias)
    return (len(alias) <= 5 and letters.isupper()) or alias in {"PEMs", "JEs", "RNs", "CVCs"}


_EDGE_L = r"(?<![A-Za-z0-9])"
_EDGE_R = r"(?![A-Za-z0-9])"


def _alternation(aliases: list[str], *, plural: bool) -> str:
    parts = []
    for alias in sorted(set(aliases), key=len, reverse=True):
        body = re.escape(alias)
        if plural:
            body = body.replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+")
            if alias[-1].isalpha():
                body += "(?:s|es)?"
        parts.append(body)
    return _EDGE_L + "(?:" + "|".join(parts) + ")" + _EDGE_R


@cache
def vocabulary() -> Vocabulary:
    """The shipped vocabulary (loaded once per process)."""
    raw = resources.files("hiring.data").joinpath("vocabulary.toml").read_text("utf-8")
    data = tomllib.loads(raw)
    aliases: dict[str, tuple[str, ...]] = {}
    for area in data["skills"].values():
        for canonical, names in area.items():
            aliases[canonical] = tuple(dict.fromkeys([*names]))
    by_exact: dict[str, list[str]] = {}
    by_folded: dict[str, list[str]] = {}
    for canonical, names in aliases.items():
        for alias in names:
            if _is_exact(alias):
                by_exact.setdefault(alias, []).append(canonical)
            else:
                by_folded.setdefault(_fold(alias), []).append(canonical)
    folded_aliases = [a for names in aliases.values() for a in names if not _is_exact(a)]
    abbreviations: dict[str, str] = dict(data["abbreviations"])
    abbr_parts = sorted(abbreviations, key=len, reverse=True)
    abbreviation_pattern = re.compile(
        r"(?<![\w/])(?:" + "|".join(re.escape(a) for a in abbr_parts) + r")(?![\w/])"
    )
    return Vocabulary(
        aliases=aliases,
        abbreviations=abbreviations,
        credentials=frozenset(data["credentials"]["names"]),
        meta_roles={k: tuple(v) for k, v in data["roles"]["meta"].items()},
        levels={k: tuple(v) for k, v in data["roles"]["levels"].items()},
        exact=re.compile(_alternation(list(by_exact), plural=False)),
        folded=re.compile(_alternation(folded_aliases, plural=True), re.IGNORECASE),
        by_alias_exact={k: tuple(dict.fromkeys(v)) for k, v in by_exact.items()},
        by_alias_folded={k: tuple(dict.fromkeys(v)) for k, v in by_folded.items()},
        abbreviation_pattern=abbreviation_pattern,
    )


_OPTIONAL = re.compile(
    r"\b(?:nice[\s-]to[\s-]haves?|a\s+plus|plus\b|preferred|preferably|bonus|desirable|"
    r"desired|ideally|an?\s+advantage|advantageous|would\s+be\s+great|not\s+required|"
    r"optional|helpful|good\s+to\s+have|pluses|extra\s+credit)",
    re.IGNORECASE,
)
_OPTIONAL_HEADING = re.compile(
    r"^\s*(?:nice[\s-]to[\s-]haves?|bonus(?:\s+points)?|preferred(?:\s+qualifications|\s+skills)?|"
    r"pluses|desirable|good\s+to\s+have|extra\s+credit|even\s+better(?:\s+if)?)\b.{0,30}:?\s*$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-•*·–]|\d+[.)])\s+")


_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+")


def heading_text(line: str) -> str:
    """A heading's words without Markdown marks ("## Nice to have" → "Nice to have")."""
    return _MARKDOWN_HEADING.sub("", line).replace("**", "").replace("__", "").strip()


def is_heading(line: str) -> bool:
    """A short line that names a section ("Requirements", "What you will do:", a Markdown
    heading)."""
    if _MARKDOWN_HEADING.match(line):
        return True
    text = _BULLET.sub("", line).strip()
    if not text or _BULLET.match(line):
        return False
    words = text.rstrip(":").split()
    return (text.endswith(":") and len(words) <= 6) or (
        len(words) <= 4
        and not re.search(r"[.,;]$", text)
        and text[0].isupper()
        and not re.search(r"\d", text)
    )


def sentences(line: str) -> list[str]:
    """A line's sentences (a bullet is one sentence unless it has several)."""
    body = _BULLET.sub("", line).strip()
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z])", body)
    return [p.strip() for p in parts if p.strip()]


_NOT_ASKED_HEADING = re.compile(
    r"\b(about (the role|us|the company|the team)|who we are|what we offer|we offer|benefits|"
    r"perks|salary|compensation|pay and benefits|the process|interview process|how to apply|"
    r"why join)\b",
    re.IGNORECASE,
)


def extract_skills(job_text: str) -> list[Skill]:
    """The skills a job description asks for, each canonical, required or nice-to-have.

    Every skill carries the sentence that asked for it, verbatim from the job text; a skill
    asked for both as required and as optional is required.
    """
    if not isinstance(job_text, str):
        raise TypeError(
            f"extract_skills() takes the job text as a str, not {type(job_text).__name__}"
        )
    vocab = vocabulary()
    found: dict[str, Skill] = {}
    optional_section = False
    skipped_section = False
    for line in job_text.splitlines():
        if not line.strip():
            continue
        if is_heading(line):
            head = heading_text(line)
            optional_section = bool(_OPTIONAL_HEADING.match(head)) or bool(
                _OPTIONAL.search(head) and len(head.split()) <= 6
            )
            skipped_section = bool(_NOT_ASKED_HEADING.search(head)) and len(head.split()) <= 6
            if not vocab.mentions(line) or line.strip().endswith(":"):
                continue
        if skipped_section:  # the company, the team, the offer, the process: nothing asked
            continue
        for sentence in sentences(line):
            optional = optional_section or bool(_OPTIONAL.search(sentence))
            for mention in vocab.mentions(sentence):
                old = found.get(mention.name)
                if old is None or (old.required is False and not optional):
                    found[mention.name] = Skill(mention.name, not optional, sentence)
    return list(found.values())
