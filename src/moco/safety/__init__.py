"""Safety checks that sit in front of tools and outputs.

:func:`check_command` is the dangerous shell command detector (:mod:`moco.safety.shell`);
it is loaded on first use, so importing another part of this package does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moco.safety.shell import ShellVerdict, check_command

__all__ = ["ShellVerdict", "check_command"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from moco.safety import shell

        return getattr(shell, name)
    raise AttributeError(f"module 'moco.safety' has no attribute {name!r}")
