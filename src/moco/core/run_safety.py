"""The safety side of an orchestrator: guardrails, permissions, the sandbox, secrets and
the loop detector's settings — set up once from the profile and the run's options, and
handed to every agent of every run (see :class:`~moco.core.orchestrator.Orchestrator`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moco.errors import ConfigError

if TYPE_CHECKING:
    from moco.core.guardrails import Guardrails
    from moco.core.loop_detector import LoopDetector
    from moco.core.permissions import Approver, PermissionPolicy
    from moco.core.policy import ToolPolicy
    from moco.profiles import AgentSpec, Profile
    from moco.safety.redaction import Redactor
    from moco.sandbox import Sandbox, SandboxChoice
    from moco.sandbox.docker import DockerSandbox
    from moco.sandbox.select import SandboxSettings


#: keys of the web services moco's own tools call (search backends): commands never see
#: them either, like the provider keys
SERVICE_KEYS = frozenset({"BRAVE_SEARCH_API_KEY", "BRAVE_API_KEY", "TAVILY_API_KEY",
                          "GOOGLE_CSE_API_KEY"})


class RunSafety:
    """Mixin of :class:`~moco.core.orchestrator.Orchestrator`: what stands between the
    agents and the machine."""

    profile: Profile
    env: Mapping[str, str]
    working_dir: Path
    guardrails: Guardrails
    permissions: PermissionPolicy
    redactor: Redactor
    redact_tools: bool
    hidden_env: frozenset[str]
    sandbox_settings: SandboxSettings
    _given_sandbox: Sandbox | None
    #: said once when no confinement can be had ("" once said; see :meth:`open_sandbox`)
    _sandbox_warning: str | None
    #: mode docker: the container every run of this orchestrator shares (aclose removes it)
    _container: DockerSandbox | None
    _loop_config: Any

    def _setup_safety(self, guardrails: Guardrails | None, approver: Approver | None, *,
                      yes: bool, read_only: bool) -> None:
        """Guardrails and permissions in front of tools, the loop detector's settings, and
        secrets: configured keys and secret-looking variables are redacted from every event
        and stored message, and (unless ``redact_tool_output: false``) from the task and tool
        output before the model sees them; commands never see moco's own keys."""
        from moco.core.permissions import PermissionPolicy

        self.guardrails = guardrails if guardrails is not None else self._configured_guardrails()
        self.permissions = PermissionPolicy.from_sources(
            profile=self.profile, env=self.env, approver=approver, yes=yes, read_only=read_only)
        self._setup_secrets_and_loops()

    def _setup_sandbox(self, sandbox: str | Sandbox | None, network: bool | None) -> None:
        """Sandbox settings from profile.yaml ``sandbox:``, ``MOCO_SANDBOX`` and the run's
        ``sandbox``/``network`` (a :class:`~moco.sandbox.Sandbox` given is used as it is)."""
        from moco.sandbox import sandbox_settings

        self.sandbox_settings = sandbox_settings(
            self.profile.settings, self.env, network=network,
            mode=sandbox if isinstance(sandbox, str) else None,
            source=f"profile '{self.profile.name}'")
        self._given_sandbox = None if isinstance(sandbox, str) else sandbox
        self._sandbox_warning = None

    def open_sandbox(self) -> SandboxChoice:
        """The sandbox of one run (:func:`moco.sandbox.open_sandbox`); when there is no
        confinement to be had, the next run warns about it, once per orchestrator."""
        from moco.sandbox import open_sandbox

        if self._container is not None:
            return self._share_container(None)
        choice = open_sandbox(self.working_dir, self.env, self.sandbox_settings,
                              given=self._given_sandbox, may_read=self.permissions.may_read)
        if choice.unavailable and self._sandbox_warning is None:
            self._sandbox_warning = choice.warning()
        return self._share_container(choice)

    def _share_container(self, choice: SandboxChoice | None) -> SandboxChoice:
        """Mode docker: one container for all runs of this orchestrator (a run gets a view it
        cannot close; :meth:`aclose` removes the container). Other modes pass through."""
        from moco.sandbox import SandboxChoice
        from moco.sandbox.docker import DockerSandbox, SharedContainer

        if choice is not None:
            if not isinstance(choice.sandbox, DockerSandbox):
                return choice
            self._container = choice.sandbox
        assert self._container is not None
        return SandboxChoice(SharedContainer(self._container), "docker",
                             "--sandbox: the run's Docker container")

    def _set_sandbox_image(self, image: str | None) -> None:
        """``sandbox_image``: the image of mode docker (``--sandbox-image``)."""
        if image:
            self.sandbox_settings = dataclasses.replace(self.sandbox_settings, image=image)

    def _setup_secrets_and_loops(self) -> None:
        from moco.config import secret_values
        from moco.providers.registry import PROVIDERS
        from moco.safety.redaction import Redactor

        settings = self.profile.settings
        self.redactor = Redactor(secret_values(self.env), env=self.env,
                                 extra_patterns=settings.get("redact_patterns", ()))
        self.redact_tools = settings.get("redact_tool_output", True) is not False
        self.hidden_env = frozenset(var for spec in PROVIDERS.values()
                                    for var in spec.key_vars) | SERVICE_KEYS
        loop_options = settings.get("loop_detection", {})
        self._loop_config: Any = None
        if loop_options is not False:
            from moco.core.loop_detector import LoopDetectorConfig

            try:
                self._loop_config = LoopDetectorConfig.from_mapping(dict(loop_options or {}))
            except ValueError as error:
                raise ConfigError(f"profile.yaml loop_detection: {error}") from None

    def _configured_guardrails(self) -> Guardrails:
        """Guardrails from profile.yaml ``guardrails:`` (the danger check is always on unless
        the profile's owner turns it off there — never the model)."""
        from moco.core.guardrails import Guardrails

        options = self.profile.settings.get("guardrails") or {}
        if not isinstance(options, dict):
            raise ConfigError("profile.yaml guardrails: must be a mapping")
        allowed = {"max_input_length", "max_output_length", "max_tool_calls_per_turn",
                   "enable_dangerous_pattern_check", "blocked_tools", "shell_deny",
                   "shell_allow", "protected_branches"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigError(f"profile.yaml guardrails: unknown keys {', '.join(unknown)} — "
                              f"known: {', '.join(sorted(allowed))}")
        return Guardrails(**options)

    def policies(self, spec: AgentSpec) -> list[ToolPolicy]:
        """What stands in front of every tool call of ``spec``: guardrails first (nobody is
        asked about a command that would be refused anyway), then permissions."""
        from moco.core.policy import GuardrailsPolicy

        return [GuardrailsPolicy(self.guardrails), self.permissions]

    def loop_detector(self) -> LoopDetector | None:
        """A fresh loop detector for one agent (``loop_detection: false`` turns it off)."""
        if self._loop_config is None:
            return None
        from moco.core.loop_detector import LoopDetector

        return LoopDetector(self._loop_config)
