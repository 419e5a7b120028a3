"""``ctx.ai``: the AI layer's verbs on a workflow's context (``ctx.ai.chat``,
``ctx.ai.run_tools``), the same durable operations as ``plait.ai.chat`` and
``plait.ai.run_tools`` in workflow code. ``plait.Context`` imports this module only when
``ctx.ai`` is first used, so plait's core does not load the AI layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plait.ai.chat import chat
from plait.ai.tools import run_tools

if TYPE_CHECKING:
    from plait.journal import Journal


class AIContext:
    """``ctx.ai``: ``chat`` and ``run_tools`` for this workflow run."""

    chat = staticmethod(chat)
    run_tools = staticmethod(run_tools)

    def __init__(self, journal: Journal) -> None:
        self.workflow_id = journal.workflow_id

    def __repr__(self) -> str:
        return f"<plait.ai for workflow {self.workflow_id!r}>"
