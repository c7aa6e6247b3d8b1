"""One tool call as the permission layer sees it: the items to decide (the call, or each
simple command of a command line), and the texts shown about them (the approval's
description with a diff preview, the denial and advice messages).

The rules and their precedence are in :mod:`moco.core.permissions`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from moco.core.permission_rules import (
    Match,
    Mode,
    Rule,
    RuleSet,
    quote,
    scope_kind,
    strongest,
)
from moco.core.permission_shell import (
    SimpleCommand,
    is_read_only,
    peel_wrappers,
    split_commands,
)
from moco.errors import ToolError
from moco.safety.redaction import is_env_like_file

if TYPE_CHECKING:
    from moco.tools.base import Tool
    from moco.tools.context import ToolContext

MAX_DIFF_LINES = 80
MAX_PREVIEW_BYTES = 2_000_000
_ARGUMENT_WORD = re.compile(r"[A-Za-z][\w:.-]*")

ASK_WRITES_RULE = Rule("*", "ask", label="mode: ask-writes (asks before changes)")


@dataclass(frozen=True, slots=True)
class Item:
    """One decision: ``match`` says what the rules answered; ``grant`` is what "always"
    remembers (``(tool, exact command or path)``, or ``(tool, None)`` for the whole tool);
    ``subject`` is shown to people, ``match_subject`` is what patterns match;
    ``suggestion`` is a rule ``(tool, pattern or None)`` that would allow it."""

    match: Match
    grant: tuple[str, str | None]
    subject: str | None
    match_subject: str | None
    aliases: tuple[str, ...] = ()
    suggestion: tuple[str, str | None] = ("", None)


def call_items(
    tool: Tool, arguments: Mapping[str, Any], context: ToolContext, rules: RuleSet, mode: Mode
) -> tuple[list[Item], bool]:
    """The items of one call, and whether the call is read-only enough for a read-only
    run (only a command line of read-only commands is)."""
    kind = scope_kind(tool.name)
    command = arguments.get("command")
    if kind == "command" and isinstance(command, str):
        return _command_items(tool, command, context, rules, mode)
    aliases = tuple(tool.aliases)
    subjects = _subjects(tool, arguments, context)
    if subjects:
        match = strongest(rules.resolve(tool.name, aliases, subject) for subject in subjects)
    else:
        match = rules.resolve(tool.name, aliases)
    match = _ask_writes(match, tool, mode)
    subject = subjects[0] if subjects else None
    scoped = match.rule.scoped and subject is not None
    grant = (tool.name, subject if scoped else None)
    item = Item(match, grant, subject, subject, aliases, (tool.name, subject if scoped else None))
    return [item], False


def _command_items(
    tool: Tool, command: str, context: ToolContext, rules: RuleSet, mode: Mode
) -> tuple[list[Item], bool]:
    aliases = tuple(tool.aliases)
    commands = split_commands(command)
    if not commands:
        text = " ".join(command.split())
        match = rules.resolve(tool.name, aliases, text, scoped_allow=commands is not None)
        match = _ask_writes(match, tool, mode)
        pattern = (text.split() or [""])[0] + "*"
        return [Item(match, (tool.name, text), text, text, aliases, (tool.name, pattern))], False
    items: list[Item] = []
    for simple in commands:
        matches = [rules.resolve(tool.name, aliases, simple.plain)]
        for variant in _variants(simple):
            matches.append(rules.resolve(tool.name, aliases, variant))
        reads = _env_reads(simple, context, rules)
        match = _ask_writes(strongest([*matches, *reads]), tool, mode, is_read_only(simple))
        if match.rule.tool == "read_file":
            path = next(subject for subject, found in _env_paths(simple) if found)
            suggestion: tuple[str, str | None] = ("read_file", path)
        else:
            suggestion = (tool.name, _command_pattern(simple))
        items.append(Item(match, (tool.name, simple.text), simple.text, simple.plain,
                          aliases, suggestion))
    return items, all(is_read_only(simple) for simple in commands)


def _variants(simple: SimpleCommand) -> list[str]:
    """The command without wrappers (``sudo``, ``timeout 5`` ...) and with its program's
    directory removed (``/bin/rm`` -> ``rm``): deny and ask rules must see through them."""
    words = peel_wrappers(simple.words)
    if not words:
        return []
    bare = " ".join((os.path.basename(words[0]), *words[1:]))
    return [text for text in dict.fromkeys((" ".join(words), bare)) if text != simple.plain]


def _ask_writes(match: Match, tool: Tool, mode: Mode, read_only: bool = False) -> Match:
    """``mode: ask-writes``: the default allow becomes ask for tools that change things."""
    if (mode == "ask-writes" and tool.mutates and not read_only
            and match.rule.tool == "*" and match.action == "allow"):
        return Match("ask", ASK_WRITES_RULE)
    return match


def _subjects(tool: Tool, arguments: Mapping[str, Any], context: ToolContext) -> list[str]:
    """What a file tool's path patterns match: the path as written and as resolved,
    relative to the working directory when inside it (a URL for URL tools)."""
    if scope_kind(tool.name) == "url":
        url = arguments.get("url")
        return [url] if isinstance(url, str) else []
    raw = arguments.get("path")
    if not isinstance(raw, str):
        properties = tool.parameters.get("properties", {})
        if not (isinstance(properties, dict) and "path" in properties):
            return []
        raw = "."
    return path_subjects(raw, context.working_dir)


def path_subjects(raw: str, working_dir: Path) -> list[str]:
    path = Path(os.path.expanduser(raw))
    absolute = path if path.is_absolute() else working_dir / path
    lexical = Path(os.path.normpath(absolute))
    try:
        resolved = absolute.resolve()
    except (OSError, RuntimeError, ValueError):  # ValueError: a NUL byte (the tool says so)
        resolved = lexical
    subjects = [_relative(lexical, working_dir), _relative(resolved, working_dir)]
    return list(dict.fromkeys(subjects))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.as_posix()


def _env_paths(simple: SimpleCommand) -> list[tuple[str, bool]]:
    """The words of a command that may be paths, each with whether it looks like a secrets
    file (``.env``, ``*.pem`` ...)."""
    candidates = list(simple.words[1:])
    candidates += [target for operator, target in simple.redirects if operator == "<"]
    found: list[tuple[str, bool]] = []
    for word in candidates:
        if word.startswith("-") and "=" in word:
            word = word.split("=", 1)[1]
        word = word.lstrip("@")
        if word and not word.startswith("-"):
            found.append((word, is_env_like_file(word)))
    return found


def _env_reads(simple: SimpleCommand, context: ToolContext, rules: RuleSet) -> list[Match]:
    """A command naming a secrets file is also a read of it: ``read_file``'s rules apply."""
    matches: list[Match] = []
    for word, env_like in _env_paths(simple):
        if env_like:
            for subject in path_subjects(word, context.working_dir):
                matches.append(rules.resolve("read_file", (), subject))
    return matches


