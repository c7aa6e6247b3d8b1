"""What the web UI's routes call: sessions, turns, models and the live sessions the server holds.

The sessions are the ones in ``MOCO_HOME/moco.db`` that ``moco run`` and ``moco chat`` use, so
the CLI and the UI see each other's. A session gets an orchestrator (a
:class:`~moco.web.live.LiveSession`) when something needs one — a message, a model change,
a checkpoint — built from the session's profile, provider and folder and the server's
options; the least recently used idle ones are let go when more than :data:`MAX_IDLE_LIVE`
are held.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moco.config import load_environment, moco_home, resolve_provider
from moco.core.orchestrator import Orchestrator
from moco.errors import ConfigError
from moco.providers.pool import ProviderPool
from moco.storage.session_logger import SessionLogger, SessionRecord
from moco.web.events import EventLog
from moco.web.live import LiveSession, SessionBusy, WebApprover
from moco.web.uploads import UploadStore

#: idle live sessions kept (their orchestrators and event logs); running ones always are
MAX_IDLE_LIVE = 32


class SessionMissing(ConfigError):
    """No session has that id, prefix or name (HTTP 404)."""


@dataclasses.dataclass(frozen=True)
class UIOptions:
    """How ``moco ui`` was started: the defaults of new sessions and the rules of every run."""

    working_dir: Path
    profile: str = "default"
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    #: None: the process environment
    env: Mapping[str, str] | None = None
    max_turns: int = 50
    yes: bool = False
    read_only: bool = False
    allow_outside: bool = False
    network: bool | None = None
    sandbox: str | None = None
    sandbox_image: str | None = None
    trust_project: bool | None = None


class WebService:
    def __init__(self, options: UIOptions) -> None:
        self.options = options
        self.env = load_environment(options.working_dir, options.env)
        self.sessions = SessionLogger.open(env=self.env)
        self.uploads = UploadStore(moco_home(self.env) / "uploads")
        self._live: OrderedDict[str, LiveSession] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        #: every session's event log, kept while the server runs (followers hold on to it)
        self._logs: dict[str, EventLog] = {}
        #: every session's orchestrator uses these clients: one per endpoint, not per session
        self.provider_pool = ProviderPool()

    # -- orchestrators ------------------------------------------------------------------------
    def _orchestrator(self, approver: WebApprover, *, profile: str, provider: str | None,
                      model: str | None, working_dir: str | Path, agent: str | None = None,
                      ) -> Orchestrator:
        options = self.options
        return Orchestrator(
            profile=profile, provider=provider, model=model,
            base_url=options.base_url if provider in (None, options.provider) else None,
            working_dir=working_dir, env=self.options.env, max_turns=options.max_turns,
            agent=agent, session_logger=self.sessions, approver=approver, yes=options.yes,
            read_only=options.read_only, allow_outside=options.allow_outside,
            network=options.network, sandbox=options.sandbox,
            sandbox_image=options.sandbox_image, trust_project=options.trust_project,
            provider_pool=self.provider_pool,
        )

    def _hold(self, live: LiveSession) -> LiveSession:
        self._live[live.session_id] = live
        self._live.move_to_end(live.session_id)
        idle = [sid for sid, held in self._live.items() if not held.running]
        for session_id in idle[:max(0, len(idle) - MAX_IDLE_LIVE)]:
            let_go = self._live.pop(session_id)
            let_go.log.trim()
            self._closing.add(asyncio.get_running_loop().create_task(let_go.aclose()))
            self._closing = {task for task in self._closing if not task.done()}
        return live

    def record(self, id_or_name: str) -> SessionRecord:
        record = self.sessions.get_session(id_or_name)
        if record is None:
            raise SessionMissing(f"no session '{id_or_name}'")
        return record

    def held(self, session_id: str) -> LiveSession | None:
        return self._live.get(session_id)

    def log(self, session_id: str) -> EventLog:
        """The session's event log (made when first asked for; no orchestrator needed)."""
        found = self._logs.get(session_id)
        if found is None:
            found = self._logs[session_id] = EventLog(session_id)
        return found

    def live(self, id_or_name: str) -> LiveSession:
        """The session's live side, made when first needed."""
        record = self.record(id_or_name)
        held = self._live.get(record.id)
        if held is not None:
            self._live.move_to_end(record.id)
            return held
        log = self.log(record.id)
        approver = WebApprover(log)
        orchestrator = self._orchestrator(
            approver, profile=record.profile or self.options.profile,
            provider=record.provider or self.options.provider, model=None,
            working_dir=record.working_dir or self.options.working_dir)
        approver.redact = orchestrator.redactor.redact_obj
        orchestrator.session_id = record.id
        orchestrator.restore_session_state(record.id)
        return self._hold(LiveSession(record.id, orchestrator, log, approver))

    def create(self, *, profile: str | None = None, provider: str | None = None,
               model: str | None = None, working_dir: str | None = None,
               name: str | None = None, agent: str | None = None) -> SessionRecord:
        """A new session with an orchestrator ready for its first message."""
        folder = Path(working_dir).expanduser() if working_dir else self.options.working_dir
        log = EventLog("")
        approver = WebApprover(log)
        explicit_model = model or (None if provider else self.options.model)
        orchestrator = self._orchestrator(
            approver, profile=profile or self.options.profile,
            provider=provider or self.options.provider, model=explicit_model,
            working_dir=folder, agent=agent)
        approver.redact = orchestrator.redactor.redact_obj
        session_id = orchestrator.create_session(name=name)
        log.session_id = session_id
        self._logs[session_id] = log
        orchestrator.session_id = session_id
        if explicit_model:  # kept with the session, as chat's /model keeps it
            from moco.storage.session_state import ModelChoice

            orchestrator.model_choice = ModelChoice(orchestrator.settings.name,
                                                    orchestrator.settings.model)
        orchestrator.save_session_state()
        self._hold(LiveSession(session_id, orchestrator, log, approver))
        return self.record(session_id)

    def delete(self, id_or_name: str) -> None:
        record = self.record(id_or_name)
        held = self._live.get(record.id)
        if held is not None and held.running:
            raise SessionBusy("this session is answering — stop it before deleting it")
        self._live.pop(record.id, None)
        self._logs.pop(record.id, None)
        self.sessions.delete_session(record.id)
        self.uploads.remove_session(record.id)

    # -- views --------------------------------------------------------------------------------
    def view(self, record: SessionRecord) -> dict[str, Any]:
        """A session as the API shows it (``SessionView``)."""
        held = self._live.get(record.id)
        data = {key: value for key, value in record.to_dict().items()
                if key not in ("metadata", "status")}
        if held is not None:  # what the next turn will really use
            settings = held.orchestrator.settings
            data.update(provider=settings.name, model=settings.model,
                        working_dir=str(held.orchestrator.working_dir))
        used_in, used_out = self.sessions.usage_totals(record.id)
        data.update(running=held is not None and held.running, input_tokens=used_in,
                    output_tokens=used_out, cost_usd=None)
        return data

    def providers(self) -> list[dict[str, Any]]:
        from moco.providers.registry import PROVIDERS

        try:
            default = resolve_provider(self.options.provider, model=self.options.model,
                                       base_url=self.options.base_url, env=self.env).name
        except ConfigError:
            default = None
        found = []
        for name, spec in PROVIDERS.items():
            try:
                resolved = resolve_provider(name, env=self.env)
                configured, model = True, resolved.model
            except ConfigError:
                configured, model = False, spec.default_model
            found.append({"name": name, "adapter": spec.adapter, "default_model": model,
                          "configured": configured, "key_var": spec.key_vars[0],
                          "is_default": name == default})
        return found

    def profiles(self) -> list[dict[str, Any]]:
        """The profiles found from the server's folder (read, not loaded: a profile's tools
        are code, run only when a session uses it)."""
        from moco.profiles import list_profiles

        return [{"name": info.name, "description": info.description,
                 "agent_count": info.agent_count, "source": str(info.source),
                 "error": info.error, "problems": list(info.problems)}
                for info in list_profiles(self.options.working_dir, self.env)]

    def usage(self, session_id: str) -> dict[str, Any]:
        used_in, used_out = self.sessions.usage_totals(session_id)
        agents: dict[str, dict[str, Any]] = {}
        for run in self.sessions.runs(session_id):
            entry = agents.setdefault(run.agent, {"agent": run.agent, "runs": 0,
                                                  "input_tokens": 0, "output_tokens": 0})
            entry["runs"] += 1
            entry["input_tokens"] += run.input_tokens
            entry["output_tokens"] += run.output_tokens
        return {"input_tokens": used_in, "output_tokens": used_out, "cost_usd": None,
                "agents": list(agents.values())}

    def total_usage(self) -> dict[str, Any]:
        rows = self.sessions.db.query(
            "SELECT model, provider, COUNT(*) AS runs, SUM(input_tokens) AS input_tokens,"
            " SUM(output_tokens) AS output_tokens FROM runs GROUP BY model, provider"
            " ORDER BY SUM(input_tokens) + SUM(output_tokens) DESC")
        by_model = [{key: row[key] for key in row.keys()} for row in rows]  # noqa: SIM118
        count = self.sessions.db.query_one("SELECT COUNT(*) FROM sessions")
        return {"input_tokens": sum(int(r["input_tokens"] or 0) for r in by_model),
                "output_tokens": sum(int(r["output_tokens"] or 0) for r in by_model),
                "sessions": int(count[0]) if count else 0, "cost_usd": None,
                "by_model": by_model}

    def info(self) -> dict[str, Any]:
        from moco import __version__

        default = next((p for p in self.providers() if p["is_default"]), None)
        return {"version": __version__, "working_dir": str(self.options.working_dir),
                "default_profile": self.options.profile,
                "default_provider": default["name"] if default else None,
                "default_model": self.options.model or (default or {}).get("default_model"),
                "read_only": self.options.read_only, "yes": self.options.yes}

    async def aclose(self) -> None:
        held, self._live = list(self._live.values()), OrderedDict()
        for live in held:
            await live.aclose()
        await self.provider_pool.aclose()
