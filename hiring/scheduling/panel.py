"""The interview panel: who, where (time zone), when they work, and their busy calendars.

Invariants:
- Every zone is an IANA name that :mod:`zoneinfo` knows (the ``tzdata`` wheel supplies them
  where the system has none); working hours are local wall-clock times in that zone, so they
  follow its daylight-saving changes.
- Working hours are per weekday, each a list of ``start < end`` ranges within one day (no
  overnight shifts); a weekday not listed is not worked.
- Calendars are checked to be iCalendar when the member is created, not when slots are
  searched.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_WORKING_HOURS",
    "WEEKDAYS",
    "PanelMember",
    "WorkingHours",
    "check_zone",
    "parse_working_hours",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

WorkingHours = Mapping[int, tuple[tuple[time, time], ...]]
"""Weekday (0 = Monday) → the local time ranges worked that day."""

DEFAULT_WORKING_HOURS: WorkingHours = {
    day: ((time(9), time(17)),) for day in range(5)
}  # Monday to Friday, 09:00-17:00

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def check_zone(name: str, what: str = "time zone") -> ZoneInfo:
    """The :class:`ZoneInfo` for ``name``; a clear ``ValueError`` if it is not an IANA zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{what} {name!r} is not an IANA time zone name (e.g. 'Europe/Berlin', "
            "'America/New_York', 'UTC')"
        ) from None


def parse_working_hours(
    spec: Mapping[str, str | Sequence[str]],
) -> dict[int, tuple[tuple[time, time], ...]]:
    """Working hours from a configuration mapping such as ``{"mon": "09:00-17:00"}``.

    A value may list several ranges (``"09:00-12:00, 13:00-17:30"`` or a list of strings);
    ``"24:00"`` is not accepted (use ``23:59``).
    """
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for key, value in spec.items():
        day = key.strip().lower()[:3]
        if day not in WEEKDAYS:
            raise ValueError(f"working hours: {key!r} is not a weekday (mon, tue, ... sun)")
        items = value.split(",") if isinstance(value, str) else list(value)
        ranges: list[tuple[time, time]] = []
        for item in items:
            if not item.strip():
                continue
            found = _RANGE.match(item)
            if not found:
                raise ValueError(f"working hours for {key}: {item!r} is not like '09:00-17:00'")
            h1, m1, h2, m2 = (int(group) for group in found.groups())
            try:
                start, end = time(h1, m1), time(h2, m2)
            except ValueError:
                raise ValueError(f"working hours for {key}: {item!r} is not a valid time") from None
            ranges.append((start, end))
        hours[WEEKDAYS.index(day)] = tuple(sorted(ranges))
    return hours


@dataclasses.dataclass(frozen=True)
class PanelMember:
    """One interviewer: name, address, zone, working hours and ``.ics`` busy calendars."""

    name: str
    email: str
    timezone: str
    working_hours: WorkingHours = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_WORKING_HOURS)
    )
    calendars: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if "@" not in self.email:
            raise ValueError(f"panel member {self.name!r}: e-mail {self.email!r} is not an address")
        check_zone(self.timezone, f"panel member {self.name!r}'s time zone")
        if isinstance(self.calendars, list):
            object.__setattr__(self, "calendars", tuple(self.calendars))
        for day, ranges in self.working_hours.items():
            if day not in range(7):
                raise ValueError(f"panel member {self.name!r}: weekday {day} is not 0..6")
            for start, end in ranges:
                if not start < end:
                    raise ValueError(
                        f"panel member {self.name!r}: working hours {start:%H:%M}-{end:%H:%M} "
                        f"on {WEEKDAYS[day]} end before they start (overnight shifts are not "
                        "supported: split them at midnight)"
                    )
        self._check_calendars()

    def _check_calendars(self) -> None:
        from icalendar import Calendar

        for number, data in enumerate(self.calendars, start=1):
            try:
                Calendar.from_ical(data)
            except Exception as error:
                raise ValueError(
                    f"panel member {self.name!r}: calendar #{number} is not an iCalendar "
                    f"(.ics) file ({error})"
                ) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, object], calendars: Sequence[bytes] = ()) -> PanelMember:
        """A member from job configuration: ``name``, ``email``, ``timezone``, ``working_hours``.

        ``working_hours`` is as :func:`parse_working_hours` reads it (default Monday to Friday,
        09:00-17:00); the ``.ics`` files are passed already read as ``calendars``.
        """
        unknown = set(data) - {"name", "email", "timezone", "working_hours", "calendars"}
        if unknown:
            raise ValueError(f"panel member: unknown field(s) {sorted(unknown)}")
        for field in ("name", "email", "timezone"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise ValueError(f"panel member: {field!r} is required and must be text")
        spec = data.get("working_hours")
        if spec is not None and not isinstance(spec, Mapping):
            raise ValueError("panel member: 'working_hours' must map weekdays to time ranges")
        return cls(
            name=str(data["name"]),
            email=str(data["email"]),
            timezone=str(data["timezone"]),
            working_hours=parse_working_hours(spec) if spec is not None else DEFAULT_WORKING_HOURS,
            calendars=tuple(calendars),
        )
