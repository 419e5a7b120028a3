"""Reading a job and its candidates from the file system: what ``make demo`` and
``python -m hiring`` hand to the pipeline.

A **job folder** holds the description (``description.md``, ``.txt``, ``.pdf`` or ``.docx``)
and beside it the job's configuration (``job.toml``, ``job.yaml`` or ``job.yml``): the
:class:`~hiring.models.JobConfig` fields, where each panel member's ``calendars`` are paths
of ``.ics`` files relative to the folder. :func:`load_job_folder` returns the validated
configuration, the description's bytes and each calendar's bytes keyed by its path as
written; the caller stores them as blobs and puts the references in with
:meth:`JobFiles.with_calendars`.

**Candidates** come from a listing (``candidates.csv`` or ``candidates.json``: ``name``,
``email``, ``file``, optional ``time_zone`` and ``source``), or, without one, from every
résumé in a folder, the name read from its first line and the e-mail address found in its
text. :func:`load_candidates` returns each with the résumé's bytes.

These are pure functions over the file system: no engine, no database. Anything wrong is
an :class:`IntakeError` listing every problem found, each naming the file and the field
(``job.toml: panel.0.email: value is not a valid email address: ...``), so a person can fix
them all in one pass. Two candidates with the same address are reported, never merged.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import tomllib
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

import plait
from hiring.models import CandidateIntake, JobConfig

__all__ = [
    "CONFIG_NAMES",
    "DOCUMENT_SUFFIXES",
    "CandidateFile",
    "IntakeError",
    "JobFiles",
    "content_type",
    "load_candidates",
    "load_job_folder",
]

CONFIG_NAMES = ("job.toml", "job.yaml", "job.yml")
LISTING_NAMES = ("candidates.csv", "candidates.json")
CONTENT_TYPES = {
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
DOCUMENT_SUFFIXES = tuple(CONTENT_TYPES)
_LEGACY = {".doc": "Word 97-2003 (.doc)", ".rtf": "RTF", ".odt": "OpenDocument (.odt)"}
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NOT_A_NAME = {"curriculum vitae", "cv", "resume", "résumé", "lebenslauf"}


class IntakeError(plait.ConfigurationError, ValueError):
    """A job folder or a candidate list that cannot be used as it is. ``problems`` holds one
    line per problem, each starting with the file and the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def content_type(filename: str) -> str:
    """The MIME type stored with a description or résumé blob, from its name."""
    return CONTENT_TYPES.get(Path(filename).suffix.lower(), "application/octet-stream")


# -- the job folder --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class JobFiles:
    """A job folder, read and checked.

    ``calendars`` maps each ``.ics`` path as the configuration wrote it (relative to the
    folder) to its bytes, once even when several panel members share it;
    ``panel_calendars[i]`` are the paths of ``config.panel[i]``, in order. ``config`` has no
    calendar references yet (they are blobs the caller stores): see :meth:`with_calendars`.
    """

    config: JobConfig
    description: bytes
    description_name: str
    calendars: dict[str, bytes]
    panel_calendars: tuple[tuple[str, ...], ...] = ()
    folder: Path | None = None
    config_name: str = "job.toml"

    @property
    def description_type(self) -> str:
        return content_type(self.description_name)

    def with_calendars(self, refs: Mapping[str, plait.BlobRef]) -> JobConfig:
        """The configuration with each panel member's calendars as stored blobs, given the
        reference stored for each path of :attr:`calendars`."""
        missing = [p for p in self.calendars if p not in refs]
        if missing:
            raise plait.ConfigurationError(
                f"no stored blob for the calendar(s) {', '.join(missing)}: store every file "
                "in JobFiles.calendars and pass its reference under the same path"
            )
        per_member = self.panel_calendars or tuple(() for _ in self.config.panel)
        panel = [
            member.model_copy(update={"calendars": [refs[p] for p in paths]})
            for member, paths in zip(self.config.panel, per_member, strict=True)
        ]
        return self.config.model_copy(update={"panel": panel})


