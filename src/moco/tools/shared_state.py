"""What the agents of one session share while they run, typed.

Agents run concurrently (parallel sub-agents, tools in threads), so the shared state is one
object with a lock, not loose globals. moco's own entries have typed accessors; profile tools
may keep entries of their own under any other key (``ctx.state["my_cache"] = ...``), which is
why it stays a mapping. What must outlive the process (todos, loaded skills) is written to the
session store by :class:`~moco.storage.session_state.SessionStateStore` when it changes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moco.skills.registry import SkillRegistry
    from moco.tools.process import ProcessManager

from moco.storage.session_state import SKILLS_KEY as LOADED_SKILLS_KEY
from moco.storage.session_state import TODOS_KEY

SKILL_REGISTRY_KEY = "skill_registry"
PERMISSION_GRANTS_KEY = "permission_grants"
PROTECTED_ALLOWED_KEY = "protected_allowed"
PROCESSES_KEY = "processes"


class SharedState(dict[str, Any]):
    """The session's shared state: a mapping (for profile tools) with typed views of moco's
    entries and a lock for read-modify-write from concurrent agents."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.RLock()

    @property
    def todos(self) -> list[dict[str, Any]]:
        """The todo list (``todowrite`` items: content, status, ...)."""
        return list(self.get(TODOS_KEY) or [])

    @todos.setter
    def todos(self, items: list[dict[str, Any]]) -> None:
        self[TODOS_KEY] = list(items)

    @property
    def loaded_skills(self) -> list[dict[str, Any]]:
        """The skills ``load_skill`` loaded, in load order."""
        return list(self.get(LOADED_SKILLS_KEY) or [])

    @loaded_skills.setter
    def loaded_skills(self, entries: list[dict[str, Any]]) -> None:
        self[LOADED_SKILLS_KEY] = list(entries)

    @property
    def skill_names(self) -> list[str]:
        return [str(s.get("name", s)) if isinstance(s, dict) else str(s)
                for s in self.loaded_skills]

    @property
    def skill_registry(self) -> SkillRegistry | None:
        registry: SkillRegistry | None = self.get(SKILL_REGISTRY_KEY)
        return registry

    @skill_registry.setter
    def skill_registry(self, registry: SkillRegistry | None) -> None:
        self[SKILL_REGISTRY_KEY] = registry

    @property
    def permission_grants(self) -> list[Any]:
        """"Always allow" answers given during the session (the permission layer's)."""
        grants: list[Any] = self.setdefault(PERMISSION_GRANTS_KEY, [])
        return grants

    @property
    def protected_allowed(self) -> list[Any]:
        """Protected paths a permission rule let the file tools write."""
        allowed: list[Any] = self.setdefault(PROTECTED_ALLOWED_KEY, [])
        return allowed

    @property
    def processes(self) -> ProcessManager:
        """The session's background processes (``start_background``; made on first use)."""
        from moco.tools.process import ProcessManager

        with self.lock:
            manager = self.get(PROCESSES_KEY)
            if not isinstance(manager, ProcessManager):
                manager = self[PROCESSES_KEY] = ProcessManager()
            return manager
