"""The weighted limiter (``plait.limit(..., tokens_per_minute=)``, ``acquire(tokens=)``,
``settle``) and its use around every model attempt (``Engine(ai_limits=...)``). Its state
is in the store, so it holds across engines and workers. Fake clock, both backends."""

from __future__ import annotations

import pytest

import plait
import plait.ai
from plait.testing import TestEngine

from .scripted import Scripted, says


async def _entered(lim: plait.Limit, engine: TestEngine, tokens: int, used: int | None) -> int:
    async with lim.acquire(tokens, engine=engine) as held:
        at = engine.clock.now_ms()
        if used is not None:
            held.settle(used)
    return at


async def test_a_weighted_acquire_reserves_then_settles(test_engine: TestEngine) -> None:
    lim = plait.limit("model:x", tokens_per_minute=6000)
    per_token = (60_000 + 50) / 6000  # ms of the token rate per token (with the lateness share)
    t0 = test_engine.clock.now_ms()
    assert await _entered(lim, test_engine, 3000, used=600) == t0
    # 3,000 were reserved but 600 used: the rest was given back, so the next may start after
    # 600 tokens' time, not 3,000's.
    assert await _entered(lim, test_engine, 3000, used=None) == t0 + round(600 * per_token)
    # Not settled (the call failed without a count): the reservation stands.
    assert await _entered(lim, test_engine, 1, used=None) == t0 + round(3600 * per_token)
    assert await _entered(lim, test_engine, 0, used=None) == t0 + round(3600 * per_token)


async def test_the_token_rate_holds_across_engines(
    test_engine: TestEngine, plait_backend: str
) -> None:
    other = TestEngine(test_engine.url)  # another process's engine on the same database
    async with other:
        lim = plait.limit("model:y", tokens_per_minute=60_000)
        t0 = test_engine.clock.now_ms()
        assert await _entered(lim, test_engine, 30_000, used=30_000) == t0
        # The other engine's clock starts at the same time: its call waits for the first's
        # 30,000 tokens (half a minute, plus the lateness share).
        assert await _entered(lim, other, 1000, used=1000) == t0 + 30_025


def test_limits_refuse_bad_settings() -> None:
    with pytest.raises(plait.ConfigurationError, match="tokens_per_minute= or tokens="):
        plait.limit("k", tokens_per_minute=10, tokens=plait.Rate(10))
    with pytest.raises(plait.ConfigurationError, match="whole number >= 0"):
        plait.limit("k", tokens_per_minute=10).acquire(-1)
    with pytest.raises(plait.ConfigurationError, match="takes plait.limit"):
        plait.Engine("sqlite:///:memory:", ai_limits=["openai:gpt-4o"])  # type: ignore[list-item]


@plait.workflow
async def three_calls(ctx: plait.Context) -> int:
    for i in range(3):
        await ctx.ai.chat(None, f"question {i}", max_tokens=200)
    return 3


async def test_model_calls_are_spaced_by_the_models_limit(test_engine: TestEngine) -> None:
    model = Scripted(says("answer"))  # each answer: 1,000 tokens in, 100 out
    test_engine.register(three_calls)
    test_engine.model = model
    lim = plait.limit("test:scripted", per_minute=1000, tokens_per_minute=60_000)
    test_engine.ai_limits = {lim.key: lim}
    t0 = test_engine.clock.now_ms()
    await test_engine.start(three_calls, id="t")
    await test_engine.run_until_idle()
    rows = await test_engine.ledger("t")
    # Each attempt reserved its estimate, then settled the 1,100 tokens it used: the next
    # starts 1,100 tokens' time (1,101 ms) later, not the estimate's.
    assert [r.at - t0 for r in rows] == [0, 1101, 2202]
    assert model.calls == 3
