"""Which confinement a run gets, and the policy it enforces.

Modes (``MOCO_SANDBOX``, profile.yaml ``sandbox: {mode: ...}``, ``Orchestrator(sandbox=)``):

- ``auto`` (default): bubblewrap if it works here, else Landlock, else none (and say so);
- ``bwrap`` / ``landlock``: that one, or a :class:`~moco.errors.ConfigError` saying why not;
- ``off``: none, on purpose (no warning, no extra questions);
- ``docker`` (``--sandbox``): the run's shell in one Docker container of ``image``
  (:mod:`moco.sandbox.docker`; never chosen by ``auto``; network off unless asked for).

When ``auto`` finds nothing, the sandbox is an :class:`Unavailable`: the orchestrator warns
once and the permission layer asks before (or, with nobody to ask, refuses) commands that are
not known to be read-only, unless ``--yes``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from moco.errors import ConfigError
from moco.sandbox.base import HIDDEN_HOME_PATHS, Sandbox, SandboxPolicy, Unconfined

Mode = Literal["auto", "bwrap", "landlock", "off", "docker"]
MODES: tuple[Mode, ...] = ("auto", "bwrap", "landlock", "off", "docker")
SETTINGS_KEYS = frozenset({"mode", "network", "writable", "image"})
#: how deep below the working directory ``.env``-like files are looked for, and how many
#: folders at most (a huge tree is not walked at every run)
MASK_DEPTH = 3
MASK_MAX_DIRS = 2_000
_SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox",
                        ".mypy_cache", ".ruff_cache", ".pytest_cache", "dist", "build"})


class Unavailable(Unconfined):
    """No confinement because none could be had (not because the user chose ``off``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """``sandbox:`` of profile.yaml, with ``MOCO_SANDBOX`` and run flags applied."""

    mode: Mode = "auto"
    network: bool = True
    writable: tuple[Path, ...] = ()
    #: where ``mode`` came from, for ``moco sandbox status``
    source: str = "default"
    #: the image of mode ``docker`` (``None``: :data:`moco.sandbox.docker.DEFAULT_IMAGE`)
    image: str | None = None


@dataclass(frozen=True, slots=True)
class SandboxChoice:
    """The sandbox of a run and why it is that one."""

    sandbox: Sandbox
    mode: Mode
    reason: str

    @property
    def unavailable(self) -> bool:
        return isinstance(self.sandbox, Unavailable)

    def warning(self) -> str:
        """What a run says at its start when there is no confinement."""
        return (f"commands run without confinement ({self.reason}); commands that change "
                "things ask first — --yes, or sandbox: {mode: off} in profile.yaml, skips "
                "the questions")

    def describe(self) -> str:
        """One line for people: ``sandbox: bubblewrap 0.11.0 (auto; network on)``."""
        if not self.sandbox.confined:
            return f"sandbox: none — {self.reason}"
        policy = getattr(self.sandbox, "policy", None)
        network = "network off" if policy is not None and not policy.network else "network on"
        return f"sandbox: {self.sandbox.name} ({self.mode}; {network})"


def parse_mode(value: object, source: str) -> Mode:
    text = str(value).strip().lower()
    if text in ("false", "no", "none"):
        text = "off"
    if text not in MODES:
        raise ConfigError(f"{source}: unknown sandbox mode '{value}' — one of "
                          f"{', '.join(MODES)}")
    return text


def sandbox_settings(profile_settings: Mapping[str, Any], env: Mapping[str, str], *,
                     mode: str | None = None, network: bool | None = None,
                     source: str = "profile.yaml", image: str | None = None) -> SandboxSettings:
    """The run's sandbox settings: the run's own choice (``mode``, ``network``: flags) over
    ``MOCO_SANDBOX`` over profile.yaml ``sandbox:`` over the defaults."""
    raw = profile_settings.get("sandbox")
    if raw is None:
        raw = {}
    elif isinstance(raw, bool | str):
        raw = {"mode": raw if isinstance(raw, str) else ("auto" if raw else "off")}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source} sandbox: must be a mapping such as "
                          "{mode: auto, network: true}")
    unknown = sorted(set(raw) - SETTINGS_KEYS)
    if unknown:
        raise ConfigError(f"{source} sandbox: unknown keys {', '.join(map(str, unknown))} — "
                          f"known: {', '.join(sorted(SETTINGS_KEYS))}")
    chosen, where = parse_mode(raw.get("mode", "auto"), f"{source} sandbox"), source
    if "mode" not in raw:
        where = "default"
    if env.get("MOCO_SANDBOX"):
        chosen, where = parse_mode(env["MOCO_SANDBOX"], "MOCO_SANDBOX"), "MOCO_SANDBOX"
    if mode is not None:
        chosen, where = parse_mode(mode, "the run's sandbox option"), "run option"
    allowed = raw.get("network", True)
    if not isinstance(allowed, bool):
        raise ConfigError(f"{source} sandbox: network must be true or false")
    roots = raw.get("writable") or []
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise ConfigError(f"{source} sandbox: writable must be a list of folders")
    if chosen == "docker" and "network" not in raw:
        allowed = False  # a container run is offline unless asked for
    image = image or raw.get("image")
    if image is not None and not isinstance(image, str):
        raise ConfigError(f"{source} sandbox: image must be a Docker image name")
    return SandboxSettings(mode=chosen, network=allowed if network is None else network,
                           writable=tuple(Path(r).expanduser() for r in roots), source=where,
                           image=image)


