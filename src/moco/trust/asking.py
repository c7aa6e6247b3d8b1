"""Telling people what a project brings, and asking them once (``moco chat``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from moco.trust.store import TrustReport, check_project, decline_project, trust_project


def describe(report: TrustReport) -> list[str]:
    """One line per item: its status, its path, what it can do."""
    width = max((len(item.key) for item in report.items), default=0)
    return [f"{report.status[item.key]:<8} {item.key:<{width}}  {item.what}"
            for item in report.items]


def question(report: TrustReport) -> str:
    """"This project brings: .mcp.json (1 MCP server(s) ...), ... — trust it? [y/N] "."""
    brought = ", ".join(f"{item.key} ({item.what})" for item in report.untrusted)
    return f"This project brings: {brought} — trust it? [y/N] "


def ask_once(working_dir: Path, env: Mapping[str, str] | None,
             ask: Callable[[str], str]) -> bool | None:
    """Ask about the project's untrusted items unless the same content was answered "no"
    before; the answer is remembered in the trust store. Returns True (trusted now), False
    (declined now) or None (nothing to ask)."""
    report = check_project(working_dir, env)
    pending = [item for item in report.untrusted if item.key not in report.declined]
    if not pending:
        return None
    try:
        answer = ask(question(report)).strip().lower()
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer in ("y", "yes"):
        trust_project(working_dir, env)
        return True
    decline_project(working_dir, env)
    return False