def _command_pattern(simple: SimpleCommand) -> str:
    """A pattern to suggest for a command: its program, and its subcommand when it has one
    (``git push --force`` -> ``git push*``)."""
    words = simple.words or (simple.text,)
    head = [words[0]]
    if len(words) > 1 and _ARGUMENT_WORD.fullmatch(words[1]) and "." not in words[1]:
        head.append(words[1])
    return " ".join(head) + "*"


# --------------------------------------------------------------------------- messages


def denial(tool: str, item: Item) -> str:
    what = f"{tool} '{item.subject}'" if item.subject else tool
    return f"{what} is denied by the rule {item.match.rule.describe_with_source()}"


def advice(tool: str, pending: Sequence[Item]) -> str:
    """The message for an ask nobody can answer: which flag or rule would allow it."""
    subjects = [f"'{item.subject}'" for item in pending if item.subject]
    what = f"{tool} {' and '.join(subjects)}" if subjects else tool
    verb = "needs" if len(pending) == 1 else "need"
    suggestion = _suggested_rules(pending)
    rule = pending[0].match.rule.describe_with_source()
    return (f"{what} {verb} approval — rerun with --yes, or allow it in profile.yaml "
            f"permissions: {suggestion} (asked by {rule})")


def _suggested_rules(pending: Sequence[Item]) -> str:
    by_tool: dict[str, list[str]] = {}
    plain: list[str] = []
    for item in pending:
        tool, pattern = item.suggestion
        if pattern is None:
            plain.append(f"{tool}: allow")
        else:
            entry = f"{quote(pattern)}: allow"
            entries = by_tool.setdefault(tool, [])
            if entry not in entries:
                entries.append(entry)
    parts = [f"{tool}: {{{', '.join(entries)}}}" for tool, entries in by_tool.items()]
    return ", ".join(dict.fromkeys([*plain, *parts]))


