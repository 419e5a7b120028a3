"""What the job folder and the candidate lists share: the file types read, the error
that lists every problem found, and turning a validation error into lines naming the file
and the field."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from pydantic import BaseModel, ValidationError

import plait

CONFIG_NAMES = ("job.toml", "job.yaml", "job.yml")
LISTING_NAMES = ("candidates.csv", "candidates.json")
CONTENT_TYPES = {
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
DOCUMENT_SUFFIXES = tuple(CONTENT_TYPES)
LEGACY = {".doc": "Word 97-2003 (.doc)", ".rtf": "RTF", ".odt": "OpenDocument (.odt)"}


class IntakeError(plait.ConfigurationError, ValueError):
    """A job folder or a candidate list that cannot be used as it is. ``problems`` holds one
    line per problem, each starting with the file and the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def content_type(filename: str) -> str:
    """The MIME type stored with a description or résumé blob, from its name."""
    return CONTENT_TYPES.get(Path(filename).suffix.lower(), "application/octet-stream")


# -- shared ------------------------------------------------------------------------------------
def check_zone(name: str, where: str, problems: list[str]) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"{where}: {name!r} is not an IANA time zone (e.g. Europe/Berlin, America/Chicago, UTC)"
        )
        return False
    return True


def explain(
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
            owner = model_at(model, loc[:-1])
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


def model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the fields at ``loc`` (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        current = inner_model(field.annotation) if field is not None else None
    return current


def inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = inner_model(arg)
        if found is not None:
            return found
    return None
