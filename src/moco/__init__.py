"""moco — Multi-agent Orchestration COre.

``from moco import Orchestrator`` works as in the original MOCO; the import is lazy (module
``__getattr__``), so ``import moco`` — and ``moco --help`` — load no provider SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Orchestrator", "__version__"]

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator


def __getattr__(name: str) -> Any:
    if name == "Orchestrator":
        from moco.core.orchestrator import Orchestrator

        return Orchestrator
    raise AttributeError(f"module 'moco' has no attribute {name!r}")
