"""Free slots across a panel in several zones, busy calendars incl. recurring ones, and invites."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from hiring.scheduling import (
    Attendee,
    AttendeeRole,
    Interview,
    PanelMember,
    busy_blocks,
    cancel,
    find_slots,
    interview_uid,
    invite,
    parse_working_hours,
    read_invite,
    reschedule,
)

BERLIN, NEW_YORK, LONDON = "Europe/Berlin", "America/New_York", "Europe/London"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday


def ics(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{event.strip()}\r\nEND:VEVENT\r\n" for event in events)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + body + "END:VCALENDAR\r\n"
    ).encode()


def member(name: str, zone: str, *calendars: bytes, hours: str = "09:00-17:00") -> PanelMember:
    spec = {day: hours for day in ("mon", "tue", "wed", "thu", "fri")}
    return PanelMember(
        name=name,
        email=f"{name.lower()}@acme.example",
        timezone=zone,
        working_hours=parse_working_hours(spec),
        calendars=calendars,
    )


def within_hours(slot_start: datetime, slot_end: datetime, panel: list[PanelMember]) -> bool:
    for person in panel:
        zone = ZoneInfo(person.timezone)
        start, end = slot_start.astimezone(zone), slot_end.astimezone(zone)
        ranges = person.working_hours.get(start.weekday(), ())
        if not any(begin <= start.time() and end.time() <= finish for begin, finish in ranges):
            return False
    return True


def test_panel_across_three_zones_finds_only_the_overlap():
    panel = [member("Ana", BERLIN), member("Kim", NEW_YORK), member("Lee", LONDON)]
    slots = find_slots(
        panel,
        first_day=date(2026, 12, 1),
        last_day=date(2026, 12, 4),
        timezone=LONDON,
        length=timedelta(minutes=45),
        now=NOW,
        count=8,
    )
    assert len(slots) == 8
    for slot in slots:
        # Berlin 09-17 = 08-16 UTC, New York 09-17 = 14-22 UTC, London 09-17 UTC: 14-16 UTC.
        assert time(14) <= slot.start.astimezone(UTC).time()
        assert slot.end.astimezone(UTC).time() <= time(16)
        assert within_hours(slot.start, slot.end, panel)
    # Spread: the first pass takes the earliest slot of each of the four days.
    assert [s.start for s in slots[::2]] == [
        datetime(2026, 12, day, 14, 0, tzinfo=UTC) for day in (1, 2, 3, 4)
    ]


def test_no_overlap_means_no_slots():
    panel = [member("Ana", BERLIN, hours="09:00-12:00"), member("Kim", NEW_YORK)]
    assert (
        find_slots(
            panel,
            first_day=date(2026, 12, 1),
            last_day=date(2026, 12, 4),
            timezone=BERLIN,
            length=timedelta(minutes=30),
            now=NOW,
        )
        == []
    )


def test_recurring_standup_with_an_exdate_is_respected():
    standup = ics(
        """
UID:standup@acme
DTSTART;TZID=Europe/London:20261201T140000
DTEND;TZID=Europe/London:20261201T150000
RRULE:FREQ=DAILY;COUNT=10
EXDATE;TZID=Europe/London:20261203T140000
SUMMARY:Standup
"""
    )
    panel = [member("Lee", LONDON, standup), member("Kim", NEW_YORK)]
    slots = find_slots(
        panel,
        first_day=date(2026, 12, 1),
        last_day=date(2026, 12, 4),
        timezone=LONDON,
        length=timedelta(minutes=60),
        now=NOW,
        count=4,
    )
    starts = {slot.start.date(): slot.start.astimezone(UTC).time() for slot in slots}
    # The standup blocks 14:00-15:00 UTC except on 3 Dec, where the occurrence was removed.
    assert starts == {
        date(2026, 12, 1): time(15),
        date(2026, 12, 2): time(15),
        date(2026, 12, 3): time(14),
        date(2026, 12, 4): time(15),
    }
    blocks = busy_blocks(panel[0], NOW, NOW + timedelta(days=6))
    assert len(blocks) == 4  # 1, 2, 4 and 5 December


def test_buffers_min_notice_and_ignored_events():
    meeting = ics(
        """
UID:m1@acme
DTSTART:20261202T140000Z
DTEND:20261202T150000Z
SUMMARY:Client call
""",
        """
UID:m2@acme
DTSTART:20261202T150000Z
DTEND:20261202T160000Z
TRANSP:TRANSPARENT
SUMMARY:Focus time (shown as free)
""",
        """
UID:m3@acme
DTSTART:20261202T090000Z
DTEND:20261202T120000Z
STATUS:CANCELLED
SUMMARY:Cancelled workshop
""",
        """
