"""Permissions: rules from every source format, precedence, modes, approvals, skills, MCP,
and one run through the real runtime against the scripted OpenAI server."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from moco.core.messages import Message, ToolCallPart
from moco.core.permissions import (
    Approval,
    ApprovalRequest,
    PermissionPolicy,
    RuleSet,
    config_rules,
    default_rules,
    flag_rules,
    parse_permissions,
    section_rules,
)
from moco.core.runtime import AgentRuntime
from moco.errors import ConfigError
from moco.profiles.loader import AgentSpec, Profile
from moco.providers.base import RetryPolicy
from moco.providers.openai_compat import OpenAICompatProvider
from moco.testing import Reply, ScriptedOpenAIServer
from moco.tools.base import Tool, ToolRegistry, tool
from moco.tools.builtin import base_registry
from moco.tools.context import ToolContext

TOOLS = base_registry()


@tool(name="mcp__github__create_issue", mutates=True)
def create_issue(title: str) -> str:
    """Create an issue.

    Args:
        title: The title.
    """
    return title


@tool(name="mcp__time__now")
def time_now(zone: str = "UTC") -> str:
    """The time.

    Args:
        zone: A time zone.
    """
    return zone


TOOLS.register(create_issue)
TOOLS.register(time_now)


class StubApprover:
    """Answers every request with the next scripted answer and records the requests."""

    def __init__(self, *answers: Approval, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []
        self.delay = delay

    async def approve(self, request: ApprovalRequest) -> Approval:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answers.pop(0) if self.answers else Approval.deny("no more answers")


def context(workdir: Path, agent: str = "orchestrator", **state: Any) -> ToolContext:
    return ToolContext(workdir, agent=agent, lineage=(agent.rsplit(" > ", 1)[-1],),
                       state=dict(state))


def rules(value: Any, source: str = "profile.yaml") -> RuleSet:
    return default_rules().merged(parse_permissions(value, source))


async def decide(policy: PermissionPolicy, ctx: ToolContext, name: str, **arguments: Any):
    found = TOOLS.get(name)
    assert isinstance(found, Tool)
    return await policy.check(ToolCallPart("call-1", name, arguments), found, ctx)


async def action(policy: PermissionPolicy, ctx: ToolContext, name: str, **arguments: Any) -> str:
    decision = await decide(policy, ctx, name, **arguments)
    if decision.allowed:
        return "allow"
    return "ask" if "needs approval" in decision.message or "need approval" in \
        decision.message else "deny"


# --------------------------------------------------------------------------- parsing


def test_moco_format(tmp_path: Path) -> None:
    parsed = rules({
        "default": "allow", "edit": "ask", "mode": "ask-writes",
        "execute_bash": {"*": "allow", "git push*": "ask", "rm *": "deny"},
        "write_file": {"*.lock": "deny", "src/**": "allow"},
        "read_file": {".env*": "ask"}, "mcp__*": "ask",
    })
    assert parsed.mode == "ask-writes" and parsed.mode_source == "profile.yaml"
    assert parsed.resolve("execute_bash", (), "git push origin").action == "ask"
    assert parsed.resolve("execute_bash", (), "ls").action == "allow"
    assert parsed.resolve("edit_file", (), "a.py").action == "ask"
    assert parsed.resolve("write_file", (), "src/a.py").action == "allow"
    assert parsed.resolve("write_file", (), "src/poetry.lock").action == "deny"
    assert parsed.resolve("mcp__x__y").action == "ask"
    described = parsed.resolve("execute_bash", (), "rm -rf x").rule.describe_with_source()
    assert described == "execute_bash: {'rm *': deny}, from profile.yaml"


def test_opencode_permission_key() -> None:
    parsed = section_rules({"permission": {
        "edit": "ask", "bash": {"git push": "ask", "*": "allow"}, "webfetch": "deny",
    }}, "opencode.json")
    assert parsed.resolve("write_file").action == "ask"
    assert parsed.resolve("edit_file").action == "ask"
    assert parsed.resolve("execute_bash", (), "git push").action == "ask"
    assert parsed.resolve("execute_bash", (), "git push --force").action == "allow"
    assert parsed.resolve("web_fetch").action == "deny"


def test_claude_code_lists() -> None:
    parsed = rules({
        "allow": ["Bash(npm run test:*)", "Read", "mcp__github"],
        "ask": ["Bash(git push:*)"],
        "deny": ["Read(./.env)", "Edit(/etc/**)", "WebFetch(domain:example.com)"],
        "defaultMode": "plan",
    })
    assert parsed.mode == "read-only"
    assert parsed.resolve("execute_bash", (), "npm run test").action == "allow"
    assert parsed.resolve("execute_bash", (), "npm run test --watch").action == "allow"
    assert parsed.resolve("execute_bash", (), "git push origin main").action == "ask"
    assert parsed.resolve("execute_bash", (), "git pushy").action == "allow"  # default
    assert parsed.resolve("read_file", (), ".env").action == "deny"
    assert parsed.resolve("read_file", (), "config/.env").action == "deny"
    assert parsed.resolve("write_file", (), "/etc/passwd").action == "deny"
    assert parsed.resolve("edit_file", (), "/etc/hosts").action == "deny"
    assert parsed.resolve("mcp__github__create_issue").action == "allow"
    assert parsed.resolve("web_fetch", (), "https://api.example.com/x").action == "deny"
    assert parsed.resolve("web_fetch", (), "https://example.org/").action == "allow"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"execute_bash": "maybe"}, "'maybe' is not allow, ask or deny"),
        (["allow"], "must be a mapping"),
        ({"mode": "yolo"}, "'yolo' is not one of"),
        ({"allow": [3]}, "entries must be strings"),
        ({"deny": ["Bash(git"]}, "is not a rule"),
        ({"mcp__*": {"x": "ask"}}, "needs a tool name"),
        ({"write_file": ["a"]}, "expected allow, ask, deny or a mapping"),
    ],
)
def test_malformed_values_name_the_source(value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_permissions(value, "agent 'coder' (agents/coder.md)")
    assert "agent 'coder' (agents/coder.md)" in str(error.value)
    assert expected in str(error.value)


def test_config_yaml_errors_name_the_file(moco_home: Path) -> None:
    (moco_home / "config.yaml").write_text("permissions: {execute_bash: [\n")
    with pytest.raises(ConfigError, match=r"config\.yaml"):
        config_rules({"MOCO_HOME": str(moco_home)})
    (moco_home / "config.yaml").write_text("permissions: {read_file: sometimes}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml.*sometimes"):
        config_rules({"MOCO_HOME": str(moco_home)})


# --------------------------------------------------------------------------- precedence


def test_specific_beats_general() -> None:
    parsed = rules({
        "default": "deny",
        "execute_bash": {"*": "allow", "git push*": "ask", "git push --force*": "deny"},
        "write_file": {"src/**": "allow", "src/generated/**": "deny"},
    })
    assert parsed.resolve("execute_bash", (), "git status").action == "allow"
    assert parsed.resolve("execute_bash", (), "git push").action == "ask"
    assert parsed.resolve("execute_bash", (), "git push --force origin").action == "deny"
    assert parsed.resolve("write_file", (), "src/a.py").action == "allow"
    assert parsed.resolve("write_file", (), "src/generated/x.py").action == "deny"
    assert parsed.resolve("write_file", (), "README.md").action == "deny"  # default
    assert parsed.resolve("execute_bash", (), "git status").rule.source == "profile.yaml"


def test_deny_beats_allow_at_equal_specificity() -> None:
    parsed = rules({"write_file": {"a*": "allow", "*a": "deny"}})
    assert parsed.resolve("write_file", (), "aXa").action == "deny"
    assert parsed.resolve("write_file", (), "ab").action == "allow"
    same = rules({"allow": ["Bash(git push:*)"], "deny": ["Bash(git push:*)"]})
    assert same.resolve("execute_bash", (), "git push").action == "deny"


def test_agent_beats_profile_beats_config(moco_home: Path, tmp_path: Path) -> None:
    (moco_home / "config.yaml").write_text(
        "permissions:\n  execute_bash: {'git push*': deny, 'make*': ask}\n")
    profile = Profile(
        name="team", path=tmp_path,
        settings={"permissions": {"execute_bash": {"git push*": "ask"}}},
        agents={
            "coder": AgentSpec("coder", extra={"permissions": {"execute_bash": {
                "git push*": "allow"}}}),
            "reviewer": AgentSpec("reviewer"),
        },
    )
    env = {"MOCO_HOME": str(moco_home)}
    assert config_rules(env).resolve("execute_bash", (), "git push").action == "deny"
    policy = PermissionPolicy.from_sources(profile=profile, env=env)
    coder, reviewer = policy.agent_rules["coder"], policy.agent_rules["reviewer"]
    assert coder.resolve("execute_bash", (), "git push").action == "allow"
    assert reviewer.resolve("execute_bash", (), "git push").action == "ask"
    assert "profile 'team'" in reviewer.resolve("execute_bash", (), "git push").rule.source
    assert coder.resolve("execute_bash", (), "make all").action == "ask"  # from config
    flagged = PermissionPolicy.from_sources(
        profile=profile, env=env, flags=flag_rules(deny=["Bash(git push:*)"]))
    assert flagged.agent_rules["coder"].resolve("execute_bash", (), "git push").action == "deny"


async def test_policy_uses_the_calling_agents_rules(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({}), agent_rules={"coder": rules({"execute_bash": "deny"})})
    assert await action(policy, context(tmp_path, "orchestrator > coder"), "execute_bash",
                        command="ls") == "deny"
    assert await action(policy, context(tmp_path, "orchestrator"), "execute_bash",
                        command="ls") == "allow"


# --------------------------------------------------------------------------- defaults, modes


async def test_defaults_allow_the_hello_world_flow(tmp_path: Path) -> None:
    policy = PermissionPolicy.from_sources()
    ctx = context(tmp_path)
    content = "print('Hello, World!')\n"
    assert await action(policy, ctx, "write_file", path="hello.py", content=content) == "allow"
    assert await action(policy, ctx, "execute_bash", command="python hello.py") == "allow"
    assert await action(policy, ctx, "read_file", path="hello.py") == "allow"
    assert await action(policy, ctx, "edit_file", path="hello.py", old_string="World",
                        new_string="moco") == "allow"
    assert await action(policy, ctx, "execute_bash",
                        command="pip install -r requirements.txt && pytest -q") == "allow"


async def test_env_files_ask_and_are_denied_non_interactively(tmp_path: Path) -> None:
    policy = PermissionPolicy.from_sources()
    ctx = context(tmp_path)
    decision = await decide(policy, ctx, "read_file", path=".env")
    assert not decision.allowed
    assert decision.message.startswith("read_file '.env' needs approval — rerun with --yes, "
                                       "or allow it in profile.yaml permissions: "
                                       "read_file: {'.env': allow}")
    assert await action(policy, ctx, "read_file", path="config/.env.production") == "ask"
    assert await action(policy, ctx, "read_file", path=".env.example") == "allow"
    assert await action(policy, ctx, "execute_bash", command="cat .env | head") == "ask"
    assert await action(policy, ctx, "write_file", path=".env", content="A=1") == "allow"
    (tmp_path / ".env").write_text("A=1")
    (tmp_path / "notes.txt").symlink_to(tmp_path / ".env")
    assert await action(policy, ctx, "read_file", path="notes.txt") == "ask"
    allowed = PermissionPolicy(rules({"read_file": {".env": "allow"}}))
    assert await action(allowed, ctx, "read_file", path=".env") == "allow"


async def test_bash_advice_names_the_rule_to_add(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"execute_bash": {"git push*": "ask"}}))
    decision = await decide(policy, context(tmp_path), "execute_bash", command="git push")
    assert decision.message.startswith(
        "execute_bash 'git push' needs approval — rerun with --yes, or allow it in "
        "profile.yaml permissions: execute_bash: {'git push*': allow}")


async def test_yes_approves_asks_but_not_denies(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"execute_bash": {"rm *": "deny"}}), yes=True)
    ctx = context(tmp_path)
    assert await action(policy, ctx, "read_file", path=".env") == "allow"
    assert await action(policy, ctx, "execute_bash", command="ls; rm -rf build") == "deny"


async def test_read_only_denies_changes(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"write_file": "allow"}), read_only=True)
    ctx = context(tmp_path)
    decision = await decide(policy, ctx, "write_file", path="a.py", content="x")
    assert decision.message == ("read-only run: write_file is not allowed "
                                "(remove --read-only to allow changes)")
    assert await action(policy, ctx, "edit_file", path="a.py", old_string="a",
                        new_string="b") == "deny"
    assert await action(policy, ctx, "mcp__github__create_issue", title="x") == "deny"
    assert await action(policy, ctx, "mcp__time__now") == "allow"
    assert await action(policy, ctx, "read_file", path="a.py") == "allow"
    for command in ("npm install", "ls > files.txt", "git branch -D old", "find . -delete",
                    "sort -o out.txt in.txt", "git -c core.fsmonitor=x status", "echo \"unclosed"):
        decision = await decide(policy, ctx, "execute_bash", command=command)
        assert decision.message.startswith("read-only run: execute_bash is not allowed"), command
    for command in ("ls -la && git status", "git diff HEAD~1 | grep foo", "cat a.py 2>/dev/null",
                    "find . -name '*.py' | wc -l", "git log --oneline -5", "git branch -a"):
        assert await action(policy, ctx, "execute_bash", command=command) == "allow", command


async def test_read_only_mode_from_config_says_where(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"mode": "read-only"}, "profile 'safe'"))
    decision = await decide(policy, context(tmp_path), "write_file", path="a", content="")
    assert decision.message == ("read-only mode: write_file is not allowed "
                                "(mode: read-only is set in profile 'safe')")


async def test_strict_presets(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ask_writes = PermissionPolicy(rules({"mode": "ask-writes", "execute_bash": {
        "npm test*": "allow"}}))
    assert await action(ask_writes, ctx, "write_file", path="a", content="") == "ask"
    assert await action(ask_writes, ctx, "execute_bash", command="npm install") == "ask"
    assert await action(ask_writes, ctx, "execute_bash", command="npm test") == "allow"
    assert await action(ask_writes, ctx, "execute_bash", command="ls | grep x") == "allow"
    assert await action(ask_writes, ctx, "read_file", path="a") == "allow"
    ask_all = PermissionPolicy(rules({"default": "ask"}))
    assert await action(ask_all, ctx, "read_file", path="a") == "ask"
    assert await action(ask_all, ctx, "list_dir") == "ask"


# --------------------------------------------------------------------------- approvals


async def test_approver_once_and_deny(tmp_path: Path) -> None:
    approver = StubApprover(Approval.once(), Approval.deny("use a pull request"))
    policy = PermissionPolicy(rules({"execute_bash": {"git push*": "ask"}}), approver)
    ctx = context(tmp_path, "orchestrator > coder")
    assert (await decide(policy, ctx, "execute_bash", command="git push")).allowed
    decision = await decide(policy, ctx, "execute_bash", command="git push")
    assert decision.message == ("the user did not allow execute_bash 'git push': "
                                "use a pull request")
    request = approver.requests[0]
    assert (request.agent, request.tool, request.kind) == ("orchestrator > coder",
                                                           "execute_bash", "command")
    assert request.description == "git push" and request.arguments == {"command": "git push"}
    assert request.rule == "execute_bash: {'git push*': ask}, from profile.yaml"
    assert len(approver.requests) == 2  # "once" is not remembered


async def test_always_for_a_compound_command_grants_only_its_commands(tmp_path: Path) -> None:
    approver = StubApprover(Approval.always(), Approval.once(), Approval.once())
    policy = PermissionPolicy(rules({"execute_bash": "ask"}), approver)
    ctx = context(tmp_path)
    assert (await decide(policy, ctx, "execute_bash", command="git add . && git push")).allowed
    first = approver.requests[0]
    assert first.grants == ("git add .", "git push")
    assert first.always == "these exact commands: 'git add .', 'git push'"
    assert ctx.state["permission_grants"] == [["execute_bash", "git add ."],
                                              ["execute_bash", "git push"]]
    assert (await decide(policy, ctx, "execute_bash", command="git push")).allowed
    assert (await decide(policy, ctx, "execute_bash", command="git add .  ;git push")).allowed
    assert len(approver.requests) == 1
    assert (await decide(policy, ctx, "execute_bash", command="git push --force")).allowed
    assert approver.requests[1].grants == ("git push --force",)
    await decide(policy, ctx, "execute_bash", command="git add . && rm -rf src")
    assert approver.requests[2].grants == ("rm -rf src",)
    # the grants live in the session state: a new policy (a later turn) honours them
    later = PermissionPolicy(rules({"execute_bash": "ask"}))
    assert await action(later, ctx, "execute_bash", command="git push") == "allow"
    assert await action(later, ctx, "execute_bash", command="git pull") == "ask"


async def test_always_for_a_path_rule_grants_that_path(tmp_path: Path) -> None:
    approver = StubApprover(Approval.always(), Approval.always())
    policy = PermissionPolicy(rules({"mode": "ask-writes"}), approver)
    ctx = context(tmp_path)
    assert (await decide(policy, ctx, "read_file", path=".env")).allowed
    assert approver.requests[0].always == "read_file on '.env'"
    assert (await decide(policy, ctx, "read_file", path="./.env")).allowed
    assert await action(PermissionPolicy(rules({})), ctx, "read_file", path="a/.env") == "ask"
    assert (await decide(policy, ctx, "write_file", path="a.txt", content="x")).allowed
    assert approver.requests[1].always == "every write_file call"
    assert (await decide(policy, ctx, "write_file", path="b.txt", content="x")).allowed
    assert len(approver.requests) == 2


async def test_parallel_asks_are_asked_one_at_a_time(tmp_path: Path) -> None:
    approver = StubApprover(Approval.always(), delay=0.05)
    policy = PermissionPolicy(rules({"execute_bash": "ask"}), approver)
    ctx = context(tmp_path)
    results = await asyncio.gather(
        *[decide(policy, ctx, "execute_bash", command="make") for _ in range(3)])
    assert all(result.allowed for result in results)
    assert len(approver.requests) == 1


async def test_diff_preview_of_a_change(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("a = 1\nb = 2\n")
    approver = StubApprover(Approval.once(), Approval.once(), Approval.once())
    policy = PermissionPolicy(rules({"edit": "ask"}), approver)
    ctx = context(tmp_path)
    await decide(policy, ctx, "edit_file", path="app.py", old_string="b = 2", new_string="b = 3")
    request = approver.requests[0]
    assert request.kind == "diff"
    assert request.description.splitlines() == [
        "--- a/app.py", "+++ b/app.py", "@@ -1,2 +1,2 @@", " a = 1", "-b = 2", "+b = 3"]
    big = "".join(f"line {n}\n" for n in range(200))
    await decide(policy, ctx, "write_file", path="new.txt", content=big)
    lines = approver.requests[1].description.splitlines()
    assert lines[0] == "--- /dev/null" and len(lines) == 81
    assert lines[-1] == "... (123 more diff lines not shown)"
    await decide(policy, ctx, "write_file", path="../outside.txt", content="x")
    assert approver.requests[2].kind == "call"


# --------------------------------------------------------------------------- skills, MCP, shell


async def test_skill_pre_approval_turns_ask_into_allow(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"execute_bash": {"*": "ask", "git push*": "deny"}}))
    loaded = [{"name": "git-helper", "path": "/skills/git-helper",
               "allowed_tools": ["execute_bash(git:*)", "read_file"]}]
    ctx = context(tmp_path, loaded_skills=loaded)
    assert await action(policy, ctx, "execute_bash", command="git status") == "allow"
    assert await action(policy, ctx, "execute_bash", command="git status && ls") == "ask"
    assert await action(policy, ctx, "execute_bash", command="git push") == "deny"
    assert await action(policy, ctx, "read_file", path=".env") == "allow"
    assert await action(policy, context(tmp_path), "execute_bash", command="git status") == "ask"


async def test_mcp_wildcards(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"mcp__*": "ask", "mcp__time__*": "allow"}))
    ctx = context(tmp_path)
    assert await action(policy, ctx, "mcp__time__now") == "allow"
    decision = await decide(policy, ctx, "mcp__github__create_issue", title="bug")
    assert decision.message.startswith("mcp__github__create_issue needs approval — rerun with "
                                       "--yes, or allow it in profile.yaml permissions: "
                                       "mcp__github__create_issue: allow")
    assert await action(policy, ctx, "list_dir") == "allow"
    server = PermissionPolicy(rules({"mcp__*": "allow", "deny": ["mcp__github"]}))
    assert await action(server, ctx, "mcp__github__create_issue", title="x") == "deny"
    assert await action(server, ctx, "mcp__time__now") == "allow"


@pytest.mark.parametrize(
    "command",
    [
        "ls && git push",
        "ls; git push origin main",
        "echo $(git push)",
        "echo `git push`",
        "bash -c 'git push'",
        "sudo git push",
        "timeout 60 git push",
        "FOO=1 git push",
        "/usr/bin/git push",
        "sudo -u deploy /usr/bin/git push",
        "cat <<EOF | sh\nhello\nEOF\ngit push",
        "if true; then git push; fi",
    ],
)
async def test_rules_see_every_simple_command(tmp_path: Path, command: str) -> None:
    policy = PermissionPolicy(rules({"execute_bash": {"git push*": "deny"}}))
    assert await action(policy, context(tmp_path), "execute_bash", command=command) == "deny"


async def test_command_patterns_do_not_allow_more_than_they_say(tmp_path: Path) -> None:
    policy = PermissionPolicy(rules({"execute_bash": {"*": "ask", "git status": "allow",
                                                      "npm run test:*": "allow"}}))
    ctx = context(tmp_path)
    assert await action(policy, ctx, "execute_bash", command="git status") == "allow"
    assert await action(policy, ctx, "execute_bash", command="npm run test -- -x") == "allow"
    for command in ("git status; rm -rf x", "git status && curl x | sh", "npm run testing",
                    "git status $(touch x)", "git status 'unclosed"):
        assert await action(policy, ctx, "execute_bash", command=command) == "ask", command


# --------------------------------------------------------------------------- end to end


async def test_denied_call_reaches_the_model_and_nothing_is_written(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(
        Reply.call("write_file", {"path": "poetry.lock", "content": "broken"}),
        Reply.call("read_file", {"path": ".env"}),
        Reply.say("I could not do it."),
    )
    (tmp_path / ".env").write_text("SECRET=1\n")
    policy = PermissionPolicy(rules({"write_file": {"*.lock": "deny"}}))
    provider = OpenAICompatProvider(api_key="k", base_url=scripted_openai.base_url,
                                    retry=RetryPolicy(max_retries=0))
    agent = AgentRuntime(name="assistant", provider=provider, model="gpt-4o",
                         system_prompt="You help.", tools=ToolRegistry(TOOLS),
                         context=context(tmp_path, "assistant"), policies=[policy])
    messages = [Message.user("update the lock file")]
    _ = [event async for event in agent.run(messages, task="go")]
    assert not (tmp_path / "poetry.lock").exists()
    sent = _tool_messages(scripted_openai.requests[1].body)
    assert sent == ["Error: write_file 'poetry.lock' is denied by the rule "
                    "write_file: {'*.lock': deny}, from profile.yaml"]
    env_answer = _tool_messages(scripted_openai.requests[2].body)[-1]
    assert env_answer.startswith("Error: read_file '.env' needs approval — rerun with --yes")
    assert "SECRET" not in env_answer


def _tool_messages(body: Mapping[str, Any]) -> list[str]:
    return [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]
