"""The one error hierarchy of moco.

Every error a user can see derives from :class:`MocoError`; front ends print ``str(error)``,
which is always one readable line saying what to do.
"""

from __future__ import annotations


class MocoError(Exception):
    """Base class of every error moco raises on purpose."""

    exit_code = 1


class ConfigError(MocoError):
    """The user's configuration is wrong or missing (missing key, unknown profile, bad YAML)."""

    exit_code = 2


class ProviderError(MocoError):
    """A model provider failed. ``retryable`` tells whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider = provider


class ToolError(MocoError):
    """A tool failed in a way the model should be told about."""


class ToolRetry(ToolError):
    """Raised by a tool to ask the model to try again with different arguments."""


class GuardrailBlocked(MocoError):
    """A guardrail refused the input or the answer."""


class MaxTurnsExceeded(MocoError):
    """An agent used all its turns without a final answer."""


class Cancelled(MocoError):
    """A run was cancelled by the user."""

    exit_code = 130
