"""Engine methods for operators: costs and the ledger, replay checks before a deploy,
re-encryption after a key rotation, and erasure of one person's data."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from plait.errors import ConfigurationError
from plait.types import ErasureReport

if TYPE_CHECKING:
    from pathlib import Path

    from plait.ai.ledger import Costs
    from plait.clock import Clock
    from plait.engine import Engine
    from plait.rekey import RekeyReport
    from plait.replaycheck import ReplayReport
    from plait.store import Store
    from plait.store.records import LedgerRow
    from plait.wakeups import Endings


class OperationsAPI:
    """Operator methods of :class:`~plait.engine.Engine`."""

    if TYPE_CHECKING:  # provided by Engine
        store: Store
        clock: Clock
        endings: Endings

        def wake(self, queue: str | None = None) -> None: ...

    async def costs(self, workflow_id: str | None = None, *, by: str = "model") -> Costs:
        """What model calls cost (the cost ledger), per model (the one that answered),
        ``"workflow"`` or ``"step"``; of one workflow or of all. Replays cost nothing."""
        from plait.ai.ledger import costs

        return await costs(cast("Engine", self), workflow_id, by=by)

    async def ledger(self, workflow_id: str) -> builtins.list[LedgerRow]:
        """The workflow's model-call attempts (the cost ledger's rows), oldest first."""
        from plait.ai.ledger import rows

        return await rows(cast("Engine", self), workflow_id)

    async def replay_check(
        self,
        *,
        workflow_ids: Sequence[str] = (),
        name: str | None = None,
        golden: Sequence[str | Path] = (),
    ) -> ReplayReport:
        """Replays journals with this engine's code, without side effects: would the in-flight
        workflows (or ``workflow_ids``, or the golden journal files ``golden``) replay, or
        block? See :mod:`plait.replaycheck`."""
        from plait.replaycheck import replay_check

        return await replay_check(
            cast("Engine", self), workflow_ids=workflow_ids, name=name, golden=golden
        )

    async def rekey(self, *, batch_size: int = 500, dry_run: bool = False) -> RekeyReport:
        """Re-encrypts every stored payload and blob not under the current encryption key
        (in batches, each atomic; safe to interrupt and run again); after it, older keys
        can be removed. ``dry_run`` counts without writing."""
        from plait.rekey import rekey

        return await rekey(cast("Engine", self), batch_size=batch_size, dry_run=dry_run)

    async def erase_subject(self, subject: str, *, by: str = "system") -> ErasureReport:
        """Erases every payload about one person: the inputs, outputs, step results, signals
        and human-task proposals, contexts and answers of the workflows started with
        ``subject=`` (and their children), their blobs and the records filed under it. An
        unfinished workflow is cancelled first (without running its cleanup code: its data
        is what goes). Kinds, names, times and statuses stay, and each workflow's event log
        gets an ``erased`` event saying who erased it and when."""
        check_by(by)
        if not isinstance(subject, str) or not subject:
            raise ConfigurationError(f"erase_subject() needs a subject, not {subject!r}")
        report = await self.store.erase_subject(subject, by, self.clock.now_ms())
        if report.cancelled:
            self.wake()
            self.endings.fire()
        return report


def check_by(by: str) -> None:
    """``by=`` names who acts: a user name or ``"system"``."""
    if not isinstance(by, str) or not by:
        raise ConfigurationError(f"by= names who acts (a user name or 'system'), not {by!r}")
