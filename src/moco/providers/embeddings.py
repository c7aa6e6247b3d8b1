"""Text embeddings through the provider layer: OpenAI and every OpenAI-compatible
``/embeddings`` endpoint (the ``openai`` SDK), Gemini (``google-genai``).

An :class:`Embedder` turns texts into vectors; its ``name`` (``provider/model``) is what an
index is kept under, so vectors of different models are never mixed. The dimension is whatever
the first vector has: nothing here configures it. :func:`resolve_embedder` picks the embedder
from ``MOCO_EMBEDDING_MODEL`` or the chat provider, or returns ``None`` (keyword memory only).
SDKs are imported when the first request is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from moco.errors import ConfigError, ProviderError
from moco.providers.base import RetryPolicy, provider_error, retry_after_seconds
from moco.providers.registry import PROVIDERS

if TYPE_CHECKING:
    from moco.config import ProviderSettings

#: texts per request: under every provider's limit (Gemini's batch limit is 100)
BATCH_SIZE = 96

#: the embedding model of a chat provider that has one; the others get keyword memory only
DEFAULT_EMBEDDING_MODELS: dict[str, str] = {
    "openai": "text-embedding-3-small",
    "gemini": "gemini-embedding-001",
    "zai": "embedding-3",
}

_OFF = frozenset({"none", "off", "false", "0", "no"})


@runtime_checkable
class Embedder(Protocol):
    """Texts in, one vector per text out (same order)."""

    #: ``provider/model``, e.g. ``openai/text-embedding-3-small``: the index is kept per name
    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class SDKEmbedder:
    """Batching, retries and error mapping shared by the SDK-backed embedders."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        key_var: str = "",
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.name = f"{provider}/{model}"
        self.api_key = api_key
        self.base_url = base_url
        self.key_var = key_var
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._client: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, base_url={self.base_url!r})"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in batches of at most :data:`BATCH_SIZE`."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = [text or " " for text in texts[start : start + BATCH_SIZE]]
            result = await self._with_retries(batch)
            if len(result) != len(batch):
                raise self.error(None, f"{len(result)} vectors for {len(batch)} texts",
                                 unreadable=True)
            vectors.extend(result)
        return vectors

    async def _with_retries(self, batch: list[str]) -> list[list[float]]:
        attempt = 0
        while True:
            try:
                return await self._embed_batch(batch)
            except ProviderError as error:
                attempt += 1
                if not error.retryable or attempt > self.retry.max_retries:
                    raise
                await asyncio.sleep(self.retry.delay(attempt, error.retry_after))

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        raise NotImplementedError  # pragma: no cover - every subclass implements it

    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        raise NotImplementedError  # pragma: no cover

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)

    async def _close_client(self, client: Any) -> None:
        await client.close()

    def error(self, status: int | None, detail: str = "", **options: Any) -> ProviderError:
        return provider_error(self.provider, self.key_var, status, detail,
                              base_url=self.base_url, **options)

    def failure(self, error: Exception) -> Exception:
        """Transport failures become retryable connection errors, unreadable data an
        "unreadable response" error; anything else (a bug) passes unchanged."""
        transport = type(error).__module__.startswith(("httpx", "httpcore", "aiohttp"))
        if transport or isinstance(error, OSError | TimeoutError):
            return self.error(None, str(error) or type(error).__name__, connection=True)
        if isinstance(error, ValueError | TypeError | AttributeError):
            return self.error(None, str(error), unreadable=True)
        return error


class OpenAIEmbedder(SDKEmbedder):
    """``embeddings.create`` of the ``openai`` SDK: OpenAI, Z.ai, Ollama, vLLM, LM Studio ..."""

    def _make_client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(api_key=self.api_key or "not-needed", base_url=self.base_url,
                                  max_retries=0, timeout=self.timeout)

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        import openai

        from moco.providers.openai_compat import openai_error_detail

        try:
            response = await self.client().embeddings.create(model=self.model, input=batch)
            ordered = sorted(response.data, key=lambda item: item.index)
            return [list(map(float, item.embedding)) for item in ordered]
        except openai.APIStatusError as error:
            detail = openai_error_detail(error)
            raise self.error(error.status_code, detail,
                             retry_after=retry_after_seconds(error.response.headers)) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            raise self.error(None, str(error), connection=True) from None
        except openai.APIError as error:
            raise self.error(None, str(error), unreadable=True) from None
        except ProviderError:
            raise
        except Exception as error:
            raise self.failure(error) from None


