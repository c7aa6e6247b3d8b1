"""Code navigation: where a symbol is defined and where it is used.

Python is read with :mod:`ast` (a file that does not parse falls back to regexes).
JavaScript/TypeScript, Go, Rust and Java are read with regexes over the source with comments
and string literals blanked out, so a name inside a comment or a string is not a reference.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.context import ToolContext
from moco.tools.filesystem import walk_files

MAX_RESULTS = 200
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_LINE_CHARS = 200

LANGUAGES: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "js", ".jsx": "js", ".mjs": "js", ".cjs": "js",
    ".ts": "js", ".tsx": "js", ".mts": "js", ".cts": "js",
    ".go": "go", ".rs": "rust", ".java": "java",
}  # fmt: skip

_QUOTED = r'"(?:\\.|[^"\\\n])*"'
_SINGLE = r"'(?:\\.|[^'\\\n])*'"
_CHAR = r"'(?:\\.|[^'\\\n])'"
_BLOCK = r"/\*.*?\*/"
_LINE = r"//[^\n]*"
#: comments and string literals per language, blanked before matching
_NOISE: dict[str, re.Pattern[str]] = {
    "js": re.compile("|".join((_LINE, _BLOCK, _QUOTED, _SINGLE, r"`(?:\\.|[^`\\])*`")), re.S),
    "go": re.compile("|".join((_LINE, _BLOCK, _QUOTED, _CHAR, r"`[^`]*`")), re.S),
    "rust": re.compile("|".join((_LINE, _BLOCK, r'\bb?r(#*)"(?:.*?)"\1', _QUOTED, _CHAR)), re.S),
    "java": re.compile("|".join((_LINE, _BLOCK, r'"""(?:.*?)"""', _QUOTED, _CHAR)), re.S),
    "python": re.compile(
        r'"""(?:.*?)"""|' r"'''(?:.*?)'''|#[^\n]*|" + _QUOTED + "|" + _SINGLE, re.S
    ),
}

_JAVA_MODIFIERS = "public protected private static final abstract synchronized native default"
_JS_MODIFIERS = (
    "export default declare abstract public private protected static async override readonly"
)
_JAVA_MODS = rf"(?:(?:{'|'.join(_JAVA_MODIFIERS.split())}|strictfp)\s+)*"
_JS_MODS = rf"(?:(?:{'|'.join(_JS_MODIFIERS.split())}|get|set)\s+)*"
#: (kind, regex) per language; ``{s}`` is the escaped symbol
_DEFINITIONS: dict[str, list[tuple[str, str]]] = {
    "js": [
        ("function", r"\bfunction\b\s*\*?\s*{s}\s*[<(]"),
        ("class", r"\bclass\s+{s}\b"),
        ("const", r"\bconst\s+{s}\b"),
        ("let", r"\blet\s+{s}\b"),
        ("var", r"\bvar\s+{s}\b"),
        ("interface", r"\binterface\s+{s}\b"),
        ("type", r"\btype\s+{s}\b\s*(?:<[^>]*>\s*)?="),
        ("enum", r"\benum\s+{s}\b"),
        ("method", r"^\s*" + _JS_MODS + r"\*?{s}\s*(?:<[^>]*>)?\s*\([^()]*\)\s*(?::[^;=]*)?\{"),
        (
            "property",
            r"^\s*"
            + _JS_MODS
            + r"{s}\s*(?::[^=;]+)?=\s*(?:async\s+)?(?:\([^()]*\)|\w+)\s*(?::[^=;]+)?=>",
        ),
        ("property", r"^\s*{s}\s*:\s*(?:async\s+)?(?:function\b|\([^()]*\)\s*=>|\w+\s*=>)"),
    ],
    "go": [
        ("func", r"^func\s+{s}\s*[(\[]"),
        ("method", r"^func\s*\([^)]*\)\s*{s}\s*[(\[]"),
        ("struct", r"^\s*type\s+{s}\b\s*(?:\[[^\]]*\]\s*)?struct\b"),
        ("interface", r"^\s*type\s+{s}\b\s*(?:\[[^\]]*\]\s*)?interface\b"),
        ("type", r"^\s*type\s+{s}\b"),
        ("const", r"^\s*const\s+{s}\b"),
        ("var", r"^\s*var\s+{s}\b"),
    ],
    "rust": [
        ("fn", r"\bfn\s+{s}\s*[<(]"),
        ("struct", r"\bstruct\s+{s}\b"),
        ("enum", r"\benum\s+{s}\b"),
        ("trait", r"\btrait\s+{s}\b"),
        ("union", r"\bunion\s+{s}\b"),
        ("type", r"\btype\s+{s}\b"),
        ("mod", r"\bmod\s+{s}\b"),
        ("const", r"\b(?:const|static)\s+(?:mut\s+)?{s}\s*:"),
        ("macro", r"\bmacro_rules!\s*{s}\b"),
        ("impl", r"\bimpl\b(?:\s*<[^>]*>)?\s+(?:[\w:]+(?:<[^>]*>)?\s+for\s+)?(?:\w+::)*{s}\b"),
    ],
    "java": [
        ("annotation", r"@interface\s+{s}\b"),
        ("class", r"\bclass\s+{s}\b"),
        ("interface", r"(?<!@)\binterface\s+{s}\b"),
        ("enum", r"\benum\s+{s}\b"),
        ("record", r"\brecord\s+{s}\b"),
        ("constructor", r"^\s*(?:(?:public|protected|private)\s+){s}\s*\("),
        (
            "method",
            r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*" + _JAVA_MODS + r"(?:<[^>]+>\s+)?"
            r"(?!(?:return|new|throw|else|case|yield)\b)[\w.$]+(?:<[^;(){}=]*>)?(?:\[\])*"
            r"\s+{s}\s*\(",
        ),
    ],
    "python": [  # only for files that do not parse
        ("function", r"^\s*(?:async\s+)?def\s+{s}\s*\("),
        ("class", r"^\s*class\s+{s}\b"),
    ],
}
#: Go declarations inside ``type (``/``const (``/``var (`` blocks
_GO_BLOCK = re.compile(r"^(type|const|var)\s*\(\s*$")


@dataclass(frozen=True, slots=True)
class Found:
    path: Path
    line: int
    text: str  # "kind name" for definitions, the source line for references


def _check_symbol(symbol: str) -> str:
    if not re.fullmatch(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*", symbol):
        raise ToolError(f"{symbol!r} is not an identifier (use a name like `parse` or `Foo.bar`)")
    return symbol


def _sources(ctx: ToolContext, path: str, name: str) -> Iterator[tuple[Path, str, str]]:
    """``(file, language, text)`` for source files under ``path`` that mention ``name``."""
    root = ctx.resolve_path(path, must_exist=True)
    for file in walk_files(root):
        language = LANGUAGES.get(file.suffix)
        if language is None:
            continue
        if ctx.is_cancelled:
            raise ToolError("search cancelled")
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                continue
            text = file.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        if name in text and "\0" not in text:
            yield file, language, text


def blank_noise(language: str, text: str) -> str:
    """``text`` with comments and string contents replaced by spaces (newlines kept)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return _NOISE[language].sub(blank, text)


