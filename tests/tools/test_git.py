"""Git tools against real repositories, a local bare remote and a local server answering like
GitHub's REST API; commit messages come from a scripted model server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from moco.core.orchestrator import Orchestrator
from moco.errors import ToolError
from moco.messages import Message
from moco.providers.base import ModelRequest
from moco.providers.registry import create_provider
from moco.testing import Reply, ScriptedOpenAIServer
from moco.tools.base import get_tool
from moco.tools.builtin import BASE_TOOLS
from moco.tools.context import ToolContext
from moco.tools.git import (
    COMMIT_SYSTEM_PROMPT,
    clean_message,
    create_pr,
    git_commit,
    git_diff,
    git_status,
    parse_remote,
)

from .conftest import Runner

#: shaped like a GitHub personal access token (the redactor knows the format)
FAKE_GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "F6g7h8"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(workdir: Path) -> Path:
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "config", "user.name", "Test")
    git(workdir, "config", "user.email", "test@example.com")
    git(workdir, "config", "commit.gpgsign", "false")
    (workdir / "app.py").write_text("print('hello')\n")
    git(workdir, "add", "app.py")
    git(workdir, "commit", "-q", "-m", "initial")
    return workdir


def log(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


async def test_the_tools_are_base_tools_and_mutating_ones_say_so() -> None:
    tools = {tool.name: tool for tool in BASE_TOOLS}
    assert {"git_status", "git_diff", "git_commit", "create_pr"} <= set(tools)
    assert tools["git_commit"].mutates and tools["create_pr"].mutates
    assert not tools["git_status"].mutates and not tools["git_diff"].mutates


async def test_status_shows_branch_and_changes(repo: Path, run: Runner) -> None:
    assert "## main" in await run(git_status) and "(no changes)" in await run(git_status)
    (repo / "app.py").write_text("print('bye')\n")
    (repo / "new.txt").write_text("x\n")
    status = await run(git_status)
    assert " M app.py" in status and "?? new.txt" in status


async def test_status_outside_a_repository_says_so(workdir: Path, run: Runner) -> None:
    with pytest.raises(ToolError, match="not a git repository"):
        await run(git_status)


async def test_diff_unstaged_staged_and_against_a_ref(repo: Path, run: Runner) -> None:
    (repo / "app.py").write_text("print('second')\n")
    git(repo, "commit", "-qam", "second")
    assert "(no unstaged changes) (staged=true" in await run(git_diff)
    (repo / "app.py").write_text("print('third')\n")
    unstaged = await run(git_diff)
    assert "-print('second')" in unstaged and "+print('third')" in unstaged
    assert "(no staged changes)" in await run(git_diff, staged=True)
    git(repo, "add", "app.py")
    assert "+print('third')" in await run(git_diff, staged=True)
    against = await run(git_diff, ref="HEAD~1")
    assert "-print('hello')" in against and "+print('third')" in against
    assert "app.py | 2 +-" in await run(git_diff, ref="HEAD~1", stat=True)
    assert "-print('hello')" in await run(git_diff, ref="HEAD~1..HEAD")


async def test_diff_refuses_option_refs_and_outside_paths(repo: Path, run: Runner) -> None:
    with pytest.raises(ToolError, match="not a git revision"):
        await run(git_diff, ref="--output=/tmp/x")
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(git_diff, paths=["../elsewhere"])


async def test_a_long_diff_is_bounded(repo: Path, ctx: ToolContext, run: Runner) -> None:
    ctx.max_output_chars = 2_000
    (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(20_000)))
    git(repo, "add", "big.txt")
    shown = await run(git_diff, staged=True)
    assert len(shown) < 3_000
    assert "truncated" in shown and "more bytes" in shown


async def test_commit_with_a_message_stages_named_paths(repo: Path, run: Runner) -> None:
    (repo / "lib.py").write_text("X = 1\n")
    (repo / "other.py").write_text("Y = 2\n")
    result = await run(git_commit, message="feat: add lib", paths=["lib.py"])
    assert "feat: add lib" in result and "1 file changed" in result
    assert log(repo)[0] == "feat: add lib"
    assert "?? other.py" in git(repo, "status", "--short")


async def test_commit_all_stages_tracked_changes_only(repo: Path, run: Runner) -> None:
    (repo / "app.py").write_text("print('changed')\n")
    (repo / "untracked.py").write_text("Z = 3\n")
    await run(git_commit, message="fix: change app", all=True)
    assert git(repo, "show", "--name-only", "--format=").split() == ["app.py"]


async def test_nothing_staged_is_a_clear_error(repo: Path, run: Runner) -> None:
    with pytest.raises(ToolError, match="nothing is staged"):
        await run(git_commit, message="chore: nothing")


@pytest.mark.parametrize(
    ("name", "content"),
    [("config.py", f'GITHUB = "{FAKE_GITHUB_TOKEN}"\n'),
     ("settings.py", 'OPENAI = "sk-proj-' + "Ab1" * 12 + '"\n'),
     (".env", "DEBUG=1\n")],
    ids=["github-token", "openai-key", "env-file"],
)
async def test_secrets_are_refused_and_the_index_is_put_back(
    repo: Path, run: Runner, name: str, content: str
) -> None:
    (repo / "notes.md").write_text("harmless\n")
    git(repo, "add", "notes.md")
    (repo / name).write_text(content)
    with pytest.raises(ToolError, match=rf"refused to commit: {name} \(") as refused:
        await run(git_commit, message="feat: config", paths=[name])
    assert "nothing was committed" in str(refused.value)
    assert FAKE_GITHUB_TOKEN not in str(refused.value)
    assert log(repo) == ["initial"]
    # what the user staged stays staged; what the tool staged is unstaged again
    assert git(repo, "diff", "--cached", "--name-only").split() == ["notes.md"]


async def test_removing_a_secret_may_be_committed(repo: Path, run: Runner) -> None:
    (repo / "config.py").write_text(f'TOKEN = "{FAKE_GITHUB_TOKEN}"\n')
    git(repo, "add", "config.py")
    git(repo, "commit", "-q", "--no-verify", "-m", "leak")  # a person did it, by hand
    (repo / "config.py").write_text('TOKEN = os.environ["TOKEN"]\n')
    assert "fix: read the token" in await run(git_commit, message="fix: read the token",
                                              all=True)


def _completer(server: ScriptedOpenAIServer) -> Any:
    provider = create_provider("openai", name="openai", api_key="sk-test",
                               base_url=server.base_url, key_var="OPENAI_API_KEY")

    async def complete(system: str, prompt: str) -> str:
        request = ModelRequest(model="gpt-test", system=system, messages=[Message.user(prompt)])
        return (await provider.complete(request)).message.text

    return complete


async def test_the_model_writes_the_message_from_the_staged_diff(
    repo: Path, ctx: ToolContext, run: Runner, scripted_openai: ScriptedOpenAIServer
) -> None:
    scripted_openai.add(Reply.say("```\nfeat(lib): add the answer constant\n\nNeeded by app.\n```"))
    ctx.complete = _completer(scripted_openai)
    (repo / "lib.py").write_text("ANSWER = 42\n")
    await run(git_commit, paths=["lib.py"])
    assert git(repo, "log", "-1", "--format=%B").strip() == (
        "feat(lib): add the answer constant\n\nNeeded by app.")
    asked = scripted_openai.requests[0]
    assert "Conventional Commits" in asked.system_text
    prompt = asked.body["messages"][-1]["content"]
    assert "lib.py | 1 +" in prompt and "+ANSWER = 42" in prompt


async def test_a_large_diff_is_summarised_for_the_model(
    repo: Path, ctx: ToolContext, run: Runner, scripted_openai: ScriptedOpenAIServer
) -> None:
    scripted_openai.add(Reply.say("chore: add generated data"))
    ctx.complete = _completer(scripted_openai)
    (repo / "data.txt").write_text("".join(f"row {i}\n" for i in range(50_000)))
    (repo / "small.py").write_text("A = 1\n")
    await run(git_commit, paths=["data.txt", "small.py"])
    prompt = scripted_openai.requests[0].body["messages"][-1]["content"]
    assert len(prompt) < 14_000
    assert re.search(r"small\.py \| +1 \+", prompt) and "2 files changed" in prompt
    assert "data.txt" in prompt and "more are not shown" in prompt


async def test_no_message_and_no_model_is_a_clear_error(repo: Path, run: Runner) -> None:
    (repo / "lib.py").write_text("A = 1\n")
    with pytest.raises(ToolError, match="pass message"):
        await run(git_commit, paths=["lib.py"])


def test_an_agent_commits_with_its_own_model(
    repo: Path, scripted_openai: ScriptedOpenAIServer
) -> None:
    """Through a real run: ToolContext.complete is the agent's provider and model."""
    (repo / "lib.py").write_text("A = 1\n")
    scripted_openai.add(Reply.call("git_commit", {"paths": ["lib.py"]}),
                        Reply.say("feat: add constant A"), Reply.say("Committed."))
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url}
    orchestrator = Orchestrator(profile="default", provider="openai", working_dir=repo, env=env,
                                yes=True)
    assert orchestrator.run_sync("commit lib.py") == "Committed."
    assert log(repo)[0] == "feat: add constant A"
    assert scripted_openai.requests[1].system_text.startswith(COMMIT_SYSTEM_PROMPT[:40])


