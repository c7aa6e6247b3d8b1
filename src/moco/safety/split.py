"""A shell command line as its simple commands: the one shell-parsing layer of moco.

bashlex parses the text; when it cannot (``case``, ``$((...))``, ``[[ ]]``, ``time``, quoted
here-document delimiters ...), the conservative tokenizer of :mod:`moco.safety.words` splits
it on control operators instead. Both paths give the same :class:`RawCommand` s: a simple
command as written, its words with quotes kept.

Two readers use them:

- the danger check (:mod:`moco.safety.shell_parse`) walks the bashlex tree itself (it
  follows ``cd``, variables, loops and pipelines) and takes its raw commands from here;
- :func:`split_simple_commands` lists every simple command of a line as a flat list of
  :class:`SimpleCommand` s, words unquoted -- what the permission layer
  (:mod:`moco.core.permission_shell`) matches rules against. It finds them between ``;``,
  ``&&``, ``||``, ``|``, ``&``, newlines and inside compound commands, and also inside
  ``$(...)``, backticks and ``<(...)``/``>(...)`` (listed after the command holding them) and
  in the scripts a command hands to a shell: ``sh -c '...'``, ``eval``, ``su -c``, ``watch``,
  ``env -S``, also behind wrappers such as ``sudo`` or ``xargs``. Leading ``VAR=value``
  assignments are dropped from the words; ``for``/``case``/``[[`` headers are not commands
  (substitutions in them are); here-document bodies are skipped; comments are ignored.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from moco.safety.command import basename, peel_words
from moco.safety.rules_exec import SHELLS, shell_operands
from moco.safety.words import (
    ShellSyntaxError,
    Token,
    Variables,
    Word,
    expand_word,
    is_assignment,
    tokenize,
)

__all__ = [
    "RawCommand",
    "SimpleCommand",
    "group_tokens",
    "inner_scripts",
    "parse_bash",
    "raw_command",
    "raw_redirect",
    "split_simple_commands",
]

#: longer scripts go straight to the tokenizer: bashlex needs ~2 s for 100 kB
BASHLEX_MAX_CHARS = 20_000
#: how deep :func:`split_simple_commands` follows scripts inside scripts
MAX_SPLIT_DEPTH = 8

_REDIRECT_OPS = frozenset({"<", ">", ">>", "<<", "<<-", "<<<", "<>", "<&", ">&", ">|", "&>", "&>>"})
_LEADING_RESERVED = frozenset(
    {"!", "{", "}", "then", "do", "else", "elif", "if", "while", "until", "coproc", "done",
     "fi", "esac"}
)  # fmt: skip
#: first words of token groups that are not commands (the tokenizer's view of syntax)
_SKIPPED = frozenset({"for", "select", "case", "function", "in", "[[", "]]"})
_DIGITS = "0123456789"

#: a redirect as written: operator, raw target, here-document body
RawRedirect = tuple[str, str | None, str | None]


@dataclass(slots=True)
class RawCommand:
    """A simple command as written: raw words (quotes kept) and redirects."""

    words: list[str]
    redirects: list[RawRedirect]
    text: str
    #: its words and redirections as written, in order (``>out``, ``2>&1``)
    shown: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Grouped:
    """What the tokenizer's fallback found: pipelines of simple commands, and the raw words
    of token groups that are not commands (``[[ ... ]]``, ``for``/``case`` headers)."""

    pipelines: list[list[RawCommand]]
    skipped: list[str]


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One simple command of a command line.

    ``text`` is the command as written (quotes kept, whitespace collapsed, redirections
    included): what an approval shows and what "always allow" remembers. ``words`` are its
    words with quotes removed and leading ``VAR=value`` assignments dropped: what rule patterns
    match (:attr:`plain`). ``redirects`` are ``(operator, target)`` pairs, the target unquoted.
    """

    text: str
    words: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()

    @property
    def plain(self) -> str:
        return " ".join(self.words)

    @property
    def program(self) -> str:
        """The program's file name (``/usr/bin/ls`` -> ``ls``), "" when there is none."""
        return os.path.basename(self.words[0]) if self.words else ""


# --------------------------------------------------------------------------- bashlex


