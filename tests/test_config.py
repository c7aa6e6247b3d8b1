"""Provider resolution: flags, environment, .env files, auto-selection, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.config import (
    NO_PROVIDER_MESSAGE,
    load_environment,
    resolve_provider,
    split_provider_spec,
)
from moco.errors import ConfigError
from moco.providers.registry import LLMProvider


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("zai", ("zai", None)),
        ("zai/glm-4.7", ("zai", "glm-4.7")),
        ("openrouter/anthropic/claude-3.5-sonnet", ("openrouter", "anthropic/claude-3.5-sonnet")),
        (LLMProvider.GEMINI, ("gemini", None)),
        (None, (None, None)),
    ],
)
def test_split_provider_spec(spec: object, expected: tuple[str | None, str | None]) -> None:
    assert split_provider_spec(spec) == expected  # type: ignore[arg-type]


def test_auto_selection_order() -> None:
    every = {"ZAI_API_KEY": "z", "OPENROUTER_API_KEY": "o", "GEMINI_API_KEY": "g",
             "OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "c"}
    order = []
    env = dict(every)
    for _ in range(5):
        chosen = resolve_provider(env=env)
        order.append(chosen.name)
        del env[chosen.key_var]
    assert order == ["zai", "openrouter", "gemini", "openai", "anthropic"]


def test_default_models_and_overrides() -> None:
    env = {"OPENAI_API_KEY": "k"}
    assert resolve_provider("openai", env=env).model == "gpt-4o"
    assert resolve_provider("openai", env={**env, "OPENAI_MODEL": "gpt-4.1"}).model == "gpt-4.1"
    assert resolve_provider("openai/o3", env=env).model == "o3"
    assert resolve_provider("openai/o3", model="gpt-5", env=env).model == "gpt-5"
    assert resolve_provider("zai", env={"ZAI_API_KEY": "k"}).model == "glm-4.7"
    openrouter = resolve_provider("openrouter", env={"OPENROUTER_API_KEY": "k"})
    assert openrouter.model == "google/gemini-2.0-flash-001"
    assert openrouter.base_url == "https://openrouter.ai/api/v1"
    assert resolve_provider("gemini", env={"GEMINI_API_KEY": "k"}).model == "gemini-2.0-flash"


def test_genai_key_wins_over_gemini_key() -> None:
    chosen = resolve_provider("gemini", env={"GENAI_API_KEY": "a", "GEMINI_API_KEY": "b"})
    assert (chosen.api_key, chosen.key_var) == ("a", "GENAI_API_KEY")
    chosen = resolve_provider("gemini", env={"GEMINI_API_KEY": "b"})
    assert (chosen.api_key, chosen.key_var) == ("b", "GEMINI_API_KEY")


def test_default_provider_variable() -> None:
    env = {"MOCO_DEFAULT_PROVIDER": "openai/gpt-4.1-mini", "OPENAI_API_KEY": "k",
           "ZAI_API_KEY": "z"}
    chosen = resolve_provider(env=env)
    assert (chosen.name, chosen.model) == ("openai", "gpt-4.1-mini")


def test_no_key_at_all_explains_every_option() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_provider(env={})
    assert str(caught.value) == NO_PROVIDER_MESSAGE
    for needed in ("ZAI_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "--base-url"):
        assert needed in NO_PROVIDER_MESSAGE
    assert caught.value.exit_code == 2


def test_named_provider_without_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        resolve_provider("openai", env={"ZAI_API_KEY": "z"})


def test_unknown_provider_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown provider 'nope'.*zai.*gemini"):
        resolve_provider("nope", env={})


def test_base_url_needs_no_key() -> None:
    chosen = resolve_provider(base_url="http://localhost:11434/v1", model="llama3", env={})
    assert (chosen.name, chosen.base_url, chosen.api_key) == (
        "openai", "http://localhost:11434/v1", None)
    local = resolve_provider("ollama", env={})
    assert local.base_url == "http://localhost:11434/v1"


def test_key_never_in_repr() -> None:
    chosen = resolve_provider("openai", env={"OPENAI_API_KEY": "sk-secret-value"})
    assert "sk-secret-value" not in repr(chosen)


def test_dotenv_files_and_precedence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".env").write_text("OPENAI_API_KEY=from-home\nOPENAI_MODEL=home-model\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text("OPENAI_MODEL=project-model\nZAI_MODEL=glm-x\n")
    env = load_environment(project, {"MOCO_HOME": str(home), "ZAI_MODEL": "glm-from-env"})
    assert env["OPENAI_API_KEY"] == "from-home"
    assert env["OPENAI_MODEL"] == "project-model"
    assert env["ZAI_MODEL"] == "glm-from-env"
