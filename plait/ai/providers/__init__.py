"""The chat model providers: OpenAI-compatible servers, Anthropic, and a LangChain adapter.

Importing this package needs the ``ai`` extra (``httpx``); ``LangChainModel`` needs the
``langchain`` extra only when one is made.
"""

from plait.ai.providers.anthropic import AnthropicModel
from plait.ai.providers.langchain import LangChainModel
from plait.ai.providers.openai import OpenAIModel

__all__ = ["AnthropicModel", "LangChainModel", "OpenAIModel"]
