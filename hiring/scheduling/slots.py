"""Free interview slots across a whole panel.

:func:`find_slots` returns the first few well-spread times at which every panel member is
inside their working hours (in their own zone) and free in their ``.ics`` calendars,
including recurring events (RRULE, EXDATE, via ``recurring-ical-events``) and published
free/busy periods.

Invariants:
- All arithmetic is on timezone-aware UTC datetimes; working hours are turned into UTC per
  local day, so a daylight-saving change moves them correctly.
- A slot is ``length`` long, lies inside every member's working hours, and its buffers
  (``buffer_before`` before it, ``buffer_after`` after it) overlap no busy block.
- Events marked ``TRANSP:TRANSPARENT`` or ``STATUS:CANCELLED`` do not make anyone busy; an
  all-day event makes the whole local day busy; a floating time is read in the member's zone.
- Slots start on a grid of ``step`` in the requested zone's local time (e.g. :00, :15) and no
  earlier than ``now + min_notice``; the result is sorted and spread over different days first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hiring.scheduling.panel import PanelMember, check_zone

__all__ = ["Slot", "busy_blocks", "find_slots"]

Interval = tuple[datetime, datetime]


@dataclasses.dataclass(frozen=True, order=True)
class Slot:
    """A proposed interview time (UTC)."""

    start: datetime
    end: datetime

    def local(self, zone: str) -> tuple[datetime, datetime]:
        """The slot's start and end in ``zone``."""
        tz = check_zone(zone)
        return self.start.astimezone(tz), self.end.astimezone(tz)


def find_slots(
    panel: Sequence[PanelMember],
    *,
    first_day: date,
    last_day: date,
    timezone: str,
    length: timedelta,
    now: datetime,
    buffer_before: timedelta = timedelta(0),
    buffer_after: timedelta = timedelta(0),
    min_notice: timedelta = timedelta(hours=24),
    count: int = 3,
    step: timedelta = timedelta(minutes=15),
    busy: Iterable[Interval] = (),
) -> list[Slot]:
    """Up to ``count`` slots between ``first_day`` and ``last_day`` (inclusive, in ``timezone``).

    ``busy`` adds blocks every member is busy in (e.g. the candidate's other interviews).
    Returns fewer slots, or none, when the panel has no common free time in the range.
    """
    if not panel:
        raise ValueError("find_slots needs at least one panel member")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if last_day < first_day:
        raise ValueError("last_day is before first_day")
    if length <= timedelta(0) or step <= timedelta(0) or count < 1:
        raise ValueError("length and step must be positive and count at least 1")
    if min(buffer_before, buffer_after, min_notice) < timedelta(0):
        raise ValueError("buffers and min_notice cannot be negative")
    zone = check_zone(timezone, "find_slots(timezone=...)")
    range_start = datetime.combine(first_day, time(0), zone).astimezone(UTC)
    range_end = datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC)
    earliest = max(range_start, (now + min_notice).astimezone(UTC))
    common: list[Interval] = [(earliest, range_end)]
    shared_busy = [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy]
    for member in panel:
        blocks = busy_blocks(member, range_start - timedelta(days=1), range_end + timedelta(days=1))
        blocks = [(s - buffer_after, e + buffer_before) for s, e in [*blocks, *shared_busy]]
        free = _subtract(_working(member, range_start, range_end), _merge(blocks))
        common = _intersect(common, free)
        if not common:
            return []
    starts = [start for interval in common for start in _grid(interval, length, step, zone)]
    return _spread(starts, length, count, zone)