UID:m4@acme
DTSTART;VALUE=DATE:20261203
DTEND;VALUE=DATE:20261204
SUMMARY:Conference (all day)
""",
    )
    panel = [member("Lee", LONDON, meeting)]
    slots = find_slots(
        panel,
        first_day=date(2026, 12, 1),
        last_day=date(2026, 12, 3),
        timezone=LONDON,
        length=timedelta(minutes=30),
        buffer_before=timedelta(minutes=15),
        buffer_after=timedelta(minutes=15),
        now=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        min_notice=timedelta(hours=24),
        count=20,
    )
    assert slots, "expected slots on 2 December"
    days = {slot.start.date() for slot in slots}
    assert days == {date(2026, 12, 2)}  # 1 Dec: too soon; 3 Dec: all-day conference
    for slot in slots:
        assert slot.start >= datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # min notice
        # 14:00-15:00 busy: a slot must end by 13:45 or start at 15:15 (buffers).
        assert slot.end <= datetime(2026, 12, 2, 13, 45, tzinfo=UTC) or slot.start >= datetime(
            2026, 12, 2, 15, 15, tzinfo=UTC
        )
    # The transparent block and the cancelled workshop did not make anyone busy.
    assert any(slot.start.time() >= time(15, 15) for slot in slots)
    assert any(slot.start.time() < time(12) for slot in slots)


def test_floating_times_are_read_in_the_members_zone():
    floating = ics(
        """
