"""Trust what the project brings, once: project files that run code or change policy
(``.mcp.json``, project profiles, external agents, skills with ``allowed-tools``, project
instructions) are used only after the user trusted them at their current content.

- :mod:`moco.trust.items`: what a project brings, each with a sha256;
- :mod:`moco.trust.store`: ``$MOCO_HOME/trust.json`` and :func:`check_project`;
- :mod:`moco.trust.gate`: what an orchestrator may use (:class:`ProjectTrust`).
"""

from moco.trust.gate import ALLOW_ENV_VAR, TRUST_ALL_VAR, ProjectTrust
from moco.trust.items import ProjectItem, project_items
from moco.trust.store import (
    TrustReport,
    TrustStore,
    check_project,
    decline_project,
    revoke_project,
    trust_project,
)

__all__ = [
    "ALLOW_ENV_VAR",
    "TRUST_ALL_VAR",
    "ProjectItem",
    "ProjectTrust",
    "TrustReport",
    "TrustStore",
    "check_project",
    "decline_project",
    "project_items",
    "revoke_project",
    "trust_project",
]
