"""``moco sandbox status``: which confinement commands get here, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from moco.cli.options import NoNetworkOption, ProfileOption, WorkdirOption

sandbox_app = typer.Typer(help="The OS sandbox commands run in.", no_args_is_help=True,
                          rich_markup_mode=None)


@sandbox_app.command("status")
def status_command(
    profile: ProfileOption = "default",
    working_dir: WorkdirOption = None,
    no_network: NoNetworkOption = False,
    mode: Annotated[
        str | None, typer.Option("--mode", help="Check this mode: auto, bwrap, landlock, off.")
    ] = None,
) -> None:
    """Print the sandbox a run here would get, why, and what it confines."""
    for line in status_lines(profile, working_dir, network=False if no_network else None,
                             mode=mode):
        typer.echo(line)


def status_lines(profile: str, working_dir: Path | None, *, network: bool | None = None,
                 mode: str | None = None) -> list[str]:
    """What ``moco sandbox status`` prints."""
    import os

    from moco.config import load_environment
    from moco.core.permissions import PermissionPolicy
    from moco.profiles import load_profile
    from moco.sandbox import open_sandbox, sandbox_settings
    from moco.sandbox.bwrap import find_bwrap, probe
    from moco.sandbox.landlock import abi_version

    folder = Path(working_dir or os.getcwd()).expanduser().resolve()
    env = load_environment(folder)
    loaded = load_profile(profile, working_dir=folder, env=env)
    settings = sandbox_settings(loaded.settings, env, mode=mode, network=network,
                                source=f"profile '{loaded.name}'")
    permissions = PermissionPolicy.from_sources(profile=loaded, env=env)
    choice = open_sandbox(folder, env, settings, may_read=permissions.may_read)
    bwrap = find_bwrap()
    works = probe(bwrap) if bwrap else (False, "not installed")
    abi = abi_version()
    lines = [
        choice.describe(),
        f"  why: {choice.reason} (mode {settings.mode} from {settings.source})",
        f"  bubblewrap: {bwrap or 'not found'} — {'works' if works[0] else works[1]}",
        f"  landlock: {f'ABI {abi}' if abi else 'not available'}",
    ]
    policy = getattr(choice.sandbox, "policy", None)
    if policy is not None:
        roots = [policy.working_dir, *policy.writable]
        lines += [
            f"  writable: {', '.join(str(root) for root in roots)}",
            f"  network: {'on' if policy.network else 'off'}",
            "  hidden: " + (", ".join(str(p) for p in policy.hidden if os.path.lexists(p))
                            or "(none present)"),
            f"  masked: {', '.join(str(p) for p in policy.masked) or '(none)'}",
        ]
    if choice.unavailable:
        lines.append("  " + choice.warning())
    return lines
