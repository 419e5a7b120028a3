"""Human tasks: a workflow asks a person (``ctx.ask_human``) and waits durably; people answer
through the engine (``engine.complete_task``).

- :mod:`plait.human.forms`: answers (:class:`Approval`), deadline policies, form specs.
- :mod:`plait.human.records`: :class:`HumanTask`, :class:`TaskEvent`, statuses.
- :mod:`plait.human.directory`: who belongs to which group, who is an admin.
- :mod:`plait.human.ask`: ``ask_human``, the durable operation inside a workflow.
- :mod:`plait.human.inbox`: :class:`TaskAPI`, the engine's task methods.
"""

from typing import TYPE_CHECKING, Any

from plait.human.directory import Directory
from plait.human.forms import Default, Escalate, OnTimeout
from plait.human.records import FieldChange, HumanTask, TaskEvent, TaskEventKind, TaskStatus

if TYPE_CHECKING:
    from plait.human.approval import Approval


def __getattr__(name: str) -> Any:
    # Approval is loaded on first use (plait/human/approval.py says why).
    if name == "Approval":
        from plait.human.approval import Approval

        return Approval
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Approval",
    "Default",
    "Directory",
    "Escalate",
    "FieldChange",
    "HumanTask",
    "OnTimeout",
    "TaskEvent",
    "TaskEventKind",
    "TaskStatus",
]