def hidden_paths(env: Mapping[str, str]) -> tuple[Path, ...]:
    """The credential stores under the home directory, and all of ``MOCO_HOME``."""
    from moco.config import moco_home

    home = Path(env.get("HOME") or Path.home()).expanduser()
    return (*(home / name for name in HIDDEN_HOME_PATHS), moco_home(env))


def masked_files(working_dir: Path,
                 may_read: Callable[[Path], bool] | None = None) -> tuple[Path, ...]:
    """``.env``-like files near the top of ``working_dir`` that commands must not read
    (those ``may_read`` allows stay readable)."""
    from moco.safety.redaction import is_env_like_file

    found: list[Path] = []
    for folders, (top, dirs, files) in enumerate(os.walk(working_dir), start=1):
        depth = len(Path(top).relative_to(working_dir).parts)
        dirs[:] = [] if depth >= MASK_DEPTH or folders > MASK_MAX_DIRS else \
            [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            path = Path(top) / name
            if is_env_like_file(name) and not (may_read and may_read(path)):
                found.append(path)
    return tuple(found)


def build_policy(working_dir: Path, env: Mapping[str, str], settings: SandboxSettings, *,
                 may_read: Callable[[Path], bool] | None = None,
                 writable: Iterable[Path] = ()) -> SandboxPolicy:
    """The policy of a run in ``working_dir``."""
    return SandboxPolicy(
        working_dir=working_dir, writable=(*settings.writable, *writable),
        network=settings.network, hidden=hidden_paths(env),
        masked=masked_files(working_dir, may_read),
    )


def open_sandbox(working_dir: Path, env: Mapping[str, str], settings: SandboxSettings, *,
                 given: Sandbox | None = None,
                 may_read: Callable[[str], bool] | None = None) -> SandboxChoice:
    """The sandbox of one run in ``working_dir``: ``given`` as it is, else the one
    ``settings.mode`` chooses. ``may_read`` (a path relative to ``working_dir``) says which
    ``.env``-like files the permission rules let commands read."""
    if given is not None:
        return SandboxChoice(given, settings.mode, "given by the caller")

    def readable(path: Path) -> bool:
        return may_read is not None and may_read(str(path.relative_to(working_dir)))

    policy = build_policy(working_dir, env, settings, may_read=readable)
    return choose_sandbox(policy, settings.mode, image=settings.image)


def choose_sandbox(policy: SandboxPolicy, mode: str = "auto", *,
                   image: str | None = None) -> SandboxChoice:
    """The sandbox for ``policy`` in ``mode`` (see the module docstring)."""
    chosen = parse_mode(mode, "sandbox mode")
    if chosen == "docker":
        from moco.sandbox.docker import DEFAULT_IMAGE, DockerSandbox

        return SandboxChoice(DockerSandbox(policy, image or DEFAULT_IMAGE), chosen,
                             "--sandbox: a Docker container")
    if chosen == "off":
        return SandboxChoice(Unconfined(), chosen, "turned off (sandbox: off)")
    problems: list[str] = []
    if chosen in ("auto", "bwrap"):
        from moco.sandbox.bwrap import BubblewrapSandbox

        bwrap, detail = BubblewrapSandbox.available()
        if bwrap is not None:
            return SandboxChoice(BubblewrapSandbox(policy, bwrap, detail), chosen,
                                 "bubblewrap works here")
        if chosen == "bwrap":
            raise ConfigError(f"sandbox mode bwrap: {detail}")
        problems.append(detail)
    from moco.sandbox.landlock import LandlockSandbox, abi_version

    abi = abi_version()
    if abi >= 1:
        reason = f"bubblewrap cannot be used: {problems[0]}" if problems else "asked for"
        return SandboxChoice(LandlockSandbox(policy, abi), chosen, reason)
    if chosen == "landlock":
        raise ConfigError("sandbox mode landlock: this kernel has no Landlock")
    problems.append("this kernel has no Landlock")
    if os.uname().sysname != "Linux":
        problems = [f"no sandbox for {os.uname().sysname} yet"]
    reason = "no confinement available: " + "; ".join(problems)
    return SandboxChoice(Unavailable(reason), chosen, reason)
