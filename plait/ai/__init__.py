"""plait.ai: model calls as durable, typed, budgeted steps; providers; the offline default.

See docs/ai.md.
"""

from plait.ai import stream
from plait.ai.budget import Price, Prices
from plait.ai.call import ChatResult
from plait.ai.chat import chat
from plait.ai.errors import (
    BudgetExceeded,
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
)
from plait.ai.ledger import CostLine, Costs
from plait.ai.model import Embedder, Model
from plait.ai.tools import MaxTurnsExceeded, ToolApproval, ToolRun, run_tools
from plait.ai.toolspec import Tool, tool
from plait.ai.types import ChatRequest, ChatResponse, Message, OnToken, ToolCall, ToolSpec, Usage

__all__ = [
    "BudgetExceeded",
    "ChatRequest",
    "ChatResponse",
    "ChatResult",
    "CostLine",
    "Costs",
    "Embedder",
    "MaxTurnsExceeded",
    "Message",
    "Model",
    "ModelAuthError",
    "ModelBadRequest",
    "ModelError",
    "ModelRateLimited",
    "ModelResponseInvalid",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "OnToken",
    "Price",
    "Prices",
    "Tool",
    "ToolApproval",
    "ToolCall",
    "ToolRun",
    "ToolSpec",
    "Usage",
    "chat",
    "run_tools",
    "stream",
    "tool",
]
