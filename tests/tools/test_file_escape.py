"""The file tools cannot be tricked out of the working directory: symlinks and ``..`` at any
component, hard links, a link swapped in between check and write, NUL bytes, FIFOs; and they
refuse the names that decide what the next run trusts unless a permission rule allows them.

Every test runs twice: with ``openat2`` and with the portable walk that replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from moco.core.orchestrator import Orchestrator
from moco.core.permissions import PermissionPolicy, default_rules, parse_permissions
from moco.errors import ToolError
from moco.messages import ToolCallPart
from moco.safety import beneath
from moco.testing import Reply, ScriptedOpenAIServer
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.filesystem import (
    edit_file,
    file_info,
    glob_search,
    list_dir,
    read_file,
    tree,
    write_file,
)
from tests.tools.conftest import Runner

SECRET = "outside content\n"


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def resolution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "openat2" and not beneath.openat2_available():
        pytest.skip("openat2 is not available here")
    if request.param == "walk":
        monkeypatch.setattr(beneath, "_available", False)
    yield str(request.param)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


def outside_unchanged(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == SECRET


# ------------------------------------------------------------------ symlinks and ..


async def test_symlink_to_an_outside_file(run: Runner, workdir: Path, outside: Path) -> None:
    (workdir / "link.txt").symlink_to(outside / "secret.txt")
    for call in ({"function": read_file}, {"function": file_info},
                 {"function": write_file, "content": "pwned"},
                 {"function": edit_file, "old_string": "outside", "new_string": "pwned"}):
        function = call.pop("function")
        with pytest.raises(ToolError, match="outside the working directory"):
            await run(function, path="link.txt", **call)
    outside_unchanged(outside)


@pytest.mark.parametrize("depth", [0, 1, 2])
async def test_symlink_to_an_outside_directory_at_every_component(
    run: Runner, workdir: Path, outside: Path, depth: int
) -> None:
    parts = ["a", "b", "c"]
    real = workdir.joinpath(*parts[:depth]) if depth else workdir
    real.mkdir(parents=True, exist_ok=True)
    (real / parts[depth]).symlink_to(outside, target_is_directory=True)
    target = "/".join([*parts, "secret.txt"])
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(write_file, path=target, content="pwned")
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(read_file, path=target)
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(write_file, path="/".join([*parts[: depth + 1], "new.txt"]), content="x")
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(list_dir, path="/".join(parts[: depth + 1]))
    outside_unchanged(outside)


@pytest.mark.parametrize("path", ["../outside/secret.txt", "sub/../../outside/secret.txt",
                                  "sub/../../outside/new.txt"])
async def test_dotdot_escapes(run: Runner, workdir: Path, outside: Path, path: str) -> None:
    (workdir / "sub").mkdir()
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(write_file, path=path, content="pwned")
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(read_file, path=path)
    outside_unchanged(outside)


def test_escapes_refused_by_the_opener_itself(workdir: Path, outside: Path) -> None:
    """Without the friendly first check: the opener alone refuses every way out."""
    (workdir / "sub").mkdir()
    (workdir / "up").symlink_to("..")
    (workdir / "abs").symlink_to(outside)
    (workdir / "rel").symlink_to("sub/../../outside")
    root = beneath.open_root(workdir)
    try:
        for path in ("..", "../outside/secret.txt", "up/outside/secret.txt", "abs/secret.txt",
                     "rel/secret.txt", "sub/../../outside", str(outside / "secret.txt")):
            with pytest.raises(OSError) as caught:
                os.close(beneath.open_beneath(root, path, os.O_RDONLY))
            assert caught.value.errno == beneath.ESCAPE, path
        with pytest.raises(ValueError, match="null"):
            beneath.open_beneath(root, "a\0b", os.O_RDONLY)
    finally:
        os.close(root)


async def test_symlinks_inside_still_work(run: Runner, workdir: Path) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "real.py").write_text("x = 1\n")
    (workdir / "alias.py").symlink_to("src/real.py")
    (workdir / "lib").symlink_to("src", target_is_directory=True)
    assert "x = 1" in await run(read_file, path="alias.py")
    assert "x = 1" in await run(read_file, path="lib/../src/real.py")
    assert "real.py" in await run(list_dir, path="lib")
    await run(edit_file, path="lib/real.py", old_string="x = 1", new_string="x = 2")
    await run(write_file, path="alias.py", content="y = 3\n")
    assert (workdir / "src" / "real.py").read_text() == "y = 3\n"
    assert (workdir / "alias.py").is_symlink()
    (workdir / "dangling.py").symlink_to("src/made.py")
    await run(write_file, path="dangling.py", content="z = 4\n")
    assert (workdir / "src" / "made.py").read_text() == "z = 4\n"


async def test_listing_tools_do_not_follow_links_out(
    run: Runner, workdir: Path, outside: Path
) -> None:
    (workdir / "out").symlink_to(outside, target_is_directory=True)
    (workdir / "here.txt").write_text("h")
    assert "out@ ->" in await run(list_dir, path=".")
    assert "secret.txt" not in await run(tree, path=".")
    assert "secret" not in await run(glob_search, pattern="**/*.txt")


# ------------------------------------------------------------------ hard links, FIFOs


async def test_a_hard_link_to_an_outside_file_is_not_written(
    run: Runner, workdir: Path, outside: Path
) -> None:
    os.link(outside / "secret.txt", workdir / "hard.txt")
    with pytest.raises(ToolError, match="2 hard links"):
        await run(write_file, path="hard.txt", content="pwned")
    with pytest.raises(ToolError, match="hard links"):
        await run(edit_file, path="hard.txt", old_string="outside", new_string="pwned")
    outside_unchanged(outside)
    assert "outside content" in await run(read_file, path="hard.txt")  # reading is fine


async def test_a_fifo_is_refused_not_waited_on(run: Runner, workdir: Path) -> None:
    os.mkfifo(workdir / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        await asyncio.wait_for(run(read_file, path="pipe"), 10)
    with pytest.raises(ToolError, match="not a regular file"):
        await asyncio.wait_for(run(write_file, path="pipe", content="x"), 10)


# ------------------------------------------------------------------ races


def _swapper(place: Path, outside: Path, stop: threading.Event) -> threading.Thread:
    """Swap ``place`` between a real directory and a symlink to ``outside`` until stopped."""
    parked = place.with_name(place.name + ".parked")

    def swap() -> None:
        for _ in range(1_000_000):  # bounded; stops long before
            if stop.is_set():
                return
            try:
                os.rename(place, parked)
                os.symlink(outside, place)
                os.unlink(place)
                os.rename(parked, place)
            except OSError:
                if parked.exists() and not os.path.lexists(place):
                    os.rename(parked, place)

    return threading.Thread(target=swap, daemon=True)


async def test_a_symlink_swapped_in_during_writes_never_leads_out(
    run: Runner, workdir: Path, outside: Path
) -> None:
    (workdir / "d").mkdir()
    stop = threading.Event()
    thread = _swapper(workdir / "d", outside, stop)
    thread.start()
    refused = 0
    try:
        for index in range(80):
            try:
                await run(write_file, path=f"d/f{index % 4}.txt", content=f"write {index}")
            except ToolError:
                refused += 1
    finally:
        stop.set()
        thread.join()
    outside_unchanged(outside)
    assert refused < 80 or not (workdir / "d").is_dir()  # the writes ran, only inside


async def test_a_file_swapped_for_a_link_during_writes_never_leads_out(
    run: Runner, workdir: Path, outside: Path
) -> None:
    leaf = workdir / "leaf.txt"
    stop = threading.Event()

    def swap() -> None:
        for _ in range(1_000_000):
            if stop.is_set():
                return
            try:
                os.symlink(outside / "secret.txt", workdir / "tmp-link")
                os.replace(workdir / "tmp-link", leaf)
                os.unlink(leaf)
            except OSError:
                pass

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        for index in range(80):
            with contextlib.suppress(ToolError):
                await run(write_file, path="leaf.txt", content=f"write {index}")
    finally:
        stop.set()
        thread.join()
    outside_unchanged(outside)


# ------------------------------------------------------------------ NUL bytes


async def test_a_nul_byte_is_a_clear_error(run: Runner) -> None:
    for function, extra in ((read_file, {}), (write_file, {"content": "x"}),
                            (edit_file, {"old_string": "a", "new_string": "b"}),
                            (list_dir, {}), (file_info, {})):
        with pytest.raises(ToolError, match="NUL byte"):
            await asyncio.wait_for(run(function, path="a\0b", **extra), 10)


async def test_a_nul_byte_in_a_run_is_an_error_result_not_a_hang(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(Reply.call("write_file", {"path": "a\x00b", "content": "x"}),
                        Reply.call("read_file", {"path": "\x00"}), Reply.say("done"))
    orchestrator = Orchestrator(provider="openai", working_dir=tmp_path, env={
        "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url})

    async def collect() -> list[object]:
        return [event async for event in orchestrator.events("write it")]

    await asyncio.wait_for(collect(), 30)
    results = [m["content"] for request in scripted_openai.requests
               for m in request.body["messages"] if m["role"] == "tool"]
    assert any("NUL byte" in text for text in results)


# ------------------------------------------------------------------ protected names


@pytest.mark.parametrize("path", [".git/hooks/pre-commit", ".git/config", ".moco/profile.yaml",
                                  ".mcp.json", "mcp.json", ".claude/agents/x.md",
                                  ".opencode/config.json", "AGENTS.md", "CLAUDE.md", "MOCO.md",
                                  "sub/../.mcp.json"])
async def test_protected_names_are_refused(run: Runner, workdir: Path, path: str) -> None:
    (workdir / "sub").mkdir()
    with pytest.raises(ToolError, match=r"is protected.*permissions: \{write_file: \{'"):
        await run(write_file, path=path, content="x")
    assert not (workdir / path).exists()


async def test_protected_through_an_alias_and_git_itself_stays_writable(
    run: Runner, workdir: Path
) -> None:
    (workdir / ".git" / "hooks").mkdir(parents=True)
    (workdir / "h").symlink_to(".git/hooks", target_is_directory=True)
    with pytest.raises(ToolError, match="is protected"):
        await run(write_file, path="h/pre-commit", content="x")
    (workdir / "AGENTS.md").write_text("be nice\n")
    with pytest.raises(ToolError, match="is protected"):
        await run(edit_file, path="AGENTS.md", old_string="nice", new_string="evil")
    await run(write_file, path=".git/info/exclude", content="*.log\n")
    await run(write_file, path="docs/AGENTS.md", content="nested is fine\n")


async def test_a_permission_rule_allows_a_protected_path(ctx: ToolContext, workdir: Path) -> None:
    rules = default_rules().merged(
        parse_permissions({"write_file": {"AGENTS.md": "allow"}}, "profile.yaml"))
    policy = PermissionPolicy(rules)
    tool = get_tool(write_file)
    assert tool is not None
    arguments = {"path": "AGENTS.md", "content": "rules\n"}
    decision = await policy.check(ToolCallPart("c1", "write_file", arguments), tool, ctx)
    assert decision.allowed
    await tool.invoke(ctx, arguments)
    assert (workdir / "AGENTS.md").read_text() == "rules\n"
    with pytest.raises(ToolError, match="is protected"):  # only the path the rule names
        await tool.invoke(ctx, {"path": "CLAUDE.md", "content": "x"})
