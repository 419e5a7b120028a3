"""The workflow context: the durable operations a workflow's code calls (the user's verbs).

Every verb is a durable operation on the run's :class:`~plait.journal.Journal` (see there
for reserve, replay, record, park and interrupts): ``sleep``, ``sleep_until``,
``wait_for_signal``, ``start_child``/``child`` (:mod:`plait.children`), ``ask_human``
(:mod:`plait.human.ask`), the recorded values ``now``/``uuid``/``random``, ``patched``,
``deprecate_patch``, ``set_status`` and ``continue_as_new``. Each reserves its position
when called, not when awaited, so ``asyncio.gather`` of operations is deterministic.

``Context`` holds no run state of its own: the journal does, and decides how the run ends.
"""

from __future__ import annotations

import json
import logging
import random as _random
from collections.abc import Collection, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from plait.children import ChildHandle
from plait.children import child as _child
from plait.children import start_child as _start_child
from plait.clock import duration_ms, to_ms
from plait.definitions import WorkflowDef
from plait.errors import ConfigurationError, SerializationError, WaitTimeout, check_text
from plait.human.ask import ask_human as _ask_human
from plait.human.forms import OnTimeout
from plait.journal import ContinueAsNew, Journal, mark
from plait.store.records import RESERVED_PREFIX
from plait.types import Duration

if TYPE_CHECKING:
    import uuid as _uuid

    from plait.ai.context import AIContext
    from plait.human.approval import Approval

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("plait.workflow")


class _ReplayAwareLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def __init__(self, logger: logging.Logger, journal: Journal) -> None:
        super().__init__(logger, {"workflow_id": journal.workflow_id})
        self._journal = journal

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return not self._journal.is_replaying and self.logger.isEnabledFor(level)


def _type_name(annotation: Any) -> str:
    return str(getattr(annotation, "__qualname__", annotation))


def _check_workflow(wf: object, verb: str) -> None:
    if not isinstance(wf, WorkflowDef):
        raise ConfigurationError(f"{verb} takes a @plait.workflow, not {wf!r}")


def _check_subject(subject: object) -> None:
    if subject is not None and (not isinstance(subject, str) or not subject):
        raise ConfigurationError(f"subject= must be a non-empty string, not {subject!r}")


