"""The application of the token-streaming test: a workflow that waits for the signal "go",
then asks a model for a haiku. ``PLAIT_SERVER_DB`` names the database, ``PLAIT_TEST_MODEL``
the model (an OpenAI-compatible test server on loopback)."""

from __future__ import annotations

import os

import plait


@plait.workflow
async def haiku(ctx: plait.Context, topic: str) -> str:
    await ctx.wait_for_signal("go")
    answer = await ctx.ai.chat(None, f"A haiku about {topic}", name="haiku")
    return answer.text or ""


engine = plait.Engine(
    os.environ.get("PLAIT_SERVER_DB", "sqlite:///server-ai-test.db"),
    workflows=[haiku],
    model=os.environ.get("PLAIT_TEST_MODEL"),
)