def grants_text(tool: str, pending: Sequence[Item]) -> str:
    """What answering "always" allows for the rest of the session."""
    if scope_kind(tool) == "command":
        listed = ", ".join(f"'{item.subject}'" for item in pending)
        noun = "this exact command" if len(pending) == 1 else "these exact commands"
        return f"{noun}: {listed}"
    if pending[0].grant[1] is not None:
        return f"{tool} on '{pending[0].grant[1]}'"
    return f"every {tool} call"


def describe_call(
    tool: str, arguments: Mapping[str, Any], context: ToolContext
) -> tuple[str, Literal["command", "diff", "call"]]:
    """What a person should read before approving: the command line, the change as a
    unified diff (``write_file``/``edit_file``), or the call with its arguments."""
    command = arguments.get("command")
    if scope_kind(tool) == "command" and isinstance(command, str):
        return command, "command"
    if tool in ("write_file", "edit_file"):
        preview = diff_preview(tool, arguments, context)
        if preview is not None:
            return preview, "diff"
    shown = json.dumps(dict(arguments), ensure_ascii=False, default=str)
    if len(shown) > 1000:
        shown = shown[:999] + "…"
    return f"{tool} {shown}", "call"


def diff_preview(tool: str, arguments: Mapping[str, Any], context: ToolContext) -> str | None:
    """The change ``write_file``/``edit_file`` would make, as a unified diff of the file on
    disk (at most :data:`MAX_DIFF_LINES` lines); ``None`` when it cannot be computed."""
    path = arguments.get("path")
    if not isinstance(path, str):
        return None
    try:
        resolved = context.resolve_path(path)
    except (ToolError, ValueError):
        return None
    old, note = _current_text(resolved)
    if old is None:
        return note
    new = _new_text(tool, arguments, old)
    if new is None:
        return None
    shown = context.display_path(resolved)
    lines = list(difflib.unified_diff(
        old.splitlines(), new.splitlines(),
        fromfile=f"a/{shown}" if resolved.exists() else "/dev/null", tofile=f"b/{shown}",
        lineterm="",
    ))
    if not lines:
        return f"{shown}: no change"
    if len(lines) > MAX_DIFF_LINES:
        hidden = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... ({hidden} more diff lines not shown)"]
    return "\n".join(filter(None, [note, *lines]))


def _current_text(path: Path) -> tuple[str | None, str]:
    if not path.exists():
        return "", ""
    if not path.is_file():
        return None, f"{path} is not a regular file"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PREVIEW_BYTES + 1)
    except OSError as error:
        return None, f"cannot read {path}: {error}"
    if b"\x00" in data[:8192]:
        return None, f"{path} is a binary file; it would be replaced"
    if len(data) > MAX_PREVIEW_BYTES:
        return None, f"{path} is too large to preview"
    return data.decode("utf-8", errors="replace"), ""


def _new_text(tool: str, arguments: Mapping[str, Any], old: str) -> str | None:
    if tool == "write_file":
        content = arguments.get("content")
        return content if isinstance(content, str) else None
    before, after = arguments.get("old_string"), arguments.get("new_string")
    if not isinstance(before, str) or not isinstance(after, str) or not before:
        return None
    if before not in old:
        return None
    return old.replace(before, after, -1 if arguments.get("replace_all") else 1)
