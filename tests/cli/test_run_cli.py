"""`moco run` end to end: a real subprocess, the real SDK, a scripted server."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fixtures.media import pdf_bytes, png_bytes

from moco.testing import Reply, ScriptedOpenAIServer, ToolCall

pytestmark = pytest.mark.slow


def moco(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moco", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    clean.pop("MOCO_DEFAULT_PROVIDER", None)
    return clean


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def test_run_creates_a_script_and_prints_the_answer(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(
        Reply.call("write_file", {"path": "hello.py", "content": "print('Hello, World!')\n"}),
        Reply.call("execute_bash", {"command": "python3 hello.py"}),
        Reply.say("Created hello.py; running it prints Hello, World!"),
    )
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    result = moco("run", "Create a Python script that prints 'Hello, World!'", env=env, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Created hello.py; running it prints Hello, World!"
    assert "write_file" in result.stderr and "execute_bash" in result.stderr
    assert (project / "hello.py").read_text() == "print('Hello, World!')\n"
    tool_result = scripted_openai.requests[2].body["messages"][-1]
    assert tool_result["role"] == "tool" and "Hello, World!" in tool_result["content"]
    first = scripted_openai.requests[0]
    # 21 base tools (web and git joined the 14 of the seed, then codebase_search: +440 bytes)
    # and the default prompt: ~12.3 kB (memory is off in the suite: memory_search and
    # memory_save add ~660 bytes more when it is on)
    assert first.size < 12.5 * 1024, f"first request is {first.size} bytes"
    assert str(project) in first.body["messages"][0]["content"]


def test_json_output_is_one_event_per_line(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    (project / "notes.txt").write_text("alpha\nbeta\n")
    scripted_openai.add(Reply.call("read_file", {"path": "notes.txt"}), Reply.say("Two lines."))
    env.update(OPENAI_API_KEY="sk-test")
    result = moco(
        "run",
        "Summarize notes.txt",
        "--json",
        "--base-url",
        scripted_openai.base_url,
        "-w",
        str(project),
        env=env,
        cwd=project.parent,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {"tool_call_started", "tool_call_finished", "text_delta", "usage", "message"} <= set(
        kinds
    )
    finished = events[-1]
    assert finished["status"] == "completed" and finished["output"] == "Two lines."
    read = next(e for e in events if e["type"] == "tool_call_finished")
    assert "alpha" in read["result"]
    assert all(e["agent"] == "assistant" for e in events)


def test_no_key_gives_one_line_and_exit_2(env: dict[str, str], project: Path) -> None:
    result = moco("run", "hello", env=env, cwd=project)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    for needed in ("OPENAI_API_KEY", "GENAI_API_KEY", "ZAI_API_KEY", "--base-url"):
        assert needed in lines[0]


def test_rejected_key_is_explained(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.error(401, "Incorrect API key provided"))
    env.update(OPENAI_API_KEY="sk-wrong", OPENAI_BASE_URL=scripted_openai.base_url)
    result = moco("run", "hello", "-P", "openai", env=env, cwd=project)
    assert result.returncode == 1
    assert (
        "OPENAI_API_KEY was rejected (401) — check the key or choose another provider with -P"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert len(scripted_openai.requests) == 1


def test_provider_and_model_flags_reach_the_wire(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.say("one"), Reply.say("two"))
    env.update(ZAI_API_KEY="zai-test", ZAI_BASE_URL=scripted_openai.base_url)
    assert (
        moco("run", "x", "-P", "zai/glm-4.5", "--no-stream", env=env, cwd=project).returncode == 0
    )
    assert moco("run", "x", "-P", "zai", "-m", "glm-4.6", env=env, cwd=project).returncode == 0
    assert [r.body["model"] for r in scripted_openai.requests] == ["glm-4.5", "glm-4.6"]
    assert scripted_openai.requests[0].headers["authorization"] == "Bearer zai-test"


def test_unknown_profile_and_bad_yaml(env: dict[str, str], project: Path) -> None:
    env.update(OPENAI_API_KEY="sk-test")
    result = moco("run", "x", "-p", "nope", env=env, cwd=project)
    assert (
        result.returncode == 2 and "default" in result.stderr and "Traceback" not in result.stderr
    )
    broken = project / ".moco" / "profiles" / "broken"
    (broken / "agents").mkdir(parents=True)
    (broken / "profile.yaml").write_text("name: broken\ndescription: [unclosed\n")
    (broken / "agents" / "a.md").write_text("---\ndescription: x\n---\nHi\n")
    result = moco("run", "x", "-p", "broken", env=env, cwd=project)
    assert result.returncode == 2
    assert "profile.yaml" in result.stderr and "line" in result.stderr


def test_max_turns_exits_non_zero(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(*[Reply.calls(ToolCall("list_dir", {"path": "."}))] * 2)
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    result = moco("run", "loop", "--max-turns", "2", env=env, cwd=project)
    assert result.returncode == 1
    assert "stopped after 2 turns" in result.stderr


def test_version_help_and_list_profiles(env: dict[str, str], project: Path) -> None:
    assert moco("version", env=env, cwd=project).stdout.startswith("moco ")
    assert "run" in moco("--help", env=env, cwd=project).stdout
    listing = moco("list-profiles", env=env, cwd=project)
    assert listing.returncode == 0 and "default" in listing.stdout and "builtin" in listing.stdout


def test_allow_outside_lets_file_tools_leave_the_working_directory(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    outside = project.parent / "shared-notes.txt"
    outside.write_text("outside words\n")
    call = Reply.call("read_file", {"path": str(outside)})
    scripted_openai.add(call, Reply.say("refused"), call, Reply.say("read it"))
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    assert moco("run", "read it", env=env, cwd=project).returncode == 0
    refused = scripted_openai.requests[1].body["messages"][-1]["content"]
    assert "outside the working directory" in refused and "--allow-outside" in refused
    assert moco("run", "read it", "--allow-outside", env=env, cwd=project).returncode == 0
    assert "outside words" in scripted_openai.requests[3].body["messages"][-1]["content"]


def test_images_and_files_reach_the_request(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.say("A red square and an invoice."))
    png = png_bytes()
    (project / "shot.png").write_bytes(png)
    (project / "invoice.pdf").write_bytes(pdf_bytes("Invoice total 42 EUR"))
    (project / "notes.txt").write_text("ship on Friday\n")
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    result = moco("run", "What are these?", "--image", "shot.png", "--file", "invoice.pdf",
                  "--file", "notes.txt", env=env, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "A red square and an invoice."
    content = scripted_openai.requests[0].body["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "file", "text"]
    assert content[1]["image_url"]["url"] == (
        "data:image/png;base64," + base64.b64encode(png).decode())
    assert content[2]["file"]["filename"] == "invoice.pdf"
    assert content[3]["text"] == "[file notes.txt]\nship on Friday\n"


def test_a_text_only_model_is_refused_before_any_request(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    (project / "shot.png").write_bytes(png_bytes())
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    result = moco("run", "What is this?", "--image", "shot.png", "--model", "deepseek-chat",
                  env=env, cwd=project)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "deepseek-chat does not take images" in lines[0], result.stderr
    assert scripted_openai.requests == []


def test_a_missing_image_is_one_line(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    result = moco("run", "What is this?", "--image", "nope.png", env=env, cwd=project)
    assert result.returncode != 0 and result.stderr.strip().count("\n") == 0
    assert "no such file" in result.stderr and scripted_openai.requests == []
