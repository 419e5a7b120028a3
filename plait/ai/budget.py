"""Prices, cost estimates and the per-workflow budget of model calls.

A :class:`Prices` table maps model names (``provider:model``) to a :class:`Price` in USD per
million tokens; ``Engine(prices=...)`` adds to (or overrides) :data:`DEFAULT_PRICES`. A
model's price is looked up by its exact name, then without its ``@URL``, then by
``provider:*``; a model with no price costs 0 and is logged once, so a ledger never
silently claims an unknown model is free without saying so.

A budget (``chat(..., budget_usd=)`` or ``Engine(ai_budget_usd=)``) bounds what one workflow's
model calls may cost in all. Before each request is sent, what the workflow has spent (its
ledger) plus the estimate of this request (its input at ~4 characters a token, its output
at ``max_tokens`` or :data:`DEFAULT_OUTPUT_ESTIMATE`) must fit in it; otherwise
``BudgetExceeded`` is raised and nothing is sent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping

from plait.ai.model import Model
from plait.ai.types import ChatRequest, Usage
from plait.errors import ConfigurationError
from plait.frozen import Frozen

log = logging.getLogger("plait.ai")

DEFAULT_OUTPUT_ESTIMATE = 1024
"""Output tokens assumed for a budget check when the request sets no ``max_tokens``."""
CHARS_PER_TOKEN = 4


class Price(Frozen):
    """What a model costs, in USD per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        for value, what in ((self.input_per_mtok, "input"), (self.output_per_mtok, "output")):
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(f"Price({what}_per_mtok=...) must be >= 0, got {value!r}")

    def cost(self, usage: Usage) -> float:
        """The cost of ``usage`` in USD."""
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000


FREE = Price(0, 0)

DEFAULT_PRICES: dict[str, Price] = {
    "offline": FREE,
    "ollama:*": FREE,
    "openai:gpt-4o-mini": Price(0.15, 0.60),
    "openai:gpt-4o": Price(2.50, 10.00),
    "openai:gpt-4.1": Price(2.00, 8.00),
    "openai:gpt-4.1-mini": Price(0.40, 1.60),
    "openai:gpt-4.1-nano": Price(0.10, 0.40),
    "anthropic:claude-3-5-haiku-latest": Price(0.80, 4.00),
    "anthropic:claude-haiku-4-5": Price(1.00, 5.00),
    "anthropic:claude-sonnet-4-5": Price(3.00, 15.00),
    "anthropic:claude-opus-4-1": Price(15.00, 75.00),
}
"""Published list prices (USD per million tokens) of a few well-known models, as of 2025;
check your provider's and pass ``Engine(prices=Prices({...}))`` for the ones you use."""


class Prices(Mapping[str, Price]):
    """A price table: ``Prices({"openai:gpt-4o-mini": Price(0.15, 0.60)})``. The defaults
    are included unless ``defaults=False``; the entries given win."""

    def __init__(self, table: Mapping[str, Price] | None = None, *, defaults: bool = True) -> None:
        merged = dict(DEFAULT_PRICES) if defaults else {}
        for name, price in (table or {}).items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"a price table's keys are model names, not {name!r}")
            if not isinstance(price, Price):
                raise ConfigurationError(
                    f"the price of {name!r} must be a plait.ai.Price, not {price!r}"
                )
            merged[name] = price
        self._table = merged
        self._unpriced: set[str] = set()

    def __getitem__(self, name: str) -> Price:
        return self._table[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def price(self, model: str) -> Price | None:
        """The price of ``model``: exact, then without ``@URL``, then ``provider:*``."""
        bare = model.split("@", 1)[0]
        for key in (model, bare, bare.split(":", 1)[0] + ":*"):
            if key in self._table:
                return self._table[key]
        return None

    def cost(self, model: str, usage: Usage) -> float:
        """What ``usage`` of ``model`` costs in USD (0, logged once, when it has no price)."""
        price = self.price(model)
        if price is None:
            if model not in self._unpriced:
                self._unpriced.add(model)
                log.warning(
                    "model %r has no price: its calls are recorded at 0 USD; give it one "
                    "with Engine(prices=plait.ai.Prices({%r: plait.ai.Price(...)}))",
                    model,
                    model,
                )
            return 0.0
        return price.cost(usage)


def members(model: Model) -> list[str]:
    """The names of the models a call may reach: a fallback's members, or the model."""
    inner = getattr(model, "models", None)
    if isinstance(inner, list | tuple) and inner:
        return [m.name for m in inner if isinstance(m, Model)] or [model.name]
    return [model.name]


def estimate(request: ChatRequest) -> Usage:
    """A cautious guess of a request's usage: its JSON at ~4 characters a token in, and
    ``max_tokens`` (else :data:`DEFAULT_OUTPUT_ESTIMATE`) out."""
    size = len(request.model_dump_json(exclude_defaults=True))
    return Usage(
        input_tokens=math.ceil(size / CHARS_PER_TOKEN),
        output_tokens=request.max_tokens or DEFAULT_OUTPUT_ESTIMATE,
    )


def estimate_cost(prices: Prices, model: Model, request: ChatRequest) -> float:
    """The most the request may cost on any model it may reach (a fallback's dearest)."""
    usage = estimate(request)
    return max(prices.cost(name, usage) for name in members(model))


def check_budget(budget: float | None) -> float | None:
    """``budget_usd=`` checked: ``None`` or a number >= 0."""
    if budget is None:
        return None
    if not isinstance(budget, int | float) or isinstance(budget, bool) or budget < 0:
        raise ConfigurationError(f"budget_usd= must be a number of USD >= 0, got {budget!r}")
    return float(budget)
