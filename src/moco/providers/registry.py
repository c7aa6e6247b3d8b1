"""Known providers: which SDK speaks to them, which variables hold their key and model.

OpenAI-compatible services (OpenRouter, Z.ai, Moonshot, DeepSeek, local servers) are a base
URL, a key variable and a default model on top of the one OpenAI adapter, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from moco.providers.base import Provider, RetryPolicy

Adapter = Literal["openai", "gemini", "anthropic"]


class LLMProvider(StrEnum):
    GEMINI = "gemini"
    OPENAI = "openai"
    OPENROUTER = "openrouter"
    ZAI = "zai"
    ANTHROPIC = "anthropic"
    MOONSHOT = "moonshot"
    DEEPSEEK = "deepseek"
    OLLAMA = "ollama"
    LMSTUDIO = "lmstudio"
    VLLM = "vllm"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    adapter: Adapter
    key_vars: tuple[str, ...]
    model_var: str
    default_model: str
    base_url: str | None = None
    base_url_var: str | None = None
    #: local servers accept any key; moco sends a placeholder
    needs_key: bool = True


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("zai", "openai", ("ZAI_API_KEY",), "ZAI_MODEL", "glm-4.7",
                     "https://api.z.ai/api/paas/v4", "ZAI_BASE_URL"),
        ProviderSpec("openrouter", "openai", ("OPENROUTER_API_KEY",), "OPENROUTER_MODEL",
                     "google/gemini-2.0-flash-001", "https://openrouter.ai/api/v1",
                     "OPENROUTER_BASE_URL"),
        ProviderSpec("gemini", "gemini", ("GENAI_API_KEY", "GEMINI_API_KEY"), "GEMINI_MODEL",
                     "gemini-2.0-flash", None, "GEMINI_BASE_URL"),
        ProviderSpec("openai", "openai", ("OPENAI_API_KEY",), "OPENAI_MODEL", "gpt-4o",
                     None, "OPENAI_BASE_URL"),
        ProviderSpec("anthropic", "anthropic", ("ANTHROPIC_API_KEY",), "ANTHROPIC_MODEL",
                     "claude-sonnet-5-5", None, "ANTHROPIC_BASE_URL"),
        ProviderSpec("moonshot", "openai", ("MOONSHOT_API_KEY",), "MOONSHOT_MODEL",
                     "kimi-k2-0905-preview", "https://api.moonshot.ai/v1", "MOONSHOT_BASE_URL"),
        ProviderSpec("deepseek", "openai", ("DEEPSEEK_API_KEY",), "DEEPSEEK_MODEL",
                     "deepseek-chat", "https://api.deepseek.com", "DEEPSEEK_BASE_URL"),
        ProviderSpec("ollama", "openai", ("OLLAMA_API_KEY",), "OLLAMA_MODEL", "llama3.1",
                     "http://localhost:11434/v1", "OLLAMA_BASE_URL", needs_key=False),
        ProviderSpec("lmstudio", "openai", ("LMSTUDIO_API_KEY",), "LMSTUDIO_MODEL", "local-model",
                     "http://localhost:1234/v1", "LMSTUDIO_BASE_URL", needs_key=False),
        ProviderSpec("vllm", "openai", ("VLLM_API_KEY",), "VLLM_MODEL", "default",
                     "http://localhost:8000/v1", "VLLM_BASE_URL", needs_key=False),
    )
}

#: the order in which configured keys choose a provider when none is named
AUTO_ORDER = ("zai", "openrouter", "gemini", "openai", "anthropic")


def create_provider(
    adapter: Adapter,
    *,
    name: str,
    api_key: str | None,
    base_url: str | None,
    key_var: str,
    retry: RetryPolicy | None = None,
) -> Provider:
    """Build the adapter; its SDK is imported only now."""
    if adapter == "openai":
        from moco.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(
            api_key=api_key, base_url=base_url, key_var=key_var, name=name, retry=retry
        )
    if adapter == "gemini":
        from moco.providers.gemini import GeminiProvider

        return GeminiProvider(
            api_key=api_key, base_url=base_url, key_var=key_var, name=name, retry=retry
        )
    from moco.providers.anthropic import AnthropicProvider

    return AnthropicProvider(
        api_key=api_key, base_url=base_url, key_var=key_var, name=name, retry=retry
    )
