"""The job folder: the description and its configuration (``job.toml`` or ``job.yaml``)
with the panel's ``.ics`` calendars (see ``hiring.intake``)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

import plait
from hiring.intake.common import (
    CONFIG_NAMES,
    CONTENT_TYPES,
    LEGACY,
    IntakeError,
    check_zone,
    content_type,
    explain,
)
from hiring.models import JobConfig


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
        problems.extend(explain(error, name, JobConfig))
    if config is not None:
        check_zone(config.time_zone, f"{name}: time_zone", problems)
        for i, member in enumerate(config.panel):
            check_zone(member.time_zone, f"{name}: panel.{i}.time_zone", problems)

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
        legacy = [p for p in found if p.suffix.lower() in LEGACY]
        if legacy:
            kind = LEGACY[legacy[0].suffix.lower()]
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
