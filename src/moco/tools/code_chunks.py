"""Splitting a source file into the chunks ``codebase_search`` indexes.

- Python, by its syntax tree: each function, class and method is a chunk (decorators
  included, ``symbol`` = ``name``, ``Class``, ``Class.method``); the code between them (imports,
  constants, a class's own lines outside its methods) forms chunks of its own. A file that does
  not parse falls back to line windows.
- Markdown, by sections: each heading starts a chunk (``symbol`` = the heading's text);
  headings inside fenced code blocks do not count.
- Everything else, by windows of :data:`WINDOW` lines overlapping by :data:`OVERLAP`.

Any chunk longer than :data:`MAX_CHUNK_LINES` is cut into windows that keep its symbol, so a
long function is still found by its later lines and no embedding input grows without bound.
Lines are numbered from 1; ``end`` is inclusive.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

WINDOW = 60
OVERLAP = 10
MAX_CHUNK_LINES = 150
PYTHON_SUFFIXES = (".py", ".pyi")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx", ".rst")

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int
    end: int
    text: str
    #: what the chunk is: ``Class.method``, a Markdown heading, "" for plain lines
    symbol: str = ""
    #: ``function`` | ``class`` | ``section`` | ``code`` | ``lines``
    kind: str = "lines"


def chunk_file(name: str, text: str) -> list[Chunk]:
    """The chunks of a file called ``name`` (only its suffix matters) holding ``text``."""
    lines = text.splitlines()
    lower = name.lower()
    if lower.endswith(PYTHON_SUFFIXES):
        spans = python_spans(text, len(lines))
    elif lower.endswith(MARKDOWN_SUFFIXES):
        spans = markdown_spans(lines)
    else:
        spans = None
    if spans is None:
        return window_chunks(lines, 1, len(lines), "", "lines")
    chunks: list[Chunk] = []
    for start, end, symbol, kind in spans:
        chunks.extend(window_chunks(lines, start, end, symbol, kind, MAX_CHUNK_LINES))
    return chunks


def window_chunks(lines: list[str], start: int, end: int, symbol: str, kind: str,
                  longest: int = WINDOW) -> list[Chunk]:
    """Lines ``start..end`` as one chunk, or as overlapping windows when over ``longest``;
    blank-only chunks are left out."""
    size = longest if end - start + 1 > longest else end - start + 1
    step = max(1, size - OVERLAP) if end - start + 1 > size else size
    chunks = []
    first = start
    while first <= end:
        last = min(end, first + size - 1)
        body = "\n".join(lines[first - 1 : last])
        if body.strip():
            chunks.append(Chunk(first, last, body, symbol, kind))
        if last == end:
            break
        first += step
    return chunks


Span = tuple[int, int, str, str]


def python_spans(text: str, line_count: int) -> list[Span] | None:
    """``(start, end, symbol, kind)`` covering a Python module, or ``None`` when it does not
    parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    spans: list[Span] = []
    _body_spans(tree.body, 1, line_count, "", spans)
    return sorted(spans)


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return int(min([node.lineno, *(d.lineno for d in decorators)]))


def _body_spans(body: list[ast.stmt], start: int, end: int, owner: str,
                spans: list[Span]) -> None:
    """Definitions in ``body`` become spans; the lines between them (``start..end`` minus the
    definitions) become ``code`` spans."""
    cursor = start
    for node in body:
        if not isinstance(node, _DEFINITIONS):
            continue
        first, last = _first_line(node), node.end_lineno or node.lineno
        if first > cursor:
            spans.append((cursor, first - 1, owner, "class" if owner else "code"))
        name = f"{owner}.{node.name}" if owner else node.name
        if isinstance(node, ast.ClassDef) and any(isinstance(n, _DEFINITIONS) for n in node.body):
            _body_spans(node.body, first, last, name, spans)  # the class's own lines + methods
        else:
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            spans.append((first, last, name, kind))
        cursor = last + 1
    if cursor <= end:
        spans.append((cursor, end, owner, "class" if owner else "code"))


def markdown_spans(lines: list[str]) -> list[Span]:
    """One span per heading (to the next heading), the text before the first one apart."""
    starts: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(lines, 1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            starts.append((number, match.group(2)))
    spans: list[Span] = []
    if not starts or starts[0][0] > 1:
        spans.append((1, starts[0][0] - 1 if starts else len(lines), "", "lines"))
    for index, (number, title) in enumerate(starts):
        last = starts[index + 1][0] - 1 if index + 1 < len(starts) else len(lines)
        spans.append((number, last, title, "section"))
    return spans
