"""Confinement for the commands agents run: bubblewrap, Landlock, Docker (see base)."""

from moco.sandbox.base import (
    HIDDEN_HOME_PATHS,
    PROTECTED_NAMES,
    Sandbox,
    SandboxPolicy,
    Unconfined,
)
from moco.sandbox.select import (
    SandboxChoice,
    SandboxSettings,
    Unavailable,
    build_policy,
    choose_sandbox,
    open_sandbox,
    sandbox_settings,
)

__all__ = [
    "HIDDEN_HOME_PATHS",
    "PROTECTED_NAMES",
    "Sandbox",
    "SandboxChoice",
    "SandboxPolicy",
    "SandboxSettings",
    "Unavailable",
    "Unconfined",
    "build_policy",
    "choose_sandbox",
    "open_sandbox",
    "sandbox_settings",
]
