"""Thin adapters over the official provider SDKs, all speaking one streaming interface."""

from moco.providers.base import (
    Finish,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderEvent,
    TextChunk,
    ToolCallReady,
    ToolSchema,
    UsageChunk,
)

__all__ = [
    "Finish",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ProviderEvent",
    "TextChunk",
    "ToolCallReady",
    "ToolSchema",
    "UsageChunk",
]