UID:f1@acme
DTSTART:20261201T090000
DTEND:20261201T160000
SUMMARY:Workshop (floating time)
"""
    )
    blocks = busy_blocks(member("Ana", BERLIN, floating), NOW, NOW + timedelta(days=2))
    assert blocks == [
        (datetime(2026, 12, 1, 8, 0, tzinfo=UTC), datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    ]


def test_freebusy_periods_are_busy():
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VFREEBUSY\r\n"
        b"UID:fb@acme\r\nDTSTAMP:20261130T000000Z\r\n"
        b"FREEBUSY;FBTYPE=BUSY:20261201T090000Z/20261201T160000Z\r\n"
        b"FREEBUSY;FBTYPE=FREE:20261201T160000Z/20261201T170000Z\r\n"
        b"END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    slots = find_slots(
        [member("Lee", LONDON, data)],
        first_day=date(2026, 12, 1),
        last_day=date(2026, 12, 1),
        timezone=LONDON,
        length=timedelta(minutes=60),
        now=NOW,
    )
    assert [s.start for s in slots] == [datetime(2026, 12, 1, 16, 0, tzinfo=UTC)]


def test_daylight_saving_boundary_moves_the_overlap():
    # Europe leaves summer time on 25 Oct 2026, the USA on 1 Nov 2026: for one week the
    # Berlin/New York overlap is 13-16 UTC, afterwards 14-16 UTC.
    panel = [member("Ana", BERLIN), member("Kim", NEW_YORK)]
    slots = find_slots(
        panel,
        first_day=date(2026, 10, 29),
        last_day=date(2026, 11, 3),
        timezone=BERLIN,
        length=timedelta(minutes=60),
        now=datetime(2026, 10, 20, tzinfo=UTC),
        count=4,
    )
    assert [s.start for s in slots] == [
        datetime(2026, 10, 29, 13, 0, tzinfo=UTC),
        datetime(2026, 10, 30, 13, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 14, 0, tzinfo=UTC),
    ]
    for slot in slots:
        assert slot.local(NEW_YORK)[0].time() == time(9)  # always 9:00 in New York


def test_slots_on_one_day_are_spread_not_back_to_back():
    slots = find_slots(
        [member("Lee", LONDON)],
        first_day=date(2026, 12, 1),
        last_day=date(2026, 12, 1),
        timezone=LONDON,
        length=timedelta(minutes=60),
        now=NOW,
    )
    hours = [s.start.time() for s in slots]
    # The earliest, then the one farthest from it (the last), then the one in the middle.
    assert hours == [time(9), time(12, 30), time(16)]


def test_grid_follows_the_requested_zone():
    # Kolkata is UTC+5:30: with a 60-minute step, slots start on the hour in Kolkata.
    panel = [member("Ana", BERLIN)]
    slots = find_slots(
        panel,
        first_day=date(2026, 12, 1),
        last_day=date(2026, 12, 2),
        timezone="Asia/Kolkata",
        length=timedelta(minutes=30),
        step=timedelta(minutes=60),
        now=NOW,
    )
    assert slots and all(s.local("Asia/Kolkata")[0].minute == 0 for s in slots)


def test_bad_configuration_is_refused_clearly():
    with pytest.raises(ValueError, match="not an IANA time zone"):
        member("Ana", "Mars/Olympus")
    with pytest.raises(ValueError, match="overnight"):
        member("Ana", BERLIN, hours="22:00-06:00")
    with pytest.raises(ValueError, match="not like '09:00-17:00'"):
        parse_working_hours({"mon": "nine to five"})
    with pytest.raises(ValueError, match="calendar #1 is not an iCalendar"):
        member("Ana", BERLIN, b"not a calendar")
    with pytest.raises(ValueError, match="unknown field"):
        PanelMember.from_dict({"name": "A", "email": "a@x.example", "timezone": BERLIN, "x": 1})
    person = PanelMember.from_dict(
        {
            "name": "Ana",
            "email": "ana@acme.example",
            "timezone": BERLIN,
            "working_hours": {"monday": "09:00-12:00, 13:00-17:00", "fri": ["10:00-14:00"]},
        }
    )
    assert person.working_hours == {
        0: ((time(9), time(12)), (time(13), time(17))),
        4: ((time(10), time(14)),),
    }


def interview(**changes) -> Interview:
    values = dict(
        uid=interview_uid("job-42/app-7/interview-1", "acme.example"),
        start=datetime(2026, 10, 26, 10, 0, tzinfo=ZoneInfo(BERLIN)),
        end=datetime(2026, 10, 26, 11, 0, tzinfo=ZoneInfo(BERLIN)),
        summary="Interview: Senior Backend Engineer",
        organizer=Attendee("Ana Recruiter", "ana@acme.example", AttendeeRole.CHAIR),
        attendees=(
            Attendee("Sam Doe", "sam@example.org"),
            Attendee("Kim Lead", "kim@acme.example"),
            Attendee("Lee Shadow", "lee@acme.example", AttendeeRole.OPTIONAL, rsvp=False),
        ),
        timezone=BERLIN,
        video_url="https://meet.acme.example/abc",
    )
    values.update(changes)
    return Interview(**values)


STAMP = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)


def test_invite_is_a_request_with_attendees_and_zone():
    data = invite(interview(), stamp=STAMP)
    calendar = Calendar.from_ical(data)
    assert calendar["METHOD"] == "REQUEST"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == [BERLIN]
    assert b"DTSTART;TZID=Europe/Berlin:20261026T100000" in data
    summary = read_invite(data)
    assert summary.sequence == 0 and summary.status == "CONFIRMED"
    assert summary.organizer == "ana@acme.example"
    # 26 Oct is the day after Europe left summer time: 10:00 Berlin is 09:00 UTC.
    assert summary.start.astimezone(UTC) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert summary.start.utcoffset() == timedelta(hours=1)
    assert summary.timezone == BERLIN
    assert [(a.email, a.role, a.rsvp) for a in summary.attendees] == [
        ("sam@example.org", AttendeeRole.REQUIRED, True),
        ("kim@acme.example", AttendeeRole.REQUIRED, True),
        ("lee@acme.example", AttendeeRole.OPTIONAL, False),
    ]
    assert summary.location == "https://meet.acme.example/abc"
    assert "Join: https://meet.acme.example/abc" in str(calendar.walk("VEVENT")[0]["DESCRIPTION"])


def test_invite_in_utc_without_a_zone():
    data = invite(interview(timezone=None), stamp=STAMP)
    assert b"DTSTART:20261026T090000Z" in data
    assert b"VTIMEZONE" not in data


def test_reschedule_and_cancel_keep_the_uid_and_raise_the_sequence():
    first = interview()
    moved, data = reschedule(
        first,
        datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 16, 0, tzinfo=UTC),
        stamp=STAMP,
    )
    again = read_invite(data)
    assert (again.method, again.uid, again.sequence) == ("REQUEST", first.uid, 1)
    assert again.start.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert again.start.tzinfo is not None and again.timezone == BERLIN
    assert again.start.hour == 16  # written in Berlin time
    cancelled, data = cancel(moved, stamp=STAMP)
    gone = read_invite(data)
    assert (gone.method, gone.uid, gone.sequence, gone.status) == (
        "CANCEL",
        first.uid,
        2,
        "CANCELLED",
    )
    assert cancelled.sequence == 2
    assert interview_uid("job-42/app-7/interview-1", "acme.example") == first.uid


def test_invalid_interviews_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        interview(start=datetime(2026, 10, 26, 10))
    with pytest.raises(ValueError, match="after its start"):
        interview(end=datetime(2026, 10, 26, 9, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="not a plain address"):
        Attendee("X", "not an address")
