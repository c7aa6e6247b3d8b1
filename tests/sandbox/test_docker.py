"""``--sandbox``: the run's shell in one Docker container, against a real engine.

The image is built with no registry by ``scripts/docker-test-image.sh`` (busybox: ``sh``, no
``bash``); ``MOCO_DOCKER_TEST_IMAGE`` names another. Without an engine or the image these
tests skip and say why; with ``MOCO_DOCKER_REQUIRED=1`` (CI) they fail instead.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moco.errors import ConfigError
from moco.sandbox.base import SandboxPolicy
from moco.sandbox.docker import LABEL, DockerSandbox, remove_stale
from moco.testing import Reply, ScriptedOpenAIServer
from moco.tools.context import ToolContext
from moco.tools.shell import execute_bash

pytestmark = pytest.mark.slow

IMAGE = os.environ.get("MOCO_DOCKER_TEST_IMAGE", "moco-test-busybox:latest")
#: a uid and gid no one here has, to see the mapping (the folder is made writable for it)
OTHER_USER = "4321:4321"


def _docker_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker CLI (apt-get install docker.io)"
    try:
        done = subprocess.run([docker, "image", "inspect", IMAGE], capture_output=True,
                              text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer"
    if done.returncode == 0:
        return None
    if "daemon" in done.stderr or "connect" in done.stderr:
        return "no Docker engine running (start dockerd)"
    return f"no image {IMAGE} (build it: scripts/docker-test-image.sh)"


@pytest.fixture(scope="session")
def engine() -> str:
    problem = _docker_problem()
    if problem is not None:
        if os.environ.get("MOCO_DOCKER_REQUIRED") == "1":
            pytest.fail(f"MOCO_DOCKER_REQUIRED=1 but {problem}")
        pytest.skip(problem)
    return shutil.which("docker") or "docker"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    folder.chmod(0o777)  # OTHER_USER may write here
    return folder


@pytest.fixture
def sandbox(engine: str, workdir: Path) -> Iterator[DockerSandbox]:
    box = DockerSandbox(SandboxPolicy(working_dir=workdir, network=False), IMAGE,
                        user=OTHER_USER)
    try:
        yield box
    finally:
        box.close()


def shell(box: DockerSandbox, command: str, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv, full_env = box.wrap(["bash", "-c", command], cwd=cwd or box.policy.working_dir,
                              env={**os.environ, **(env or {})})
    return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=60,
                          check=False)


def containers(engine: str, *filters: str) -> list[str]:
    argv = [engine, "ps", "--all", "--quiet"]
    for item in filters:
        argv += ["--filter", item]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          check=False).stdout.split()


def wait_until(condition: object, seconds: float = 60) -> bool:
    """Poll (a guard against hanging, not a measure of speed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


def test_commands_run_in_workspace_as_the_user(sandbox: DockerSandbox, workdir: Path) -> None:
    (workdir / "sub").mkdir(mode=0o777)
    (workdir / "sub").chmod(0o777)
    done = shell(sandbox, "pwd; id -u; echo hi > made.txt", cwd=workdir / "sub")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["/workspace/sub", "4321"]
    made = workdir / "sub" / "made.txt"
    assert made.read_text() == "hi\n"
    assert (made.stat().st_uid, made.stat().st_gid) == (4321, 4321)
    # the working directory is also at its own path: absolute paths from the prompt work
    done = shell(sandbox, f"cat {made}; cat /workspace/sub/made.txt")
    assert done.stdout == "hi\nhi\n", done.stderr


def test_default_user_is_ours(engine: str, workdir: Path) -> None:
    box = DockerSandbox(SandboxPolicy(working_dir=workdir, network=False), IMAGE)
    try:
        done = shell(box, "id -u; id -g; echo x > mine.txt")
    finally:
        box.close()
    assert done.stdout.split() == [str(os.getuid()), str(os.getgid())], done.stderr
    assert (workdir / "mine.txt").stat().st_uid == os.getuid()


def test_state_persists_between_commands(sandbox: DockerSandbox) -> None:
    assert shell(sandbox, "echo kept > /tmp/state; export GONE=1").returncode == 0
    done = shell(sandbox, "cat /tmp/state; echo ${GONE:-unset}")
    assert done.stdout.split() == ["kept", "unset"], done.stderr


def test_exit_code_and_output_come_through(sandbox: DockerSandbox) -> None:
    done = shell(sandbox, "echo out; echo err >&2; exit 7")
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")


def test_only_the_variables_moco_sets_go_in(sandbox: DockerSandbox,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_SECRET", "s3cret")
    done = shell(sandbox, "echo ${HOST_SECRET:-none} ${PAGER:-none} $HOME; env | grep -c /root",
                 env={"PAGER": "cat"})
    assert done.stdout.split()[:3] == ["none", "cat", "/tmp"], done.stderr
    assert "s3cret" not in " ".join(sandbox.wrap(["true"], cwd=sandbox.policy.working_dir,
                                                 env=dict(os.environ))[0])


class _Server(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def host_server() -> Iterator[int]:
    """An HTTP server on every address of this machine (the bridge's too)."""
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_no_network_unless_the_policy_allows_it(engine: str, workdir: Path,
                                                 sandbox: DockerSandbox,
                                                 host_server: int) -> None:
    online = DockerSandbox(SandboxPolicy(working_dir=workdir, network=True), IMAGE)
    try:  # the control: with the network, the host's server answers through the bridge
        gateway = shell(online, "ip route | awk '/default/ {print $3}'").stdout.strip()
        assert gateway, "the online container has no default route"
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {gateway} {host_server}"
        assert "reached" in shell(online, request).stdout
    finally:
        online.close()
    done = shell(sandbox, f"{request}; echo rc=$?; cat /proc/net/dev")
    assert "reached" not in done.stdout
    interfaces = [line.split(":")[0].strip() for line in done.stdout.splitlines()
                  if ":" in line and "|" not in line]
    assert interfaces == ["lo"], done.stdout


def test_no_capabilities_and_no_new_privileges(sandbox: DockerSandbox) -> None:
    done = shell(sandbox, "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status")
    fields = dict(line.split(":\t") for line in done.stdout.splitlines())
    assert fields == {"CapEff": "0000000000000000", "CapBnd": "0000000000000000",
                      "NoNewPrivs": "1"}, done.stdout


def test_protected_names_are_read_only_and_env_files_masked(engine: str,
                                                            workdir: Path) -> None:
    (workdir / ".git" / "hooks").mkdir(parents=True)
    (workdir / ".git" / "config").write_text("[core]\n")
    (workdir / "AGENTS.md").write_text("be nice\n")
    (workdir / ".env").write_text("KEY=secret\n")
    policy = SandboxPolicy(working_dir=workdir, network=False, masked=(workdir / ".env",))
    box = DockerSandbox(policy, IMAGE)
    try:
        for target in (".git/hooks/pre-commit", ".git/config", "AGENTS.md",
                       f"{workdir}/AGENTS.md"):
            done = shell(box, f"echo evil >> {target}")
            assert done.returncode != 0, target
        assert shell(box, "cat .env; echo end").stdout == "end\n"
        assert shell(box, "echo ok > .git/HEAD2 && cat .git/HEAD2").stdout == "ok\n"
    finally:
        box.close()
    assert (workdir / "AGENTS.md").read_text() == "be nice\n"
    assert not (workdir / ".git" / "hooks" / "pre-commit").exists()


async def test_the_shell_tool_runs_there_and_a_timeout_kills_inside(
        sandbox: DockerSandbox, workdir: Path) -> None:
    ctx = ToolContext(working_dir=workdir, sandbox=sandbox)
    assert (await execute_bash(ctx, "echo $0; pwd")).split() == ["sh", "/workspace"]
    result = await execute_bash(ctx, "sleep 300 & sleep 301", timeout=1)
    assert "timed out" in result
    listing = await asyncio.to_thread(shell, sandbox, "ps -o args")
    assert "sleep 30" not in listing.stdout, listing.stdout


async def test_the_container_is_gone_after_aclose(engine: str, workdir: Path) -> None:
    box = DockerSandbox(SandboxPolicy(working_dir=workdir), IMAGE)
    await box.aclose()  # never started: nothing to do
    shell(box, "true")
    assert containers(engine, f"name={box.container}")
    await box.aclose()
    assert not containers(engine, f"name={box.container}")


KILLED_CHILD = """
import os, subprocess, sys, time
from pathlib import Path
from moco.sandbox.base import SandboxPolicy
from moco.sandbox.docker import DockerSandbox

box = DockerSandbox(SandboxPolicy(working_dir=Path.cwd()), sys.argv[1])
argv, env = box.wrap(["bash", "-c", "echo started"], cwd=Path.cwd(), env=dict(os.environ))
print(subprocess.run(argv, env=env, capture_output=True, text=True).stdout.strip(),
      box.container, flush=True)
time.sleep(600)
"""


def test_the_container_is_gone_after_moco_is_killed(engine: str, workdir: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, IMAGE], cwd=workdir,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        started, name = child.stdout.readline().split()
        assert started == "started"
        assert containers(engine, f"name={name}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert wait_until(lambda: not containers(engine, f"name={name}")), \
            f"container {name} outlived the killed moco"
    finally:
        child.kill()
        child.wait(10)


def test_stale_containers_of_dead_owners_are_removed(engine: str) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    labels = ["--label", f"{LABEL}=1", "--label", f"moco.owner={gone.pid}",
              "--label", f"moco.host={socket.gethostname()}"]
    mine = ["--label", f"{LABEL}=1", "--label", f"moco.owner={os.getpid()}",
            "--label", f"moco.host={socket.gethostname()}"]
    run = [engine, "run", "--detach", "--rm", "--entrypoint", "sleep"]
    stale = subprocess.run([*run, *labels, IMAGE, "600"], capture_output=True, text=True,
                           check=True).stdout.strip()
    live = subprocess.run([*run, *mine, IMAGE, "600"], capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        removed = remove_stale(engine)
        assert stale[:12] in [item[:12] for item in removed]
        assert live[:12] not in [item[:12] for item in removed]
        assert not containers(engine, f"id={stale}")
    finally:
        subprocess.run([engine, "rm", "--force", stale, live], capture_output=True,
                       check=False)


def test_a_missing_image_is_one_clear_line(engine: str, workdir: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        DockerSandbox(SandboxPolicy(working_dir=workdir), "moco-no-such-image:never")
    message = str(raised.value)
    assert "\n" not in message
    assert "docker pull moco-no-such-image:never" in message and "--sandbox-image" in message


def test_no_engine_or_no_cli_is_one_clear_line(engine: str, workdir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ConfigError) as raised:
        DockerSandbox(SandboxPolicy(working_dir=workdir), IMAGE)
    assert "\n" not in str(raised.value) and "start Docker" in str(raised.value)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="docker command is not installed"):
        DockerSandbox(SandboxPolicy(working_dir=workdir), IMAGE)


def test_moco_run_sandbox_lands_the_file_in_the_project(
        engine: str, scripted_openai: ScriptedOpenAIServer, tmp_path: Path) -> None:
    project = tmp_path / "cli-project"
    project.mkdir()
    scripted_openai.add(
        Reply.call("execute_bash", {"command": "echo hi > made.txt; pwd"}),
        Reply.say("made it"),
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("MOCO_DEFAULT_PROVIDER", None)
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    result = subprocess.run(
        [sys.executable, "-m", "moco", "run", "--sandbox", "--sandbox-image", IMAGE,
         "make a file"], env=env, cwd=project, capture_output=True, text=True, timeout=120,
        check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "made it"
    assert (project / "made.txt").read_text() == "hi\n"
    assert (project / "made.txt").stat().st_uid == os.getuid()
    tool_result = scripted_openai.requests[1].body["messages"][-1]
    assert "/workspace" in tool_result["content"]
    assert not containers(engine, f"label={LABEL}", f"label=moco.owner={os.getpid()}")


async def test_the_runs_of_one_orchestrator_share_a_container(
        engine: str, scripted_openai: ScriptedOpenAIServer, tmp_path: Path) -> None:
    """A chat's turns are runs of one orchestrator: what one turn leaves, the next finds; the
    orchestrator's aclose removes the container. The profile chooses mode and image."""
    from moco.core.orchestrator import Orchestrator

    folder = tmp_path / ".moco" / "profiles" / "boxed"
    (folder / "agents").mkdir(parents=True)
    (folder / "profile.yaml").write_text(
        f"name: boxed\ndescription: test\nsandbox: {{mode: docker, image: '{IMAGE}'}}\n")
    (folder / "agents" / "main.md").write_text("---\nname: main\n---\nYou help.\n")
    scripted_openai.add(
        Reply.call("execute_bash", {"command": "echo one > /tmp/turn"}), Reply.say("first"),
        Reply.call("execute_bash", {"command": "cat /tmp/turn"}), Reply.say("second"),
    )
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url}
    orchestrator = Orchestrator(profile="boxed", provider="openai", working_dir=tmp_path,
                                env=env, yes=True)
    assert await orchestrator.run("write") == "first"
    assert await orchestrator.run("read") == "second"
    assert "one" in scripted_openai.requests[3].body["messages"][-1]["content"]
    container = orchestrator.open_sandbox().sandbox
    name = getattr(getattr(container, "owner", None), "container", "")
    assert name and containers(engine, f"name={name}")
    await orchestrator.aclose()
    assert not containers(engine, f"name={name}")
