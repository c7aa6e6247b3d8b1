"""The layers: messages and events below everything, the core above providers and storage
and below every front end."""

from __future__ import annotations

import ast
from pathlib import Path

from moco.events import Event
from moco.testing import Reply, ScriptedOpenAIServer

SRC = Path(__file__).resolve().parents[2] / "src" / "moco"


def imports_of(package: str) -> dict[str, set[str]]:
    """Every module of ``package`` and the moco modules it imports (at any level)."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(SRC))] = {n for n in names if n.startswith("moco")}
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module} imports {name}" for module, names in imports_of(package).items()
            for name in sorted(names) if name.startswith(forbidden)]


def test_the_core_imports_no_front_end() -> None:
    front_ends = ("moco.ui", "moco.cli", "moco.chat", "moco.web", "moco.gateway")
    assert offenders("core", front_ends) == []


def test_providers_and_storage_do_not_import_the_core() -> None:
    assert offenders("providers", ("moco.core",)) == []
    assert offenders("storage", ("moco.core",)) == []


class Collecting:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)


def test_run_hands_every_event_to_the_given_sink(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    from moco.core.orchestrator import Orchestrator

    scripted_openai.add(Reply.say("hello"))
    sink = Collecting()
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env, renderer=sink)
    assert orch.run_sync("hi") == "hello"
    assert sink.events[0].type == "run_started" and sink.events[-1].type == "run_finished"


def test_shared_state_is_typed_and_still_a_mapping() -> None:
    from moco.tools.shared_state import SharedState

    state = SharedState()
    state.todos = [{"content": "write tests", "status": "pending"}]
    state["loaded_skills"] = [{"name": "pdf"}, "legacy-name"]
    state["my_tool_cache"] = 42  # profile tools keep their own entries
    assert state["todos"][0]["content"] == "write tests"
    assert state.skill_names == ["pdf", "legacy-name"]
    assert state.permission_grants == [] and "permission_grants" in state
    assert dict(state)["my_tool_cache"] == 42
    with state.lock:
        state.todos = []
    assert state.todos == []


async def test_a_team_run_reads_its_frozen_config_not_the_orchestrator(tmp_path: Path) -> None:
    import dataclasses

    import pytest

    from moco.core.orchestrator import Orchestrator
    from moco.core.team import TeamRun

    orch = Orchestrator(provider="openai", working_dir=tmp_path,
                        env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9"})
    orch.max_turns = 7
    config = orch.team_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_turns = 1  # type: ignore[misc]
    orch.max_turns = 99  # a change after the run started does not reach it
    team = TeamRun(config, orch)
    runtime = team.runtime(orch.profile.agents[orch.agent_name], path=orch.agent_name)
    assert runtime.max_turns == 7
    assert runtime.context.working_dir == config.working_dir