class _PythonDefinitions(ast.NodeVisitor):
    """Functions, classes, and module/class-level assignments whose name is ``symbol`` (or,
    for a dotted symbol, whose qualified name ends with it)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.scope: list[tuple[str, str]] = []  # (name, "class" | "function")
        self.found: list[tuple[int, str]] = []

    def _matches(self, name: str) -> str | None:
        qualified = ".".join([*(part for part, _ in self.scope), name])
        if "." in self.symbol:
            ok = qualified == self.symbol or qualified.endswith("." + self.symbol)
        else:
            ok = name == self.symbol
        return qualified if ok else None

    def _define(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        in_class = bool(self.scope) and self.scope[-1][1] == "class"
        if isinstance(node, ast.ClassDef):
            kind, scope_kind = "class", "class"
        else:
            kind = "method" if in_class else "function"
            if isinstance(node, ast.AsyncFunctionDef):
                kind = f"async {kind}"
            scope_kind = "function"
        if qualified := self._matches(node.name):
            self.found.append((node.lineno, f"{kind} {qualified}"))
        self.scope.append((node.name, scope_kind))
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _define

    def _assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        if self.scope and self.scope[-1][1] == "function":
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        kind = "attribute" if self.scope else "variable"
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and (qualified := self._matches(name.id)):
                    self.found.append((node.lineno, f"{kind} {qualified}"))

    visit_Assign = visit_AnnAssign = _assign


def _python_reference_lines(tree: ast.AST, name: str) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            lines.add(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == name:
            lines.add(node.end_lineno or node.lineno)
        elif isinstance(node, ast.alias):
            imported = node.name.split(".")
            if name in (node.asname, imported[0], imported[-1]):
                lines.add(node.lineno)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                lines.add(node.lineno)
        elif isinstance(node, ast.Global | ast.Nonlocal) and name in node.names:
            lines.add(node.lineno)
    return lines


def _parse(text: str) -> ast.AST | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _regex_definitions(language: str, text: str, symbol: str) -> list[tuple[int, str]]:
    name = symbol.rsplit(".", 1)[-1]
    escaped = re.escape(name)
    patterns = [
        (kind, re.compile(regex.replace("{s}", escaped))) for kind, regex in _DEFINITIONS[language]
    ]
    go_member = re.compile(rf"^\s+{escaped}\b")
    found: list[tuple[int, str]] = []
    block: str | None = None
    depth = 0  # braces open inside a Go declaration block
    for number, line in enumerate(blank_noise(language, text).split("\n"), 1):
        if language == "go":
            if opened := _GO_BLOCK.match(line):
                block, depth = opened.group(1), 0
                continue
            if block and depth == 0 and line.startswith(")"):
                block = None
            elif block and depth == 0 and go_member.match(line):
                found.append((number, f"{block} {name}"))
            depth += line.count("{") - line.count("}")
            if block:
                continue
        kind = next((kind for kind, regex in patterns if regex.search(line)), None)
        if kind:
            found.append((number, f"{kind} {name}"))
    return found


def _definitions(language: str, text: str, symbol: str) -> list[tuple[int, str]]:
    if language == "python" and (tree := _parse(text)) is not None:
        visitor = _PythonDefinitions(symbol)
        visitor.visit(tree)
        return sorted(visitor.found)
    return _regex_definitions(language, text, symbol)


def _references(language: str, text: str, name: str) -> list[int]:
    if language == "python" and (tree := _parse(text)) is not None:
        return sorted(_python_reference_lines(tree, name))
    word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")
    code = blank_noise(language, text).split("\n")
    return [number for number, line in enumerate(code, 1) if word.search(line)]


def _collect(
    ctx: ToolContext, path: str, name: str, per_file: Callable[[str, str], list[Found]]
) -> list[Found]:
    results: list[Found] = []
    for file, language, text in _sources(ctx, path, name):
        results.extend(Found(file, found.line, found.text) for found in per_file(language, text))
        if len(results) > MAX_RESULTS:
            break
    return results


def _render(ctx: ToolContext, results: list[Found], empty: str) -> str:
    if not results:
        return empty
    lines = [f"{ctx.display_path(item.path)}:{item.line}: {item.text}" for item in results]
    if len(lines) > MAX_RESULTS:
        lines = [*lines[:MAX_RESULTS], f"... (more than {MAX_RESULTS}; narrow the path)"]
    return ctx.truncate("\n".join(lines))


_SEARCHED = "Python, JS/TS, Go, Rust and Java files"


@tool
def find_definition(ctx: ToolContext, symbol: str, path: str = ".") -> str:
    """Find where a function, class, method, type or variable is defined.

    Args:
        symbol: Name to look for, e.g. `parse`, or `Class.method` for Python.
        path: File or directory to search, relative to the working directory.
    """
    symbol = _check_symbol(symbol)
    name = symbol.rsplit(".", 1)[-1]

    def per_file(language: str, text: str) -> list[Found]:
        return [Found(Path(), line, kind) for line, kind in _definitions(language, text, symbol)]

    results = _collect(ctx, path, name, per_file)
    return _render(ctx, results, f"no definition of {symbol} found in {_SEARCHED} under {path}")


@tool
def find_references(ctx: ToolContext, symbol: str, path: str = ".") -> str:
    """Find the lines that use a symbol (calls, attribute uses, imports), comments excluded.

    Args:
        symbol: Name to look for, e.g. `parse` (for `Class.method`, the last part is used).
        path: File or directory to search, relative to the working directory.
    """
    name = _check_symbol(symbol).rsplit(".", 1)[-1]

    def per_file(language: str, text: str) -> list[Found]:
        source = text.split("\n")
        return [
            Found(Path(), line, _cut(source[line - 1].strip()))
            for line in _references(language, text, name)
        ]

    results = _collect(ctx, path, name, per_file)
    return _render(ctx, results, f"no references to {name} found in {_SEARCHED} under {path}")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + "..."
