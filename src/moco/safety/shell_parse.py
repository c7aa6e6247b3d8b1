"""Walks a shell command the way bash would run it and hands every simple command to the
rules.

bashlex parses the text; when it cannot (``case``, ``$((...))``, ``[[ ]]``, ``time``,
quoted here-document delimiters ...), a conservative tokenizer splits the text on control
operators instead, so nothing is skipped. Both paths produce the same simple commands
(:mod:`moco.safety.split`, the parsing layer the permission layer shares).
The analysis follows ``cd``, variable assignments, ``for`` loops, subshells, pipelines (for
``curl | sh`` and ``find | xargs``), ``$(...)``, backticks, process substitution, functions
(fork bombs) and scripts handed to ``sh -c``, ``eval``, ``su -c``, ``watch``.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moco.safety.command import Command, Finding, Redirect, basename, unwrap
from moco.safety.paths import PathJudge
from moco.safety.rules_exec import exec_rule
from moco.safety.rules_fs import fs_rule
from moco.safety.split import (
    RawCommand,
    group_tokens,
    node_children,
    node_text,
    parse_bash,
    raw_command,
    raw_redirect,
)
from moco.safety.words import (
    UNKNOWN,
    ShellSyntaxError,
    Variables,
    Word,
    expand_braces,
    expand_word,
    is_assignment,
    mentions_download,
    split_assignment,
    tokenize,
)

logger = logging.getLogger(__name__)

#: how deep scripts may nest (``sh -c "sh -c '...'"``) before the command is refused
MAX_DEPTH = 8
#: how many values of a ``for`` loop are tried one by one (the rest: as unknown)
MAX_LOOP_VALUES = 32

_STRUCTURE = frozenset(
    {"command", "pipeline", "list", "compound", "function", "for", "if", "while", "until"}
)
_MKTEMP = re.compile(r"\s*mktemp(\s|$)")
_DANGER_WORDS = re.compile(
    r"(?<![\w.-])(rm|rmdir|mkfs[\w.]*|dd|shred|wipefs|fdisk|sfdisk|parted|mkswap|shutdown"
    r"|reboot|halt|poweroff|killall5|crontab|chmod|chown|truncate|mv|eval|curl|wget|find"
    r"|xargs|kill|init|systemctl|git|sudo|/dev/[a-z]+)(?![\w-])"
)


@dataclass(slots=True)
class Scope:
    """What the shell knows at one point: its directory (``None``: unknown) and variables."""

    cwd: Path | None
    vars: Variables
    #: the directory before the last ``cd`` (for ``cd -``)
    previous: Path | None = None
    #: the ``pushd`` stack
    stack: tuple[Path | None, ...] = ()

    def copy(self) -> Scope:
        return Scope(self.cwd, self.vars.copy(), self.previous, self.stack)


class Analyzer:
    """Collects :class:`Finding` s for one command; implements the rules' ``RuleEnv``."""

    def __init__(self, judge: PathJudge, protected_branches: Sequence[str]) -> None:
        self.judge = judge
        self.protected_branches = tuple(protected_branches)
        self.findings: list[Finding] = []
        self.commands: list[Command] = []
        self.depth = 0
        self.current = self.initial_scope()

    def initial_scope(self) -> Scope:
        values = {"HOME": str(self.judge.home), "PWD": str(self.judge.working_dir)}
        return Scope(self.judge.working_dir, Variables(values))

    # ---------------------------------------------------------------- RuleEnv

    def report(self, cmd: Command, what: str, *, critical: bool) -> None:
        texts = (cmd.text, cmd.full_text, cmd.value_text)
        self.findings.append(Finding(f"{what} ({cmd.display})", critical, texts))

    def run_words(self, words: Sequence[Word], cwd: Path | None) -> None:
        if words:
            scope = Scope(cwd, self.current.vars.copy())
            self._execute(list(words), scope, [], [], {}, "")

    def run_script(self, text: str, cwd: Path | None) -> None:
        self.analyze(text, Scope(cwd, self.current.vars.copy()))

    # ---------------------------------------------------------------- entry

    def analyze(self, text: str, scope: Scope) -> None:
        """Analyze a whole script in ``scope``."""
        if self.depth >= MAX_DEPTH:
            self.findings.append(Finding("command nested too deeply to check", True))
            return
        self.depth += 1
        try:
            nodes = parse_bash(text)
            if nodes is None:
                self._fallback(text, scope)
                return
            try:
                walked = scope.copy()
                for node in nodes:
                    self._walk(node, text, walked, [])
            except ShellSyntaxError:
                self._fallback(text, scope)
        finally:
            self.depth -= 1

    def expand(self, raw: str, scope: Scope) -> Word:
        word = expand_word(raw, scope.vars)
        for body in word.substitutions:
            self.analyze(body, scope.copy())
        subs = word.substitutions
        if word.value == UNKNOWN and len(subs) == 1 and _MKTEMP.match(subs[0]):
            temporary = str(self.judge.new_temporary())  # a new, empty place of its own
            return Word(word.literal, temporary, subs)
        return word

    # ---------------------------------------------------------------- bashlex trees

    def _walk(self, node: Any, source: str, scope: Scope, upstream: list[Command]) -> list[Command]:
        kind = node.kind
        if kind == "command":
            return self.simple(raw_command(node, source), scope, upstream)
        if kind == "pipeline":
            return self._pipeline(node, source, scope, upstream)
        if kind == "compound":
            return self._compound(node, source, scope, upstream)
        if kind == "function":
            self._function(node, source, scope)
            return []
        if kind == "for":
            return self._for(node, source, scope, upstream)
        found: list[Command] = []
        for child in node_children(node):
            if child.kind in _STRUCTURE:
                found += self._walk(child, source, scope, upstream)
        return found

    def _pipeline(
        self, node: Any, source: str, scope: Scope, upstream: list[Command]
    ) -> list[Command]:
        stages = _stages(node)
        prior, found = list(upstream), []
        for stage in stages:
            commands = self._walk(stage, source, scope.copy() if len(stages) > 1 else scope, prior)
            prior += commands
            found += commands
        return found

    def _compound(
        self, node: Any, source: str, scope: Scope, upstream: list[Command]
    ) -> list[Command]:
        items = list(node.list)
        subshell = bool(items) and items[0].kind == "reservedword" and items[0].word == "("
        inner = scope.copy() if subshell else scope
        found: list[Command] = []
        for item in items:
            if item.kind in _STRUCTURE:
                found += self._walk(item, source, inner, upstream)
        redirects = [raw_redirect(r, source) for r in getattr(node, "redirects", None) or ()]
        if redirects:
            self.simple(RawCommand([], redirects, node_text(node, source)), scope, upstream)
        return found

    def _function(self, node: Any, source: str, scope: Scope) -> None:
        name = next(part.word for part in node.parts if part.kind == "word")
        body = node.parts[-1]
        if _spawns_self(body, name):
            self._fork_bomb(name, node_text(node, source), scope)
        self._walk(body, source, scope.copy(), [])

    def _for(self, node: Any, source: str, scope: Scope, upstream: list[Command]) -> list[Command]:
        parts = list(node.parts)
        name = parts[1].word if len(parts) > 1 else ""
        has_in = any(p.kind == "reservedword" and p.word == "in" for p in parts)
        items = [
            item
            for p in parts[2:]
            if p.kind == "word"
            for item in expand_braces(node_text(p, source))
        ]
        body = [p for p in parts[2:] if p.kind in _STRUCTURE]
        values = list(dict.fromkeys(self.expand(raw, scope) for raw in items)) if has_in else []
        if not values or len(values) > MAX_LOOP_VALUES:
            values = [*values[:MAX_LOOP_VALUES], Word(f"${name}", UNKNOWN)]
        found: list[Command] = []
        for value in values:
            scope.vars.assign(name, value)
            for part in body:
                found += self._walk(part, source, scope, upstream)
        return found

    # ---------------------------------------------------------------- simple commands

    def simple(self, raw: RawCommand, scope: Scope, upstream: list[Command]) -> list[Command]:
        """Expand one simple command and check it."""
        self.current = scope
        assignments: dict[str, Word] = {}
        index = 0
        while index < len(raw.words) and is_assignment(raw.words[index]):
            name, value = split_assignment(raw.words[index])
            assignments[name] = self.expand(value, scope)
            index += 1
        words = [
            self.expand(item, scope)
            for written in raw.words[index:]
            for item in expand_braces(written)
        ]
        redirects = [
            Redirect(op, None if target is None else self.expand(target, scope), heredoc)
            for op, target, heredoc in raw.redirects
        ]
        literal = [f"{n}={w.literal}" for n, w in assignments.items()]
        full_text = " ".join(literal + [w.literal for w in words]) or raw.text
        if not words:
            for var, assigned in assignments.items():
                scope.vars.assign(var, assigned)
            pseudo = Command(
                "", [], scope.cwd, full_text, full_text, upstream, redirects, {}, raw.text
            )
            self._check_redirects(pseudo)
            return []
        return self._execute(words, scope, upstream, redirects, assignments, full_text, raw.text)

    def _execute(
        self,
        words: list[Word],
        scope: Scope,
        upstream: list[Command],
        redirects: list[Redirect],
        assignments: dict[str, Word],
        full_text: str,
        source: str = "",
    ) -> list[Command]:
        peeled = unwrap(words)
        cwd = scope.cwd
        if peeled.chdir is not None:
            cwd = self.judge.directory(peeled.chdir.value, cwd)
        name = basename(peeled.words[0].value) if peeled.words else ""
        text = " ".join(word.literal for word in peeled.words)
        full_text = full_text or " ".join(word.literal for word in words)
        cmd = Command(
            name, peeled.words[1:], cwd, text, full_text, upstream, redirects,
            {**assignments, **peeled.assignments}, source,
        )  # fmt: skip
        self.commands.append(cmd)
        for script in peeled.scripts:
            if script.tainted or any(mentions_download(b) for b in script.substitutions):
                self.report(cmd, "runs a downloaded script", critical=True)
            else:
                self.analyze(script.value, Scope(cwd, scope.vars.copy()))
        self._check_redirects(cmd)
        rule = fs_rule(name) or exec_rule(name)
        if rule is None and peeled.words and not name:
            # the program cannot be known ("$(echo rm) -rf /"): judge it as if it deleted
            rule = fs_rule("rm")
        if rule is not None:
            self.current = scope
            rule(cmd, self)
        self._builtin(cmd, scope)
        return [cmd]

    def _check_redirects(self, cmd: Command) -> None:
        for redirect in cmd.redirects:
            if redirect.target is None or not redirect.writes:
                continue
            found = self.judge.write(redirect.target.value, cmd.cwd, append=redirect.appends)
            if found:
                self.report(cmd, f"redirect writes to {found.what}", critical=found.critical)

    def _builtin(self, cmd: Command, scope: Scope) -> None:
        """Builtins that change what later commands mean: ``cd``, assignments, ``alias``."""
        name, args = cmd.name, cmd.args
        if name in ("cd", "pushd", "popd"):
            self._cd(cmd, scope)
        elif name in ("export", "declare", "typeset", "local", "readonly"):
            for word in args:
                if is_assignment(word.literal):
                    var, value = split_assignment(word.value)
                    scope.vars.assign(var, Word(value, value, word.substitutions, word.tainted))
        elif name in ("unset", "read", "mapfile", "readarray"):
            for word in args:
                scope.vars.forget(word.value)
        elif name == "alias":
            for word in args:
                if "=" in word.value:
                    self.analyze(word.value.split("=", 1)[1], scope.copy())
        elif name == "trap" and args and args[0].value not in ("-", ""):
            self.analyze(args[0].value, scope.copy())

    def _cd(self, cmd: Command, scope: Scope) -> None:
        """Follow ``cd``, ``pushd`` and ``popd``."""
        operands = [w.value for w in cmd.args if not w.value.startswith("-") or w.value == "-"]
        before = scope.cwd
        if cmd.name == "popd":
            scope.cwd, scope.stack = (
                (scope.stack[-1], scope.stack[:-1]) if scope.stack else (None, ())
            )
        elif operands[:1] == ["-"]:
            scope.cwd = scope.previous
        elif not operands:
            scope.cwd = None if cmd.name == "pushd" else self.judge.home
        else:
            scope.cwd = self.judge.directory(operands[0], cmd.cwd)
        if cmd.name == "pushd":
            scope.stack = (*scope.stack, before)
        scope.previous = before
        scope.vars.values["PWD"] = str(scope.cwd) if scope.cwd is not None else UNKNOWN

    # ---------------------------------------------------------------- fallback

    def _fallback(self, text: str, scope: Scope) -> None:
        """bashlex could not parse: split on control operators and check every piece."""
        try:
            tokens = tokenize(text)
            bomb = _fork_bomb_text(text)
            if bomb:
                self._fork_bomb(bomb[0], bomb[1], scope)
            grouped = group_tokens(tokens)
            for pipeline in grouped.pipelines:
                prior: list[Command] = []
                for raw in pipeline:
                    prior += self.simple(raw, scope, prior)
            for word in grouped.skipped:  # ``[[ -n $(...) ]]``: its substitutions still run
                self.expand(word, scope)
        except ShellSyntaxError:
            self.unparseable(text)

    def _fork_bomb(self, name: str, text: str, scope: Scope) -> None:
        pseudo = Command("", [], scope.cwd, text, text)
        self.report(pseudo, f"fork bomb: function {name} starts copies of itself", critical=True)

    def unparseable(self, text: str) -> None:
        match = _DANGER_WORDS.search(text)
        if match:
            reason = f"could not parse the command, and it mentions '{match.group(1)}'"
            self.findings.append(Finding(reason, True))


