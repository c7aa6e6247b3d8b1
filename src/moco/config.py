"""Settings from flags, the environment and ``.env`` files, resolved once at start-up.

The runtime never reads ``os.environ``: everything it needs is in the objects built here.
Precedence: flags > process environment > ``./.env`` > ``$MOCO_HOME/.env``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from moco.errors import ConfigError
from moco.providers.registry import AUTO_ORDER, PROVIDERS, Adapter, LLMProvider, ProviderSpec


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """A resolved provider: enough to build an adapter. ``repr`` hides the key."""

    name: str
    adapter: Adapter
    model: str
    api_key: str | None
    base_url: str | None
    key_var: str

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return (f"ProviderSettings(name={self.name!r}, model={self.model!r}, "
                f"base_url={self.base_url!r}, key={key})")

    @property
    def label(self) -> str:
        return f"{self.name}/{self.model}"


def moco_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("MOCO_HOME") or Path.home() / ".moco").expanduser()


#: ``MOCO_HOME`` holds keys (``.env``) and transcripts: nobody but its owner may enter it
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Make the directory ``path`` with mode 0700 (parents as usual); an existing one of
    ours that group or others may use is narrowed to its owner's bits."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    narrow_mode(path)
    return path


def narrow_mode(path: Path) -> None:
    """Take group and other permissions off ``path`` when it exists and is ours (a file
    or directory of someone else is left alone)."""
    try:
        info = path.stat()
    except OSError:
        return
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)


def load_environment(
    working_dir: Path | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The process environment overlaid on ``.env`` files (the environment wins)."""
    base = dict(os.environ if base is None else base)
    merged: dict[str, str] = {}
    candidates = [moco_home(base) / ".env"]
    if working_dir is not None:
        candidates.append(Path(working_dir) / ".env")
    for path in candidates:
        if path.is_file():
            merged.update(_read_dotenv(path))
    merged.update(base)
    return merged


def _read_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def split_provider_spec(spec: str | LLMProvider | None) -> tuple[str | None, str | None]:
    """``"zai"`` -> (zai, None); ``"openrouter/anthropic/claude-3.5-sonnet"`` ->
    (openrouter, anthropic/claude-3.5-sonnet): the first segment is the provider."""
    if spec is None or spec == "":
        return None, None
    text = spec.value if isinstance(spec, LLMProvider) else str(spec)
    name, _, model = text.partition("/")
    return name.strip().lower(), (model.strip() or None)


def resolve_provider(
    spec: str | LLMProvider | None = None,
    *,
    model: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ProviderSettings:
    """Choose the provider, model, key and base URL, or explain in one line what is missing."""
    env = os.environ if env is None else env
    name, spec_model = split_provider_spec(spec)
    if name is None:
        name, spec_model = split_provider_spec(env.get("MOCO_DEFAULT_PROVIDER") or None)
    if name is None:
        name = _auto_select(env, base_url)
    provider = PROVIDERS.get(name)
    if provider is None:
        known = ", ".join(PROVIDERS)
        raise ConfigError(f"unknown provider '{name}' — choose one of: {known}")
    url = base_url or (env.get(provider.base_url_var) if provider.base_url_var else None)
    url = url or provider.base_url
    key_var, key = _find_key(provider, env)
    if key is None and provider.needs_key and not _is_custom_url(provider, url):
        names = " or ".join(provider.key_vars)
        raise ConfigError(
            f"{names} is not set — export it or put it in .env, "
            "or choose another provider with -P"
        )
    chosen_model = model or spec_model or env.get(provider.model_var) or provider.default_model
    return ProviderSettings(
        name=provider.name,
        adapter=provider.adapter,
        model=chosen_model,
        api_key=key,
        base_url=url,
        key_var=key_var,
    )


NO_PROVIDER_MESSAGE = (
    "no model provider is configured — set one of ZAI_API_KEY, OPENROUTER_API_KEY, "
    "GENAI_API_KEY (or GEMINI_API_KEY), OPENAI_API_KEY, ANTHROPIC_API_KEY (environment or "
    ".env), or use a local OpenAI-compatible server with --base-url http://localhost:11434/v1"
)


def _auto_select(env: Mapping[str, str], base_url: str | None) -> str:
    if base_url:
        return "openai"
    for name in AUTO_ORDER:
        if _find_key(PROVIDERS[name], env)[1]:
            return name
    if env.get("OPENAI_BASE_URL"):
        return "openai"
    raise ConfigError(NO_PROVIDER_MESSAGE)


def _find_key(provider: ProviderSpec, env: Mapping[str, str]) -> tuple[str, str | None]:
    for var in provider.key_vars:
        value = (env.get(var) or "").strip()
        if value:
            return var, value
    return provider.key_vars[0], None


def _is_custom_url(provider: ProviderSpec, url: str | None) -> bool:
    return bool(url) and url != provider.base_url


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The configured API keys, for redaction."""
    values = []
    for provider in PROVIDERS.values():
        for var in provider.key_vars:
            value = env.get(var)
            if value and len(value) >= 8:
                values.append(value)
    return values
