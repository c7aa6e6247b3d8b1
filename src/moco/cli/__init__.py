"""The ``moco`` command. Command bodies parse arguments and call a service.

Only light modules are imported here, so ``moco --help`` and ``moco version`` stay fast;
provider SDKs load when a command actually talks to a model.
"""

from __future__ import annotations

import sys

import typer

from moco.cli import chat as chat_commands
from moco.cli import commit as commit_commands
from moco.cli import profiles as profiles_commands
from moco.cli import run as run_commands
from moco.cli import trust as trust_commands
from moco.cli import ui as ui_commands
from moco.cli import worker as worker_commands
from moco.cli.checkpoints import checkpoints_app
from moco.cli.mcp import mcp_app
from moco.cli.memory import memory_app
from moco.cli.sandbox import sandbox_app
from moco.cli.sessions import sessions_app
from moco.cli.skills import skills_app
from moco.cli.tasks import tasks_app

app = typer.Typer(
    name="moco",
    help="moco — run teams of LLM agents from profiles, on any provider.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

run_commands.register(app)
chat_commands.register(app)
profiles_commands.register(app)
commit_commands.register(app)
trust_commands.register(app)
ui_commands.register(app)
worker_commands.register(app)
app.add_typer(sessions_app, name="sessions")
app.add_typer(skills_app, name="skills")
app.add_typer(mcp_app, name="mcp")
app.add_typer(checkpoints_app, name="checkpoints")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(memory_app, name="memory")
app.add_typer(tasks_app, name="tasks")


@app.command()
def version() -> None:
    """Print moco's version."""
    from moco import __version__

    typer.echo(f"moco {__version__}")


def main() -> None:
    """Console entry point: errors become one line on stderr, never a traceback."""
    from moco.errors import MocoError

    try:
        app()
    except MocoError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        sys.exit(130)