# -------------------------------------------------------------------- bashlex helpers


def _stages(node: Any) -> list[Any]:
    return [part for part in node.parts if part.kind not in ("pipe", "reservedword")]


def _first_word(node: Any) -> str | None:
    if node.kind != "command":
        return None
    words = [part.word for part in node.parts if part.kind == "word"]
    return str(words[0]) if words else None


def _calls(node: Any, name: str) -> bool:
    if node.kind == "pipeline":
        return any(_first_word(stage) == name for stage in _stages(node))
    return _first_word(node) == name


def _spawns_self(node: Any, name: str) -> bool:
    """Whether a function body starts itself in a pipeline or in the background."""
    if node.kind == "pipeline" and len(_stages(node)) > 1 and _calls(node, name):
        return True
    if node.kind == "list":
        parts = list(node.parts)
        for before, after in itertools.pairwise(parts):
            if after.kind == "operator" and after.op == "&" and _calls(before, name):
                return True
    children = node_children(node)
    return any(_spawns_self(child, name) for child in children if hasattr(child, "kind"))


# -------------------------------------------------------------------- fallback helpers


def _fork_bomb_text(text: str) -> tuple[str, str] | None:
    """A function that starts itself in a pipeline or in the background: (name, text)."""
    for match in re.finditer(r"([\w:.-]+)\s*\(\s*\)\s*[{(]", text):
        name = re.escape(match.group(1))
        body = re.search(rf"(^|[\s;|&{{(]){name}\s*(\||&(?!&))", text[match.end() :])
        if body:
            return match.group(1), text[match.start() : match.end() + body.end()]
    return None
