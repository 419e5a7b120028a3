"""Schedules: a workflow started on a cron expression or at an interval.

``plait.Schedule("nightly", report, "eu", cron="0 2 * * *", timezone="Europe/Paris")`` is
given to ``Engine(schedules=[...])`` (declared in code) or added at run time
(``engine.schedules.add``, ``plait schedules add``, ``POST /api/schedules``). Workers start
each tick's workflow (``plait/scheduling.py``); this module defines a schedule and computes
its ticks.

Invariants kept here:
- A :class:`Schedule` is checked when it is made: exactly one of ``cron`` and ``every``, a
  cron expression croniter accepts, a zone the IANA database knows, a known catch-up policy,
  and (for a workflow given as code) arguments that fit it.
- Ticks are instants (epoch ms). A cron expression is read in its zone's wall-clock time:
  croniter walks aware datetimes, so on a daylight-saving change a tick in the skipped hour
  moves to the first instant after it and an hourly tick in the repeated hour fires twice
  (each instant once). ``every=`` ticks are whole multiples of the interval since the Unix
  epoch, so every worker and every restart agrees on them (``every=timedelta(hours=1)``:
  on the hour, UTC).
- A tick's workflow id is ``<schedule id>@<tick in UTC ISO 8601>``: a tick can be started
  once only, whoever starts it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from plait.arguments import encode_arguments
from plait.clock import duration_ms
from plait.codec import Codec
from plait.definitions import WorkflowDef
from plait.errors import ConfigurationError
from plait.frozen import Frozen
from plait.types import Duration, JSONValue, parse_enum

if TYPE_CHECKING:
    from croniter import croniter

MAX_CATCHUP = 100
"""``catchup="all"`` starts at most this many missed ticks (the latest ones) at once."""
MISFIRE_GRACE_MS = 60_000
"""``catchup="skip"``: a tick found more than this late (a minute) counts as missed."""
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")


class Catchup(StrEnum):
    """What a schedule starts for the ticks it missed while no worker ran."""

    SKIP = "skip"  # none: go on from the next tick
    ONE = "one"  # one workflow, for the latest missed tick
    ALL = "all"  # every missed tick (at most MAX_CATCHUP, the latest)


class Schedule:
    """Starts ``workflow(*args)`` on a ``cron`` expression (read in ``timezone``, an IANA
    name) or ``every`` interval (a ``timedelta`` or seconds, at least 1 s). ``catchup``
    says what happens to the ticks missed while no worker ran (``"skip"``, ``"one"`` or
    ``"all"``); ``paused`` starts it paused; ``queue`` is the queue its workflows go to.
    Raises ``ConfigurationError`` (``InvalidArguments``) at once when anything does not
    fit."""

    def __init__(
        self,
        id: str,
        workflow: WorkflowDef[..., Any] | str,
        *args: Any,
        cron: str | None = None,
        every: Duration | None = None,
        timezone: str = "UTC",
        catchup: Catchup | str = "one",
        paused: bool = False,
        queue: str | None = None,
    ) -> None:
        if not isinstance(id, str) or not _ID.fullmatch(id):
            raise ConfigurationError(
                f"bad schedule id {id!r}: use letters, digits and . _ : - (at most 200, "
                "starting with a letter or digit)"
            )
        if not isinstance(workflow, WorkflowDef | str) or not workflow:
            raise ConfigurationError(
                f"Schedule {id!r}: workflow must be a @plait.workflow or its name, not {workflow!r}"
            )
        self.id = id
        self.workflow = workflow
        self.args = args
        self.timing = Timing.of(cron, every, timezone, what=f"Schedule {id!r}")
        self.catchup = parse_enum(Catchup, catchup, f"catch-up policy of schedule {id!r}")
        if not isinstance(paused, bool):
            raise ConfigurationError(f"Schedule {id!r}: paused must be True or False")
        if queue is not None and (not isinstance(queue, str) or not queue):
            raise ConfigurationError(f"Schedule {id!r}: queue must be a non-empty string")
        self.paused = paused
        self.queue = queue
        if isinstance(workflow, WorkflowDef):
            encode_arguments(Codec(), workflow, args)  # InvalidArguments now, not at a tick

    @property
    def workflow_name(self) -> str:
        return self.workflow.name if isinstance(self.workflow, WorkflowDef) else self.workflow

    def __repr__(self) -> str:
        return f"<Schedule {self.id!r} {self.workflow_name} {self.timing}>"


class Timing(Frozen):
    """When a schedule ticks: a cron expression in a zone, or an interval in ms."""

    cron: str | None
    every_ms: int | None
    timezone: str

    @classmethod
    def of(
        cls, cron: str | None, every: Duration | int | None, timezone: str, *, what: str
    ) -> Timing:
        if (cron is None) == (every is None):
            raise ConfigurationError(
                f"{what}: give exactly one of cron= (e.g. '0 9 * * 1-5') and every= "
                "(e.g. timedelta(hours=1))"
            )
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # here: a worker seldom needs it

        try:
            zone_ok = isinstance(timezone, str) and bool(timezone) and ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone_ok = False
        if not zone_ok:
            raise ConfigurationError(
                f"{what}: unknown time zone {timezone!r}; use an IANA name such as "
                "'UTC' or 'Europe/Paris'"
            )
        if cron is not None:
            if not isinstance(cron, str):
                raise ConfigurationError(f"{what}: cron= must be a string such as '0 9 * * *'")
            try:  # a tick must exist too ('0 0 31 2 *' never comes)
                from croniter import croniter  # here: only code with schedules loads it

                croniter(cron, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
            except Exception as exc:  # croniter's errors, and any other it lets through
                raise ConfigurationError(
                    f"{what}: bad cron expression {cron!r} ({exc}); write five fields, "
                    "minute hour day-of-month month day-of-week, e.g. '30 9 * * 1-5'"
                ) from None
            return cls(cron.strip(), None, timezone)
        assert every is not None
        ms = duration_ms(every, f"{what}: every=")
        if ms < 1000:
            raise ConfigurationError(f"{what}: every= must be at least one second")
        return cls(None, ms, timezone)

    def __str__(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron!r} ({self.timezone})"
        assert self.every_ms is not None
        return f"every {describe_ms(self.every_ms)}"

    @property
    def every(self) -> timedelta | None:
        return None if self.every_ms is None else timedelta(milliseconds=self.every_ms)

    def _cron(self, ms: int) -> croniter:
        assert self.cron is not None
        from zoneinfo import ZoneInfo

        from croniter import croniter

        return croniter(self.cron, datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(self.timezone)))

    def after(self, ms: int) -> int:
        """The first tick strictly after ``ms``."""
        if self.every_ms is not None:
            return (ms // self.every_ms + 1) * self.every_ms
        return _ms(self._cron(ms).get_next(datetime))

    def before(self, ms: int) -> int:
        """The last tick strictly before ``ms``."""
        if self.every_ms is not None:
            return (ms - 1) // self.every_ms * self.every_ms
        return _ms(self._cron(ms).get_prev(datetime))

    def latest(self, ms: int) -> int:
        """The last tick at or before ``ms``."""
        return self.before(ms + 1)


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def describe_ms(ms: int) -> str:
    """An interval in words: ``1 s``, ``90 s``, ``5 min``, ``2 h``, ``1 d``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms / 1000:g} s"


