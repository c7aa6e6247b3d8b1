"""Safety checks that sit in front of tools: the dangerous shell command detector."""

from moco.safety.shell import ShellVerdict, check_command

__all__ = ["ShellVerdict", "check_command"]
