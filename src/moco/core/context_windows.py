"""How many input tokens a model accepts: a table of common models, extendable by config.

Keys are model-name patterns, matched case-insensitively:

- a plain key is a prefix: ``gpt-4o`` matches ``gpt-4o-mini-2024-07-18``;
- a key with ``*``, ``?`` or ``[`` is a glob over the whole name: ``*llama-3.1*``;
- the longest key (counting literal characters only) wins;
- a name with a routing prefix (``openai/gpt-4o``, ``models/gemini-2.5-pro``) is also tried
  without it, so OpenRouter, Vertex and Gemini spellings resolve too.

Values are the input budget a request may use. Where a model's total window includes a
separate output reservation (GPT-5: 400k total, 272k input), the table holds the input part.
Where hosts serve a model with different windows (Llama 4, Qwen), the table holds the value
most hosts serve; configure the rest.

Unknown models get :data:`DEFAULT_CONTEXT_WINDOW` (128k): nearly every current API model
accepts at least that much, and guessing low would make every session compress early. Local
servers that run with a small window (Ollama's default ``num_ctx`` is a few thousand tokens
whatever the model supports) must be configured, e.g. in ``profile.yaml``::

    context_windows:
      llama3.1: 8k        # what my Ollama serves
      my-finetune-*: 32768
      default: 64k        # for models nothing else matches

User entries take precedence over the built-in table whenever one of them matches; among
user entries, the longest match wins again.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from moco.errors import ConfigError

__all__ = [
    "BUILTIN_CONTEXT_WINDOWS",
    "DEFAULT_CONTEXT_WINDOW",
    "ContextWindows",
    "context_window",
    "parse_context_windows",
]

DEFAULT_CONTEXT_WINDOW = 128_000

_K = 1_000
_KI = 1_024

BUILTIN_CONTEXT_WINDOWS: dict[str, int] = {
    # OpenAI
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128 * _K,
    "gpt-4-1106": 128 * _K,
    "gpt-4-0125": 128 * _K,
    "gpt-4o": 128 * _K,
    "chatgpt-4o": 128 * _K,
    "gpt-4.1": 1_047_576,
    "gpt-4.5": 128 * _K,
    "gpt-5": 272 * _K,  # 400k total, of which 128k are reserved for output
    "gpt-5-chat": 128 * _K,
    "gpt-oss": 131_072,
    "codex-mini": 200 * _K,
    "o1": 200 * _K,
    "o1-mini": 128 * _K,
    "o1-preview": 128 * _K,
    "o3": 200 * _K,
    "o3-mini": 200 * _K,
    "o4-mini": 200 * _K,
    # Google
    "gemini": 1_048_576,
    "gemini-1.0": 32_760,
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "gemini-2": 1_048_576,
    "gemini-3": 1_048_576,
    "gemma-2": 8_192,
    "gemma-3": 128 * _K,
    # Anthropic
    "claude": 200 * _K,
    "claude-2": 100 * _K,
    "claude-2.1": 200 * _K,
    "claude-instant": 100 * _K,
    # Z.ai (Zhipu)
    "glm-4": 128 * _K,
    "glm-4.5v": 64 * _KI,
    "glm-4.6": 200 * _K,
    "glm-4.7": 200 * _K,
    # Moonshot
    "kimi": 128 * _KI,
    "kimi-k2": 256 * _KI,
    "kimi-k2-0711": 128 * _KI,
    "moonshot-v1-8k": 8 * _KI,
    "moonshot-v1-32k": 32 * _KI,
    "moonshot-v1-128k": 128 * _KI,
    "moonshot-v1-auto": 128 * _KI,
    # DeepSeek
    "deepseek": 128 * _K,
    # Meta (Ollama spells "llama3.1", most hosts "llama-3.1", Hugging Face "meta-llama-3.1")
    "llama3": 8_192,
    "llama-3": 8_192,
    "*llama-3-*": 8_192,
    "llama3.1": 131_072,
    "llama3.2": 131_072,
    "llama3.3": 131_072,
    "*llama-3.1*": 131_072,
    "*llama-3.2*": 131_072,
    "*llama-3.3*": 131_072,
    "*llama-v3p*": 131_072,
    "*llama-4*": 131_072,  # Scout/Maverick support more; most hosts serve 128k
    # Alibaba
    "qwen": 32_768,
    "qwen-plus": 131_072,
    "qwen-turbo": 1_000_000,
    "qwen-long": 1_000_000,
    "qwen2.5": 32_768,
    "qwen2.5-1m": 1_000_000,
    "qwen3": 32_768,  # 128k with YaRN, which few hosts enable
    "qwen3-coder": 256 * _KI,
    "qwen3-max": 256 * _KI,
    "*qwen3-*-2507*": 256 * _KI,
    "qwq": 131_072,
    # Mistral
    "mistral": 32_768,
    "mistral-large": 131_072,
    "mistral-medium": 131_072,
    "mistral-small": 131_072,
    "mistral-nemo": 131_072,
    "open-mistral-nemo": 131_072,
    "mistral-tiny": 32_768,
    "mixtral": 32_768,
    "mixtral-8x22b": 65_536,
    "ministral": 131_072,
    "codestral": 256 * _K,
    "devstral": 131_072,
    "magistral": 40 * _K,
    "pixtral": 131_072,
    # xAI
    "grok-3": 131_072,
    "grok-4": 256 * _K,
    "grok-code": 256 * _K,
}

_GLOB_CHARS = frozenset("*?[")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def _is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def _score(pattern: str, name: str) -> int:
    """How specifically ``pattern`` matches ``name``: literal characters, or -1 for no match."""
    if _is_glob(pattern):
        if not fnmatch.fnmatchcase(name, pattern):
            return -1
        return sum(1 for c in pattern if c not in _GLOB_CHARS)
    return len(pattern) if name.startswith(pattern) else -1


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    names = [name]
    if "/" in name:
        names.append(name.rsplit("/", 1)[1])
    return names


def _best(table: Mapping[str, int], model: str) -> int | None:
    best_score, best_value = -1, None
    for name in _candidates(model):
        for pattern, value in table.items():
            score = _score(pattern, name)
            if score > best_score:
                best_score, best_value = score, value
    return best_value


def parse_size(value: object, *, key: str = "") -> int:
    """``128000``, ``"128k"``, ``"1M"`` -> tokens (k = 1,000; M = 1,000,000)."""
    if isinstance(value, bool):
        raise ConfigError(f"context_windows: {key!r} must be a token count, not {value!r}")
    if isinstance(value, int):
        tokens = value
    else:
        match = _SIZE.match(str(value))
        if match is None:
            raise ConfigError(
                f"context_windows: {key!r} has {value!r} — write a token count such as 131072 "
                "or 128k"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
        tokens = int(number * {"": 1, "k": 1_000, "m": 1_000_000}[unit])
    if tokens <= 0:
        raise ConfigError(f"context_windows: {key!r} must be positive, not {value!r}")
    return tokens


def parse_context_windows(raw: Mapping[str, object] | None) -> dict[str, int]:
    """Validate a ``context_windows:`` mapping from YAML (keys lower-cased)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("context_windows must be a mapping of model pattern to token count")
    return {str(key).strip().lower(): parse_size(value, key=str(key)) for key, value in raw.items()}


class ContextWindows:
    """The built-in table plus user entries. ``lookup(model)`` never fails."""

    def __init__(self, overrides: Mapping[str, object] | None = None) -> None:
        entries = parse_context_windows(overrides)
        self.default = entries.pop("default", DEFAULT_CONTEXT_WINDOW)
        self.overrides = entries

    def lookup(self, model: str) -> int:
        found = _best(self.overrides, model)
        if found is None:
            found = _best(BUILTIN_CONTEXT_WINDOWS, model)
        return found if found is not None else self.default

    def is_known(self, model: str) -> bool:
        """Whether ``model`` matched an entry (rather than getting the default)."""
        return _best(self.overrides, model) is not None or (
            _best(BUILTIN_CONTEXT_WINDOWS, model) is not None
        )


def context_window(model: str, overrides: Mapping[str, object] | None = None) -> int:
    """The input-token window of ``model`` (see the module docstring for the rules)."""
    return ContextWindows(overrides).lookup(model)