def parse_bash(text: str) -> list[Any] | None:
    """bashlex's parse trees, or ``None`` when bashlex cannot (or should not) parse it.

    The trees are only read, never changed, so one parse serves both the danger check and
    the permission layer, which look at the same command one after the other."""
    trees = _parse_bash_cached(text)
    return list(trees) if trees is not None else None


@functools.lru_cache(maxsize=256)
def _parse_bash_cached(text: str) -> tuple[Any, ...] | None:
    if len(text) > BASHLEX_MAX_CHARS:
        return None
    import bashlex  # deferred: its parser tables cost ~80 ms to import

    try:
        return tuple(bashlex.parse(text))
    except Exception:  # bashlex raises many kinds (ParsingError, NotImplementedError, ...)
        return None


def node_children(node: Any) -> list[Any]:
    return list(getattr(node, "parts", None) or getattr(node, "list", None) or [])


def node_text(node: Any, source: str) -> str:
    start, end = node.pos
    return str(source[start:end])


def raw_command(node: Any, source: str) -> RawCommand:
    """The raw command of a bashlex ``command`` node."""
    words: list[str] = []
    redirects: list[RawRedirect] = []
    shown: list[str] = []
    for part in node.parts:
        if part.kind in ("word", "assignment"):
            words.append(node_text(part, source))
            shown.append(words[-1])
        elif part.kind == "redirect":
            redirects.append(raw_redirect(part, source))
            shown.append(_shown_redirect(part, source))
    return RawCommand(words, redirects, node_text(node, source), shown)


def raw_redirect(node: Any, source: str) -> RawRedirect:
    """A bashlex ``redirect`` node as written; a duplicated or closed descriptor (``>&2``,
    ``2>&-``) is its number or ``-``."""
    output = getattr(node, "output", None)
    if output is None:
        target = None
    else:
        target = node_text(output, source) if hasattr(output, "pos") else str(output)
    heredoc = getattr(node, "heredoc", None)
    body = None
    if heredoc is not None:
        body = str(heredoc.value).rsplit("\n", 1)[0] if "\n" in heredoc.value else ""
    return str(node.type), target, body


def _shown_redirect(node: Any, source: str) -> str:
    """``2> err`` -> ``2>err``: the operator joined to its target as written."""
    output: Any = getattr(node, "output", None)
    if not hasattr(output, "pos"):
        return "".join(node_text(node, source).split())
    operator = source[node.pos[0] : output.pos[0]]
    return "".join(operator.split()) + node_text(output, source)


def _bashlex_items(node: Any, source: str, out: list[RawCommand | str]) -> None:
    """The raw commands in a bashlex tree, in order, and its loose words (``for`` items)."""
    if node.kind == "command":
        out.append(raw_command(node, source))
        return
    if node.kind == "word":
        out.append(node_text(node, source))
        return
    for child in node_children(node):
        _bashlex_items(child, source, out)
    redirects = getattr(node, "redirects", None) or ()
    if redirects:  # ``{ ...; } > out``: the compound command's own redirections
        raw = [raw_redirect(redirect, source) for redirect in redirects]
        shown = [_shown_redirect(redirect, source) for redirect in redirects]
        out.append(RawCommand([], raw, node_text(node, source), shown))


# --------------------------------------------------------------------------- fallback


class _Grouper:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.result = Grouped([[]], [])
        self.words: list[str] = []
        self.redirects: list[RawRedirect] = []
        self.shown: list[str] = []
        self.pending: str | None = None

    def feed(self, token: Token) -> None:
        if token.kind == "word":
            if self.pending is not None:
                self.redirects.append((self.pending, token.text, token.heredoc))
                self.shown.append(self.pending + token.text)
                self.pending = None
            else:
                self.words.append(token.text)
                self.shown.append(token.text)
            return
        if token.text.lstrip(_DIGITS) in _REDIRECT_OPS:
            if self.strict and self.pending is not None:
                raise ShellSyntaxError("two redirection operators in a row")
            self.pending = token.text
            return
        self.end()
        if token.text not in ("|", "|&"):
            self.result.pipelines.append([])

    def end(self) -> None:
        if self.strict and self.pending is not None:
            raise ShellSyntaxError("a redirection without a target")
        command = self._clean()
        if command is not None:
            self.result.pipelines[-1].append(command)
        self.words, self.redirects, self.shown = [], [], []

    def _clean(self) -> RawCommand | None:
        words, shown = self.words, self.shown
        while words and words[0] in _LEADING_RESERVED:
            words = words[1:]
        if words and words[0] in _SKIPPED:
            self.result.skipped += [*words, *(t for _, t, _ in self.redirects if t is not None)]
            return None
        if not words and not self.redirects:
            return None
        while shown and shown[0] in _LEADING_RESERVED:
            shown = shown[1:]
        return RawCommand(words, self.redirects, " ".join(words), shown)


