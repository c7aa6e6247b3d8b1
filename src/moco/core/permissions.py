"""Permissions: allow, ask or deny each tool call, as Claude Code and OpenCode users expect.

:class:`PermissionPolicy` is a :class:`~moco.core.policy.ToolPolicy`. It does not replace the
danger check (:mod:`moco.safety.shell`), working-directory confinement or secret redaction:
those always apply, whatever the permissions say, and cannot be turned off here.

Rules
-----
``permissions:`` in YAML (``$MOCO_HOME/config.yaml``, ``profile.yaml``, an agent's front
matter) is a mapping::

    permissions:
      default: allow                  # every tool without a more specific rule
      mode: ask-writes                # or read-only, default (see Modes)
      edit: ask                       # a group: write_file and edit_file
      execute_bash: {"*": allow, "git push*": ask, "npm run test:*": allow, "rm *": deny}
      write_file: {"*.lock": deny, "src/**": allow}
      read_file: {".env*": ask}
      mcp__*: ask                     # wildcard tool names; mcp__github = all its tools

- tool names may be moco's, Claude Code's or OpenCode's (``Bash``, ``Read``, ``Write``,
  ``webfetch`` ...), or wildcards; ``edit`` means ``write_file`` and ``edit_file``;
- a value is ``allow``, ``ask`` or ``deny`` (``true``/``false`` mean allow/deny), or a mapping
  of patterns to those; the pattern ``*`` is the same as the tool's own value;
  ``permissions: ask`` alone is short for ``{default: ask}``; ``mode`` is ``default``,
  ``ask-writes`` (alias ``strict``) or ``read-only`` (alias ``plan``);
- command patterns (``execute_bash``) are globs over each simple command (``git push*``), or
  Claude Code prefixes (``git push:*`` = ``git push`` or ``git push <anything>``);
- path patterns (file tools, matched against the ``path`` argument relative to the working
  directory) follow .gitignore: ``*.lock`` and ``.env*`` (no ``/``) match any part of the path,
  ``src/**`` or ``src/`` match from the working directory, ``/abs/**``, ``//abs/**``,
  ``~/x/**`` are absolute; a pattern matching a directory matches everything in it;
- Claude Code's lists work too: ``{allow: ["Bash(npm run test:*)"], ask: [...], deny:
  ["Read(./.env)"], defaultMode: plan}``; OpenCode's ``permission:`` key
  (``{edit: ask, bash: {"git push": ask}, webfetch: deny}``) is read like ``permissions:``.

Precedence
----------
1. **Sources**, later = stronger: built-in defaults -> ``$MOCO_HOME/config.yaml`` -> the
   profile's ``profile.yaml`` -> the agent's front matter -> run flags. A later source
   *replaces the same rule* (same tool and same pattern) and sets ``mode`` if it says one. It
   does not remove other rules: a more specific rule from an earlier source still applies
   (restate its pattern to change it). Inside one source, the same rule written twice keeps
   its strictest action, and explicit tool names replace what a group (``edit``) said.
2. **Specificity** among the rules that match a call, compared in this order:
   a. an exact tool name beats a wildcard tool name (``mcp__*``, ``mcp__github``), which
      beats ``default``; between wildcards, more literal characters win;
   b. a rule with a pattern beats the tool's plain rule;
   c. between patterns, more literal (non-wildcard) characters win, then an exact pattern
      beats a wildcard one. The built-in ``.env`` rule counts as a pattern with no literal
      character, so any matching user pattern (``.env``, ``.env*``) overrides it.
3. **At equal specificity** deny beats ask beats allow.
4. A **command line** is split into simple commands (:mod:`moco.core.permission_shell`);
   each is decided on its own (also without wrappers such as ``sudo``/``timeout``, and as a
   read of any ``.env``-like file it names, through ``read_file``'s rules) and the strictest
   answer wins. Text that cannot be split is never allowed by a command pattern.
   A path is decided as written and as resolved (symlinks followed); the strictest wins.
5. **Modes and grants**, after the rules: ``read-only`` denies every tool with
   ``mutates=True`` before any rule is read (``execute_bash`` only when a command is not
   known to be read-only: ``ls``, ``cat``, ``grep``, ``git status``/``diff``/``log``... pass);
   ``ask-writes`` turns the *default* allow into ask for mutating tools (read-only commands
   still pass; explicit allow rules still allow). An ask becomes allow when this session
   granted it ("always"), when a loaded skill pre-approves the tool (``allowed-tools``), or
   with ``--yes``. Without an approver (non-interactive) an ask is denied with a message
   naming the flag or the rule that would allow it. Nothing turns a deny into an allow.

Defaults: everything is allowed (reading, writing, editing, commands — confinement and the
danger check still apply), except reading ``.env``-like files (``is_env_like_file``), which
asks. The "strict" preset is one setting away: ``permissions: {mode: ask-writes}`` (asks
before writes, edits, commands that change things and mutating MCP tools) or
``permissions: {default: ask}`` (asks before everything).

"Always" remembers, for this session: for a command line, each simple command that asked,
exactly as written (``git add . && git push`` grants ``git add .`` and ``git push``, never
``git*``); for a path rule, that tool on that path; for a tool-wide rule, that tool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import yaml

from moco.config import moco_home
from moco.core.permission_calls import Item, advice, call_items, denial, describe_call, grants_text
from moco.core.permission_rules import (
    DEFAULTS_SOURCE,
    Action,
    Mode,
    Rule,
    RuleSet,
    default_rules,
    parse_permissions,
    rules_from_strings,
)
from moco.core.policy import ToolDecision
from moco.events import leaf_name

if TYPE_CHECKING:
    from moco.messages import ToolCallPart
    from moco.profiles.loader import AgentSpec, Profile
    from moco.tools.base import Tool
    from moco.tools.context import ToolContext

__all__ = [
    "Action",
    "Approval",
    "ApprovalRequest",
    "Approver",
    "Mode",
    "PermissionPolicy",
    "Rule",
    "RuleSet",
    "agent_rules",
    "config_rules",
    "default_rules",
    "flag_rules",
    "parse_permissions",
    "profile_rules",
    "section_rules",
]

GRANTS_KEY = "permission_grants"
READ_ONLY_HINT = "remove --read-only to allow changes"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What an :class:`Approver` is asked.

    ``description`` is what a person should read: the exact command line, a unified diff of
    the change for ``write_file``/``edit_file``, or the call. ``rule`` is the rule that asked
    (with its source); ``always`` says what answering "always" would allow for the session,
    and ``grants`` lists those items (commands or paths).
    """

    agent: str
    tool: str
    arguments: Mapping[str, Any]
    description: str
    rule: str
    kind: Literal["command", "diff", "call"] = "call"
    always: str = ""
    grants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Approval:
    """An answer: ``once``, ``always`` (for this session) or ``deny`` (with an optional
    message, passed to the model)."""

    choice: Literal["once", "always", "deny"]
    message: str = ""

    @classmethod
    def once(cls) -> Approval:
        return cls("once")

    @classmethod
    def always(cls) -> Approval:
        return cls("always")

    @classmethod
    def deny(cls, message: str = "") -> Approval:
        return cls("deny", message)