def tick_id(schedule_id: str, tick_ms: int) -> str:
    """The id of the workflow a schedule starts for a tick."""
    return f"{schedule_id}@{iso(tick_ms)}"


def iso(ms: int) -> str:
    """UTC ISO 8601 with a ``Z`` (milliseconds only when there are some)."""
    text = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def ticks_to_start(
    timing: Timing, catchup: Catchup, next_at: int, now: int
) -> tuple[list[int], bool]:
    """For a schedule whose first unstarted tick is ``next_at``: the ticks to start at ``now``
    by the catch-up policy, oldest first, and whether due ticks were passed over."""
    latest = timing.latest(now)
    if latest < next_at:
        return [], False
    earlier_due = timing.before(latest) >= next_at
    if catchup == Catchup.ALL:
        ticks = [latest]
        while len(ticks) <= MAX_CATCHUP:
            earlier = timing.before(ticks[-1])
            if earlier < next_at:
                break
            ticks.append(earlier)
        return sorted(ticks[:MAX_CATCHUP]), len(ticks) > MAX_CATCHUP
    if catchup == Catchup.SKIP and now - latest > MISFIRE_GRACE_MS:
        return [], True
    return [latest], earlier_due


class ScheduleInfo(Frozen):
    """A schedule as stored: its definition, its next and last ticks, where it came from
    (``"code"``: ``Engine(schedules=...)``; ``"api"``: the CLI, REST API or UI)."""

    id: str
    workflow: str
    version: str
    args: list[JSONValue]
    cron: str | None
    every: timedelta | None
    timezone: str
    catchup: Catchup
    queue: str | None
    paused: bool
    next_run_at: datetime | None  # None while paused
    last_run_at: datetime | None
    last_workflow_id: str | None
    source: str
    created_at: datetime
    updated_at: datetime

    @property
    def timing(self) -> str:
        """``cron '0 9 * * *' (Europe/Paris)`` or ``every 1 h``, for people."""
        every = None if self.every is None else int(self.every.total_seconds() * 1000)
        return str(Timing(self.cron, every, self.timezone))


__all__ = ["MAX_CATCHUP", "Catchup", "Schedule", "ScheduleInfo", "Timing", "tick_id"]
