"""Interview invites as iCalendar (RFC 5545) with iTIP methods (RFC 5546): request, update, cancel.

:func:`invite` writes a ``METHOD:REQUEST`` calendar for an :class:`Interview`;
:func:`reschedule` and :func:`cancel` return the changed interview and its calendar;
:func:`read_invite` reads one back (for the demo mailbox and tests).

Invariants:
- One interview keeps one ``UID`` for life (:func:`interview_uid` derives it from a stable
  key); every change raises ``SEQUENCE`` by one, so calendars replace the earlier version
  instead of adding a second event.
- Times are timezone-aware. With ``Interview.timezone`` the event is written in that IANA
  zone with ``TZID`` and a matching ``VTIMEZONE``; without it, in UTC (``Z``).
- A cancellation is ``METHOD:CANCEL`` with ``STATUS:CANCELLED`` and the same UID.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from hiring.scheduling.panel import check_zone

__all__ = [
    "Attendee",
    "AttendeeRole",
    "Interview",
    "InviteSummary",
    "cancel",
    "interview_uid",
    "invite",
    "read_invite",
    "reschedule",
]

PRODID = "-//plait//hiring//EN"


class AttendeeRole(StrEnum):
    """An attendee's part in the interview (the iCalendar ``ROLE`` values)."""

    CHAIR = "CHAIR"
    REQUIRED = "REQ-PARTICIPANT"
    OPTIONAL = "OPT-PARTICIPANT"


@dataclasses.dataclass(frozen=True)
class Attendee:
    """Someone invited (or the organizer): name, address, role, and whether to ask for RSVP."""

    name: str
    email: str
    role: AttendeeRole = AttendeeRole.REQUIRED
    rsvp: bool = True

    def __post_init__(self) -> None:
        if "@" not in self.email or any(c in self.email for c in " \r\n<>"):
            raise ValueError(f"attendee e-mail {self.email!r} is not a plain address")


@dataclasses.dataclass(frozen=True)
class Interview:
    """One interview as the invites describe it."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    organizer: Attendee
    attendees: tuple[Attendee, ...]
    timezone: str | None = None
    description: str = ""
    location: str | None = None
    video_url: str | None = None
    sequence: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.attendees, list):
            object.__setattr__(self, "attendees", tuple(self.attendees))
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Interview.start and end must be timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError("Interview.end must be after its start")
        if not self.attendees:
            raise ValueError("an interview needs at least one attendee")
        if self.timezone is not None:
            check_zone(self.timezone, "Interview.timezone")
        if self.sequence < 0:
            raise ValueError("Interview.sequence must be >= 0")


def interview_uid(key: str, domain: str) -> str:
    """A stable iCalendar UID for the interview identified by ``key`` (e.g. its step key)."""
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}"


def invite(interview: Interview, *, stamp: datetime | None = None) -> bytes:
    """The ``METHOD:REQUEST`` calendar inviting every attendee to ``interview``.

    ``stamp`` (``DTSTAMP``, default now) is when this version was made.
    """
    return _calendar(interview, "REQUEST", "CONFIRMED", stamp)


def reschedule(
    interview: Interview, start: datetime, end: datetime, *, stamp: datetime | None = None
) -> tuple[Interview, bytes]:
    """The interview moved to ``start``-``end`` (same UID, SEQUENCE+1) and its new invite."""
    moved = dataclasses.replace(interview, start=start, end=end, sequence=interview.sequence + 1)
    return moved, invite(moved, stamp=stamp)


def cancel(interview: Interview, *, stamp: datetime | None = None) -> tuple[Interview, bytes]:
    """The cancelled interview (same UID, SEQUENCE+1) and its ``METHOD:CANCEL`` calendar."""
    cancelled = dataclasses.replace(interview, sequence=interview.sequence + 1)
    return cancelled, _calendar(cancelled, "CANCEL", "CANCELLED", stamp)


def _calendar(interview: Interview, method: str, status: str, stamp: datetime | None) -> bytes:
    from icalendar import Calendar, Event, vCalAddress

    zone = ZoneInfo(interview.timezone) if interview.timezone else UTC
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", interview.uid)
    event.add("sequence", interview.sequence)
    event.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", interview.start.astimezone(zone))
    event.add("dtend", interview.end.astimezone(zone))
    event.add("summary", interview.summary)
    description = interview.description
    if interview.video_url:
        description = f"{description}\n\nJoin: {interview.video_url}".strip()
        event.add("url", interview.video_url)
    if description:
        event.add("description", description)
    if interview.location or interview.video_url:
        event.add("location", interview.location or interview.video_url)
    event.add("status", status)
    event.add("transp", "OPAQUE")
    organizer = vCalAddress(f"mailto:{interview.organizer.email}")
    organizer.params["CN"] = interview.organizer.name
    event.add("organizer", organizer)
    for person in interview.attendees:
        address = vCalAddress(f"mailto:{person.email}")
        address.params["CN"] = person.name
        address.params["ROLE"] = person.role.value
        address.params["CUTYPE"] = "INDIVIDUAL"
        address.params["PARTSTAT"] = "NEEDS-ACTION"
        address.params["RSVP"] = "TRUE" if person.rsvp and method == "REQUEST" else "FALSE"
        event.add("attendee", address, encode=False)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data


@dataclasses.dataclass(frozen=True)
class InviteSummary:
    """What an iCalendar invite says, read back: for showing a received invite."""

    method: str
    uid: str
    sequence: int
    status: str
    summary: str
    start: datetime
    end: datetime
    timezone: str | None
    organizer: str
    attendees: tuple[Attendee, ...]
    location: str | None


def read_invite(data: bytes) -> InviteSummary:
    """The first event of an iCalendar file; raises ``ValueError`` if it has none."""
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(data)
    except Exception as error:
        raise ValueError(f"not an iCalendar file: {error}") from None
    events = calendar.walk("VEVENT")
    if not events:
        raise ValueError("the iCalendar file holds no event (VEVENT)")
    event = events[0]
    start = event.decoded("dtstart")
    end = event.decoded("dtend")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise ValueError("the event is an all-day event, not an interview with a time")
    raw_start = event.get("dtstart")
    tzid = raw_start.params.get("TZID") if raw_start is not None else None
    attendees = event.get("attendee", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    people = tuple(
        Attendee(
            name=str(item.params.get("CN", "")),
            email=_address(item),
            role=AttendeeRole(str(item.params.get("ROLE", "REQ-PARTICIPANT"))),
            rsvp=str(item.params.get("RSVP", "FALSE")).upper() == "TRUE",
        )
        for item in attendees
    )
    location = event.get("location")
    return InviteSummary(
        method=str(calendar.get("method", "")),
        uid=str(event.get("uid", "")),
        sequence=int(event.get("sequence", 0)),
        status=str(event.get("status", "")),
        summary=str(event.get("summary", "")),
        start=start,
        end=end,
        timezone=str(tzid) if tzid else None,
        organizer=_address(event.get("organizer", "")),
        attendees=people,
        location=str(location) if location is not None else None,
    )


def _address(value: object) -> str:
    text = str(value)
    return text[len("mailto:") :] if text.lower().startswith("mailto:") else text