def group_tokens(tokens: Sequence[Token], *, strict: bool = False) -> Grouped:
    """Pipelines of simple commands from the tokenizer's tokens. ``strict`` raises
    :class:`ShellSyntaxError` on a redirection without a target."""
    grouper = _Grouper(strict)
    for token in tokens:
        grouper.feed(token)
    grouper.end()
    grouper.result.pipelines = [pipeline for pipeline in grouper.result.pipelines if pipeline]
    return grouper.result


# --------------------------------------------------------------------------- simple commands


def split_simple_commands(script: str) -> list[SimpleCommand]:
    """Every simple command of ``script`` (see the module docstring). Raises
    :class:`ShellSyntaxError` when the text cannot be split: an unclosed quote or bracket,
    a redirection without a target, scripts nested too deep."""
    found: list[SimpleCommand] = []
    _split(script, found, 0)
    return found


def inner_scripts(words: Sequence[str]) -> list[str]:
    """The scripts a simple command (unquoted words) runs through a shell: ``sh -c``,
    ``eval``, ``su -c``, ``watch``, ``env -S``, also behind ``sudo``, ``xargs`` ..."""
    peeled = peel_words([Word.plain(word) for word in words])
    found = [script.value for script in peeled.scripts]
    rest = peeled.words
    name = basename(rest[0].value) if rest else ""
    if name == "eval":
        found.append(" ".join(word.value for word in rest[1:]))
    elif name in SHELLS:
        command_string, _, operands = shell_operands(rest[1:])
        if command_string and operands:
            found.append(operands[0].value)
    return found


def _split(script: str, found: list[SimpleCommand], depth: int) -> None:
    if depth > MAX_SPLIT_DEPTH:
        raise ShellSyntaxError("scripts nested too deep")
    for item in _raw_items(script):
        if isinstance(item, str):
            nested = list(expand_word(item, Variables()).substitutions)
        else:
            nested = _add_simple(item, found)
        for body in nested:
            _split(body, found, depth + 1)


def _raw_items(script: str) -> list[RawCommand | str]:
    """The raw commands of one script and its loose words (whose substitutions still run)."""
    items: list[RawCommand | str] = []
    nodes = parse_bash(script)
    if nodes is not None:
        for node in nodes:
            _bashlex_items(node, script, items)
        return items
    grouped = group_tokens(tokenize(script), strict=True)
    items.extend(command for pipeline in grouped.pipelines for command in pipeline)
    items.extend(grouped.skipped)
    return items


def _add_simple(raw: RawCommand, found: list[SimpleCommand]) -> list[str]:
    """Append the simple command of ``raw`` to ``found`` (unless it is only assignments);
    return the scripts inside it: those it runs through a shell, then its substitutions."""
    words = [expand_word(word, Variables()) for word in raw.words]
    targets = [expand_word(target, Variables()) for _, target, _ in raw.redirects if target]
    substitutions = [body for word in [*words, *targets] for body in word.substitutions]
    start = 0
    while start < len(raw.words) and is_assignment(raw.words[start]):
        start += 1
    plain = tuple(word.literal for word in words[start:])
    redirects = tuple(
        (operator.lstrip(_DIGITS), expand_word(target, Variables()).literal if target else "")
        for operator, target, _ in raw.redirects
    )
    if not plain and not redirects:
        return substitutions
    found.append(SimpleCommand(" ".join(raw.shown), plain, redirects))
    return [*inner_scripts(plain), *substitutions]