class Context:
    """Handed to every workflow run: the durable operations a workflow may perform."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.workflow_id = journal.workflow_id
        self.workflow_name = journal.workflow_name
        self.queue = journal.queue
        self.attempt = journal.attempt
        self.logger: logging.LoggerAdapter[logging.Logger] = _ReplayAwareLogger(log, journal)

    @property
    def ai(self) -> AIContext:
        """The AI layer's verbs, journaled: ``await ctx.ai.chat(model, messages, ...)``,
        ``await ctx.ai.run_tools(...)`` (see docs/ai.md; loaded on first use)."""
        from plait.ai.context import AIContext

        return AIContext(self._journal)

    @property
    def is_replaying(self) -> bool:
        """True while the run is re-reading operations the journal already holds."""
        return self._journal.is_replaying

    @property
    def idempotency_key(self) -> str:
        """``"<workflow_id>:<seq>"`` of the next durable operation: the same on every replay,
        so an external API given it (e-mail Message-ID, payment key) acts once."""
        return f"{self.workflow_id}:{self._journal.next_seq}"

    # -- timers --------------------------------------------------------------------------
    def sleep(self, duration: Duration) -> Coroutine[Any, Any, None]:
        """Sleeps durably (days are fine): the workflow suspends and costs nothing meanwhile."""
        wake = self._journal.now_ms() + duration_ms(duration, "ctx.sleep(duration)")
        return self._sleep(wake)

    def sleep_until(self, when: datetime) -> Coroutine[Any, Any, None]:
        """Sleeps durably until ``when`` (an aware datetime; naive is taken as UTC)."""
        return self._sleep(to_ms(when))

    def _sleep(self, wake_at: int) -> Coroutine[Any, Any, None]:
        j = self._journal
        seq, entry = j.reserve("sleep", "sleep")

        async def run() -> None:
            try:
                await j.wait(seq, entry, "sleep", "sleep", (), wake_at)
            finally:
                j.done()

        return run()

    # -- signals -------------------------------------------------------------------------
    @overload
    def wait_for_signal(
        self, name: str, *, timeout: Duration | None = None, type: type[T]
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def wait_for_signal(
        self, name: str, *, timeout: Duration | None = None, type: None = None
    ) -> Coroutine[Any, Any, Any]: ...

    @overload
    def wait_for_signal(
        self, name: Sequence[str], *, timeout: Duration | None = None, type: Any = None
    ) -> Coroutine[Any, Any, tuple[str, Any]]: ...

    def wait_for_signal(
        self, name: str | Sequence[str], *, timeout: Duration | None = None, type: Any = None
    ) -> Coroutine[Any, Any, Any]:
        """Waits durably for a signal sent with ``engine.signal``; returns its payload
        (decoded as ``type``), or ``(name, payload)`` when given several names.
        Signals sent before the wait are kept. Raises ``plait.WaitTimeout`` after
        ``timeout``."""
        names = (name,) if isinstance(name, str) else tuple(name)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigurationError("wait_for_signal needs a signal name or a list of names")
        if any(n.startswith(RESERVED_PREFIX) for n in names):
            raise ConfigurationError(
                f"signal names starting with {RESERVED_PREFIX!r} are reserved for plait"
            )
        j = self._journal
        wake = None if timeout is None else j.now_ms() + duration_ms(timeout, "timeout")
        seq, entry = j.reserve("signal", ",".join(names))

        async def run() -> Any:
            try:
                out = await j.wait(seq, entry, "signal", ",".join(names), names, wake)
                assert out is not None
                if out.get("timeout"):
                    raise mark(
                        WaitTimeout(
                            f"no signal {' or '.join(repr(n) for n in names)} reached workflow "
                            f"{self.workflow_id!r} before its timeout"
                        ),
                        seq,
                    )
                try:
                    payload = j.engine.codec.decode(
                        out["payload"], type if type is not None else Any, what="x"
                    )
                except SerializationError:
                    # The sender's mistake, not the code's: raised in the workflow (which may
                    # catch it); resuming a workflow failed by it waits for a new signal.
                    raise mark(
                        SerializationError(
                            f"signal {out['signal']!r} sent to workflow {self.workflow_id!r} "
                            f"carried a payload that does not fit {_type_name(type)}: "
                            f"{out['payload']}"
                        ),
                        seq,
                    ) from None
                return payload if isinstance(name, str) else (out["signal"], payload)
            finally:
                j.done()

        return run()

    # -- children ----------------------------------------------------------------------
    def start_child(
        self,
        wf: WorkflowDef[..., R],
        *args: Any,
        queue: str | None = None,
        subject: str | None = None,
    ) -> Coroutine[Any, Any, ChildHandle]:
        """Starts a child workflow (id ``"<parent id>:<seq>"``); returns its handle.
        ``subject`` names the person the child is about (default: the parent's)."""
        _check_workflow(wf, "start_child")
        _check_subject(subject)
        wf.bind(args)
        return _start_child(self._journal, wf, args, queue, subject)

    def child(
        self,
        wf: WorkflowDef[..., R],
        *args: Any,
        queue: str | None = None,
        subject: str | None = None,
    ) -> Coroutine[Any, Any, R]:
        """Starts a child workflow and waits durably for its result (``subject`` as for
        ``start_child``)."""
        _check_workflow(wf, "start_child")
        _check_subject(subject)
        wf.bind(args)
        return _child(self._journal, wf, args, queue, subject)

    # -- human tasks (plait/human/ask.py) ----------------------------------------------------
    @overload
    def ask_human(
        self,
        title: str,
        *,
        form: None = None,
        proposal: Approval | Mapping[str, object] | None = None,
        context: Mapping[str, object] | None = None,
        assignee: str | None = None,
        due: Duration | datetime | None = None,
        on_timeout: OnTimeout = "raise",
        remind: Duration | Collection[Duration] | None = None,
    ) -> Coroutine[Any, Any, Approval]: ...

    @overload
    def ask_human(
        self,
        title: str,
        *,
        form: type[T],
        proposal: T | Mapping[str, object] | None = None,
        context: Mapping[str, object] | None = None,
        assignee: str | None = None,
        due: Duration | datetime | None = None,
        on_timeout: OnTimeout = "raise",
        remind: Duration | Collection[Duration] | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    def ask_human(
        self,
        title: str,
        *,
        form: type[Any] | None = None,
        proposal: object = None,
        context: Mapping[str, object] | None = None,
        assignee: str | None = None,
        due: Duration | datetime | None = None,
        on_timeout: OnTimeout = "raise",
        remind: Duration | Collection[Duration] | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Asks a person, or anyone in a group (``assignee``), and waits durably for the
        answer: an instance of ``form`` (a Pydantic model or dataclass), or
        ``plait.Approval`` without one. ``proposal`` is offered for editing; the task keeps
        it, the answer and the fields that changed. ``context`` is shown with the task.
        ``due`` (a duration or a datetime) with ``on_timeout``: ``"raise"``
        (``plait.WaitTimeout``), ``plait.Default(value)`` or ``plait.Escalate(to=...,
        due=...)``. ``remind`` (durations before the deadline) records ``reminded`` task
        events the application turns into e-mails."""
        return _ask_human(
            self._journal,
            title,
            form=form,
            proposal=proposal,
            context=context,
            assignee=assignee,
            due=due,
            on_timeout=on_timeout,
            remind=remind,
        )

    # -- recorded values ---------------------------------------------------------------
    def now(self) -> datetime:
        """The current time, journaled: the same value on every replay."""
        j = self._journal
        return j.value(  # type: ignore[no-any-return]
            "now", lambda: datetime.fromtimestamp(j.now_ms() / 1000, tz=UTC), datetime
        )

    def uuid(self) -> _uuid.UUID:
        """A random UUID, journaled."""
        import uuid  # here: with platform, ~2 ms a process that never asks for one paid

        return self._journal.value("uuid", uuid.uuid4, uuid.UUID)  # type: ignore[no-any-return]

    def random(self) -> float:
        """A random float in [0, 1), journaled."""
        return self._journal.value("random", _random.random, float)  # type: ignore[no-any-return]

    def patched(self, patch_id: str) -> bool:
        """True where new code runs: in new runs, and in runs that reached this point with
        the patch. False in runs that passed this point before the patch existed."""
        return self._journal.patched(patch_id)

    def deprecate_patch(self, patch_id: str) -> None:
        """The second deploy of a change guarded by ``patched(patch_id)``, once every
        workflow that took the old path has ended: the code runs only the new path; a
        ``patch`` marker of ``patch_id`` recorded at this point is passed over on replay,
        and new runs record nothing. Remove the call in a third deploy, once the workflows
        that recorded the marker have ended too (docs/operations.md)."""
        self._journal.deprecate_patch(patch_id)

    def set_status(self, text: str | None, **attributes: str | int | float | bool) -> None:
        """Records what the workflow is doing ("scored 12/25", stage="outreach");
        ``engine.list(...)`` filters on the attributes."""
        if text is not None:
            check_text(text, "ctx.set_status(text)")
        self._journal.set_status(text, json.dumps({k: v for k, v in attributes.items()}))

    # -- the end -------------------------------------------------------------------------
    def continue_as_new(self, *args: Any) -> NoReturn:
        """Ends this run and starts the workflow again with ``args`` and a fresh journal, in
        one transaction (same id; a loop that would grow its journal without end). Raises,
        so nothing after it runs; the finished runs are listed by ``engine.runs(id)``."""
        j = self._journal
        wf = j.engine.registry.get((j.workflow_name, j.workflow_version))
        if wf is None:  # the worker runs only registered workflows
            raise ConfigurationError(f"workflow {j.workflow_name!r} is not registered here")
        _, sealed, input_hash = j.engine.encode_input(wf, args)
        raise ContinueAsNew(sealed, input_hash)
