"""Profile loading: search order, agent files, tool selections, profile tools and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from moco.errors import ConfigError
from moco.profiles import (
    AgentSpec,
    Profile,
    default_variables,
    list_profiles,
    load_agent,
    load_profile,
    render_prompt,
)
from moco.profiles.loader import normalize_tools

AGENT = "---\ndescription: {description}\nmode: primary\n---\nYou help.\n"


def make_profile(
    root: Path,
    name: str,
    *,
    profile_yaml: str | None = "description: a test profile\n",
    agents: dict[str, str] | None = None,
    tools: dict[str, str] | None = None,
) -> Path:
    directory = root / name
    (directory / "agents").mkdir(parents=True)
    if profile_yaml is not None:
        (directory / "profile.yaml").write_text(profile_yaml)
    for agent, text in (agents or {"main": AGENT.format(description=name)}).items():
        (directory / "agents" / f"{agent}.md").write_text(text)
    if tools:
        (directory / "tools").mkdir()
        for filename, code in tools.items():
            (directory / "tools" / filename).write_text(textwrap.dedent(code))
    return directory


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "work": tmp_path / "work",
        "home": tmp_path / "home",
        "moco_home": tmp_path / "moco_home",
        "env1": tmp_path / "env1",
        "env2": tmp_path / "env2",
    }
    for path in paths.values():
        path.mkdir()
    return paths


@pytest.fixture
def env(places: dict[str, Path]) -> dict[str, str]:
    return {
        "HOME": str(places["home"]),
        "MOCO_HOME": str(places["moco_home"]),
        "MOCO_PROFILES_PATH": f"{places['env1']}:{places['env2']}",
    }


def load(name: str, places: dict[str, Path], env: dict[str, str]) -> Profile:
    return load_profile(name, working_dir=places["work"], env=env)


# --------------------------------------------------------------------------- search


def test_search_order_project_user_env_builtin(
    places: dict[str, Path], env: dict[str, str]
) -> None:
    assert load("default", places, env).source == "builtin"
    make_profile(places["env2"], "default")
    assert load("default", places, env).source == "env"
    make_profile(places["env1"], "default")
    assert load("default", places, env).path == places["env1"] / "default"
    make_profile(places["home"] / ".moco" / "profiles", "default")
    assert load("default", places, env).path == places["home"] / ".moco/profiles/default"
    make_profile(places["moco_home"] / "profiles", "default")
    found = load("default", places, env)
    assert (found.source, found.path) == ("user", places["moco_home"] / "profiles/default")
    make_profile(places["work"] / ".moco" / "profiles", "default")
    found = load("default", places, env)
    assert (found.source, found.path) == ("project", places["work"] / ".moco/profiles/default")


def test_working_dir_defaults_to_cwd(
    places: dict[str, Path], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_profile(places["work"] / ".moco" / "profiles", "local")
    monkeypatch.chdir(places["work"])
    assert load_profile("local", env=env).source == "project"


def test_env_mapping_is_the_only_environment_read(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_profile(places["env1"], "elsewhere")
    monkeypatch.setenv("MOCO_PROFILES_PATH", str(places["env1"]))
    assert load_profile("elsewhere", working_dir=places["work"]).source == "env"
    with pytest.raises(ConfigError):
        load_profile("elsewhere", working_dir=places["work"], env={"HOME": str(places["home"])})


def test_profile_given_as_a_path(
    tmp_path: Path, places: dict[str, Path], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = make_profile(tmp_path / "anywhere", "team")
    for given in (str(directory), directory):
        profile = load_profile(given, working_dir=places["work"], env=env)
        assert (profile.name, profile.source, profile.path) == ("team", "path", directory)
    monkeypatch.chdir(tmp_path / "anywhere")
    assert load_profile("./team", env=env).path == directory
    with pytest.raises(ConfigError, match="profile folder not found"):
        load_profile(str(tmp_path / "missing"), env=env)


def test_unknown_profile_lists_available_ones(places: dict[str, Path], env: dict[str, str]) -> None:
    make_profile(places["env1"], "research")
    with pytest.raises(ConfigError) as caught:
        load("nope", places, env)
    message = str(caught.value)
    assert "unknown profile 'nope'" in message
    assert "default" in message and "research" in message
    assert "\n" not in message


def test_list_profiles(places: dict[str, Path], env: dict[str, str]) -> None:
    make_profile(places["work"] / ".moco" / "profiles", "default", profile_yaml="description: mine")
    make_profile(
        places["env1"], "team", agents={"a": AGENT.format(description="a"), "b": "Just a body."}
    )
    make_profile(places["env2"], "broken", profile_yaml="description: [oops\n")
    make_profile(places["env2"], "team")  # shadowed by env1's
    (places["env2"] / "not_a_profile").mkdir()
    infos = {info.name: info for info in list_profiles(places["work"], env)}
    assert {"default", "team", "broken"} <= set(infos)
    assert (infos["default"].source, infos["default"].description) == ("project", "mine")
    assert (infos["team"].agent_count, infos["team"].location) == (2, places["env1"] / "team")
    assert infos["broken"].error and "profile.yaml" in infos["broken"].error
    assert infos["team"].error is None


def test_list_profiles_includes_builtin_default(
    places: dict[str, Path], env: dict[str, str]
) -> None:
    infos = {info.name: info for info in list_profiles(places["work"], env)}
    assert infos["default"].source == "builtin"
    assert infos["default"].agent_count >= 1
    assert infos["default"].error is None
    assert infos["default"].description


# --------------------------------------------------------------------------- built-in


def test_builtin_default_profile_loads_and_renders(
    places: dict[str, Path], env: dict[str, str]
) -> None:
    profile = load("default", places, env)
    assert profile.source == "builtin" and profile.include_base_tools
    agent = profile.primary_agent()
    assert agent.name == "assistant" and agent.mode == "primary" and agent.tools is None
    assert agent.description
    variables = default_variables(places["work"])
    prompt = render_prompt(agent.prompt, variables)
    assert "{{" not in prompt
    assert variables["WORKING_DIRECTORY"] in prompt
    assert variables["CURRENT_DATETIME"] in prompt
    assert 1500 < len(prompt.encode()) < 4096
    for name in ("todowrite", "edit_file", "execute_bash", "read"):
        assert name in prompt


# --------------------------------------------------------------------------- agents


def test_agent_file_fields(tmp_path: Path) -> None:
    path = tmp_path / "reviewer.md"
    path.write_text(
        "---\n"
        "name: code-reviewer\n"
        "description: Reviews code\n"
        "mode: subagent\n"
        "tools: Read, Grep, Glob\n"
        "model: openai/gpt-4o\n"
        "temperature: 0\n"
        "maxSteps: 12\n"
        "color: blue\n"
        "---\n"
        "\n"
        "# Reviewer\n"
        "Review carefully.\n"
    )
    agent = load_agent(path)
    assert agent == AgentSpec(
        name="reviewer",
        description="Reviews code",
        mode="subagent",
        tools=("read_file", "grep", "glob_search"),
        model="openai/gpt-4o",
        temperature=0.0,
        max_turns=12,
        prompt="# Reviewer\nReview carefully.",
        path=path,
        extra={"color": "blue"},
    )


def test_agent_without_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("You are plain.\n\n---\n\nStill the body.\n")
    agent = load_agent(path)
    assert (agent.description, agent.mode, agent.tools) == ("", "all", None)
    assert agent.prompt == "You are plain.\n\n---\n\nStill the body."


def test_model_inherit_means_none(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\nmodel: inherit\n---\nHi")
    assert load_agent(path).model is None


@pytest.mark.parametrize(
    ("value", "allowed", "excluded"),
    [
        (None, None, ()),
        ("*", None, ()),
        (["*"], None, ()),
        ([], (), ()),
        (["read_file", "grep", "read_file"], ("read_file", "grep"), ()),
        (
            "Read, Write, Edit, Bash, Grep, Glob, LS",
            (
                "read_file",
                "write_file",
                "edit_file",
                "execute_bash",
                "grep",
                "glob_search",
                "list_dir",
            ),
            (),
        ),
        ("TodoWrite TodoRead", ("todowrite", "todoread"), ()),
        (["MultiEdit", "Edit", "mcp_*"], ("edit_file", "mcp_*"), ()),
        ({"write": False, "edit": False, "bash": True}, ("execute_bash",),
         ("write_file", "edit_file")),
        ({"write": False, "edit": False}, None, ("write_file", "edit_file")),
        ({"read": True, "grep": True}, ("read_file", "grep"), ()),
        ({"*": True, "read": True, "bash": False}, None, ("execute_bash",)),
        ({"websearch": True, "webfetch": True}, ("web_search", "web_fetch"), ()),
        (
            {"*": False, "read": True, "mcp_*": True, "mcp_bad": False},
            ("read_file", "mcp_*"),
            ("mcp_bad",),
        ),
        ({"*": True, "mcp_*": False}, None, ("mcp_*",)),
    ],
)
def test_tool_selection_forms(
    value: object, allowed: tuple[str, ...] | None, excluded: tuple[str, ...]
) -> None:
    assert normalize_tools(value, Path("x.md")) == (allowed, excluded)


def test_allows_tool_with_wildcards() -> None:
    agent = AgentSpec(name="a", tools=("read_file", "mcp_*"), excluded_tools=("mcp_bad",))
    assert agent.allows_tool("read_file") and agent.allows_tool("mcp_search")
    assert not agent.allows_tool("mcp_bad") and not agent.allows_tool("execute_bash")
    everything = AgentSpec(name="b", excluded_tools=("write_file",))
    assert everything.allows_tool("anything") and not everything.allows_tool("write_file")


def test_tools_front_matter_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\ntools:\n  write: false\n  mymcp_*: false\n---\nHi")
    agent = load_agent(path)
    assert (agent.tools, agent.excluded_tools) == (None, ("write_file", "mymcp_*"))


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        ("tools: 3", "'tools' must be"),
        ("tools: [Read, 3]", "'tools' list entries"),
        ("tools: {read: maybe}", "'tools' map entries"),
        ("mode: boss", "unknown mode 'boss'"),
        ("temperature: hot", "'temperature' must be a number"),
        ("max_turns: 0", "'max_turns' must be a positive"),
        ("description: [a, b]", "'description' must be text"),
    ],
)
def test_invalid_front_matter_values(tmp_path: Path, front_matter: str, expected: str) -> None:
    path = tmp_path / "bad_agent.md"
    path.write_text(f"---\n{front_matter}\n---\nbody")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_agent(path)
    assert str(path) in str(caught.value)


def test_front_matter_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "listy.md"
    path.write_text("---\n- a\n- b\n---\nbody")
    with pytest.raises(ConfigError, match="front matter must be a mapping") as caught:
        load_agent(path)
    assert "listy.md" in str(caught.value)


def test_unclosed_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "open.md"
    path.write_text("---\ndescription: x\nbody")
    with pytest.raises(ConfigError, match="never closed"):
        load_agent(path)


def test_malformed_front_matter_names_file_and_line(
    places: dict[str, Path], env: dict[str, str]
) -> None:
    agent = "---\ndescription: fine\nmode: primary\ntools: : nope\n---\nbody\n"
    make_profile(places["env1"], "team", agents={"writer": agent})
    with pytest.raises(ConfigError) as caught:
        load("team", places, env)
    message = str(caught.value)
    assert "writer.md" in message and "line 4" in message


def test_malformed_profile_yaml_names_file_and_line(
    places: dict[str, Path], env: dict[str, str]
) -> None:
    make_profile(places["env1"], "team", profile_yaml="description: x\nnote: ok\nbad: : here\n")
    with pytest.raises(ConfigError) as caught:
        load("team", places, env)
    message = str(caught.value)
    assert "profile.yaml" in message and "line 3" in message


@pytest.mark.parametrize(
    ("profile_yaml", "expected"),
    [
        ("- just\n- a list\n", "must be a mapping"),
        ("include_base_tools: sometimes\n", "'include_base_tools' must be true or false"),
        ("default_agent: ghost\n", "default_agent 'ghost' is not one of the agents"),
    ],
)
def test_invalid_profile_yaml(
    places: dict[str, Path], env: dict[str, str], profile_yaml: str, expected: str
) -> None:
    make_profile(places["env1"], "team", profile_yaml=profile_yaml)
    with pytest.raises(ConfigError, match=expected):
        load("team", places, env)


def test_profile_without_agents(places: dict[str, Path], env: dict[str, str]) -> None:
    directory = make_profile(places["env1"], "empty")
    (directory / "agents" / "main.md").unlink()
    with pytest.raises(ConfigError, match="has no agents"):
        load("empty", places, env)


# --------------------------------------------------------------------------- profile fields


def test_profile_fields_and_settings(places: dict[str, Path], env: dict[str, str]) -> None:
    directory = make_profile(
        places["env1"],
        "team",
        profile_yaml=(
            "name: team\ndescription: A team\ninclude_base_tools: false\n"
            "default_agent: lead\nmcp_servers:\n  fs: {command: npx}\n"
        ),
        agents={"lead": "Lead.", "helper": AGENT.format(description="helps")},
    )
    (directory / "skills").mkdir()
    profile = load("team", places, env)
    assert profile.description == "A team" and not profile.include_base_tools
    assert list(profile.agents) == ["helper", "lead"]
    assert profile.primary_agent().name == "lead"
    assert profile.settings == {"mcp_servers": {"fs": {"command": "npx"}}}
    assert profile.skills_dir == directory / "skills"
    assert profile.tools == ()


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        ({"a": "---\nmode: subagent\n---\nA", "b": "---\nmode: primary\n---\nB"}, "b"),
        ({"a": "A", "orchestrator": "O", "z": "---\nmode: subagent\n---\nZ"}, "orchestrator"),
        ({"b": "B", "a": "A"}, "a"),
    ],
)
def test_primary_agent_fallbacks(
    places: dict[str, Path], env: dict[str, str], agents: dict[str, str], expected: str
) -> None:
    make_profile(places["env1"], "team", profile_yaml=None, agents=agents)
    assert load("team", places, env).primary_agent().name == expected


# --------------------------------------------------------------------------- profile tools

GOOD_TOOLS = '''
from moco.tools.base import tool

HELPER_CONSTANT = 3


@tool
def shout(text: str) -> str:
    """Upper-case the text.

    Args:
        text: what to shout
    """
    return text.upper()


@tool(name="count_words", mutates=False)
def words(text: str) -> int:
    """Count words.

    Args:
        text: the text
    """
    return len(text.split())


def not_a_tool(x: int) -> int:
    return x
'''


async def test_profile_tools_only_marked_functions(
    places: dict[str, Path], env: dict[str, str]
) -> None:
    make_profile(
        places["env1"],
        "team",
        tools={"text.py": GOOD_TOOLS, "_private.py": "raise RuntimeError('never imported')"},
    )
    profile = load("team", places, env)
    assert sorted(item.name for item in profile.tools) == ["count_words", "shout"]
    shout = next(item for item in profile.tools if item.name == "shout")
    from moco.tools.context import ToolContext

    assert await shout.invoke(ToolContext(working_dir=places["work"]), {"text": "hi"}) == "HI"
    again = load("team", places, env)  # loading twice is fine
    assert len(again.tools) == 2


def test_listing_does_not_import_tools(places: dict[str, Path], env: dict[str, str]) -> None:
    make_profile(places["env1"], "team", tools={"boom.py": "raise RuntimeError('boom')"})
    info = next(item for item in list_profiles(places["work"], env) if item.name == "team")
    assert info.error is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("raise RuntimeError('kaboom')", "RuntimeError: kaboom"),
        ("def broken(:\n    pass\n", "SyntaxError"),
        ("import moco_no_such_module_xyz\n", "ModuleNotFoundError"),
        (
            "from moco.tools.base import tool\n\n@tool\ndef f(x: int) -> int:\n"
            "    '''No args section.'''\n    return x\n",
            "ToolDefinitionError",
        ),
    ],
)
def test_broken_tools_file_names_it(
    places: dict[str, Path], env: dict[str, str], code: str, expected: str
) -> None:
    make_profile(places["env1"], "team", tools={"broken_tools.py": code})
    with pytest.raises(ConfigError) as caught:
        load("team", places, env)
    message = str(caught.value)
    assert "broken_tools.py" in message and expected in message
    assert "\n" not in message


def test_duplicate_tool_names_across_files(places: dict[str, Path], env: dict[str, str]) -> None:
    make_profile(places["env1"], "team", tools={"a.py": GOOD_TOOLS, "b.py": GOOD_TOOLS})
    with pytest.raises(ConfigError, match=r"tool '(shout|count_words)' is also defined"):
        load("team", places, env)