def load_job_folder(path: str | Path) -> JobFiles:
    """Reads a job folder (or its ``job.toml``/``job.yaml`` directly): the configuration,
    validated; the description's bytes; the panel's calendars, each checked to parse."""
    given = Path(path)
    folder = given.parent if given.is_file() else given
    if not folder.is_dir():
        raise IntakeError([f"{given}: no such job folder"])
    if given.is_file() and given.suffix.lower() not in (".toml", ".yaml", ".yml"):
        raise IntakeError(
            [
                f"{given.name}: not a job configuration: pass the job folder, or its job.toml "
                "or job.yaml"
            ]
        )
    config_path = given if given.is_file() else _single(folder, CONFIG_NAMES, "configuration")
    name = config_path.name
    raw = _read_config(config_path)

    problems: list[str] = []
    raw, calendar_paths = _take_calendars(raw, name, problems)
    config: JobConfig | None = None
    try:
        config = JobConfig.model_validate(raw)
    except ValidationError as error:
        problems.extend(_explain(error, name, JobConfig))
    if config is not None:
        _check_zone(config.time_zone, f"{name}: time_zone", problems)
        for i, member in enumerate(config.panel):
            _check_zone(member.time_zone, f"{name}: panel.{i}.time_zone", problems)

    calendars: dict[str, bytes] = {}
    for i, paths in enumerate(calendar_paths):
        for j, rel in enumerate(paths):
            if rel not in calendars:
                data = _read_calendar(folder, rel, f"{name}: panel.{i}.calendars.{j}", problems)
                if data is not None:
                    calendars[rel] = data

    description_name, description = _read_description(folder, name, problems)
    if problems or config is None:
        raise IntakeError(problems)
    return JobFiles(
        config=config,
        description=description,
        description_name=description_name,
        calendars=calendars,
        panel_calendars=tuple(tuple(p) for p in calendar_paths),
        folder=folder,
        config_name=name,
    )


def _single(folder: Path, names: Sequence[str], what: str) -> Path:
    found = [folder / n for n in names if (folder / n).is_file()]
    if not found:
        raise IntakeError(
            [f"{folder}: no job {what}: add {' or '.join(names[:2])} beside the description"]
        )
    if len(found) > 1:
        raise IntakeError(
            [f"{folder}: {' and '.join(p.name for p in found)} both configure the job: keep one"]
        )
    return found[0]


def _read_config(path: Path) -> dict[str, Any]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise IntakeError([f"{name}: cannot be read: {error}"]) from error
    try:
        if path.suffix == ".toml":
            data: object = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except tomllib.TOMLDecodeError as error:
        raise IntakeError([f"{name}: not valid TOML: {error}"]) from error
    except yaml.YAMLError as error:
        raise IntakeError([f"{name}: not valid YAML: {error}"]) from error
    if not isinstance(data, dict):
        raise IntakeError(
            [
                f"{name}: expected the job's settings (id, sender, panel, ...) at the top level, "
                f"found {type(data).__name__}"
            ]
        )
    return data


def _take_calendars(
    raw: dict[str, Any], name: str, problems: list[str]
) -> tuple[dict[str, Any], list[list[str]]]:
    """The configuration without the panel's calendar paths (the model holds stored blobs,
    the file holds paths), and those paths per panel member."""
    panel = raw.get("panel")
    if not isinstance(panel, list):
        return raw, []
    members: list[Any] = []
    paths: list[list[str]] = []
    for i, member in enumerate(panel):
        found: list[str] = []
        if isinstance(member, dict) and "calendars" in member:
            member = dict(member)
            value = member.pop("calendars")
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                found = list(value)
            else:
                problems.append(
                    f"{name}: panel.{i}.calendars: expected a list of .ics paths relative to "
                    f'the job folder, e.g. ["calendars/{_slug(member)}.ics"], got {value!r}'
                )
        members.append(member)
        paths.append(found)
    return {**raw, "panel": members}, paths


def _slug(member: dict[str, Any]) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(member.get("name", "name")).lower()).strip("-")


def _read_calendar(folder: Path, rel: str, where: str, problems: list[str]) -> bytes | None:
    import icalendar

    path = folder / rel
    if path.suffix.lower() != ".ics":
        problems.append(f"{where}: {rel} is not an .ics file (export the calendar as .ics)")
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{where}: {rel}: no such file in {folder} (paths are relative to it)")
        return None
    except OSError as error:
        problems.append(f"{where}: {rel} cannot be read: {error.strerror or error}")
        return None
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as error:
        problems.append(f"{where}: {rel} is not a valid iCalendar (.ics) file: {error}")
        return None
    if calendar.name != "VCALENDAR":
        problems.append(f"{where}: {rel} is not an iCalendar file (no BEGIN:VCALENDAR)")
        return None
    for component in calendar.walk():
        if component.errors:
            prop, message = component.errors[0]
            uid = component.get("UID")
            event = f"{component.name} {uid}" if uid else str(component.name)
            problems.append(f"{where}: {rel}: {event}: {prop}: {message}")
            return None
    return data