class GeminiEmbedder(SDKEmbedder):
    """``models.embed_content`` of ``google-genai`` (the Gemini Developer API)."""

    def _make_client(self) -> Any:
        from moco.providers.gemini import gemini_client

        return gemini_client(self.api_key, self.base_url, self.timeout)

    async def _close_client(self, client: Any) -> None:
        await client.aio.aclose()

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        from google.genai import errors, types

        # one Content per text: a plain list of strings is merged into one input by
        # multimodal embedding models
        contents = [types.Content(parts=[types.Part(text=text)]) for text in batch]
        try:
            response = await self.client().aio.models.embed_content(model=self.model,
                                                                    contents=contents)
            return [list(map(float, item.values or [])) for item in response.embeddings or []]
        except errors.APIError as error:
            raise self._api_error(error) from None
        except ProviderError:
            raise
        except Exception as error:
            raise self.failure(error) from None

    def _api_error(self, error: Any) -> ProviderError:
        status = error.code if isinstance(error.code, int) else None
        detail = str(error.message or error.status or "")
        if status == 400 and "api key not valid" in detail.lower():
            status = 401
        response = getattr(error, "response", None)
        retry_after = retry_after_seconds(getattr(response, "headers", None))
        if status is None:
            return self.error(None, detail or str(error), unreadable=True)
        return self.error(status, detail, retry_after=retry_after)


def create_embedder(settings: ProviderSettings, model: str) -> SDKEmbedder:
    """The embedder for ``model`` on the provider ``settings`` describe (key, base URL)."""
    options: dict[str, Any] = {"provider": settings.name, "model": model,
                               "api_key": settings.api_key, "base_url": settings.base_url,
                               "key_var": settings.key_var}
    if settings.adapter == "openai":
        return OpenAIEmbedder(**options)
    if settings.adapter == "gemini":
        return GeminiEmbedder(**options)
    raise ConfigError(f"{settings.name} has no embeddings API — set MOCO_EMBEDDING_MODEL to "
                      "e.g. openai/text-embedding-3-small, or none for keyword memory")


def resolve_embedder(
    env: Mapping[str, str], chat: ProviderSettings | None = None
) -> Embedder | None:
    """The embedder ``MOCO_EMBEDDING_MODEL`` names (``provider/model``; ``none`` for none),
    else the chat provider's embedding model when it has one, else ``None``.

    Keys and base URLs come from the same settings as the chat provider. A named embedder that
    cannot be configured is a :class:`ConfigError`; an unconfigured chat provider is ``None``.
    """
    from moco.config import resolve_provider, split_provider_spec

    spec = (env.get("MOCO_EMBEDDING_MODEL") or "").strip()
    if spec.lower() in _OFF:
        return None
    if spec:
        name, model = split_provider_spec(spec)
        if name not in PROVIDERS:
            known = ", ".join(PROVIDERS)
            raise ConfigError(f"MOCO_EMBEDDING_MODEL names an unknown provider '{name}' — "
                              f"write provider/model with one of: {known}")
        model = model or DEFAULT_EMBEDDING_MODELS.get(name or "")
        if not model:
            raise ConfigError(f"MOCO_EMBEDDING_MODEL={spec} names no model — write "
                              f"provider/model, e.g. {name}/nomic-embed-text")
        if chat is not None and chat.name == name:
            return create_embedder(chat, model)
        try:
            settings = resolve_provider(name, model=model, env=env)
        except ConfigError as error:
            raise ConfigError(f"MOCO_EMBEDDING_MODEL={spec}: {error}") from None
        return create_embedder(settings, model)
    if chat is None:
        try:
            chat = resolve_provider(env=env)
        except ConfigError:
            return None
    model = DEFAULT_EMBEDDING_MODELS.get(chat.name)
    return create_embedder(chat, model) if model else None
