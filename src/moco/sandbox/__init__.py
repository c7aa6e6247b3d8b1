"""Confinement for the commands agents run: bubblewrap, Landlock, Docker (see base)."""

from moco.sandbox.base import (
    HIDDEN_HOME_PATHS,
    PROTECTED_NAMES,
    Sandbox,
    SandboxPolicy,
    Unconfined,
)

__all__ = ["HIDDEN_HOME_PATHS", "PROTECTED_NAMES", "Sandbox", "SandboxPolicy", "Unconfined"]
