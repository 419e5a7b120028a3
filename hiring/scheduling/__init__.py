"""Interview scheduling: the panel, free slots across it, and iCalendar invites."""

from hiring.scheduling.invites import (
    Attendee,
    AttendeeRole,
    Interview,
    InviteSummary,
    cancel,
    interview_uid,
    invite,
    read_invite,
    reschedule,
)
from hiring.scheduling.panel import PanelMember, parse_working_hours
from hiring.scheduling.slots import Slot, busy_blocks, find_slots

__all__ = [
    "Attendee",
    "AttendeeRole",
    "Interview",
    "InviteSummary",
    "PanelMember",
    "Slot",
    "busy_blocks",
    "cancel",
    "find_slots",
    "interview_uid",
    "invite",
    "parse_working_hours",
    "read_invite",
    "reschedule",
]
