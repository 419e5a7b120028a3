"""``/api/costs`` and ``/api/workflows/{id}/costs``: what model calls cost (the cost ledger).

The sums come from the engine (``engine.costs``, ``engine.ledger``): tokens in and out and
USD per attempt of a model call, failed attempts and re-asks included, replays costing
nothing. Reads need the viewer role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from plait.ai import CostLine
from plait.server.api.common import engine_of as _engine
from plait.server.api.models import NO_NUL
from plait.server.api.workflows import Viewer, WorkflowId
from plait.server.auth import verify_csrf
from plait.server.errors import responses
from plait.server.ledger import CallCost, call_costs, when

router = APIRouter(tags=["costs"], dependencies=[Depends(verify_csrf)])
By = Literal["model", "workflow", "step"]


class CostLineModel(BaseModel):
    """Model-call attempts summed under one key: a model (the one that answered), a
    workflow id, a step name, or ``total``."""

    key: str
    attempts: int = Field(description="requests sent, failed ones and re-asks included")
    failed: int = Field(
        description="attempts whose answer was not used: errors (retried or handed to a "
        "fallback) and answers that did not fit the output type (asked again)"
    )
    input_tokens: int
    output_tokens: int
    cost_usd: float


class CostsModel(BaseModel):
    """The cost ledger summed ``by`` model, workflow or step; of one workflow or of all."""

    by: By
    workflow_id: str | None
    lines: list[CostLineModel] = Field(description="most expensive first")
    total: CostLineModel


class ModelAttemptModel(BaseModel):
    """One request of a model call: who was asked, who answered, tokens, cost, how it went
    (``ok``, ``invalid_output`` before a re-ask, or the error's class name)."""

    seq: int | None = Field(
        description="the call's journal position (a step's, for a call made inside a step)"
    )
    step: str
    model: str = Field(description="the model asked")
    answered_by: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    outcome: str
    reask: int = Field(description="0 for the first request of a call, then 1, 2, ...")
    latency_ms: float
    at: datetime


class ModelCallModel(BaseModel):
    """One model call: its attempts summed."""

    seq: int | None
    step: str
    answered_by: str | None = Field(description="the model whose answer was used")
    models: list[str] = Field(description="every model asked, in order (fallbacks too)")
    attempts: int = Field(description="requests sent for this call")
    failed: int = Field(description="requests that raised (retried or handed to a fallback)")
    reasks: int = Field(description="answers that did not fit the output type, asked again")
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float = Field(description="time spent in the model, every request summed")


class WorkflowCostsModel(BaseModel):
    """A workflow's model calls: per call, per model, the total, and every attempt."""

    workflow_id: str
    calls: list[ModelCallModel]
    by_model: list[CostLineModel]
    total: CostLineModel
    attempts: list[ModelAttemptModel]


def _line(line: CostLine) -> CostLineModel:
    return CostLineModel(
        key=line.key,
        attempts=line.attempts,
        failed=line.failed,
        input_tokens=line.input_tokens,
        output_tokens=line.output_tokens,
        cost_usd=line.cost_usd,
    )


def _call(c: CallCost) -> ModelCallModel:
    return ModelCallModel(
        seq=c.seq,
        step=c.step,
        answered_by=c.answered_by,
        models=c.models,
        attempts=c.attempts,
        failed=c.failed,
        reasks=c.reasks,
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        cost_usd=c.cost_usd,
        latency_ms=c.latency_ms,
    )


@router.get(
    "/api/costs",
    summary="what model calls cost, summed by model, workflow or step",
    description="`by`: `model` (the one that answered), `workflow` or `step`; `workflow_id` "
    "limits the sums to one workflow.",
    responses=responses(401, 403, 404, 422),
)
async def costs(
    request: Request,
    user: Viewer,
    by: By = "model",
    workflow_id: Annotated[str | None, Query(min_length=1, max_length=500, pattern=NO_NUL)] = None,
) -> CostsModel:
    found = await _engine(request).costs(workflow_id, by=by)
    return CostsModel(
        by=by,
        workflow_id=found.workflow_id,
        lines=[_line(x) for x in found.lines],
        total=_line(found.total),
    )


@router.get(
    "/api/workflows/{workflow_id}/costs",
    summary="one workflow's model calls: tokens, cost, who answered, failed attempts, re-asks",
    responses=responses(401, 403, 404, 422),
)
async def workflow_costs(
    request: Request, user: Viewer, workflow_id: WorkflowId
) -> WorkflowCostsModel:
    engine = _engine(request)
    rows = await engine.ledger(workflow_id)  # WorkflowNotFound: 404
    by_model = await engine.costs(workflow_id, by="model")
    summed = call_costs(rows)
    return WorkflowCostsModel(
        workflow_id=workflow_id,
        calls=[_call(c) for c in summed.calls],
        by_model=[_line(x) for x in by_model.lines],
        total=_line(by_model.total),
        attempts=[
            ModelAttemptModel(
                seq=r.seq,
                step=r.step,
                model=r.model,
                answered_by=r.answered_by,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
                outcome=r.outcome,
                reask=r.reask,
                latency_ms=r.latency_ms,
                at=when(r.at),
            )
            for r in rows
        ],
    )
