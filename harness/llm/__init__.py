"""The model layer: settings, the wire format of a chat-completions exchange, and the models that speak it.

- `settings`: `ModelSettings` and endpoint URLs (no I/O).
- `chat`: the request body every model sends and the parsing of every answer (a completion, a stream, an
  HTTP error), as plain dicts: the live client and the replay model share them, so what is recorded and
  what is replayed cannot drift apart.
- `embeddings`: the same for an `/embeddings` exchange (archival memory's vectors).
- `openai_client`: the live models, through the official `openai` SDK. Imported only by code that talks
  to a real endpoint: replay never imports it (nor `openai`).
"""

from harness.llm.chat import (
    CallIds,
    ChatModel,
    ChatResponse,
    ToolCall,
    chat_request,
    parse_answer,
    parse_completion,
)
from harness.llm.embeddings import EmbeddingModel, Vector, embedding_request, parse_embeddings
from harness.llm.settings import (
    OPENAI_BASE_URL,
    EmbeddingSettings,
    KeyHeader,
    ModelSettings,
    ToolChoice,
    without_credentials,
)

__all__ = [
    "OPENAI_BASE_URL",
    "CallIds",
    "ChatModel",
    "ChatResponse",
    "EmbeddingModel",
    "EmbeddingSettings",
    "KeyHeader",
    "ModelSettings",
    "ToolCall",
    "ToolChoice",
    "Vector",
    "chat_request",
    "embedding_request",
    "parse_answer",
    "parse_completion",
    "parse_embeddings",
    "without_credentials",
]


def __getattr__(name: str) -> object:
    """`harness.llm.OpenAIChatModel`, `OpenAIEmbeddingModel` (and `NO_KEY`) load the openai SDK on first use
    only."""
    if name in ("OpenAIChatModel", "OpenAIEmbeddingModel", "NO_KEY"):
        from harness.llm import openai_client

        return getattr(openai_client, name)
    raise AttributeError(f"module 'harness.llm' has no attribute '{name}'")