class Approver(Protocol):
    """Asks someone (a terminal, a web page, a chat message) whether a call may run."""

    async def approve(self, request: ApprovalRequest) -> Approval: ...


class PermissionPolicy:
    """Allow / ask / deny in front of every tool call (see the module docstring).

    ``rules`` decide for agents not in ``agent_rules`` (each agent's full stack of sources).
    ``yes`` approves every ask (``--yes``); ``read_only`` is ``--read-only``. Session grants
    live here and in ``context.state["permission_grants"]`` so they survive across turns.
    Build it from the usual sources with :meth:`from_sources`.
    """

    def __init__(
        self,
        rules: RuleSet | None = None,
        approver: Approver | None = None,
        *,
        agent_rules: Mapping[str, RuleSet] | None = None,
        yes: bool = False,
        read_only: bool = False,
    ) -> None:
        self.rules = rules if rules is not None else default_rules()
        self.approver = approver
        self.agent_rules = dict(agent_rules or {})
        self.yes = yes
        self.read_only = read_only
        self.grants: set[tuple[str, str | None]] = set()
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_sources(
        cls,
        *,
        profile: Profile | None = None,
        env: Mapping[str, str] | None = None,
        approver: Approver | None = None,
        yes: bool = False,
        read_only: bool = False,
        flags: RuleSet | None = None,
    ) -> PermissionPolicy:
        """Defaults -> ``$MOCO_HOME/config.yaml`` -> ``profile`` -> each agent -> ``flags``."""
        base = default_rules().merged(config_rules(env))
        if profile is not None:
            base = base.merged(profile_rules(profile))
        flags = flags or RuleSet()
        agents = {} if profile is None else {
            name: base.merged(agent_rules(spec), flags) for name, spec in profile.agents.items()
        }
        return cls(base.merged(flags), approver, agent_rules=agents, yes=yes,
                   read_only=read_only)

    def may_read(self, path: str) -> bool:
        """Whether the rules allow ``read_file`` on ``path`` (relative to the working
        directory) without asking: the sandbox leaves such ``.env`` files readable."""
        return self.rules.resolve("read_file", ("read",), path).action == "allow"

    def rules_for(self, context: ToolContext) -> RuleSet:
        name = context.lineage[-1] if context.lineage else leaf_name(context.agent)
        return self.agent_rules.get(name, self.rules)

    def mode_for(self, rules: RuleSet) -> Mode:
        return "read-only" if self.read_only else rules.mode or "default"

    async def check(self, call: ToolCallPart, tool: Tool, context: ToolContext) -> ToolDecision:
        rules = self.rules_for(context)
        mode = self.mode_for(rules)
        items, read_only_ok = call_items(tool, call.arguments, context, rules, mode)
        if mode == "read-only" and tool.mutates and not read_only_ok:
            return ToolDecision.deny(self._read_only_message(tool, call.arguments, rules))
        denied = next((item for item in items if item.match.action == "deny"), None)
        if denied is not None:
            return ToolDecision.deny(denial(tool.name, denied))
        if not read_only_ok and _unconfined_command(tool, context):
            items = _ask_unconfined(items)
        _lift_protection(items, context)
        pending = self._pending(items, context)
        if not pending or self.yes:
            return ToolDecision.allow()
        if self.approver is None:
            return ToolDecision.deny(advice(tool.name, pending))
        async with self._question_lock():  # one at a time; an "always" may answer the next
            pending = self._pending(items, context)
            if not pending:
                return ToolDecision.allow()
            return await self._ask(call, tool, context, pending)

    def _question_lock(self) -> asyncio.Lock:
        """A lock of the running loop (``run_sync`` starts a new loop for each task)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _ask(
        self, call: ToolCallPart, tool: Tool, context: ToolContext, pending: list[Item]
    ) -> ToolDecision:
        assert self.approver is not None
        description, kind = describe_call(tool.name, call.arguments, context)
        request = ApprovalRequest(
            agent=context.agent, tool=tool.name, arguments=dict(call.arguments),
            description=description, rule=pending[0].match.rule.describe_with_source(),
            kind=kind, always=grants_text(tool.name, pending),
            grants=tuple(item.subject or tool.name for item in pending),
        )
        answer = await self.approver.approve(request)
        if answer.choice == "deny":
            what = f"{tool.name} '{pending[0].subject}'" if pending[0].subject else tool.name
            reason = f": {answer.message}" if answer.message else ""
            return ToolDecision.deny(f"the user did not allow {what}{reason}")
        if answer.choice == "always":
            for item in pending:
                self.grant(context, item.grant)
        return ToolDecision.allow()

    # -- grants -------------------------------------------------------------------------------
    def grant(self, context: ToolContext, key: tuple[str, str | None]) -> None:
        """Allow ``(tool, command or path)`` — ``(tool, None)`` for every call of the tool —
        for the rest of the session."""
        self.grants.add(key)
        stored = context.state.setdefault(GRANTS_KEY, [])
        if isinstance(stored, list) and list(key) not in stored:
            stored.append(list(key))

    def granted(self, context: ToolContext, key: tuple[str, str | None]) -> bool:
        if key in self.grants or (key[0], None) in self.grants:
            return True
        stored = context.state.get(GRANTS_KEY)
        if not isinstance(stored, list):
            return False
        return [key[0], key[1]] in stored or [key[0], None] in stored

    def _pending(self, items: Sequence[Item], context: ToolContext) -> list[Item]:
        """The items still asking: not granted this session nor pre-approved by a skill."""
        asking = [item for item in items if item.match.action == "ask"]
        if not asking:
            return []
        approved = _skill_rules(context)
        return [
            item for item in asking
            if not self.granted(context, item.grant)
            and not any(_pre_approves(rule, item) for rule in approved)
        ]

    def _read_only_message(
        self, tool: Tool, arguments: Mapping[str, Any], rules: RuleSet
    ) -> str:
        if self.read_only:
            prefix, hint = "read-only run", READ_ONLY_HINT
        else:
            prefix = "read-only mode"
            hint = f"mode: read-only is set in {rules.mode_source}"
        message = f"{prefix}: {tool.name} is not allowed ({hint})"
        command = arguments.get("command")
        if tool.name == "execute_bash" and isinstance(command, str):
            message += (f"; '{' '.join(command.split())[:200]}' may change things — only "
                        "read-only commands (ls, cat, grep, find, git status/diff/log ...) run")
        return message


def _skill_rules(context: ToolContext) -> list[Rule]:
    """Rules allowing what the loaded skills pre-approve (``allowed-tools``)."""
    if not context.state.get("loaded_skills"):
        return []
    from moco.errors import ConfigError
    from moco.skills.tools import allowed_tools_for

    rules: list[Rule] = []
    for entry in sorted(allowed_tools_for(context) or ()):
        try:
            rules += rules_from_strings([entry], "allow", "a loaded skill's allowed-tools")
        except ConfigError:
            continue  # a malformed entry pre-approves nothing
    return rules


def _pre_approves(rule: Rule, item: Item) -> bool:
    if not rule.matches_tool(item.grant[0], item.aliases):
        return False
    if not rule.scoped:
        return True
    return item.match_subject is not None and rule.matches_subject(item.match_subject)


# --------------------------------------------------------------------------- sources


def config_rules(env: Mapping[str, str] | None = None) -> RuleSet:
    """``permissions:`` (and ``permission:``) of ``$MOCO_HOME/config.yaml``."""
    path = moco_home(env) / "config.yaml"
    if not path.is_file():
        return RuleSet()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        from moco.errors import ConfigError

        raise ConfigError(f"{path}: cannot read it: {error}") from None
    if data is None:
        return RuleSet()
    if not isinstance(data, dict):
        from moco.errors import ConfigError

        raise ConfigError(f"{path}: expected a mapping of settings")
    return section_rules(data, str(path))


def profile_rules(profile: Profile) -> RuleSet:
    where = f" ({profile.path / 'profile.yaml'})" if profile.path else ""
    return section_rules(profile.settings, f"profile '{profile.name}'{where}")


def agent_rules(spec: AgentSpec) -> RuleSet:
    where = f" ({spec.path})" if spec.path else ""
    return section_rules(spec.extra, f"agent '{spec.name}'{where}")


def flag_rules(
    allow: Sequence[str] = (), ask: Sequence[str] = (), deny: Sequence[str] = ()
) -> RuleSet:
    """Rules given on the command line, Claude Code style (``--allow 'Bash(git push:*)'``)."""
    rules = [
        *rules_from_strings(allow, "allow", "run flags"),
        *rules_from_strings(ask, "ask", "run flags"),
        *rules_from_strings(deny, "deny", "run flags"),
    ]
    return RuleSet(tuple(rules))


def section_rules(settings: Mapping[str, Any], source: str) -> RuleSet:
    """OpenCode's ``permission:`` overlaid by moco's ``permissions:`` of one settings map."""
    return parse_permissions(settings.get("permission"), source).merged(
        parse_permissions(settings.get("permissions"), source)
    )


#: asks before commands that change things when the run has no sandbox
UNCONFINED_RULE = Rule("*", "ask", label="no sandbox here: commands that change things ask "
                                         "(moco sandbox status says why)")


def _unconfined_command(tool: Tool, context: ToolContext) -> bool:
    """A command tool in a run that wanted confinement and could not have it."""
    from moco.core.permission_rules import scope_kind
    from moco.sandbox import Unavailable

    return scope_kind(tool.name) == "command" and isinstance(context.sandbox, Unavailable)


def _ask_unconfined(items: Sequence[Item]) -> list[Item]:
    """Items the defaults allowed now ask, unless they only read."""
    import dataclasses

    from moco.core.permission_rules import Match
    from moco.core.permission_shell import is_read_only, split_commands

    asking: list[Item] = []
    for item in items:
        commands = split_commands(item.subject or "")
        reads = bool(commands) and all(is_read_only(simple) for simple in commands or ())
        if item.match.action == "allow" and item.match.rule.tool == "*" and not reads:
            item = dataclasses.replace(item, match=Match("ask", UNCONFINED_RULE))
        asking.append(item)
    return asking


def _lift_protection(items: Sequence[Item], context: ToolContext) -> None:
    """A path rule the user wrote (not a built-in one) that allows a protected path
    (``.mcp.json``, ``.git/hooks/...``) lets the file tools write it this session."""
    from moco.tools.confined import PROTECTED_ALLOWED_KEY, protected_entry

    for item in items:
        rule = item.match.rule
        if (item.match.action != "allow" or rule.scope is None or rule.kind != "path"
                or rule.source == DEFAULTS_SOURCE or not item.subject
                or protected_entry(item.subject) is None):
            continue
        stored = context.state.setdefault(PROTECTED_ALLOWED_KEY, [])
        if isinstance(stored, list) and item.subject not in stored:
            stored.append(item.subject)