def busy_blocks(member: PanelMember, start: datetime, end: datetime) -> list[Interval]:
    """The member's busy blocks (UTC) overlapping ``start``-``end``, from all their calendars."""
    import recurring_ical_events
    from icalendar import Calendar

    local = ZoneInfo(member.timezone)
    blocks: list[Interval] = []
    for data in member.calendars:
        calendar = Calendar.from_ical(data)
        for event in recurring_ical_events.of(calendar).between(start, end):
            if str(event.get("transp", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(event.get("status", "")).upper() == "CANCELLED":
                continue
            block = _event_block(event, local)
            if block is not None:
                blocks.append(block)
        for freebusy in calendar.walk("VFREEBUSY"):
            blocks.extend(_freebusy_blocks(freebusy))
    return [(s, e) for s, e in _merge(blocks) if e > start and s < end]


def _event_block(event: object, local: ZoneInfo) -> Interval | None:
    from icalendar import Event

    assert isinstance(event, Event)
    begin = event.decoded("dtstart")
    if "DTEND" in event:
        finish = event.decoded("dtend")
    elif "DURATION" in event:
        finish = begin + event.decoded("duration")
    else:  # RFC 5545: a date lasts one day, a date-time no time at all
        finish = begin + timedelta(days=1) if not isinstance(begin, datetime) else begin
    return _as_utc(begin, local), _as_utc(finish, local)


def _freebusy_blocks(component: object) -> list[Interval]:
    from icalendar import Component

    assert isinstance(component, Component)
    values = component.get("freebusy", [])
    if not isinstance(values, list):
        values = [values]
    blocks: list[Interval] = []
    for value in values:
        if str(value.params.get("FBTYPE", "BUSY")).upper() == "FREE":
            continue
        for period in value.dts if hasattr(value, "dts") else [value]:
            begin, finish = period.dt
            if isinstance(finish, timedelta):
                finish = begin + finish
            blocks.append((begin.astimezone(UTC), finish.astimezone(UTC)))
    return blocks


def _as_utc(moment: date | datetime, local: ZoneInfo) -> datetime:
    if not isinstance(moment, datetime):  # all-day: the member's local midnight
        return datetime.combine(moment, time(0), local).astimezone(UTC)
    if moment.tzinfo is None:  # floating time: the member's wall clock
        return moment.replace(tzinfo=local).astimezone(UTC)
    return moment.astimezone(UTC)


def _working(member: PanelMember, start: datetime, end: datetime) -> list[Interval]:
    local = ZoneInfo(member.timezone)
    day = start.astimezone(local).date() - timedelta(days=1)
    last = end.astimezone(local).date() + timedelta(days=1)
    intervals: list[Interval] = []
    while day <= last:
        for begin, finish in member.working_hours.get(day.weekday(), ()):
            intervals.append(
                (
                    datetime.combine(day, begin, local).astimezone(UTC),
                    datetime.combine(day, finish, local).astimezone(UTC),
                )
            )
        day += timedelta(days=1)
    return _merge(intervals)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for begin, finish in sorted(intervals):
        if finish <= begin:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def _subtract(free: list[Interval], busy: list[Interval]) -> list[Interval]:
    result: list[Interval] = []
    for begin, finish in free:
        cursor = begin
        for b_start, b_end in busy:
            if b_end <= cursor or b_start >= finish:
                continue
            if b_start > cursor:
                result.append((cursor, b_start))
            cursor = max(cursor, b_end)
            if cursor >= finish:
                break
        if cursor < finish:
            result.append((cursor, finish))
    return result


def _intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    result: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        begin = max(left[i][0], right[j][0])
        finish = min(left[i][1], right[j][1])
        if begin < finish:
            result.append((begin, finish))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return result


def _grid(interval: Interval, length: timedelta, step: timedelta, zone: ZoneInfo) -> list[datetime]:
    begin, finish = interval
    local = begin.astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), zone)
    offset = (local - midnight) % step
    cursor = begin if not offset else begin + (step - offset)
    starts: list[datetime] = []
    while cursor + length <= finish:
        starts.append(cursor)
        cursor += step
    return starts


def _spread(starts: list[datetime], length: timedelta, count: int, zone: ZoneInfo) -> list[Slot]:
    """The earliest start of each day first; then, per day, the start farthest from those taken."""
    by_day: dict[date, list[datetime]] = {}
    for start in sorted(set(starts)):
        by_day.setdefault(start.astimezone(zone).date(), []).append(start)
    chosen: dict[date, list[datetime]] = {day: [] for day in by_day}
    picked = 0
    while picked < count:
        progress = False
        for day, options in by_day.items():
            if picked >= count:
                break
            taken = chosen[day]
            usable = [s for s in options if all(abs(s - t) >= length for t in taken)]
            if not usable:
                continue
            best = (
                usable[0]
                if not taken
                else max(usable, key=lambda s: (min(abs(s - t) for t in taken), -s.timestamp()))
            )
            taken.append(best)
            picked += 1
            progress = True
        if not progress:
            break
    return sorted(Slot(s, s + length) for taken in chosen.values() for s in taken)
