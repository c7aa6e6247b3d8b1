"""web_fetch through a real run: a scripted model calls it by the original MOCO's name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, ScriptedOpenAIServer
from moco.tools.context import ToolContext
from tests.tools.web_server import WebServer, html

RESEARCHER = """---
description: researches the web
mode: primary
tools: [webfetch, websearch]
---
You research.
"""


@pytest.fixture
def site() -> Iterator[WebServer]:
    with WebServer() as running:
        running.route("/doc", html("<html><head><title>Doc</title></head><body>"
                                   "<h2>Install</h2><p>Run <code>pip install moco</code>.</p>"
                                   "</body></html>"))
        yield running


def env(llm: ScriptedOpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.base_url}


def test_a_profile_allowing_private_addresses_fetches_a_page_as_markdown(
    scripted_openai: ScriptedOpenAIServer, site: WebServer, tmp_path: Path
) -> None:
    folder = tmp_path / ".moco" / "profiles" / "research"
    (folder / "agents").mkdir(parents=True)
    (folder / "profile.yaml").write_text("name: research\nweb: {allow_private: true}\n")
    (folder / "agents" / "researcher.md").write_text(RESEARCHER)
    scripted_openai.add(Reply.call("webfetch", {"url": site.url + "/doc"}),
                        Reply.say("Install it with pip."))
    orchestrator = Orchestrator(profile="research", provider="openai", working_dir=tmp_path,
                                env=env(scripted_openai))
    assert orchestrator.run_sync("How do I install moco?") == "Install it with pip."
    offered = [t["function"]["name"] for t in scripted_openai.requests[0].body["tools"]]
    assert sorted(offered) == ["web_fetch", "web_search"]
    result = scripted_openai.requests[1].body["messages"][-1]
    assert result["role"] == "tool"
    assert result["content"].startswith(f"URL: {site.url}/doc\nType: text/html as Markdown")
    assert "## Install\n\nRun `pip install moco`." in result["content"]


def test_by_default_a_run_may_not_fetch_loopback(
    scripted_openai: ScriptedOpenAIServer, site: WebServer, tmp_path: Path
) -> None:
    scripted_openai.add(Reply.call("web_fetch", {"url": site.url + "/doc"}), Reply.say("no"))
    Orchestrator(provider="openai", working_dir=tmp_path, env=env(scripted_openai)).run_sync("x")
    content = scripted_openai.requests[1].body["messages"][-1]["content"]
    assert "refused 127.0.0.1: a loopback address" in content
    assert site.seen == []


async def test_permissions_allow_the_web_tools_by_default_and_read_domain_rules(
    tmp_path: Path,
) -> None:
    from moco.core.permissions import PermissionPolicy, default_rules, parse_permissions
    from moco.messages import ToolCallPart
    from moco.tools.builtin import base_registry

    tools = base_registry()
    fetch_tool, search_tool = tools.get("webfetch"), tools.get("websearch")
    assert fetch_tool is not None and search_tool is not None
    assert not fetch_tool.mutates and not search_tool.mutates
    ctx = ToolContext(tmp_path, agent="a", lineage=("a",))

    async def decide(policy: PermissionPolicy, url: str) -> str:
        call = ToolCallPart("c1", "web_fetch", {"url": url})
        decision = await policy.check(call, fetch_tool, ctx)
        return "allow" if decision.allowed else "deny"

    assert await decide(PermissionPolicy(read_only=True), "https://example.com/") == "allow"
    # OpenCode's / the original's tool name, per domain as Claude Code writes it
    rules = default_rules().merged(
        parse_permissions({"webfetch": {"domain:example.com": "deny"}}, "test"))
    policy = PermissionPolicy(rules)
    assert await decide(policy, "https://docs.example.com/x") == "deny"
    assert await decide(policy, "https://example.org/") == "allow"
