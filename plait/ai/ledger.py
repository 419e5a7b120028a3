"""The cost ledger of model calls: what each attempt cost, and the sums people read.

Each attempt of a model call made in workflow code is a row (``plait.store.records.LedgerRow``,
table ``model_ledger``): the workflow, the call's journal position and name, the model asked
and the one that answered, tokens in and out, the cost at the prices in force, how it went
(``ok``, ``invalid_output`` before a re-ask, or the error's class name) and the re-ask
number. The answering attempt's row is written in the transaction that journals the call;
failed attempts and re-asks as they happen. Replays write none: a replay costs nothing.

``engine.costs(workflow_id=None, by="model"|"workflow"|"step")`` and ``plait costs`` read
the sums; ``engine.ledger(workflow_id)`` the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plait.errors import ConfigurationError
from plait.frozen import Frozen
from plait.store.records import LEDGER_GROUPS, LedgerRow, LedgerTotal

if TYPE_CHECKING:
    from plait.engine import Engine


class CostLine(Frozen):
    """Model-call attempts summed under one key (a model, a workflow id, a step name)."""

    key: str
    attempts: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class Costs(Frozen):
    """``engine.costs(...)``: one line per key, most expensive first, and their total."""

    by: str
    workflow_id: str | None
    lines: tuple[CostLine, ...]
    total: CostLine


def _line(t: LedgerTotal) -> CostLine:
    return CostLine(t.key, t.attempts, t.failed, t.input_tokens, t.output_tokens, t.cost_usd)


async def costs(engine: Engine, workflow_id: str | None = None, *, by: str = "model") -> Costs:
    """What model calls cost, grouped ``by`` model (the one that answered), workflow or step;
    of one workflow or of all."""
    if by not in LEDGER_GROUPS:
        raise ConfigurationError(f"costs(by=...) is one of {', '.join(LEDGER_GROUPS)}, not {by!r}")
    if workflow_id is not None:
        await engine.get(workflow_id)  # WorkflowNotFound for a wrong id
    lines = tuple(_line(t) for t in await engine.store.ledger_totals(workflow_id, by))
    total = CostLine(
        "total",
        sum(x.attempts for x in lines),
        sum(x.failed for x in lines),
        sum(x.input_tokens for x in lines),
        sum(x.output_tokens for x in lines),
        sum(x.cost_usd for x in lines),
    )
    return Costs(by, workflow_id, lines, total)


async def rows(engine: Engine, workflow_id: str) -> list[LedgerRow]:
    """The workflow's ledger rows, oldest first."""
    await engine.get(workflow_id)
    return await engine.store.ledger(workflow_id)


__all__ = ["CostLine", "Costs", "LedgerRow", "costs", "rows"]
