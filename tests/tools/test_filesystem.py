"""File tools, called through ``Tool.invoke`` on a real temporary directory."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from moco.errors import ToolError
from moco.tools.context import ToolContext
from moco.tools.filesystem import (
    edit_file,
    file_info,
    glob_search,
    glob_to_regex,
    list_dir,
    read_file,
    tree,
    write_file,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


# -- confinement ----------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    return secret


@pytest.mark.parametrize(
    ("function", "extra"),
    [
        (read_file, {}),
        (write_file, {"content": "x"}),
        (edit_file, {"old_string": "top", "new_string": "x"}),
        (file_info, {}),
        (list_dir, {}),
        (tree, {}),
        (glob_search, {"pattern": "*"}),
    ],
)
async def test_paths_outside_the_working_directory_are_refused(
    run: Any, workdir: Path, outside: Path, function: Any, extra: dict[str, Any]
) -> None:
    (workdir / "link").symlink_to(outside)
    (workdir / "dirlink").symlink_to(outside.parent)
    home = Path(os.environ["HOME"])
    (home / "notes.txt").write_text("home\n")
    targets = ["../secret.txt", str(outside), "link", "dirlink", "~", "~/notes.txt"]
    if function in (read_file, write_file, edit_file, file_info):
        targets.append("/etc/passwd")
    for target in targets:
        with pytest.raises(ToolError, match="outside the working directory"):
            await run(function, path=target, **extra)
    assert outside.read_bytes() == b"top secret\n"  # noqa: ASYNC240 - a tiny local file


async def test_allow_outside_is_the_users_choice(workdir: Path, outside: Path) -> None:
    from moco.tools.base import get_tool

    ctx = ToolContext(working_dir=workdir, allow_outside=True)
    built = get_tool(read_file)
    assert built is not None
    assert "top secret" in await built.invoke(ctx, {"path": str(outside)})


# -- read_file ------------------------------------------------------------------------------


async def test_read_numbers_lines_and_pages(run: Any, workdir: Path) -> None:
    (workdir / "a.txt").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    whole = await run(read_file, path="a.txt")
    assert whole.splitlines()[0] == "     1\tline 1"
    assert whole.splitlines()[-1] == "    10\tline 10"
    page = await run(read_file, path="a.txt", offset=3, limit=2)
    assert page.splitlines() == [
        "     3\tline 3",
        "     4\tline 4",
        "(lines 3-4 of 10; use offset=5 to read more)",
    ]
    with pytest.raises(ToolError, match="past the end of the file \\(10 lines\\)"):
        await run(read_file, path="a.txt", offset=11)
    with pytest.raises(ToolError, match="at least 1"):
        await run(read_file, path="a.txt", offset=0)


async def test_read_alias_and_edge_cases(run: Any, workdir: Path) -> None:
    (workdir / "empty.txt").write_text("")
    assert "is empty" in await run(read_file, path="empty.txt")
    (workdir / "nonl.txt").write_text("a\nb")
    assert (await run(read_file, path="nonl.txt")).splitlines() == ["     1\ta", "     2\tb"]
    (workdir / "long.txt").write_text("x" * 5000 + "\nshort\n")
    text = await run(read_file, path="long.txt")
    assert "[line cut, 5000 chars]" in text and "short" in text
    with pytest.raises(ToolError, match="does not exist"):
        await run(read_file, path="missing.txt")
    (workdir / "sub").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        await run(read_file, path="sub")
    with pytest.raises(ToolError, match="invalid arguments"):
        await run(read_file, path="a", offset="first")


async def test_read_stays_within_the_output_budget(ctx: ToolContext, run: Any) -> None:
    ctx.max_output_chars = 1000
    (ctx.working_dir / "big.txt").write_text("".join(f"{n:08d} " * 10 + "\n" for n in range(500)))
    text = await run(read_file, path="big.txt")
    assert len(text) < 1200
    assert text.splitlines()[-1].startswith("(lines 1-") and "of 500" in text


async def test_binary_files_are_refused(run: Any, workdir: Path) -> None:
    (workdir / "logo.png").write_bytes(PNG)
    with pytest.raises(ToolError, match=r"binary file \(image/png, 80 bytes\)"):
        await run(read_file, path="logo.png")
    (workdir / "blob").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ToolError, match="binary file"):
        await run(read_file, path="blob")
    (workdir / "latin1.txt").write_bytes("café au lait\n".encode("latin-1"))
    assert "caf" in await run(read_file, path="latin1.txt")
    with pytest.raises(ToolError, match="binary file"):
        await run(edit_file, path="logo.png", old_string="PNG", new_string="GIF")


# -- write_file / edit_file -----------------------------------------------------------------


async def test_write_creates_parents_and_reports(run: Any, workdir: Path) -> None:
    result = await run(write_file, path="deep/er/new.py", content="a = 1\nb = 2\n")
    assert result == "created deep/er/new.py (12 bytes, 2 lines)"
    assert (workdir / "deep/er/new.py").read_text() == "a = 1\nb = 2\n"
    result = await run(write_file, path="deep/er/new.py", content="é")
    assert result == "overwrote deep/er/new.py (2 bytes, 1 lines)"
    with pytest.raises(ToolError, match="is a directory"):
        await run(write_file, path="deep", content="x")


async def test_edit_replaces_one_occurrence_with_context(run: Any, workdir: Path) -> None:
    path = workdir / "m.py"
    path.write_text("".join(f"line{n} = {n}\n" for n in range(1, 21)))
    result = await run(edit_file, path="m.py", old_string="line10 = 10", new_string="ten = 10")
    assert result.splitlines()[0] == "edited m.py: replaced 1 occurrence"
    assert "    10\tten = 10" in result and "     8\tline8 = 8" in result
    assert "line20" not in result
    assert "ten = 10\n" in path.read_text()


async def test_edit_failures_are_clear(run: Any, workdir: Path) -> None:
    path = workdir / "m.py"
    path.write_text("x = 1\ny = 1\nx = 1\n    indented = True\n")
    with pytest.raises(ToolError, match=r"not found in m\.py"):
        await run(edit_file, path="m.py", old_string="z = 1", new_string="z = 2")
    with pytest.raises(ToolError, match="ignoring surrounding whitespace exists at line 4"):
        await run(edit_file, path="m.py", old_string="  indented = True  ", new_string="no")
    with pytest.raises(ToolError, match=r"matches 2 times in m.py \(lines 1, 3\).*replace_all"):
        await run(edit_file, path="m.py", old_string="x = 1", new_string="x = 2")
    with pytest.raises(ToolError, match="are the same"):
        await run(edit_file, path="m.py", old_string="x = 1", new_string="x = 1")
    with pytest.raises(ToolError, match="old_string is empty"):
        await run(edit_file, path="m.py", old_string="", new_string="x")
    assert path.read_text() == "x = 1\ny = 1\nx = 1\n    indented = True\n"
    result = await run(
        edit_file, path="m.py", old_string="x = 1", new_string="x = 2", replace_all=True
    )
    assert "replaced 2 occurrences" in result
    assert path.read_text() == "x = 2\ny = 1\nx = 2\n    indented = True\n"


async def test_edit_keeps_crlf_line_endings(run: Any, workdir: Path) -> None:
    path = workdir / "win.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await run(edit_file, path="win.txt", old_string="one\ntwo", new_string="1\n2")
    assert path.read_bytes() == b"1\r\n2\r\nthree\r\n"


# -- list_dir / tree / file_info / glob_search ----------------------------------------------


async def test_list_dir(run: Any, workdir: Path) -> None:
    (workdir / "src").mkdir()
    (workdir / "b.txt").write_text("x" * 2048)
    (workdir / "a.txt").write_text("hi")
    (workdir / "ln").symlink_to("a.txt")
    assert (await run(list_dir)).splitlines() == [
        "src/",
        "a.txt  2B",
        "b.txt  2.0K",
        "ln@ -> a.txt",
    ]
    assert "is empty" in await run(list_dir, path="src")
    with pytest.raises(ToolError, match="not a directory"):
        await run(list_dir, path="a.txt")


async def test_tree_skips_noise_and_respects_depth(run: Any, workdir: Path) -> None:
    for folder in ("src/pkg/deep/deeper", ".git/objects", "node_modules/x", "pkg.egg-info"):
        (workdir / folder).mkdir(parents=True)
    (workdir / "src/pkg/mod.py").write_text("")
    (workdir / "src/pkg/deep/deeper/leaf.py").write_text("")
    lines = (await run(tree, max_depth=3)).splitlines()
    assert lines[0] == "./"
    assert "  .git/ [skipped]" in lines and "  node_modules/ [skipped]" in lines
    assert "  pkg.egg-info/ [skipped]" in lines
    assert "      deep/" in lines and "      mod.py  0B" in lines
    assert not any("deeper" in line or "objects" in line for line in lines)
    assert "leaf.py" in await run(tree, max_depth=10)


async def test_tree_caps_entries(run: Any, workdir: Path) -> None:
    for n in range(600):
        (workdir / f"f{n:03d}").write_text("")
    text = await run(tree)
    assert text.splitlines()[-1] == "... (100 more entries not shown)"


async def test_file_info(run: Any, workdir: Path) -> None:
    (workdir / "a.py").write_text("a\nb\nc\n")
    os.chmod(workdir / "a.py", 0o640)
    info = await run(file_info, path="a.py")
    assert "type: text file (text/x-python)" in info
    assert "size: 6 bytes" in info and "lines: 3" in info
    assert "permissions: -rw-r-----" in info and "modified: 20" in info
    (workdir / "logo.png").write_bytes(PNG)
    assert "type: binary file (image/png)" in await run(file_info, path="logo.png")
    (workdir / "d").mkdir()
    assert "type: directory (0 entries)" in await run(file_info, path="d")
    (workdir / "ln").symlink_to("a.py")
    assert "symlink to: a.py" in await run(file_info, path="ln")


async def test_glob_search_recursive_newest_first(run: Any, workdir: Path) -> None:
    files = ["old.py", "src/app.py", "src/web/view.tsx", "src/web/x.ts", "node_modules/m.py"]
    for n, name in enumerate(files):
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        os.utime(path, (time.time() - 1000 + n, time.time() - 1000 + n))
    assert (await run(glob_search, pattern="**/*.py")).splitlines() == ["src/app.py", "old.py"]
    assert (await run(glob_search, pattern="*.py")).splitlines() == ["old.py"]
    assert (await run(glob_search, pattern="**/*.{ts,tsx}")).splitlines() == [
        "src/web/x.ts",
        "src/web/view.tsx",
    ]
    assert (await run(glob_search, pattern="*.py", path="src")).splitlines() == ["src/app.py"]
    assert await run(glob_search, pattern="node_modules/*.py") == "node_modules/m.py"
    assert "no files match" in await run(glob_search, pattern="*.rs")
    with pytest.raises(ToolError, match="must be relative"):
        await run(glob_search, pattern="../*")


async def test_glob_search_caps_results(run: Any, workdir: Path) -> None:
    for n in range(230):
        (workdir / f"f{n}.txt").write_text("")
    lines = (await run(glob_search, pattern="*.txt")).splitlines()
    assert len(lines) == 201 and lines[-1].startswith("... (30 more")


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*.py", "a.py", True),
        ("**/*.py", "a/b/c.py", True),
        ("*.py", "a/b.py", False),
        ("src/**", "src/a/b", True),
        ("src/**/x", "src/x", True),
        ("?.md", "a.md", True),
        ("[ab].md", "c.md", False),
        ("[!ab].md", "c.md", True),
        ("*.{js,ts}", "x.ts", True),
        ("a+b(1).txt", "a+b(1).txt", True),
    ],
)
def test_glob_to_regex(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(pattern).match(path)) is matches