def _read_description(folder: Path, config_name: str, problems: list[str]) -> tuple[str, bytes]:
    found = sorted(
        p for p in folder.glob("description.*") if p.is_file() and not p.name.startswith(".")
    )
    usable = [p for p in found if p.suffix.lower() in CONTENT_TYPES]
    if not usable:
        legacy = [p for p in found if p.suffix.lower() in _LEGACY]
        if legacy:
            kind = _LEGACY[legacy[0].suffix.lower()]
            problems.append(f"{legacy[0].name}: {kind} is not read: save it as .docx, .pdf or .md")
        else:
            problems.append(
                f"{folder}: no job description: add description.md, .txt, .pdf or .docx "
                f"beside {config_name}"
            )
        return "", b""
    if len(usable) > 1:
        names = " and ".join(p.name for p in usable)
        problems.append(f"{folder}: {names} are both descriptions: keep one")
        return "", b""
    data = usable[0].read_bytes()
    if not data.strip():
        problems.append(f"{usable[0].name}: the job description is empty")
    return usable[0].name, data


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
            problems.extend(_explain(error, prefix, _Row, columns=listing.suffix.lower() == ".csv"))
            continue
        if not _check_zone(row.time_zone, f"{prefix}: time_zone", problems):
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
            lines = _text_lines(path.suffix.lower(), data)
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
    if suffix in _LEGACY:
        problems.append(
            f"{where}: {shown}: {_LEGACY[suffix]} is not read: save it as .docx or .pdf"
        )
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


def _text_lines(suffix: str, data: bytes) -> list[str]:
    """The résumé's non-empty lines, enough to find a name and an address."""
    if suffix in (".txt", ".md"):
        text = data.decode("utf-8-sig", errors="replace")
    elif suffix == ".docx":
        text = _docx_text(data)
    else:
        text = _pdf_text(data)
    return [line.strip() for line in text.splitlines() if line.strip()]


def _docx_text(data: bytes) -> str:
    try:
        import docx
    except ImportError as error:  # pragma: no cover - python-docx is in the hiring extra
        raise ValueError("reading .docx needs python-docx (pip install 'plait[hiring]')") from error
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:  # python-docx raises several kinds for a damaged file
        raise ValueError(f"not a readable .docx file ({error})") from error
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def _pdf_text(data: bytes) -> str:
    try:
        import pypdf
    except ImportError as error:  # pragma: no cover - pypdf is in the hiring extra
        raise ValueError("reading .pdf needs pypdf (pip install 'plait[hiring]')") from error
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as error:  # pypdf raises several kinds for a damaged file
        raise ValueError(f"not a readable PDF ({error})") from error


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


# -- shared ------------------------------------------------------------------------------------
def _check_zone(name: str, where: str, problems: list[str]) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"{where}: {name!r} is not an IANA time zone (e.g. Europe/Berlin, America/Chicago, UTC)"
        )
        return False
    return True


def _explain(
    error: ValidationError, prefix: str, model: type[BaseModel], *, columns: bool = False
) -> list[str]:
    """Pydantic's errors as ``<prefix>: <field path>: <what is wrong>`` lines."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        field = ".".join(str(part) for part in loc) or "(top level)"
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            known = ", ".join(owner.model_fields) if owner else ""
            what = "column" if columns else "field"
            message = f"unknown {what}" + (f" (the {what}s here are: {known})" if known else "")
        elif kind == "missing":
            message = "missing (required)"
        elif kind == "string_pattern_mismatch" and loc == ("id",):
            message = (
                f"{item['input']!r} is not a job id: use lowercase letters, digits and hyphens, "
                "e.g. 'backend-engineer'"
            )
        elif isinstance(item.get("input"), str | int | float) and kind != "string_too_short":
            message = f"{message} (got {item['input']!r})"
        lines.append(f"{prefix}: {field}: {message}")
    return lines


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the fields at ``loc`` (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        current = _inner_model(field.annotation) if field is not None else None
    return current


def _inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
