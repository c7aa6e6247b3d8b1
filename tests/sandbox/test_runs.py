"""The sandbox in real runs (a scripted model at the wire), its settings, and what happens
when no confinement can be had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from moco.core.orchestrator import Orchestrator
from moco.errors import ConfigError
from moco.events import Event, ToolCallFinished, Warning
from moco.sandbox import Unavailable, Unconfined, sandbox_settings
from moco.testing import Reply, ScriptedOpenAIServer
from tests.sandbox.conftest import Area, require


def orchestrator(server: ScriptedOpenAIServer, workdir: Path, **options: Any) -> Orchestrator:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
           **options.pop("env", {})}
    return Orchestrator(provider="openai", working_dir=workdir, env=env, persist=False,
                        **options)


async def events_of(orch: Orchestrator, task: str) -> list[Event]:
    return [event async for event in orch.events(task)]


def results(events: list[Event]) -> list[str]:
    return [event.result for event in events if isinstance(event, ToolCallFinished)]


@pytest.mark.parametrize("mode", ["auto", "landlock"])
async def test_a_run_confines_the_agents_commands(
        scripted_openai: ScriptedOpenAIServer, area: Area, mode: str) -> None:
    require("bwrap" if mode == "auto" else mode)
    target = area.outside / "poisoned"
    scripted_openai.add(
        Reply.call("execute_bash", {"command": f"echo x > {target}; echo inside > ok.txt"}),
        Reply.say("done"))
    orch = orchestrator(scripted_openai, area.work, env={"MOCO_SANDBOX": mode})
    events = await events_of(orch, "go")
    assert not target.exists()
    assert (area.work / "ok.txt").read_text() == "inside\n"
    assert not any(isinstance(event, Warning) for event in events)
    assert "ok.txt" not in results(events)[0]
    expected = "bubblewrap" if mode == "auto" else "landlock"
    assert orch.open_sandbox().sandbox.name.startswith(expected)


async def test_sub_agents_commands_are_confined_too(
        scripted_openai: ScriptedOpenAIServer, area: Area) -> None:
    require("bwrap")
    target = area.outside / "from-child"
    scripted_openai.add(
        Reply.call("delegate_to_agent", {"agent_name": "backend-coder", "task": "write it"}),
        Reply.call("execute_bash", {"command": f"echo x > {target}"}),
        Reply.say("child done"), Reply.say("done"))
    orch = orchestrator(scripted_openai, area.work, profile="development")
    events = await events_of(orch, "go")
    assert not target.exists()
    refused = [event for event in events if isinstance(event, ToolCallFinished)
               and "Read-only file system" in event.result]
    assert refused and refused[0].agent_name == "backend-coder"


async def test_without_confinement_changing_commands_are_refused_non_interactively(
        scripted_openai: ScriptedOpenAIServer, area: Area) -> None:
    scripted_openai.add(
        Reply.call("execute_bash", {"command": "ls"}),
        Reply.call("execute_bash", {"command": "touch made"}),
        Reply.say("done"))
    orch = orchestrator(scripted_openai, area.work, sandbox=Unavailable("none in this test"))
    events = await events_of(orch, "go")
    warnings = [event.message for event in events if isinstance(event, Warning)]
    assert len(warnings) == 1 and "without confinement" in warnings[0]
    listed, touched = results(events)
    assert "approval" not in listed
    assert "needs approval" in touched and "no sandbox" in touched
    assert not (area.work / "made").exists()
    scripted_openai.add(Reply.say("again"))
    again = await events_of(orch, "more")
    assert not any(isinstance(event, Warning) for event in again), "said once"


@pytest.mark.parametrize("how", ["yes", "off"])
async def test_yes_or_sandbox_off_lets_commands_run_without_questions(
        scripted_openai: ScriptedOpenAIServer, area: Area, how: str) -> None:
    scripted_openai.add(Reply.call("execute_bash", {"command": "touch made"}),
                        Reply.say("done"))
    options: dict[str, Any] = ({"sandbox": Unavailable("test"), "yes": True} if how == "yes"
                               else {"sandbox": "off"})
    orch = orchestrator(scripted_openai, area.work, **options)
    events = await events_of(orch, "go")
    assert (area.work / "made").exists(), results(events)
    assert isinstance(orch.open_sandbox().sandbox, Unconfined)
    if how == "off":
        assert not any(isinstance(event, Warning) for event in events)


def test_settings_come_from_the_profile_the_environment_and_the_run() -> None:
    assert sandbox_settings({}, {}).mode == "auto"
    profile = {"sandbox": {"mode": "landlock", "network": False}}
    assert sandbox_settings(profile, {}).mode == "landlock"
    assert sandbox_settings(profile, {}).network is False
    assert sandbox_settings(profile, {"MOCO_SANDBOX": "off"}).mode == "off"
    assert sandbox_settings(profile, {"MOCO_SANDBOX": "off"}, mode="bwrap").mode == "bwrap"
    assert sandbox_settings({}, {}, network=False).network is False


@pytest.mark.parametrize("bad", [{"sandbox": {"mod": "auto"}}, {"sandbox": {"mode": "x"}},
                                 {"sandbox": {"network": "no"}}, {"sandbox": [1]}])
def test_bad_sandbox_settings_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="sandbox"):
        sandbox_settings(bad, {})


def test_an_unknown_sandbox_key_in_profile_yaml_stops_the_run(area: Area) -> None:
    profile = area.base / "prof"
    (profile / "agents").mkdir(parents=True)
    (profile / "profile.yaml").write_text("name: prof\nsandbox: {netwrk: false}\n")
    (profile / "agents" / "main.md").write_text("---\ndescription: main\n---\nYou help.\n")
    with pytest.raises(ConfigError, match="unknown keys netwrk"):
        Orchestrator(profile=profile, provider="openai", working_dir=area.work,
                     env={"OPENAI_API_KEY": "k"})


def test_sandbox_status_says_what_is_active(area: Area) -> None:
    require("bwrap")
    from moco.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["sandbox", "status", "-w", str(area.work), "--no-network"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("sandbox: bubblewrap")
    assert "network: off" in shown.output
    off = runner.invoke(app, ["sandbox", "status", "-w", str(area.work), "--mode", "off"])
    assert off.output.startswith("sandbox: none")
    for command in ("run", "chat"):
        assert "--no-network" in runner.invoke(app, [command, "--help"]).output
