"""Candidates from a listing (``candidates.csv`` / ``candidates.json``) or a folder of
résumés (see ``hiring.intake``)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

import plait
from hiring.documents import read_document
from hiring.intake.common import (
    CONTENT_TYPES,
    DOCUMENT_SUFFIXES,
    LEGACY,
    LISTING_NAMES,
    IntakeError,
    check_zone,
    content_type,
    explain,
)
from hiring.models import CandidateIntake

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NOT_A_NAME = {"curriculum vitae", "cv", "resume", "résumé", "lebenslauf"}


# -- candidates ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CandidateFile:
    """A candidate as listed (or found), with their résumé's bytes."""

    name: str
    email: str
    time_zone: str
    source: str
    filename: str
    data: bytes

    @property
    def content_type(self) -> str:
        return content_type(self.filename)

    def intake(self, resume: plait.BlobRef) -> CandidateIntake:
        """The pipeline's record of this candidate, once the résumé is stored as ``resume``."""
        return CandidateIntake(
            name=self.name,
            email=self.email,
            time_zone=self.time_zone,
            resume=resume,
            source=self.source,
        )


class _Row(BaseModel):
    """One entry of candidates.csv / candidates.json."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1)
    email: EmailStr
    file: str = Field(min_length=1)
    time_zone: str = "UTC"
    source: str = ""


_COLUMNS = tuple(_Row.model_fields)
_REQUIRED = tuple(n for n, f in _Row.model_fields.items() if f.is_required())


def load_candidates(path: str | Path) -> list[CandidateFile]:
    """Candidates from a folder (its ``candidates.csv``/``candidates.json``, else every
    résumé in it or in its ``candidates/`` folder) or from a CSV/JSON listing directly.
    Résumé paths in a listing are relative to the listing's folder."""
    given = Path(path)
    if given.is_dir():
        listings = [given / n for n in LISTING_NAMES if (given / n).is_file()]
        if len(listings) > 1:
            raise IntakeError(
                [f"{given}: both candidates.csv and candidates.json list candidates: keep one"]
            )
        if listings:
            return _from_listing(listings[0])
        return _from_folder(given)
    if not given.is_file():
        raise IntakeError([f"{given}: no such file or folder"])
    suffix = given.suffix.lower()
    if suffix in (".csv", ".json"):
        return _from_listing(given)
    if suffix in CONTENT_TYPES:
        return _from_files([given], given.parent)
    raise IntakeError(
        [
            f"{given.name}: not a candidate list (.csv, .json) or a résumé "
            f"({', '.join(DOCUMENT_SUFFIXES)})"
        ]
    )


def _from_listing(listing: Path) -> list[CandidateFile]:
    name = listing.name
    problems: list[str] = []
    rows = _csv_rows(listing, problems) if listing.suffix.lower() == ".csv" else None
    if rows is None and not problems:
        rows = _json_rows(listing, problems)
    candidates: list[CandidateFile] = []
    seen_email: dict[str, str] = {}
    seen_file: dict[Path, str] = {}
    default_source = listing.suffix.lower().lstrip(".")
    for where, raw in rows or []:
        prefix = f"{name}: {where}"
        try:
            row = _Row.model_validate(raw)
        except ValidationError as error:
            problems.extend(explain(error, prefix, _Row, columns=listing.suffix.lower() == ".csv"))
            continue
        if not check_zone(row.time_zone, f"{prefix}: time_zone", problems):
            continue
        key = row.email.lower()
        if key in seen_email:
            problems.append(
                f"{prefix}: email: {row.email} is already on {seen_email[key]} (one candidate "
                "per address: remove one entry, or merge them by hand)"
            )
            continue
        seen_email[key] = where
        resume = listing.parent / row.file
        if resume.resolve() in seen_file:
            problems.append(
                f"{prefix}: file: {row.file} is already {seen_file[resume.resolve()]}'s résumé"
            )
            continue
        seen_file[resume.resolve()] = row.name
        data = _read_resume(resume, row.file, f"{prefix}: file", listing.parent, problems)
        if data is None:
            continue
        candidates.append(
            CandidateFile(
                name=row.name,
                email=row.email,
                time_zone=row.time_zone,
                source=row.source or default_source,
                filename=resume.name,
                data=data,
            )
        )
    if problems:
        raise IntakeError(problems)
    if not candidates:
        raise IntakeError([f"{name}: lists no candidates"])
    return candidates


def _csv_rows(listing: Path, problems: list[str]) -> list[tuple[str, dict[str, Any]]]:
    name = listing.name
    try:
        text = listing.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{name}: cannot be read as UTF-8 text: {error}")
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    allowed = f"the columns are {', '.join(_COLUMNS)}; {', '.join(_REQUIRED)} are required"
    for column in header:
        if column not in _COLUMNS:
            problems.append(f"{name}: line 1: {column or '(empty)'}: unknown column ({allowed})")
    for column in _REQUIRED:
        if column not in header:
            problems.append(f"{name}: line 1: {column}: missing column ({allowed})")
    if problems:
        return []
    rows: list[tuple[str, dict[str, Any]]] = []
    for record in reader:
        where = f"line {reader.line_num}"
        if None in record:
            problems.append(f"{name}: {where}: more cells than the header has columns")
            continue
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue  # a blank line, as spreadsheets leave at the end
        rows.append((where, {k: v for k, v in values.items() if v or k in _REQUIRED}))
    return rows


