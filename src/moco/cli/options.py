"""Options shared by ``moco run`` and ``moco chat`` (and the commands that build a team)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProfileOption = Annotated[str, typer.Option("--profile", "-p", help="Profile name or folder.")]
ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", "-P",
                 help="Provider, optionally with model: zai, zai/glm-4.7, openrouter/a/b."),
]
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Model name.")]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint (Ollama, vLLM, LM Studio...)."),
]
WorkdirOption = Annotated[
    Path | None,
    typer.Option("--working-dir", "-w", help="Folder the agents work in (default: current)."),
]
StreamOption = Annotated[bool, typer.Option("--stream/--no-stream", help="Stream text.")]
MaxTurnsOption = Annotated[int, typer.Option("--max-turns", help="Turn limit per agent.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show more detail.")]
AgentOption = Annotated[
    str | None, typer.Option("--agent", "-a", help="Start with this agent of the profile.")
]
ContinueOption = Annotated[
    bool, typer.Option("--continue", "-c", help="Continue this folder's latest session.")
]
SessionOption = Annotated[
    str | None,
    typer.Option("--session", "-s", help="Continue the session with this id or name "
                                         "(created if new)."),
]
NewOption = Annotated[bool, typer.Option("--new", help="Start a new session (the default).")]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y",
                       help="Approve every permission question (deny rules still deny).")
]
AllowOutsideOption = Annotated[
    bool, typer.Option("--allow-outside",
                       help="Let file tools reach paths outside the working directory.")
]
NoNetworkOption = Annotated[
    bool, typer.Option("--no-network",
                       help="Commands get no network (a new network namespace).")
]
ReadOnlyOption = Annotated[
    bool, typer.Option("--read-only",
                       help="Plan mode: no file changes; only read-only commands run.")
]
SandboxOption = Annotated[
    bool, typer.Option("--sandbox",
                       help="Run the shell in one Docker container: the working directory at "
                            "/workspace, no network, no capabilities.")
]
SandboxImageOption = Annotated[
    str | None, typer.Option("--sandbox-image", metavar="IMAGE",
                             help="Image for --sandbox (default python:3.12-slim); implies "
                                  "--sandbox.")
]
TrustProjectOption = Annotated[
    bool, typer.Option("--trust-project",
                       help="Use the project's .mcp.json, profiles, agents and AGENTS.md for "
                            "this run even if not trusted (moco trust remembers it).")
]
ImageOption = Annotated[
    list[Path] | None,
    typer.Option("--image", "-i", metavar="PATH",
                 help="Give the model this image with the task (repeatable).")
]
FileOption = Annotated[
    list[Path] | None,
    typer.Option("--file", metavar="PATH",
                 help="Give the model this file with the task: an image, a PDF or a text file "
                      "(repeatable).")
]
OptimizerOption = Annotated[
    bool, typer.Option("--optimizer/--no-optimizer",
                       help="Offer only the sub-agents relevant to the task.")
]
OptimizerMethodOption = Annotated[
    str, typer.Option("--optimizer-method", help="model (one cheap call) or lexical.")
]
