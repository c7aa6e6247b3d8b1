"""Profiles written the way the original MOCO documents them load and run as their authors
meant: Japanese prompts, ``tools:`` maps as allow-lists, undecorated functions in
``tools/*.py``, front matter without its opening ``---``, the original's tool names and
``MOCO.md``. The profiles are our own, written in that style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moco.events import AgentDelegated, AgentReturned, RunStarted, ToolCallFinished, Warning
from moco.profiles import list_profiles, load_profile
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall

LEAD = """---
description: 仕事を分けて担当者に任せる
mode: primary
tools:
  delegate_to_agent: true
---
あなたはまとめ役です。調査と執筆を担当者に任せてください。
"""
# the opening '---' is missing, as in some of the original's agent files
RESEARCHER = """description: 調べ物をする
mode: subagent
tools:
  read_file: true
  websearch: true
  word_count: true
  list_loaded_skills: true
  execute_skill: true
  browser_navigate: true
  generate_image: true
---
あなたはリサーチ担当です。
"""
WRITER = """---
description: 文章を書く
mode: subagent
tools: {read_file: true, write_file: true, word_count: true}
---
あなたはライターです。
"""
REVIEWER = """---
description: 読んで確かめる
mode: subagent
tools: {bash: false, write: false, edit: false}
---
あなたはレビュー担当です。
"""
TEXT_TOOLS = '''"""Text helpers, written without @tool as the original MOCO documents."""

from os.path import join
from textwrap import dedent


def word_count(text: str) -> int:
    """Count the words of a text.

    Args:
        text: The text whose words are counted.
    """
    return len(text.split())


def _normalise(text: str) -> str:
    """Private: never a tool."""
    return " ".join(text.split())


def shout(text):
    return text.upper()


__all__ = ["dedent", "join", "word_count"]
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the profile ``chousa`` in .moco/profiles and a MOCO.md."""
    profile = tmp_path / ".moco" / "profiles" / "chousa"
    (profile / "agents").mkdir(parents=True)
    (profile / "tools").mkdir()
    (profile / "profile.yaml").write_text("name: chousa\ndescription: 調査チーム\n",
                                          encoding="utf-8")
    agents = {"lead": LEAD, "researcher": RESEARCHER, "writer": WRITER, "reviewer": REVIEWER}
    for name, text in agents.items():
        (profile / "agents" / f"{name}.md").write_text(text, encoding="utf-8")
    (profile / "tools" / "text_tools.py").write_text(TEXT_TOOLS, encoding="utf-8")
    (tmp_path / "MOCO.md").write_text("# 決まり\n日本語で答えること。\n", encoding="utf-8")
    return tmp_path


def env_for(project: Path, server: ScriptedOpenAIServer | None = None) -> dict[str, str]:
    env = {"HOME": str(project), "MOCO_HOME": str(project / "home")}
    if server is not None:
        env |= {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url}
    return env


def offered(body: dict[str, Any]) -> set[str]:
    return {entry["function"]["name"] for entry in body.get("tools") or []}


def test_maps_missing_opening_and_undecorated_tools_load(project: Path) -> None:
    profile = load_profile("chousa", working_dir=project, env=env_for(project))
    researcher = profile.agents["researcher"]
    assert researcher.description == "調べ物をする" and researcher.mode == "subagent"
    assert researcher.prompt == "あなたはリサーチ担当です。"
    assert researcher.tools == ("read_file", "web_search", "word_count", "list_loaded_skills",
                                "execute_skill", "browser_navigate", "generate_image")
    assert profile.agents["writer"].tools == ("read_file", "write_file", "word_count")
    reviewer = profile.agents["reviewer"]
    assert reviewer.tools is None
    assert reviewer.excluded_tools == ("execute_bash", "write_file", "edit_file")
    assert [t.name for t in profile.tools] == ["word_count"]  # no imports, no _private
    problems = "\n".join(profile.problems)
    assert "agent 'researcher'" in problems and "no opening '---'" in problems
    assert "text_tools.py: word_count offered as tools without @tool" in problems
    assert "unknown tools dropped: browser_navigate, generate_image (" in problems
    for known in ("web_search", "list_loaded_skills", "execute_skill", "word_count"):
        assert f"dropped: {known}" not in problems and f", {known} (" not in problems
    [info] = [i for i in list_profiles(project, env_for(project)) if i.name == "chousa"]
    assert info.problems == profile.problems  # listed the same without importing tools/


def test_a_prompt_with_a_rule_line_stays_a_prompt(tmp_path: Path) -> None:
    from moco.profiles import load_agent

    path = tmp_path / "plain.md"
    path.write_text("調査の手順:\n1. 読む\n---\n2. まとめる\n", encoding="utf-8")
    agent = load_agent(path)
    assert agent.tools is None and agent.notes == () and agent.prompt.startswith("調査の手順")


def test_orchestrator_is_importable_from_the_package() -> None:
    from moco import Orchestrator
    from moco.core.orchestrator import Orchestrator as Defined

    assert Orchestrator is Defined


async def test_the_team_runs_as_written(project: Path) -> None:
    from moco import Orchestrator

    def delegate(name: str, task: str) -> ToolCall:
        return ToolCall("delegate_to_agent", {"agent_name": name, "task": task})

    script = RoutedScript({
        "あなたはまとめ役です。": [
            Reply.calls(delegate("researcher", "数えて"), delegate("writer", "書いて")),
            Reply.say("まとめました。"),
        ],
        "あなたはリサーチ担当です。": [
            Reply.calls(ToolCall("word_count", {"text": "一 二 三"}), latency=0.2),
            Reply.say("三語です。"),
        ],
        "あなたはライターです。": [Reply.say("書きました。", latency=0.2)],
    })
    with ScriptedOpenAIServer(script) as server:
        orch = Orchestrator(profile="chousa", provider="openai", working_dir=project,
                            env=env_for(project, server))
        try:
            events = [e async for e in orch.events("調べて書いて")]
            reviewer_tools = {t.name for t in orch.tools_for(orch.profile.agents["reviewer"])}
        finally:
            await orch.aclose()
        requests = list(server.requests)

    def first(prompt: str) -> dict[str, Any]:
        return next(r.body for r in requests if prompt in r.system_text)

    lead = next(r for r in requests if "あなたはまとめ役です。" in r.system_text)
    assert "日本語で答えること。" in lead.system_text  # MOCO.md read as project instructions
    assert offered(lead.body) == {"delegate_to_agent"}
    researcher = first("あなたはリサーチ担当です。")
    assert "あなたはリサーチ担当です。" in researcher["messages"][0]["content"]
    assert offered(researcher) == {"read_file", "web_search", "word_count"}
    assert offered(first("あなたはライターです。")) == {"read_file", "write_file", "word_count"}
    assert {"read_file", "grep"} <= reviewer_tools
    assert not reviewer_tools & {"execute_bash", "write_file", "edit_file"}

    [counted] = [e for e in events if isinstance(e, ToolCallFinished) and e.name == "word_count"]
    assert counted.result.strip() == "3"
    order = [type(e).__name__ for e in events if isinstance(e, AgentDelegated | AgentReturned)]
    assert order[:2] == ["AgentDelegated", "AgentDelegated"]  # both sent before either returned
    started = next(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    warnings = [e.message for e in events[:started] if isinstance(e, Warning)]
    assert any("researcher" in w and "no opening '---'" in w for w in warnings)
    assert any("unknown tools dropped: browser_navigate, generate_image" in w for w in warnings)
    assert any("word_count offered as tools without @tool" in w for w in warnings)