def test_clean_message() -> None:
    assert clean_message('"fix: x"') == "fix: x"
    assert clean_message("Commit message: feat: y\n\n\n\nbody") == "feat: y\n\nbody"
    assert clean_message("```text\ndocs: z\n```") == "docs: z"


# -- pull requests --------------------------------------------------------------------------


@dataclass
class FakeGitHub:
    """Answers ``POST /repos/{owner}/{repo}/pulls`` like GitHub's REST API."""

    status: int = 201
    answer: dict[str, Any] = field(default_factory=lambda: {
        "number": 7, "html_url": "https://github.com/octo/app/pull/7", "state": "open"})
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                  "body": body})
            data = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}/api/v3"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    """A bare remote: origin's URL is GitHub's, pushes go to the local bare repository."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", "https://github.com/octo/app.git")
    git(repo, "config", "remote.origin.pushurl", str(bare))
    git(repo, "push", "-q", str(bare), "main")
    git(repo, "switch", "-q", "-c", "feature/greeting")
    (repo / "app.py").write_text("print('hello, world')\n")
    git(repo, "commit", "-qam", "feat: greet the world")
    return bare


@pytest.fixture
def token_env(ctx: ToolContext, github: FakeGitHub) -> ToolContext:
    ctx.env = {"GITHUB_TOKEN": FAKE_GITHUB_TOKEN, "GITHUB_API_URL": github.url}
    return ctx


