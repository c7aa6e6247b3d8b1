"""Shell command lines as permission rules see them: a list of simple commands.

``git add . && git push`` is two commands for the permission layer, each matched against the
rules on its own, so an allow rule for ``git add*`` never lets ``git push`` through and
"always allow" remembers each simple command separately. :func:`split_commands` finds them
with the shell-parsing layer the danger check uses
(:func:`moco.safety.split.split_simple_commands`: bashlex, with a tokenizer where bashlex
cannot parse): between control operators, inside ``$(...)``, backticks and process
substitutions, and in the scripts handed to ``sh -c``, ``eval``, ``su -c``, ``watch`` ...
It returns ``None`` for text it cannot split (an unclosed quote or bracket): the caller must
then be careful (the permission layer lets no command pattern *allow* such text).
:func:`peel_wrappers` removes wrappers such as ``sudo``, ``timeout 5`` or ``xargs``
(:mod:`moco.safety.command`).

:func:`is_read_only` says whether a simple command only reads (``--read-only`` runs and
``mode: ask-writes`` let those through): a known reading program (``ls``, ``cat``, ``grep``,
``find`` without ``-exec``/``-delete``, ``git status``/``diff``/``log`` ...), without options that
write or run other programs, and without output redirection except to ``/dev/null``.

This is not the danger check (:mod:`moco.safety.shell`), which refuses destructive commands
whatever the permissions say.
"""

from __future__ import annotations

import os

from moco.safety.command import peel_wrappers
from moco.safety.split import SimpleCommand, split_simple_commands
from moco.safety.words import ShellSyntaxError

__all__ = ["SimpleCommand", "is_read_only", "peel_wrappers", "split_commands"]

_WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&"})

#: programs that only read, with the options that would make them write or run programs:
#: (long options, matched exactly or as ``--opt=``; letters of short options)
_READERS: dict[str, tuple[frozenset[str], str]] = {
    name: (frozenset(), "")
    for name in (
        "ls", "cat", "head", "tail", "wc", "grep", "egrep", "fgrep", "pwd", "echo", "printf",
        "which", "whereis", "type", "stat", "du", "df", "cut", "tr", "diff",
        "cmp", "comm", "basename", "dirname", "realpath", "readlink", "true", "false", "test",
        "[", "md5sum", "sha1sum", "sha256sum", "sha512sum", "nl", "column", "jq", "uname",
        "whoami", "id", "cd", "ps", "nproc", "tac", "rev", "seq", "sleep", "pushd", "popd",
    )
}  # fmt: skip
_READERS |= {
    "find": (frozenset({"-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0",
                        "-fprintf", "-fls"}), ""),
    "sort": (frozenset({"--output"}), "o"),
    "tree": (frozenset(), "o"),
    "rg": (frozenset({"--pre"}), ""),
    "fd": (frozenset({"--exec", "--exec-batch"}), "xX"),
    "date": (frozenset({"--set"}), "s"),
    "file": (frozenset({"--compile"}), "C"),
}

_GIT_READERS = frozenset({
    "status", "log", "diff", "show", "blame", "rev-parse", "ls-files", "ls-tree", "grep",
    "describe", "shortlog", "cat-file", "rev-list", "merge-base", "whatchanged", "version",
    "count-objects",
})  # fmt: skip
#: git subcommands that only read when given nothing but these options
_GIT_LISTERS: dict[str, frozenset[str]] = {
    "branch": frozenset({"-a", "-r", "-v", "-vv", "-l", "--list", "--all", "--remotes",
                         "--show-current", "--verbose"}),
    "tag": frozenset({"-l", "--list", "-n"}),
    "remote": frozenset({"-v", "--verbose"}),
    "stash": frozenset({"list"}),
}
_GIT_OPTIONS_WITH_VALUE = frozenset({"-C", "--git-dir", "--work-tree", "--namespace"})


def split_commands(script: str) -> list[SimpleCommand] | None:
    """The simple commands of ``script`` (see the module docstring); ``None`` when the text
    cannot be split."""
    try:
        return split_simple_commands(script)
    except (ShellSyntaxError, RecursionError):
        return None


def is_read_only(command: SimpleCommand) -> bool:
    """Whether ``command`` only reads (see the module docstring). Wrappers such as ``sudo``
    make a command not read-only; the shell keyword ``time`` (``time -p ls``) does not."""
    for operator, target in command.redirects:
        if operator in _WRITE_REDIRECTS and target != "/dev/null":
            if operator == ">&" and (target.isdigit() or target == "-"):
                continue
            return False
    words = command.words
    if words[:1] == ("time",):
        words = words[2:] if words[1:2] == ("-p",) else words[1:]
    if not words:
        return True  # only redirections that read (``{ ...; } < in``, ``fi 2>/dev/null``)
    program, args = os.path.basename(words[0]), words[1:]
    if program == "git":
        return _git_read_only(args)
    if program not in _READERS:
        return False
    long_options, letters = _READERS[program]
    return not any(_forbidden(arg, long_options, letters) for arg in args)


def _forbidden(arg: str, long_options: frozenset[str], letters: str) -> bool:
    if arg in long_options or arg.split("=", 1)[0] in long_options:
        return True
    if letters and arg.startswith("-") and not arg.startswith("--"):
        return any(letter in arg[1:] for letter in letters)
    return False


def _git_read_only(args: tuple[str, ...]) -> bool:
    index = 0
    while index < len(args) and args[index].startswith("-"):
        option = args[index]
        if option == "-c" or option.startswith("--config-env") or option == "--exec-path":
            return False  # ``-c core.fsmonitor=...`` runs programs
        index += 2 if option in _GIT_OPTIONS_WITH_VALUE else 1
    if index >= len(args):
        return True  # ``git`` or ``git --version``
    sub, rest = args[index], args[index + 1 :]
    if any(arg.startswith(("--output", "--open-files-in-pager", "-O")) for arg in rest):
        return False
    if sub in _GIT_READERS:
        return True
    allowed = _GIT_LISTERS.get(sub)
    return allowed is not None and all(arg in allowed for arg in rest)