def _json_rows(listing: Path, problems: list[str]) -> list[tuple[str, dict[str, Any]]]:
    name = listing.name
    try:
        data = json.loads(listing.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(f"{name}: not valid JSON: {error}")
        return []
    if isinstance(data, dict) and isinstance(data.get("candidates"), list):
        data = data["candidates"]
    if not isinstance(data, list):
        problems.append(
            f'{name}: expected a list of candidates ([{{"name": ..., "email": ..., '
            f'"file": ...}}, ...]), found {type(data).__name__}'
        )
        return []
    rows: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            problems.append(f"{name}: entry {i}: expected an object, found {type(entry).__name__}")
            continue
        rows.append((f"entry {i}", entry))
    return rows


def _from_folder(folder: Path) -> list[CandidateFile]:
    files = _resumes_in(folder)
    if not files and (folder / "candidates").is_dir():
        files = _resumes_in(folder / "candidates")
    if not files:
        raise IntakeError(
            [
                f"{folder}: no résumés ({', '.join(DOCUMENT_SUFFIXES)}) and no candidates.csv or "
                "candidates.json listing them"
            ]
        )
    return _from_files(files, folder)


def _resumes_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in CONTENT_TYPES
    )


def _from_files(files: list[Path], folder: Path) -> list[CandidateFile]:
    """Candidates without a listing: the name from each résumé's first line, the address
    found in its text."""
    problems: list[str] = []
    candidates: list[CandidateFile] = []
    seen: dict[str, str] = {}
    hint = "or list the candidates in candidates.csv (name, email, file)"
    for path in files:
        data = _read_resume(path, path.name, path.name, folder, problems)
        if data is None:
            continue
        try:
            lines = _text_lines(path, data)
        except ValueError as error:
            problems.append(f"{path.name}: {error}; {hint}")
            continue
        name = _name_from(lines)
        if name is None:
            first = lines[0] if lines else "(nothing)"
            problems.append(
                f"{path.name}: name: the first line {first[:60]!r} is not a name: put the "
                f"candidate's name on the first line, {hint}"
            )
            continue
        email = _email_from(lines)
        if email is None:
            problems.append(f"{path.name}: email: no e-mail address in the résumé: add one, {hint}")
            continue
        if email.lower() in seen:
            problems.append(
                f"{path.name}: email: {email} is also in {seen[email.lower()]} (one candidate "
                "per address: remove one of the files, or merge them by hand)"
            )
            continue
        seen[email.lower()] = path.name
        candidates.append(
            CandidateFile(
                name=name,
                email=email,
                time_zone="UTC",
                source="folder",
                filename=path.name,
                data=data,
            )
        )
    if problems:
        raise IntakeError(problems)
    return candidates


def _read_resume(
    path: Path, shown: str, where: str, folder: Path, problems: list[str]
) -> bytes | None:
    suffix = path.suffix.lower()
    if suffix in LEGACY:
        problems.append(f"{where}: {shown}: {LEGACY[suffix]} is not read: save it as .docx or .pdf")
        return None
    if suffix not in CONTENT_TYPES:
        problems.append(f"{where}: {shown}: a résumé must be {', '.join(DOCUMENT_SUFFIXES)}")
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{where}: {shown}: no such file in {folder}")
        return None
    except OSError as error:
        problems.append(f"{where}: {shown} cannot be read: {error.strerror or error}")
        return None
    if not data.strip():
        problems.append(f"{where}: {shown} is empty")
        return None
    return data


def _text_lines(path: Path, data: bytes) -> list[str]:
    """The résumé's non-empty lines, enough to find a name and an address."""
    text = read_document(data, path.name, CONTENT_TYPES.get(path.suffix.lower())).text
    return [line.strip() for line in text.splitlines() if line.strip()]


def _name_from(lines: list[str]) -> str | None:
    for line in lines[:3]:
        text = line.lstrip("#*= ").rstrip("*= ").strip()
        if text.lower() in _NOT_A_NAME:
            continue
        text = re.sub(r"\s*\([^)]*\)", "", text).split(",")[0].split("|")[0].strip()
        words = text.split()
        if not 1 < len(words) <= 5 or any(ch.isdigit() or ch == "@" for ch in text):
            return None
        return text.title() if text.isupper() else text
    return None


def _email_from(lines: list[str]) -> str | None:
    from pydantic import TypeAdapter

    adapter: TypeAdapter[str] = TypeAdapter(EmailStr)
    for line in lines:
        for match in _EMAIL.finditer(line):
            try:
                return adapter.validate_python(match.group(0))
            except ValidationError:
                continue
    return None
