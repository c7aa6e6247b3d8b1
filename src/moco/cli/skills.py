"""``moco skills ...``: list, inspect, search, install, sync and remove Agent Skills.

Registered by the main app with ``app.add_typer(skills_app, name="skills")``. Command bodies
parse arguments and call :mod:`moco.skills`; errors are :class:`moco.errors.MocoError`
subclasses, printed as one line by ``moco.cli.main``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from moco.skills.install import InstallPlan
    from moco.skills.registry import SkillRegistry

skills_app = typer.Typer(
    help="Agent Skills (SKILL.md folders, Claude compatible): list, search, install, sync.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

WorkdirOption = Annotated[
    Path | None, typer.Option("--working-dir", "-w", help="Project folder (default: current).")
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Also include this profile's skills (name or folder)."),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Install without asking.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be installed, install nothing.")
]
_DESCRIPTION_CHARS = 90


@skills_app.command("list")
def list_command(working_dir: WorkdirOption = None, profile: ProfileOption = None) -> None:
    """List the skills agents can load, and the invalid ones with the reason."""
    from rich.table import Table

    console = _console()
    registry = _registry(working_dir, profile)
    if not len(registry):
        searched = ", ".join(_short(path) for path in registry.locations)
        _say(console, f"no skills found (searched {searched})")
    else:
        table = Table(box=None, pad_edge=False)
        table.add_column("name", no_wrap=True)
        table.add_column("description", ratio=3)
        table.add_column("found in", ratio=2, overflow="fold")
        for skill in registry.list():
            table.add_row(skill.name, _cut(skill.description, 60), _short(skill.path.parent))
        console.print(table)
    _print_invalid(console, [(_short(path), reason) for path, reason in registry.invalid])


@skills_app.command("info")
def info_command(
    name: Annotated[str, typer.Argument(help="Skill name.")],
    working_dir: WorkdirOption = None,
    profile: ProfileOption = None,
) -> None:
    """Show a skill: description, folder, license, allowed tools, files."""
    from moco.skills.install import read_provenance
    from moco.skills.model import SkillError

    registry = _registry(working_dir, profile)
    skill = registry.get(name)
    if skill is None:
        close = ", ".join(found.name for found in registry.search(name, limit=3))
        hint = f"; similar: {close}" if close else ""
        raise SkillError(f"no skill named '{name}'{hint} (see 'moco skills list')")
    lines = [
        f"name:          {skill.name}",
        f"description:   {' '.join(skill.description.split())}",
        f"folder:        {skill.path}",
        f"license:       {skill.license or '-'}",
    ]
    if skill.compatibility:
        lines.append(f"compatibility: {skill.compatibility}")
    lines.append(f"allowed-tools: {', '.join(skill.allowed_tools) or '-'}")
    for key, value in {**skill.metadata, **skill.extra}.items():
        lines.append(f"{key + ':':<15}{value}")
    origin = read_provenance(skill.path)
    if origin:
        when, where = origin.get("installed_at", "?"), origin.get("source", "?")
        lines.append(f"installed:     {when} from {where}")
    lines += [f"warning:       {warning}" for warning in skill.warnings]
    lines.append(f"files ({len(skill.files)}{'+' if skill.files_truncated else ''}):")
    lines += [f"  {relative}" for relative in skill.files]
    typer.echo("\n".join(lines))


@skills_app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="Words describing the task.")],
    working_dir: WorkdirOption = None,
    profile: ProfileOption = None,
) -> None:
    """Find skills by name and description, best match first."""
    from rich.table import Table

    console = _console()
    hits = _registry(working_dir, profile).search_scored(query, limit=20)
    if not hits:
        _say(console, f"no skill matches '{query}'")
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("description")
    for hit in hits:
        table.add_row(hit.skill.name, f"{hit.score:g}", _cut(hit.skill.description))
    console.print(table)


@skills_app.command("install")
def install_command(
    source: Annotated[
        str,
        typer.Argument(help="owner/repo[/path][@ref], registry:skill, a git URL, a local "
                            "folder or archive, or an http(s) URL of a .zip/.tar.gz."),
    ],
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Install skills into $MOCO_HOME/skills (shows the plan and asks first)."""
    from moco.skills.install import plan_install, skill_settings

    settings = skill_settings()
    with plan_install(source, settings) as plan:
        _run_plan(plan, yes=yes, dry_run=dry_run)


@skills_app.command("sync")
def sync_command(
    registry: Annotated[str, typer.Argument(help="Registry name: anthropics, community ...")],
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Fetch or update a registry and install all its valid skills."""
    from moco.skills.install import plan_sync, skill_settings

    settings = skill_settings()
    with plan_sync(registry, settings) as plan:
        _run_plan(plan, yes=yes, dry_run=dry_run)


@skills_app.command("uninstall")
def uninstall_command(name: Annotated[str, typer.Argument(help="Installed skill name.")]) -> None:
    """Remove a skill installed in $MOCO_HOME/skills."""
    from moco.skills.install import uninstall

    removed = uninstall(name)
    typer.echo(f"removed {name} ({removed})")


# --------------------------------------------------------------------------- helpers


def _run_plan(plan: InstallPlan, *, yes: bool, dry_run: bool) -> None:
    from moco.skills.install import apply_plan

    console = _console()
    _print_plan(console, plan)
    if dry_run:
        typer.echo("dry run: nothing installed")
        return
    if not yes:
        if not _interactive():
            typer.echo("not installing: stdin is not a terminal; pass --yes to install "
                       "without asking", err=True)
            raise typer.Exit(1)
        count = len(plan.skills)
        if not typer.confirm(f"Install {count} skill{'s' if count != 1 else ''}?"):
            typer.echo("cancelled: nothing installed")
            raise typer.Exit(1)
    installed = apply_plan(plan)
    names = ", ".join(item.name for item in installed)
    typer.echo(f"installed {len(installed)} into {plan.skills_dir}: {names}")


def _print_plan(console: Console, plan: InstallPlan) -> None:
    from rich.table import Table

    commit = f" at {plan.commit[:12]}" if plan.commit else ""
    _say(console, f"source: {plan.source.describe()}{commit}")
    table = Table(box=None, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    table.add_column("files", justify="right")
    table.add_column("action", no_wrap=True)
    for item in plan.skills:
        action = "overwrite" if item.overwrites else "new"
        table.add_row(item.name, _cut(item.skill.description, 60), str(item.file_count), action)
    console.print(table)
    for item in plan.skills:
        for warning in item.warnings:
            _say(console, f"warning: {item.name}: {warning}")
    _print_invalid(console, plan.invalid)


def _print_invalid(console: Console, invalid: list[tuple[str, str]]) -> None:
    if not invalid:
        return
    _say(console, f"skipped {len(invalid)} invalid skill(s):", style="red")
    for path, reason in invalid:
        _say(console, f"  {path}: {reason}")


def _registry(working_dir: Path | None, profile: str | None) -> SkillRegistry:
    from moco.config import load_environment
    from moco.skills.registry import SkillRegistry, skill_locations

    env = load_environment(working_dir)
    profile_skills = None
    if profile is not None:
        from moco.profiles import load_profile

        profile_skills = load_profile(profile, working_dir=working_dir, env=env).skills_dir
    return SkillRegistry.discover(skill_locations(working_dir, profile_skills, env))


def _say(console: Console, text: str, style: str | None = None) -> None:
    """One plain line: no markup, no highlighting, never wrapped (paths stay whole)."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=False)


def _cut(text: str, limit: int = _DESCRIPTION_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _short(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)
