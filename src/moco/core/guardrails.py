"""Guardrails: checks in front of the model and the tools.

A :class:`Guardrails` object validates what goes into a run (``validate_input``), what comes
out (``validate_output``) and every tool call (``validate_tool_call``), and caps the number
of tool calls per turn. Validators are plain functions, sync or async, that return a
:class:`GuardrailResult`::

    guardrails = Guardrails(max_input_length=50000, max_tool_calls_per_turn=20)

    def block_sensitive_data(text: str) -> GuardrailResult:
        if "password" in text.lower():
            return GuardrailResult(action=GuardrailAction.BLOCK, message="Sensitive data")
        return GuardrailResult(action=GuardrailAction.ALLOW)

    guardrails.add_input_validator(block_sensitive_data)

Output validators (and ``max_output_length``) see the model's text before anyone else does:
while they are configured, each turn's text is held back as it streams and released at the
end of the turn once checked, so a front end gets it in one piece rather than token by token.
A blocked text is replaced by ``[answer blocked by guardrails: <message>]`` everywhere — the
event stream, the session store, the next request to the model; without output validators
text streams as it arrives.

How results combine: validators run in the order they were added; the first BLOCK wins and
stops the rest; a MODIFY replaces the text (or the tool arguments) that later validators
and the caller see; WARN messages are joined with "; ". A validator that raises BLOCKs, with
a message naming it (fail closed). A validator may also return ``None``/``True`` (allow)
or ``False`` (block).

The dangerous shell command check (:func:`moco.safety.check_command`) runs on the tools in
``shell_tools`` (``execute_bash``, its alias ``bash`` and ``start_background``, argument
``command``) after the custom validators, on the arguments as they finally are. Nothing a
model sends can turn it off: there is no tool parameter for it. Only the owner of the
configuration can, with
``enable_dangerous_pattern_check=False``; then every shell call still gets a WARN result
"danger check disabled by configuration", so the choice stays visible in the event stream.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from moco.safety.shell import check_command
from moco.tools.context import ToolContext

logger = logging.getLogger(__name__)

#: tools whose ``command`` argument is a shell command
SHELL_TOOLS = ("execute_bash", "bash", "start_background")
DISABLED_WARNING = "danger check disabled by configuration"


class GuardrailAction(Enum):
    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"
    #: the content was changed; ``GuardrailResult.modified`` carries the new content
    MODIFY = "modify"


@dataclass(slots=True)
class GuardrailResult:
    action: GuardrailAction = GuardrailAction.ALLOW
    message: str = ""
    #: the replacement text (input/output) or arguments (tool call) of a MODIFY result
    modified: str | dict[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        """Everything but BLOCK lets the content through (WARN and MODIFY included)."""
        return self.action is not GuardrailAction.BLOCK

    @classmethod
    def allow(cls, message: str = "") -> GuardrailResult:
        return cls(GuardrailAction.ALLOW, message)

    @classmethod
    def block(cls, message: str) -> GuardrailResult:
        return cls(GuardrailAction.BLOCK, message)

    @classmethod
    def warn(cls, message: str) -> GuardrailResult:
        return cls(GuardrailAction.WARN, message)

    @classmethod
    def modify(cls, modified: str | dict[str, Any], message: str = "") -> GuardrailResult:
        return cls(GuardrailAction.MODIFY, message, modified)


Validator = Callable[..., Any]


class _Outcome:
    """Folds validator results: first BLOCK wins, MODIFY replaces, WARNs add up."""

    def __init__(self, content: Any) -> None:
        self.content = content
        self.changed = False
        self.notes: list[str] = []

    def add(self, result: GuardrailResult) -> GuardrailResult | None:
        """Take one result in; returns the BLOCK that ends the validation, if it is one."""
        if result.action is GuardrailAction.BLOCK:
            return result
        if result.action is GuardrailAction.MODIFY and result.modified is not None:
            self.content, self.changed = result.modified, True
        if result.message and result.action is not GuardrailAction.ALLOW:
            self.notes.append(result.message)
        return None

    def result(self) -> GuardrailResult:
        message = "; ".join(self.notes)
        if self.changed:
            return GuardrailResult(GuardrailAction.MODIFY, message, self.content)
        if self.notes:
            return GuardrailResult.warn(message)
        return GuardrailResult.allow()


class Guardrails:
    """Limits and validators for runs and tool calls. See the module docstring."""

    def __init__(
        self,
        max_input_length: int | None = 100_000,
        max_output_length: int | None = None,
        max_tool_calls_per_turn: int | None = 50,
        enable_dangerous_pattern_check: bool = True,
        blocked_tools: Sequence[str] = (),
        shell_deny: Sequence[str] = (),
        shell_allow: Sequence[str] = (),
        *,
        shell_tools: Sequence[str] = SHELL_TOOLS,
        protected_branches: Sequence[str] = ("main", "master"),
        home: Path | None = None,
    ) -> None:
        self.max_input_length = max_input_length
        self.max_output_length = max_output_length
        self.max_tool_calls_per_turn = max_tool_calls_per_turn
        self.enable_dangerous_pattern_check = enable_dangerous_pattern_check
        self.blocked_tools = tuple(blocked_tools)
        self.shell_deny = tuple(shell_deny)
        self.shell_allow = tuple(shell_allow)
        self.shell_tools = frozenset(shell_tools)
        self.protected_branches = tuple(protected_branches)
        self.home = home
        self._input: list[Validator] = []
        self._output: list[Validator] = []
        self._tool: list[tuple[Validator, bool]] = []
        if not enable_dangerous_pattern_check:
            logger.warning("the dangerous shell command check is disabled by configuration")

    # ------------------------------------------------------------------ registration

    def add_input_validator(self, fn: Validator) -> Validator:
        """Add ``fn(text) -> GuardrailResult`` (sync or async) for run inputs."""
        self._input.append(fn)
        return fn

    def add_output_validator(self, fn: Validator) -> Validator:
        """Add ``fn(text) -> GuardrailResult`` (sync or async) for the model's text: every
        turn's, the final answer included; it is checked before anything shows it."""
        self._output.append(fn)
        return fn

    def add_tool_validator(self, fn: Validator) -> Validator:
        """Add ``fn(tool_name, arguments)`` or ``fn(tool_name, arguments, context)``; the
        context is the :class:`~moco.tools.context.ToolContext` of the call."""
        self._tool.append((fn, _takes_context(fn)))
        return fn

    @property
    def checks_output(self) -> bool:
        """Whether model text must be checked before it is shown (validators or a length
        limit); if so, each turn's text is held until checked instead of streamed."""
        return bool(self._output) or self.max_output_length is not None

    # ------------------------------------------------------------------ validation

    async def validate_input(self, text: str) -> GuardrailResult:
        limit = self.max_input_length
        if limit is not None and len(text) > limit:
            return GuardrailResult.block(
                f"input is {len(text):,} characters, over the limit of {limit:,}"
            )
        return await self._run_text(self._input, text)

    async def validate_output(self, text: str) -> GuardrailResult:
        """Validate a final answer; one over ``max_output_length`` is cut (MODIFY)."""
        outcome = _Outcome(text)
        limit = self.max_output_length
        if limit is not None and len(text) > limit:
            cut = text[:limit]
            outcome.add(GuardrailResult.modify(cut, f"output cut from {len(text):,} to {limit:,}"))
        return await self._run_text(self._output, outcome.content, outcome)

    async def _run_text(
        self, validators: list[Validator], text: str, outcome: _Outcome | None = None
    ) -> GuardrailResult:
        outcome = outcome or _Outcome(text)
        for fn in validators:
            blocked = outcome.add(await _call(fn, (outcome.content,)))
            if blocked:
                return blocked
        return outcome.result()

    async def validate_tool_call(
        self,
        tool_name: str,
        arguments: Mapping[str, Any],
        working_dir: Path | None = None,
        context: ToolContext | None = None,
    ) -> GuardrailResult:
        """Check one tool call: blocked tools, custom validators, then the shell danger
        check on the final arguments. ``working_dir`` defaults to the context's."""
        for pattern in self.blocked_tools:
            if fnmatchcase(tool_name, pattern):
                return GuardrailResult.block(f"the tool {tool_name} is blocked by configuration")
        if context is None:
            context = ToolContext(working_dir=working_dir or Path.cwd())
        where = Path(working_dir) if working_dir is not None else context.working_dir
        outcome = _Outcome(dict(arguments))
        for fn, with_context in self._tool:
            args: tuple[Any, ...] = (tool_name, outcome.content)
            blocked = outcome.add(await _call(fn, (*args, context) if with_context else args))
            if blocked:
                return blocked
            if not isinstance(outcome.content, dict):
                return GuardrailResult.block(f"validator {_name(fn)} made the arguments a non-dict")
        if tool_name in self.shell_tools:
            command = outcome.content.get("command")
            if isinstance(command, str):
                blocked = outcome.add(await self._shell_check(command, where))
                if blocked:
                    return blocked
        return outcome.result()

    async def _shell_check(self, command: str, working_dir: Path) -> GuardrailResult:
        if not self.enable_dangerous_pattern_check:
            return GuardrailResult.warn(DISABLED_WARNING)
        return await asyncio.to_thread(self.check_command, command, working_dir)

    def check_command(self, command: str, working_dir: Path) -> GuardrailResult:
        """The shell danger check alone (with this object's deny/allow rules)."""
        verdict = check_command(
            command,
            Path(working_dir),
            home=self.home,
            protected_branches=self.protected_branches,
            extra_deny=self.shell_deny,
            extra_allow=self.shell_allow,
        )
        if not verdict.dangerous:
            return GuardrailResult.allow()
        return GuardrailResult.block(
            f"refused a dangerous shell command: {verdict.reason}. This check cannot be "
            "turned off from a tool call; if the user really wants this, they can run it."
        )


def _name(fn: Validator) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


async def _call(fn: Validator, args: tuple[Any, ...]) -> GuardrailResult:
    """Run one validator; one that raises or returns nonsense blocks (fail closed)."""
    name = _name(fn)
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
    except Exception as error:  # user code: any failure must block, not crash the run
        logger.warning("guardrail validator %s raised", name, exc_info=True)
        return GuardrailResult.block(f"validator {name} failed: {type(error).__name__}: {error}")
    if isinstance(result, GuardrailResult):
        return result
    if result is None or result is True:
        return GuardrailResult.allow()
    if result is False:
        return GuardrailResult.block(f"validator {name} refused")
    return GuardrailResult.block(f"validator {name} returned {type(result).__name__}")


def _takes_context(fn: Callable[..., Any]) -> bool:
    """Whether a tool validator takes a third positional argument (the context)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 3


__all__ = [
    "DISABLED_WARNING",
    "SHELL_TOOLS",
    "GuardrailAction",
    "GuardrailResult",
    "Guardrails",
    "Validator",
]
