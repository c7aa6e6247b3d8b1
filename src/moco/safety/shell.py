"""Dangerous shell commands, found by parsing the command rather than grepping its text.

:func:`check_command` answers whether running a command in a working directory would do
something destructive or irreversible outside the work: deleting ``/``, the home directory,
system directories or anything outside the working directory; formatting or overwriting
disks; fork bombs; shutting the machine down; piping a download into a shell; force-pushing
to a protected branch; ``git clean``/``git reset --hard`` outside the working directory's
repository; overwriting credentials and dotfiles; killing every process; ``crontab -r``.

How it reads a command (see :mod:`moco.safety.shell_parse`): bashlex parses it (a
tokenizer takes over where bashlex cannot); words are expanded as bash would -- quotes,
``$'..'``, ``\\rm``, ``$HOME``, ``~``, braces, variables assigned earlier in the command,
``for`` loop values, ``cd``/``pushd`` -- and what cannot be known (``$UNSET``, ``$(...)``)
stays unknown: ``rm -rf $X/`` is treated as ``rm -rf /``. Prefixes (``sudo``, ``env``,
``nice``, ``timeout 5`` ...) are peeled off, and scripts inside others are checked in turn
(``sh -c``, ``eval``, ``$(...)``, backticks, ``xargs``, ``find -exec``, here-documents, function
bodies -- even functions never called). A program whose name cannot be known
(``$(echo rm) -rf /``) is judged as if it were ``rm``. What ``$(mktemp)`` made belongs to
the command, like the working directory. Deleting inside the working directory is ordinary
work, ``.git`` included; a non-recursive delete outside it is fine unless it hits a system
path, credentials or a home dotfile. Not covered: commands run elsewhere (``ssh host
cmd``, ``docker run ... cmd``) and code in other languages (``python -c "shutil.rmtree"``).

Configuration adds ``extra_deny`` and ``extra_allow`` patterns (``fnmatch`` style, matched
against each simple command with quotes removed, with and without prefixes like ``sudo``).
Deny beats allow. **Allow patterns only lift findings about paths outside the working
directory** (``rm -rf /tmp/mycache``) and other non-critical findings; the critical ones --
``/``, the home directory, system directories, credentials, disks, fork bombs, downloads
piped into shells, force pushes to protected branches, shutdown -- cannot be allowed by
configuration. An allow pattern is also ignored when the command has a ``..`` path segment.
Text that cannot be parsed at all is refused when it mentions a dangerous program
("could not parse the command, and it mentions 'rm'").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from moco.safety.command import Command, Finding
from moco.safety.paths import PathJudge
from moco.safety.shell_parse import Analyzer

logger = logging.getLogger(__name__)

_DOTDOT = re.compile(r"(^|/|\s)\.\.(/|\s|$)")


@dataclass(frozen=True, slots=True)
class ShellVerdict:
    """The answer of :func:`check_command`. ``reason`` is one readable line, empty when the
    command is not dangerous."""

    dangerous: bool
    reason: str
    command: str


def check_command(
    command: str,
    working_dir: Path,
    *,
    home: Path | None = None,
    protected_branches: Sequence[str] = ("main", "master"),
    extra_deny: Sequence[str] = (),
    extra_allow: Sequence[str] = (),
) -> ShellVerdict:
    """Judge ``command`` as if run by ``bash -c`` in ``working_dir``.

    ``home`` defaults to the current user's home directory. ``protected_branches`` are
    branch names or patterns (``release/*``) that must not be force-pushed or deleted.
    """
    judge = PathJudge(Path(working_dir), home if home is not None else Path.home())
    analyzer = Analyzer(judge, protected_branches)
    try:
        analyzer.analyze(command, analyzer.initial_scope())
    except RecursionError:
        analyzer.findings.append(Finding("command nested too deeply to check", True))
    except Exception:  # a bug here must not crash the agent: fall back to the word scan
        logger.exception("shell safety analysis failed; falling back to a word scan")
        analyzer.unparseable(command)
    reason = _decide(analyzer.findings, analyzer.commands, extra_deny, extra_allow)
    return ShellVerdict(bool(reason), reason or "", command)


def _decide(
    findings: list[Finding],
    commands: list[Command],
    deny: Sequence[str],
    allow: Sequence[str],
) -> str | None:
    for finding in findings:
        if finding.critical:
            return finding.reason
    for cmd in commands:
        texts = _normal((cmd.text, cmd.full_text, cmd.value_text))
        for pattern in deny:
            if any(fnmatchcase(text, pattern) for text in texts):
                return f"matches the deny rule '{pattern}' ({cmd.display})"
    for finding in findings:
        texts = _normal(finding.texts)
        if any(_DOTDOT.search(text) for text in texts):
            return finding.reason
        if not any(fnmatchcase(text, pattern) for text in texts for pattern in allow):
            return finding.reason
    return None


def _normal(texts: Sequence[str]) -> list[str]:
    return [" ".join(text.split()) for text in texts if text]
