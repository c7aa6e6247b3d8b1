"""grep and ripgrep: same answers with and without ``rg`` (CI must install ripgrep)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from moco.errors import ToolError
from moco.tools import search
from moco.tools.context import ToolContext
from moco.tools.search import grep, ripgrep

HAVE_RG = shutil.which("rg") is not None
needs_rg = pytest.mark.skipif(not HAVE_RG, reason="ripgrep (rg) is not installed")


@pytest.fixture
def tree(workdir: Path) -> Path:
    files = {
        "a.py": "import os\ndef alpha():\n    return os.getcwd()  # alpha\n",
        "a/b.py": "def beta():\n    alpha()\n",
        "a/c.js": "function alpha() {}\nconst x = alpha();\n",
        "a.txt": "alpha in text\r\nsecond line\r\n",
        "z/deep/d.ts": "export const alpha = 1;\n",
        ".hidden/h.py": "alpha = 'hidden'\n",
        "node_modules/pkg/index.js": "alpha();\n",
        ".git/config": "alpha\n",
        "build/out.py": "alpha\n",
        "pkg.egg-info/PKG-INFO": "alpha\n",
        "notes.md": "ALPHA uppercase\n" + "filler\n" * 3 + "the alpha end",
        "unicode.txt": "naïve alpha café\n",
        ".gitignore": "a.txt\n",
    }
    for name, content in files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, newline="")
    (workdir / "blob.bin").write_bytes(b"alpha\0binary\n")
    (workdir / "latin.txt").write_bytes(b"caf\xe9 alpha\n")
    (workdir / "big.txt").write_bytes(b"alpha\n" + b"x" * (search.MAX_FILE_BYTES + 1))
    (workdir / "link.py").symlink_to(workdir / "a.py")
    return workdir


def _without_rg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search.shutil, "which", lambda name: None)


EXPECTED_ALPHA = [
    ".hidden/h.py:1: alpha = 'hidden'",
    "a/b.py:2: alpha()",
    "a/c.js:1: function alpha() {}",
    "a/c.js:2: const x = alpha();",
    "a.py:2: def alpha():",
    "a.py:3: return os.getcwd()  # alpha",
    "a.txt:1: alpha in text",
    "latin.txt:1: caf\N{REPLACEMENT CHARACTER} alpha",
    "notes.md:5: the alpha end",
    "unicode.txt:1: naïve alpha café",
    "z/deep/d.ts:1: export const alpha = 1;",
]


async def test_grep_finds_lines_in_path_order(run: Any, tree: Path) -> None:
    assert (await run(grep, pattern="alpha")).splitlines() == EXPECTED_ALPHA


async def test_grep_include_and_path(run: Any, tree: Path) -> None:
    assert (await run(grep, pattern=r"alpha\(", include="*.py")).splitlines() == [
        "a/b.py:2: alpha()",
        "a.py:2: def alpha():",
    ]
    assert (await run(grep, pattern="alpha", include="*.{js,ts}", path="a")).splitlines() == [
        "a/c.js:1: function alpha() {}",
        "a/c.js:2: const x = alpha();",
    ]
    assert await run(grep, pattern="def", path="a/b.py") == "a/b.py:1: def beta():"
    assert await run(grep, pattern="alpha", path="node_modules") == (
        "node_modules/pkg/index.js:1: alpha();"
    )
    assert await run(grep, pattern="nothing-like-this") == "no matches for 'nothing-like-this'"


async def test_grep_regex_errors_and_escapes(run: Any, tree: Path) -> None:
    with pytest.raises(ToolError, match="invalid regular expression"):
        await run(grep, pattern="(unclosed")
    for path in ("..", "/etc", "~"):
        with pytest.raises(ToolError, match="outside the working directory"):
            await run(grep, pattern="root", path=path)


async def test_grep_caps_and_cuts(ctx: ToolContext, run: Any, workdir: Path) -> None:
    (workdir / "many.txt").write_text("hit " + "y" * 500 + "\n" + "hit\n" * 300)
    lines = (await run(grep, pattern="hit")).splitlines()
    assert len(lines) == search.MAX_MATCHES + 1
    assert lines[0].endswith("y" * 100 + "...") and len(lines[0]) < 330
    assert lines[-1].startswith("... (more than 200 matches")


@pytest.mark.parametrize(
    ("pattern", "file_type"),
    [
        ("alpha", None),
        ("alpha", "py"),
        ("alpha", "ts"),
        ("alpha", "js"),
        ("alpha", "md"),
        (r"^\s+return", None),
        ("(?i)ALPHA", None),
        (r"alpha\(\)$", None),
        (r"(?<=def )alpha", None),  # rg refuses look-behind: the Python search answers
        ("l{2}", None),
        ("x{3}", None),  # only in a file over the size limit
        ("text$", None),  # CRLF: "$" does not match before "\r" in either engine
    ],
)
@needs_rg
async def test_ripgrep_same_results_with_and_without_rg(
    run: Any, tree: Path, monkeypatch: pytest.MonkeyPatch, pattern: str, file_type: str | None
) -> None:
    with_rg = await run(ripgrep, pattern=pattern, file_type=file_type)
    _without_rg(monkeypatch)
    without_rg = await run(ripgrep, pattern=pattern, file_type=file_type)
    assert with_rg == without_rg
    assert ("no matches" in with_rg) is (pattern in ("x{3}", "text$"))


@needs_rg
async def test_ripgrep_uses_rg_when_present(
    run: Any, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the Python search should not run")

    monkeypatch.setattr(search, "python_search", fail)
    assert (await run(ripgrep, pattern="alpha")).splitlines() == EXPECTED_ALPHA


@needs_rg
async def test_ripgrep_caps_like_python(
    run: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(30):
        (workdir / f"f{n:02d}.txt").write_text("hit\n" * 10)
    with_rg = await run(ripgrep, pattern="hit")
    _without_rg(monkeypatch)
    assert with_rg == await run(ripgrep, pattern="hit")
    assert len(with_rg.splitlines()) == search.MAX_MATCHES + 1


async def test_ripgrep_without_rg(run: Any, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _without_rg(monkeypatch)
    assert (await run(ripgrep, pattern="alpha")).splitlines() == EXPECTED_ALPHA
    assert (await run(ripgrep, pattern="alpha", file_type="python")).splitlines() == [
        ".hidden/h.py:1: alpha = 'hidden'",
        "a/b.py:2: alpha()",
        "a.py:2: def alpha():",
        "a.py:3: return os.getcwd()  # alpha",
    ]
    with pytest.raises(ToolError, match="unknown file_type"):
        await run(ripgrep, pattern="alpha", file_type="*.py")
