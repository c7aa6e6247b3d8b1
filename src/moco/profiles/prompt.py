"""Agent prompts: ``{{VARIABLE}}`` substitution, the standard variables, project instructions."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

#: files read as project instructions, in order of preference
PROJECT_INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", "MOCO.md")
#: project instructions longer than this (in characters) are cut, with a note saying so
MAX_INSTRUCTIONS_CHARS = 20_000

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_prompt(template: str, variables: Mapping[str, str]) -> str:
    """Replace ``{{NAME}}`` (or ``{{ NAME }}``) with ``variables[NAME]``.

    Unknown variables are left as written, so a prompt that talks about ``{{...}}`` syntax
    survives rendering.
    """

    def substitute(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return match.group(0) if value is None else str(value)

    return _VARIABLE.sub(substitute, template)


def default_variables(
    working_dir: Path,
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables every prompt may use.

    ``CURRENT_DATETIME`` (ISO 8601 with the UTC offset), ``CURRENT_DATE``, ``WORKING_DIRECTORY``,
    ``OS``, ``USER``, ``HOME`` and ``PYTHON_VERSION``. ``env`` defaults to ``os.environ``; a
    naive ``now`` is taken as local time; an aware one keeps its offset.
    """
    env = os.environ if env is None else env
    moment = now or datetime.now()
    if moment.tzinfo is None:
        moment = moment.astimezone()
    home = env.get("HOME") or env.get("USERPROFILE") or str(Path.home())
    return {
        "CURRENT_DATETIME": moment.isoformat(timespec="seconds"),
        "CURRENT_DATE": moment.date().isoformat(),
        "WORKING_DIRECTORY": str(Path(working_dir).expanduser().resolve()),
        "OS": f"{platform.system()} {platform.release()}".strip() or "unknown",
        "USER": env.get("USER") or env.get("USERNAME") or env.get("LOGNAME") or "",
        "HOME": home,
        "PYTHON_VERSION": platform.python_version(),
    }


def project_instructions(
    working_dir: Path, use: Callable[[str], bool] | None = None
) -> str | None:
    """The project's instructions for agents: ``AGENTS.md`` in ``working_dir``, else
    ``CLAUDE.md``, else ``MOCO.md`` (the original MOCO's file), else ``None``. Empty or
    unreadable files are skipped; text beyond :data:`MAX_INSTRUCTIONS_CHARS` is cut with a note
    naming the file."""
    for name in PROJECT_INSTRUCTION_FILES:
        path = Path(working_dir) / name
        if not path.is_file() or (use is not None and not use(name)):  # use: moco.trust
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if not text:
            continue
        if len(text) > MAX_INSTRUCTIONS_CHARS:
            text = (
                text[:MAX_INSTRUCTIONS_CHARS].rstrip()
                + f"\n\n[{name} is truncated here: it has {len(text):,} characters and only the "
                f"first {MAX_INSTRUCTIONS_CHARS:,} are shown. Read the file for the rest.]"
            )
        return text
    return None
