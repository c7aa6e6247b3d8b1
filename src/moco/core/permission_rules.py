"""Permission rules: what they look like in YAML, how they match a call, which one wins.

The precedence is documented in :mod:`moco.core.permissions`; this module implements it:
:func:`parse_permissions` reads one source, :meth:`RuleSet.merged` stacks sources (a later
source replaces the same rule of an earlier one), :meth:`RuleSet.resolve` picks the rule for a
call (the most specific; deny > ask > allow at equal specificity).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from moco.errors import ConfigError
from moco.profiles.loader import canonical_tool_name
from moco.safety.redaction import is_env_like_file

Action = Literal["allow", "ask", "deny"]
Mode = Literal["default", "ask-writes", "read-only"]
ScopeKind = Literal["command", "path", "url"]

ACTIONS: tuple[Action, ...] = ("allow", "ask", "deny")
MODES: tuple[Mode, ...] = ("default", "ask-writes", "read-only")
STRENGTH: dict[str, int] = {"allow": 0, "ask": 1, "deny": 2}
DEFAULTS_SOURCE = "built-in defaults"

#: tools whose rule patterns match the ``command`` argument / a URL; every other tool's
#: patterns match its ``path`` argument
COMMAND_TOOLS = frozenset({"execute_bash", "start_background"})
URL_TOOLS = frozenset({"web_fetch"})
#: keys naming several tools: OpenCode's and Claude Code's ``edit`` covers every file change
GROUPS: dict[str, tuple[str, ...]] = {"edit": ("write_file", "edit_file")}
_CLAUDE_MODES: dict[str, Mode] = {"default": "default", "acceptEdits": "default",
                                  "plan": "read-only"}
_MODE_ALIASES: dict[str, Mode] = {"plan": "read-only", "strict": "ask-writes"}
_RULE_STRING = re.compile(r"^\s*([^\s()]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_WILDCARDS = "*?["


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``tool`` (a moco tool name, a wildcard such as ``mcp__*``, or ``*`` for the
    default), an optional ``scope`` pattern (a command pattern for ``execute_bash``, a path
    pattern for file tools, a URL pattern), and its action. ``source`` names where it was
    written. Built-in rules may match with a ``predicate`` instead of a pattern, shown as
    ``label``."""

    tool: str
    action: Action
    scope: str | None = None
    kind: ScopeKind = "path"
    source: str = ""
    predicate: Callable[[str], bool] | None = field(default=None, compare=False)
    label: str = ""

    @property
    def key(self) -> tuple[str, str, str | None]:
        """Rules with the same key are the same rule: a later source replaces it."""
        return (self.tool, self.kind, self.scope if self.predicate is None else self.label)

    @property
    def scoped(self) -> bool:
        return self.scope is not None or self.predicate is not None

    @property
    def rank(self) -> tuple[int, int, int, int, int]:
        """Specificity, compared as a tuple (see :mod:`moco.core.permissions`)."""
        if self.tool == "*":
            tool_class, tool_literal = 0, 0
        elif _is_wildcard(self.tool) or _is_server_pattern(self.tool):
            tool_class, tool_literal = 1, _literal_length(self.tool)
        else:
            tool_class, tool_literal = 2, len(self.tool)
        if self.scope is None:
            return (tool_class, int(self.predicate is not None), 0, 0, tool_literal)
        exact = 0 if _is_wildcard(self.scope) else 1
        return (tool_class, 1, _literal_length(self.scope), exact, tool_literal)

    def matches_tool(self, name: str, aliases: Sequence[str] = ()) -> bool:
        pattern = self.tool
        if pattern == "*":
            return True
        names = (name, *aliases)
        if _is_wildcard(pattern):
            return any(fnmatchcase(candidate, pattern) for candidate in names)
        if _is_server_pattern(pattern):  # Claude Code: ``mcp__github`` = every tool of it
            return name.startswith(pattern + "__")
        return pattern in names

    def matches_subject(self, subject: str) -> bool:
        if self.predicate is not None:
            return self.predicate(subject)
        if self.scope is None:
            return True
        if self.kind == "command":
            return _command_matches(self.scope, subject)
        if self.kind == "url":
            return _url_matches(self.scope, subject)
        return _path_matches(self.scope, subject)

    def describe(self) -> str:
        """The rule as it would be written in YAML (``execute_bash: {'git push*': ask}``)."""
        if self.tool == "*":
            return self.label or f"default: {self.action}"
        if not self.scoped:
            return f"{self.tool}: {self.action}"
        scope = self.label if self.predicate is not None else quote(self.scope or "")
        return f"{self.tool}: {{{scope}: {self.action}}}"

    def describe_with_source(self) -> str:
        return f"{self.describe()}, from {self.source}" if self.source else self.describe()


