"""The web tools' settings: profile.yaml ``web:`` under the environment.

``web:`` in profile.yaml (all keys optional)::

    web:
      allow_private: false   # fetch private, loopback and link-local addresses too
      search: brave          # brave | tavily | searxng | google (else: the first with a key)
      timeout: 30            # seconds for one fetch or search, connecting included
      max_bytes: 5000000     # a response body is read up to this many bytes, then cut
      max_redirects: 5

The environment wins over the profile: ``MOCO_WEB_ALLOW_PRIVATE=1``, ``MOCO_WEBSEARCH``,
``MOCO_WEB_TIMEOUT``, ``MOCO_WEB_MAX_BYTES``, ``MOCO_WEB_MAX_REDIRECTS``. The search
backends' keys and URLs come from the environment only (:mod:`moco.tools.web.search`).

A tool finds its settings with :func:`settings_for`: a :class:`WebSettings` an embedder put in
``ctx.state["web_settings"]``; else the running orchestrator's environment and profile (the
team run passes itself as ``ctx.delegator``); else the process environment under ``ctx.env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moco.errors import ToolError
from moco.tools.context import ToolContext

STATE_KEY = "web_settings"
SETTINGS_KEYS = frozenset({"allow_private", "search", "timeout", "max_bytes", "max_redirects"})
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True, slots=True)
class WebSettings:
    allow_private: bool = False
    #: the search backend asked for (``None``: the first one whose key is configured)
    search: str | None = None
    timeout: float = 30.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    #: where the search backends find keys and base URLs; never shown (``repr=False``)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def web_settings(
    profile_settings: Mapping[str, Any] | None, env: Mapping[str, str]
) -> WebSettings:
    """The settings from profile.yaml's ``web:`` section with the environment on top.
    Raises :class:`ToolError` naming the bad key (tools report it to the model and user)."""
    raw = (profile_settings or {}).get("web") or {}
    if not isinstance(raw, Mapping):
        raise ToolError("profile.yaml web: must be a mapping such as {allow_private: false}")
    unknown = sorted(set(map(str, raw)) - SETTINGS_KEYS)
    if unknown:
        raise ToolError(f"profile.yaml web: unknown keys {', '.join(unknown)} — known: "
                        f"{', '.join(sorted(SETTINGS_KEYS))}")
    merged: dict[str, Any] = dict(raw)
    for key, variable in (("allow_private", "MOCO_WEB_ALLOW_PRIVATE"),
                          ("search", "MOCO_WEBSEARCH"), ("timeout", "MOCO_WEB_TIMEOUT"),
                          ("max_bytes", "MOCO_WEB_MAX_BYTES"),
                          ("max_redirects", "MOCO_WEB_MAX_REDIRECTS")):
        if env.get(variable):
            merged[key] = env[variable]
    search = merged.get("search")
    return WebSettings(
        allow_private=_flag(merged.get("allow_private", False), "allow_private"),
        search=str(search).strip().lower() or None if search is not None else None,
        timeout=_number(merged.get("timeout", 30.0), "timeout", float, 0.01),
        max_bytes=int(_number(merged.get("max_bytes", 5_000_000), "max_bytes", int, 1)),
        max_redirects=int(_number(merged.get("max_redirects", 5), "max_redirects", int, 0)),
        env=dict(env),
    )


def settings_for(ctx: ToolContext) -> WebSettings:
    """The settings for a tool call (see the module docstring for where they come from)."""
    given = ctx.state.get(STATE_KEY)
    if isinstance(given, WebSettings):
        return given  # the orchestrator puts the run's settings (profile + .env) here
    return web_settings(None, {**os.environ, **(ctx.env or {})})


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise ToolError(f"web {key}: expected true or false, not {value!r}")


def _number(value: Any, key: str, kind: type[float] | type[int], least: float) -> float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ToolError(f"web {key}: expected a number, not {value!r}") from None
    if number < least:
        raise ToolError(f"web {key}: must be at least {least}")
    return float(number)