async def test_create_pr_pushes_and_opens_the_pull_request(
    repo: Path, remote: Path, token_env: ToolContext, github: FakeGitHub, run: Runner
) -> None:
    result = await run(create_pr, title="Greet the world", body="Says hello.", draft=True)
    assert result == ("opened draft pull request #7: https://github.com/octo/app/pull/7 "
                      "(feature/greeting -> main)")
    assert git(remote, "rev-parse", "feature/greeting") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "--abbrev-ref", "@{upstream}").strip() == \
        "origin/feature/greeting"
    sent = github.requests[0]
    assert sent["path"] == "/api/v3/repos/octo/app/pulls"
    assert sent["headers"]["Authorization"] == f"Bearer {FAKE_GITHUB_TOKEN}"
    assert sent["headers"]["Accept"] == "application/vnd.github+json"
    assert sent["body"] == {"title": "Greet the world", "head": "feature/greeting",
                            "base": "main", "body": "Says hello.", "draft": True}


async def test_the_base_defaults_to_the_remotes_default_branch(
    repo: Path, remote: Path, token_env: ToolContext, github: FakeGitHub, run: Runner
) -> None:
    git(repo, "update-ref", "refs/remotes/origin/develop", "main")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")
    await run(create_pr, title="t")
    assert github.requests[0]["body"]["base"] == "develop"


