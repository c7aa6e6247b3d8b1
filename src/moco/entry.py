"""The console entry point. ``moco version`` answers before the CLI framework is loaded."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["version"], ["--version"]):
        from moco import __version__

        print(f"moco {__version__}")
        return
    from moco.cli import main as cli_main

    cli_main()
