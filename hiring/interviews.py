"""Interview scheduling for the pipeline: the panel's free slots, the signed links a
candidate picks one with, and the iCalendar invites (built on ``hiring.scheduling``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import plait
from hiring.book import Profile
from hiring.mail.tokens import make_token
from hiring.models import JobConfig, Slot
from hiring.scheduling import (
    Attendee,
    AttendeeRole,
    Interview,
    PanelMember,
    find_slots,
    interview_uid,
    parse_working_hours,
)
from hiring.scheduling import cancel as cancel_calendar
from hiring.scheduling import invite as invite_calendar
from hiring.settings import Settings

SEARCH_DAYS = 14


async def panel(config: JobConfig) -> list[PanelMember]:
    """The job's panel with each member's busy calendars read from their blobs."""
    members = []
    for m in config.panel:
        calendars = [(await plait.get_blob(ref)).data for ref in m.calendars]
        members.append(
            PanelMember(
                name=m.name,
                email=str(m.email),
                timezone=m.time_zone,
                working_hours=parse_working_hours(m.working_hours),
                calendars=tuple(calendars),
            )
        )
    return members


async def propose(config: JobConfig, now: datetime, count: int = 3) -> list[Slot]:
    """Up to ``count`` free times for the whole panel in the next two weeks."""
    found = find_slots(
        await panel(config),
        first_day=now.date(),
        last_day=(now + timedelta(days=SEARCH_DAYS)).date(),
        timezone=config.time_zone,
        length=timedelta(minutes=config.interview_minutes),
        now=now,
        buffer_before=timedelta(minutes=config.buffer_minutes),
        buffer_after=timedelta(minutes=config.buffer_minutes),
        count=count,
    )
    return [Slot(start=s.start, end=s.end) for s in found]


def slot_token(candidate_id: str, number: int, settings: Settings) -> str:
    return make_token("slot", f"{candidate_id}.{number}", settings.secret)


def slot_links(
    config: JobConfig, candidate_id: str, slots: list[Slot], zone: str, settings: Settings
) -> list[str]:
    """One line per slot: its number, the time in the candidate's zone, and its link."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    lines = []
    for i, s in enumerate(slots, start=1):
        start, end = s.start.astimezone(tz), s.end.astimezone(tz)
        link = f"{settings.base_url}/hiring/slot/{slot_token(candidate_id, i, settings)}"
        lines.append(f"  {i}. {start:%A %d %B, %H:%M}-{end:%H:%M} ({zone})  {link}")
    return lines


def calendar_invite(
    config: JobConfig,
    job_title: str,
    candidate_id: str,
    slot: Slot,
    sequence: int,
    candidate: Profile,
    settings: Settings,
    *,
    cancel: bool = False,
) -> tuple[bytes, str]:
    """The iCalendar file (REQUEST, or CANCEL) and the message text for one interview; the
    UID is the same for every version of a candidate's interview, SEQUENCE counts them."""
    organizer = Attendee(
        name=config.sender.name, email=str(config.sender.email), role=AttendeeRole.CHAIR
    )
    attendees = [Attendee(name=candidate.name, email=candidate.email)] + [
        Attendee(name=m.name, email=str(m.email)) for m in config.panel
    ]
    interview = Interview(
        uid=interview_uid(f"{config.id}/{candidate_id}", settings.mail_domain),
        start=slot.start,
        end=slot.end,
        summary=f"Interview: {job_title} ({config.sender.company})",
        organizer=organizer,
        attendees=tuple(attendees),
        timezone=config.time_zone,
        description=f"Interview for the {job_title} role with "
        + ", ".join(m.name for m in config.panel),
        sequence=sequence,
    )
    if cancel:
        _, data = cancel_calendar(
            Interview(**{**interview.__dict__, "sequence": max(sequence - 1, 0)})
        )
        return data, "The interview is cancelled."
    data = invite_calendar(interview)
    text = (
        f"Dear {candidate.name.split()[0]},\n\nYour interview for the {job_title} role is "
        f"booked: {slot.start:%A %d %B %Y, %H:%M} UTC, {config.interview_minutes} minutes, "
        "with " + ", ".join(m.name for m in config.panel) + ".\nThe invitation is attached."
    )
    return data, text
