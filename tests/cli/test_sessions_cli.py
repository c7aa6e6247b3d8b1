"""Sessions through the CLI: --session, --continue, --new and `moco sessions ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moco.testing import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.slow


def moco(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moco", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(scripted_openai: ScriptedOpenAIServer) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return {**clean, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url}


def roles(server: ScriptedOpenAIServer, index: int) -> list[str]:
    return [m["role"] for m in server.requests[index].body["messages"]]


def test_named_continue_and_new_sessions(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(*[Reply.say(f"answer {i}") for i in range(5)])
    assert moco("run", "first", "-s", "work", env=env, cwd=tmp_path).returncode == 0
    assert moco("run", "second", "-s", "work", env=env, cwd=tmp_path).returncode == 0
    assert roles(scripted_openai, 1) == ["system", "user", "assistant", "user"]
    assert moco("run", "third", "-c", env=env, cwd=tmp_path).returncode == 0
    assert len(roles(scripted_openai, 2)) == 6
    assert moco("run", "fresh", "--new", env=env, cwd=tmp_path).returncode == 0
    assert roles(scripted_openai, 3) == ["system", "user"]
    both = moco("run", "x", "--new", "-c", env=env, cwd=tmp_path)
    assert both.returncode == 2 and "--new cannot be combined" in both.stderr

    listing = moco("sessions", "list", "--json", env=env, cwd=tmp_path)
    sessions = json.loads(listing.stdout)
    named = next(s for s in sessions if s["name"] == "work")
    assert named["message_count"] == 6 and len(sessions) == 2
    shown = moco("sessions", "show", "work", env=env, cwd=tmp_path)
    assert "first" in shown.stdout and "answer 2" in shown.stdout
    exported = json.loads(moco("sessions", "export", "work", "--format", "json", env=env,
                               cwd=tmp_path).stdout)
    assert [m["message"]["role"] for m in exported["messages"]][:2] == ["user", "assistant"]
    assert moco("sessions", "delete", "work", "--yes", env=env, cwd=tmp_path).returncode == 0
    missing = moco("sessions", "show", "work", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_a_killed_run_loses_nothing_and_continues(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    import signal
    import time

    scripted_openai.add(
        Reply.call("write_file", {"path": "a.txt", "content": "one"}),
        Reply.say("never delivered", latency=30),
        Reply.say("continued"),
    )
    process = subprocess.Popen([sys.executable, "-m", "moco", "run", "write a.txt"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(scripted_openai.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(scripted_openai.requests) == 2, "the run never reached its second request"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    resumed = moco("run", "go on", "-c", env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "continued"
    sent = scripted_openai.requests[2].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[1]["content"] == "write a.txt" and sent[-1]["content"] == "go on"
    assert (tmp_path / "a.txt").read_text() == "one"


def test_ctrl_c_cancels_the_run_and_keeps_the_partial_answer(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    import signal
    import time

    scripted_openai.add(Reply.say("word " * 400, chunk_delay=0.02), Reply.say("resumed"))
    process = subprocess.Popen([sys.executable, "-m", "moco", "run", "talk"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    for _ in range(600):  # piped output is held per model call: wait for the request
        if scripted_openai.requests:
            break
        time.sleep(0.05)
    assert scripted_openai.requests, "the model was never asked"
    time.sleep(0.5)  # the answer is streaming (400 words, 8 s in all)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "cancelled" in err and "Traceback" not in err
    resumed = moco("run", "go on", "-c", env=env, cwd=tmp_path)
    assert resumed.returncode == 0 and resumed.stdout.strip() == "resumed"
    sent = scripted_openai.requests[1].body["messages"]
    assert sent[2]["role"] == "assistant" and sent[2]["content"].endswith("[cancelled]")