@dataclass(frozen=True, slots=True)
class Match:
    """The rule that decided, and its action (which a mode may have changed)."""

    action: Action
    rule: Rule


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one source, or of several merged. ``mode`` is ``None`` when the source
    does not set it; ``mode_source`` says which source did."""

    rules: tuple[Rule, ...] = ()
    mode: Mode | None = None
    mode_source: str = ""

    def merged(self, *others: RuleSet) -> RuleSet:
        """These rules overlaid by ``others`` in order: a rule with the same key (tool and
        pattern) is replaced, and the last source that sets a mode sets it."""
        by_key = {rule.key: rule for rule in self.rules}
        mode, mode_source = self.mode, self.mode_source
        for other in others:
            for rule in other.rules:
                by_key.pop(rule.key, None)
                by_key[rule.key] = rule
            if other.mode is not None:
                mode, mode_source = other.mode, other.mode_source
        return RuleSet(tuple(by_key.values()), mode, mode_source)

    def resolve(
        self,
        name: str,
        aliases: Sequence[str] = (),
        subject: str | None = None,
        *,
        scoped_allow: bool = True,
    ) -> Match:
        """The deciding rule for the tool ``name`` called on ``subject`` (a command, a path
        relative to the working directory, a URL; ``None`` when the call has none).

        ``scoped_allow=False`` ignores allow rules with a pattern (for a command that could
        not be split: no command pattern may allow it).
        """
        best: Rule | None = None
        for rule in self.rules:
            if not rule.matches_tool(name, aliases):
                continue
            if rule.scoped and (
                subject is None
                or (rule.action == "allow" and not scoped_allow)
                or not rule.matches_subject(subject)
            ):
                continue
            if best is None or _beats(rule, best):
                best = rule
        best = best or DEFAULT_ALLOW
        return Match(best.action, best)

    def __bool__(self) -> bool:
        return bool(self.rules) or self.mode is not None


def _beats(rule: Rule, other: Rule) -> bool:
    """More specific wins; at equal specificity deny > ask > allow."""
    return (rule.rank, STRENGTH[rule.action]) > (other.rank, STRENGTH[other.action])


def strongest(matches: Iterable[Match]) -> Match:
    """The strictest of several matches (deny > ask > allow); the first among equals."""
    found: Match | None = None
    for match in matches:
        if found is None or STRENGTH[match.action] > STRENGTH[found.action]:
            found = match
    return found or Match("allow", DEFAULT_ALLOW)


def scope_kind(tool: str) -> ScopeKind:
    if tool in COMMAND_TOOLS:
        return "command"
    return "url" if tool in URL_TOOLS else "path"


DEFAULT_ALLOW = Rule("*", "allow", source=DEFAULTS_SOURCE)
ENV_FILES_RULE = Rule(
    "read_file", "ask", kind="path", source=DEFAULTS_SOURCE,
    predicate=is_env_like_file, label="<env-like files: .env, *.pem, id_rsa ...>",
)


def default_rules() -> RuleSet:
    """The built-in defaults: everything is allowed except reading ``.env``-like files,
    which asks."""
    return RuleSet((DEFAULT_ALLOW, ENV_FILES_RULE), "default", DEFAULTS_SOURCE)


# --------------------------------------------------------------------------- parsing


def parse_permissions(value: Any, source: str) -> RuleSet:
    """Read one ``permissions:`` (or OpenCode ``permission:``) value; see
    :mod:`moco.core.permissions` for the formats. Raises :class:`ConfigError` naming
    ``source`` for anything malformed."""
    if value is None:
        return RuleSet()
    if isinstance(value, str | bool):
        return RuleSet((Rule("*", parse_action(value, source, "permissions"), source=source),))
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: permissions must be a mapping such as {{default: allow, "
            f"execute_bash: {{'git push*': ask}}}}, not {type(value).__name__}"
        )
    grouped: dict[tuple[str, str, str | None], Rule] = {}
    explicit: dict[tuple[str, str, str | None], Rule] = {}
    mode: Mode | None = None
    for raw_key, item in value.items():
        key = str(raw_key)
        if key in ("mode", "defaultMode"):
            mode = parse_mode(item, source, key)
        elif key in ACTIONS and isinstance(item, list):
            _keep_strongest(explicit, rules_from_strings(item, key, source))
        elif key.lower() in GROUPS:
            _keep_strongest(grouped, _tool_rules(key, item, source))
        else:
            _keep_strongest(explicit, _tool_rules(key, item, source))
    rules = {**grouped}
    for rule_key, rule in explicit.items():
        rules.pop(rule_key, None)
        rules[rule_key] = rule
    return RuleSet(tuple(rules.values()), mode, source if mode is not None else "")


def rules_from_strings(items: Iterable[Any], action: str, source: str) -> list[Rule]:
    """Claude Code rules: ``["Bash(git push:*)", "Read(./.env)", "mcp__github"]``."""
    checked = parse_action(action, source, action)
    rules: list[Rule] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{source}: permissions.{action} entries must be strings such "
                              f"as 'Bash(git push:*)', not {item!r}")
        rules += parse_rule_string(item, checked, source)
    return rules


def parse_rule_string(text: str, action: Action, source: str) -> list[Rule]:
    """``Tool`` or ``Tool(pattern)`` -> rules (several for a group such as ``Edit``)."""
    found = _RULE_STRING.match(text)
    if found is None:
        raise ConfigError(f"{source}: '{text}' is not a rule; write Tool or Tool(pattern), "
                          "e.g. Bash(npm run test:*) or Read(./.env)")
    name, pattern = found.group(1), found.group(2)
    return [_rule(tool, pattern, action, source) for tool in tool_names(name)]


def parse_action(value: Any, source: str, where: str) -> Action:
    if value is True:
        return "allow"
    if value is False:
        return "deny"
    if isinstance(value, str) and value.strip().lower() in ACTIONS:
        action: Action = value.strip().lower()  # type: ignore[assignment]
        return action
    raise ConfigError(f"{source}: permissions {where}: {value!r} is not allow, ask or deny")


def parse_mode(value: Any, source: str, key: str = "mode") -> Mode:
    text = str(value).strip()
    if key == "defaultMode" and text in _CLAUDE_MODES:
        return _CLAUDE_MODES[text]
    text = _MODE_ALIASES.get(text, text)
    if text in MODES:
        mode: Mode = text  # type: ignore[assignment]
        return mode
    raise ConfigError(f"{source}: permissions {key}: {value!r} is not one of "
                      f"{', '.join(MODES)}")


def tool_names(key: str) -> tuple[str, ...]:
    """The moco tools a rule key names: a group, a Claude Code / OpenCode name, a wildcard."""
    stripped = key.strip()
    if stripped in ("*", "default"):
        return ("*",)
    group = GROUPS.get(stripped.lower())
    if group is not None:
        return group
    return (canonical_tool_name(stripped),)


def _tool_rules(key: str, item: Any, source: str) -> list[Rule]:
    names = tool_names(key)
    if isinstance(item, Mapping):
        return [
            _rule(tool, str(pattern), parse_action(action, source, f"{key}: {pattern!r}"),
                  source)
            for pattern, action in item.items()
            for tool in names
        ]
    if isinstance(item, str | bool):
        action = parse_action(item, source, key)
        return [_rule(tool, None, action, source) for tool in names]
    raise ConfigError(
        f"{source}: permissions {key}: expected allow, ask, deny or a mapping of patterns "
        f"to those (e.g. {{'git push*': ask}}), not {type(item).__name__}"
    )


def _rule(tool: str, pattern: str | None, action: Action, source: str) -> Rule:
    kind = scope_kind(tool)
    scope = _normalize_scope(pattern, kind)
    if scope is not None and (tool == "*" or _is_wildcard(tool)):
        raise ConfigError(f"{source}: the pattern {pattern!r} needs a tool name, not "
                          f"'{tool}' (patterns apply to one tool, e.g. execute_bash)")
    return Rule(tool, action, scope, kind, source)


def _normalize_scope(pattern: str | None, kind: ScopeKind) -> str | None:
    if pattern is None:
        return None
    text = " ".join(pattern.split()) if kind == "command" else pattern.strip()
    if text in ("", "*", "**"):
        return None
    if kind != "path":
        return text
    if text.startswith("//"):
        text = text[1:]  # Claude Code's absolute paths
    elif text.startswith("~"):
        text = os.path.expanduser(text)
    while text.startswith("./"):
        text = text[2:]
    if text.endswith("/"):
        text += "**"
    return text or None


def _keep_strongest(into: dict[tuple[str, str, str | None], Rule], rules: list[Rule]) -> None:
    """The same rule written twice in one source keeps its strictest action."""
    for rule in rules:
        existing = into.get(rule.key)
        if existing is None or STRENGTH[rule.action] > STRENGTH[existing.action]:
            into[rule.key] = rule


def quote(text: str) -> str:
    """A YAML single-quoted string."""
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------- matching


def _is_wildcard(text: str) -> bool:
    return any(char in text for char in _WILDCARDS)


def _is_server_pattern(tool: str) -> bool:
    return tool.startswith("mcp__") and "__" not in tool[5:] and not _is_wildcard(tool)


def _literal_length(pattern: str) -> int:
    if pattern.endswith(":*"):
        pattern = pattern[:-2]
    return sum(1 for char in pattern if char not in _WILDCARDS and char != "]")


def _command_matches(pattern: str, command: str) -> bool:
    if pattern.endswith(":*"):  # Claude Code prefix rule, on word boundaries
        prefix = pattern[:-2].rstrip()
        return command == prefix or command.startswith(prefix + " ")
    return fnmatchcase(command, pattern)


def _url_matches(pattern: str, url: str) -> bool:
    if pattern.startswith("domain:"):
        domain = pattern[len("domain:") :].strip().lower()
        host = (urlsplit(url).hostname or "").lower()
        return host == domain or host.endswith("." + domain)
    return fnmatchcase(url, pattern)


def _path_matches(pattern: str, path: str) -> bool:
    """gitignore-like: a pattern without ``/`` matches any part of the path; one with ``/``
    matches the path from the working directory (or from ``/`` when absolute), or any of its
    parent directories."""
    regex = _path_regex(pattern)
    parts = path.split("/")
    if "/" not in pattern:
        return any(regex.fullmatch(part) for part in parts)
    return any(regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1))


@lru_cache(maxsize=512)
def _path_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)
