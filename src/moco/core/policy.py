"""The decision point in front of every tool call.

Guardrails (the danger check, validators), permissions (allow / ask / deny) and anything a
front end adds all implement :class:`ToolPolicy`; the runtime asks each in turn and runs the
call only when every one allows it. A refusal becomes a tool result the model can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from moco.messages import ToolCallPart
from moco.tools.base import Tool
from moco.tools.context import ToolContext


@dataclass(frozen=True, slots=True)
class ToolDecision:
    action: Literal["allow", "deny"] = "allow"
    message: str = ""
    #: a warning to surface (the call still runs)
    warning: str = ""
    #: replacement arguments, when a policy rewrites the call
    arguments: dict[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    @classmethod
    def allow(cls, warning: str = "") -> ToolDecision:
        return cls("allow", warning=warning)

    @classmethod
    def deny(cls, message: str) -> ToolDecision:
        return cls("deny", message=message)


class ToolPolicy(Protocol):
    async def check(self, call: ToolCallPart, tool: Tool, context: ToolContext) -> ToolDecision:
        """Decide whether ``call`` may run."""
        ...


async def check_all(
    policies: Sequence[ToolPolicy], call: ToolCallPart, tool: Tool, context: ToolContext
) -> ToolDecision:
    """Ask every policy; the first refusal wins, warnings are combined."""
    warnings: list[str] = []
    arguments: dict[str, Any] | None = None
    for policy in policies:
        decision = await policy.check(call, tool, context)
        if not decision.allowed:
            return decision
        if decision.warning:
            warnings.append(decision.warning)
        if decision.arguments is not None:
            arguments = decision.arguments
            call = ToolCallPart(call.id, call.name, arguments)
    return ToolDecision("allow", warning="; ".join(warnings), arguments=arguments)


class GuardrailsPolicy:
    """Guardrails as a tool policy: the danger check, blocked tools and custom validators."""

    def __init__(self, guardrails: Any) -> None:
        self.guardrails = guardrails

    async def check(self, call: ToolCallPart, tool: Tool, context: ToolContext) -> ToolDecision:
        from moco.core.guardrails import GuardrailAction

        result = await self.guardrails.validate_tool_call(
            tool.name, call.arguments, context.working_dir, context)
        if result.action is GuardrailAction.BLOCK:
            return ToolDecision.deny(f"blocked by guardrails: {result.message}")
        if result.action is GuardrailAction.MODIFY and isinstance(result.modified, dict):
            return ToolDecision("allow", warning=result.message, arguments=result.modified)
        return ToolDecision.allow(warning=result.message)
