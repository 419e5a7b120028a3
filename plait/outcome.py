"""How one run of a workflow ended: the explicit outcome the worker settles.

A run (one claim of a workflow, from replaying its journal to the point where it stops)
ends in exactly one of these; :meth:`plait.journal.Journal.conclude` decides which, and
``Worker`` settles each with one ``match`` arm:

- :class:`Completed`: the workflow returned; ``output`` is its encoded result.
- :class:`Failed`: the workflow raised (or its result could not be encoded).
- :class:`Blocked`: the code does not replay its journal, or a recorded value no longer
  decodes; the workflow waits for a fix and ``engine.resume``.
- :class:`Cancelled`: a delivered cancellation escaped the workflow.
- :class:`Suspended`: every operation in flight waits; ``wait`` is what wakes it.
  ``recorded`` when a lone wait already suspended it in its own transaction.
- :class:`Released`: the worker is stopping; the workflow is handed back unchanged.
- :class:`ContinuedAsNew`: ``ctx.continue_as_new(*args)``; a new run with ``args`` and a
  fresh journal replaces this one.

A lost lease is not an outcome: the run raises, and nothing is written.
"""

from __future__ import annotations

from plait.errors import PlaitError
from plait.frozen import Frozen
from plait.store.records import Wait


class Completed(Frozen):
    output: str | None


class Failed(Frozen):
    error: BaseException


class Blocked(Frozen):
    error: PlaitError


class Cancelled(Frozen):
    pass


class Suspended(Frozen):
    wait: Wait
    recorded: bool = False


class Released(Frozen):
    pass


class ContinuedAsNew(Frozen):
    input: str  # the new run's arguments, sealed as the store keeps them
    input_hash: str


Outcome = Completed | Failed | Blocked | Cancelled | Suspended | Released | ContinuedAsNew

__all__ = [
    "Blocked",
    "Cancelled",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Outcome",
    "Released",
    "Suspended",
]