async def test_a_validation_error_is_explained(
    repo: Path, remote: Path, token_env: ToolContext, github: FakeGitHub, run: Runner
) -> None:
    github.status = 422
    github.answer = {"message": "Validation Failed",
                     "errors": [{"resource": "PullRequest", "code": "custom",
                                 "message": "A pull request already exists for "
                                            "octo:feature/greeting."}],
                     "documentation_url": "https://docs.github.com/rest/pulls/pulls"}
    with pytest.raises(ToolError) as refused:
        await run(create_pr, title="again")
    assert str(refused.value) == (
        "pushed feature/greeting, but GitHub refused the pull request (422): Validation Failed"
        " — A pull request already exists for octo:feature/greeting.")


async def test_git_never_sees_the_token(
    repo: Path, remote: Path, token_env: ToolContext, github: FakeGitHub, run: Runner
) -> None:
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\nenv > {repo.parent / 'push-env.txt'}\n")
    hook.chmod(0o755)
    await run(create_pr, title="t")
    seen = (repo.parent / "push-env.txt").read_text()
    assert FAKE_GITHUB_TOKEN not in seen and "GIT_TERMINAL_PROMPT=0" in seen


@pytest.mark.parametrize("branch", ["main", "release/1.0"])
async def test_a_protected_branch_is_never_pushed(
    repo: Path, remote: Path, token_env: ToolContext, github: FakeGitHub, run: Runner,
    branch: str
) -> None:
    token_env.protected_branches = ("main", "release/*")
    git(repo, "switch", "-q", "-C", branch)
    with pytest.raises(ToolError, match=f"refused: {branch} is a protected branch"):
        await run(create_pr, title="t")
    assert not git(remote, "branch", "--list", branch).strip() or branch == "main"
    assert github.requests == []


async def test_without_a_token_or_gh_nothing_is_pushed(
    repo: Path, remote: Path, ctx: ToolContext, run: Runner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    empty = tmp_path / "bin"
    empty.mkdir()
    (empty / "git").symlink_to(str(shutil.which("git")))
    ctx.env = {"PATH": str(empty)}
    with pytest.raises(ToolError, match=r"set GITHUB_TOKEN .* or log in with gh auth login"):
        await run(create_pr, title="t")
    assert "feature/greeting" not in git(remote, "branch")


async def test_gh_is_used_when_logged_in_and_no_token(
    repo: Path, remote: Path, ctx: ToolContext, run: Runner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gh-calls.txt"
    fake_gh = bin_dir / "gh"
    fake_gh.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n'
                       'case "$1" in pr) echo https://github.com/octo/app/pull/8;; esac\n')
    fake_gh.chmod(0o755)
    ctx.env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = await run(create_pr, title="Greet", base="main")
    assert result == ("opened pull request: https://github.com/octo/app/pull/8 "
                      "(feature/greeting -> main)")
    assert calls.read_text().splitlines() == [
        "auth status", "pr create --title Greet --body  --base main --head feature/greeting"]


def test_parse_remote() -> None:
    assert parse_remote("https://github.com/o/r.git") == ("github.com", "o", "r")
    assert parse_remote("git@github.com:o/r.git") == ("github.com", "o", "r")
    assert parse_remote("ssh://git@ghe.corp:2222/team/svc") == ("ghe.corp", "team", "svc")
    assert parse_remote("https://user@GitHub.com/o/r/") == ("github.com", "o", "r")
    assert parse_remote("/srv/git/r.git") is None


async def test_an_enterprise_origin_needs_github_api_url(
    repo: Path, remote: Path, ctx: ToolContext, run: Runner
) -> None:
    git(repo, "remote", "set-url", "origin", "git@ghe.corp:octo/app.git")
    git(repo, "config", "remote.origin.pushurl", str(remote))
    ctx.env = {"GITHUB_TOKEN": FAKE_GITHUB_TOKEN}
    with pytest.raises(ToolError, match=r"set GITHUB_API_URL \(https://ghe.corp/api/v3"):
        await run(create_pr, title="t")


def test_schema_sizes_stay_small() -> None:
    for function in (git_status, git_diff, git_commit, create_pr):
        built = get_tool(function)
        assert built is not None
        assert len(json.dumps(built.schema())) < 1_200, built.name
