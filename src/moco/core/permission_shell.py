"""Shell command lines as permission rules see them: a list of simple commands.

``git add . && git push`` is two commands for the permission layer, each matched against the
rules on its own, so an allow rule for ``git add*`` never lets ``git push`` through and
"always allow" remembers each simple command separately. :func:`split_commands` finds them:

- between ``;``, ``&&``, ``||``, ``|``, ``|&``, ``&``, newlines, ``(`` and ``)``, outside quotes;
- inside ``$(...)``, backticks and ``<(...)``/``>(...)`` (listed after the command holding them),
  and inside ``bash -c '...'``/``sh -c``/``eval``;
- leading ``VAR=value`` assignments and reserved words (``if``, ``then``, ``do``, ``!``, ``{``)
  are dropped from the words; ``for``/``case``/``select`` headers and ``done``/``fi``/``esac``
  are not commands; here-document bodies are skipped; ``#`` comments are ignored.

It returns ``None`` for text it cannot split (an unclosed quote or bracket): the caller must
then be careful (the permission layer lets no command pattern *allow* such text).

:func:`is_read_only` says whether a simple command only reads (``--read-only`` runs and
``mode: ask-writes`` let those through): a known reading program (``ls``, ``cat``, ``grep``,
``find`` without ``-exec``/``-delete``, ``git status``/``diff``/``log`` ...), without options that
write or run other programs, and without output redirection except to ``/dev/null``.

This is not the danger check (:mod:`moco.safety.shell`), which refuses destructive commands
whatever the permissions say.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SimpleCommand", "is_read_only", "peel_wrappers", "split_commands"]

_MAX_DEPTH = 6
_BREAKS = ("&&", "||", ";;&", ";;", ";&", "|&", ";", "|", "&", "(", ")", "\n")
_REDIRECTS = (
    "&>>", "<<<", "<<-", "&>", ">>", "<<", ">&", "<&", ">|", "<>", ">", "<",
)  # fmt: skip
_WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&"})
_LEADING_RESERVED = frozenset(
    {"!", "{", "}", "if", "then", "else", "elif", "do", "while", "until", "time", "coproc"}
)
_NOT_COMMANDS = frozenset({"for", "select", "case", "function", "done", "fi", "esac", "in"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})

#: wrapper programs peeled off to find the real program: options taking a value, positionals
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "-C", "-S", "--unset", "--chdir"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "-P", "-u"}), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "-o"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), 0),
    "xargs": (frozenset({"-I", "-n", "-P", "-d", "-E", "-L", "-s", "-a"}), 0),
    "chrt": (frozenset(), 1),
    "taskset": (frozenset(), 1),
}

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


class _Unparsable(ValueError):
    """The text cannot be split (unbalanced quotes or brackets, or nested too deep)."""


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One simple command of a command line.

    ``text`` is the command as written (quotes kept, whitespace collapsed, redirections
    included): what an approval shows and what "always allow" remembers. ``words`` are its
    words with quotes removed and leading ``VAR=value`` assignments dropped: what rule patterns
    match (:attr:`plain`). ``redirects`` are ``(operator, target)`` pairs.
    """

    text: str
    words: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()

    @property
    def plain(self) -> str:
        return " ".join(self.words)

    @property
    def program(self) -> str:
        """The program's file name (``/usr/bin/ls`` -> ``ls``), "" when there is none."""
        return os.path.basename(self.words[0]) if self.words else ""


def split_commands(script: str) -> list[SimpleCommand] | None:
    """The simple commands of ``script`` (see the module docstring); ``None`` when the text
    cannot be split."""
    found: list[SimpleCommand] = []
    try:
        _Scanner(script, found, 0).run()
    except _Unparsable:
        return None
    return found


def peel_wrappers(words: Iterable[str]) -> tuple[str, ...]:
    """``sudo -u x timeout 5 git push`` -> ``git push``: wrapper programs and their options
    removed (best effort)."""
    rest = list(words)
    for _ in range(8):
        if not rest or os.path.basename(rest[0]) not in _WRAPPERS:
            break
        takes, positionals = _WRAPPERS[os.path.basename(rest[0])]
        index = 1
        while index < len(rest) and (rest[index].startswith("-") or "=" in rest[index]):
            word = rest[index]
            index += 1
            if word == "--":
                break
            if word in takes:
                index += 1
        rest = rest[index + positionals :]
    return tuple(rest)


def is_read_only(command: SimpleCommand) -> bool:
    """Whether ``command`` only reads (see the module docstring). Wrappers such as ``sudo``
    make a command not read-only."""
    for operator, target in command.redirects:
        if operator in _WRITE_REDIRECTS and target != "/dev/null":
            if operator == ">&" and (target.isdigit() or target == "-"):
                continue
            return False
    if not command.words:
        return not command.redirects
    program, args = command.program, command.words[1:]
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


# --------------------------------------------------------------------------- scanner


class _Scanner:
    """Splits one script; nested scripts (``$(...)`` ...) are scanned by nested scanners that
    append to the same ``found`` list."""

    def __init__(self, text: str, found: list[SimpleCommand], depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Unparsable("nested too deep")
        self.text = text
        self.found = found
        self.depth = depth
        self.raw: list[str] = []  # the current word as written
        self.plain: list[str] = []  # the current word, quotes removed
        self.words: list[tuple[str, str]] = []  # (raw, plain) of the current command
        self.shown: list[str] = []  # raw tokens of the current command, redirections included
        self.redirects: list[tuple[str, str]] = []
        self.redirect: str | None = None  # an operator waiting for its target
        self.heredocs: list[tuple[str, bool]] = []  # delimiters waiting for the next newline
        self.nested: list[str] = []  # scripts found inside the current command

    def run(self) -> None:
        index = 0
        while index < len(self.text):
            index = self._step(index)
        if self.redirect is not None and not self.raw:
            raise _Unparsable("a redirection without a target")
        self._end_command()

    def _step(self, i: int) -> int:
        text, char = self.text, self.text[i]
        if char in " \t":
            self._end_word()
            return i + 1
        if char == "#" and not self.raw:
            end = text.find("\n", i)
            return len(text) if end < 0 else end
        if char in "\\'\"`$" or (char in "<>" and text.startswith("(", i + 1)):
            return self._quoted(i)
        for operator in _REDIRECTS:
            if text.startswith(operator, i):
                return self._redirection(operator, i)
        for operator in _BREAKS:
            if text.startswith(operator, i):
                self._end_command()
                end = i + len(operator)
                return self._skip_heredocs(end) if operator == "\n" else end
        self.raw.append(char)
        self.plain.append(char)
        return i + 1

    def _quoted(self, i: int) -> int:
        """A quoted piece, escape, expansion or substitution, starting at ``i``."""
        text, char = self.text, self.text[i]
        if char == "\\":
            if text.startswith("\n", i + 1):
                return i + 2  # line continuation
            self._piece(text[i : i + 2], text[i + 1 : i + 2])
            return i + 2
        if char == "'":
            end = _find(text, "'", i + 1)
            self._piece(text[i : end + 1], text[i + 1 : end])
            return end + 1
        if char == '"':
            end = self._double_quoted(i + 1)
            self._piece(text[i : end + 1], _unescape_double(text[i + 1 : end]))
            return end + 1
        if char == "`":
            end = _find_backtick(text, i + 1)
            self.nested.append(text[i + 1 : end].replace("\\`", "`"))
            self._piece(text[i : end + 1])
            return end + 1
        return self._dollar(i)

    def _dollar(self, i: int) -> int:
        """``$(...)``, ``$((...))``, ``${...}``, ``$'...'``, ``<(...)``, ``>(...)``, or ``$``."""
        text = self.text
        if text.startswith("$((", i):
            end = _skip_balanced(text, i + 1)
            self._piece(text[i : end + 1])
            return end + 1
        if text.startswith("$(", i) or text[i] in "<>":
            end = _skip_balanced(text, i + 1)
            self.nested.append(text[i + 2 : end])
            self._piece(text[i : end + 1])
            return end + 1
        if text.startswith("${", i):
            end = _skip_balanced(text, i + 1, "{", "}")
            self._piece(text[i : end + 1])
            return end + 1
        if text.startswith("$'", i):
            end = _find_ansi_end(text, i + 2)
            self._piece(text[i : end + 1], text[i + 2 : end])
            return end + 1
        self._piece("$")
        return i + 1

    def _double_quoted(self, start: int) -> int:
        """The index of the ``"`` closing a string opened before ``start``; substitutions
        inside are noted as nested scripts."""
        text, i = self.text, start
        while i < len(text):
            char = text[i]
            if char == "\\":
                i += 2
            elif char == '"':
                return i
            elif text.startswith("$((", i):
                i = _skip_balanced(text, i + 1) + 1
            elif text.startswith("$(", i):
                end = _skip_balanced(text, i + 1)
                self.nested.append(text[i + 2 : end])
                i = end + 1
            elif char == "`":
                end = _find_backtick(text, i + 1)
                self.nested.append(text[i + 1 : end].replace("\\`", "`"))
                i = end + 1
            else:
                i += 1
        raise _Unparsable("unclosed double quote")

    def _piece(self, raw: str, plain: str | None = None) -> None:
        self.raw.append(raw)
        self.plain.append(raw if plain is None else plain)

    def _redirection(self, operator: str, i: int) -> int:
        word = "".join(self.raw)
        if self.raw and word.isdigit():  # ``2>``: the digits are the file descriptor
            self.raw.clear()
            self.plain.clear()
            operator_shown = word + operator
        else:
            self._end_word()
            operator_shown = operator
        if self.redirect is not None:
            raise _Unparsable("two redirection operators in a row")
        self.redirect = operator
        self.shown.append(operator_shown)
        return i + len(operator)

    def _end_word(self) -> None:
        if not self.raw:
            return
        raw, plain = "".join(self.raw), "".join(self.plain)
        self.raw.clear()
        self.plain.clear()
        if self.redirect is None:
            self.shown.append(raw)
            self.words.append((raw, plain))
            return
        self.shown[-1] += raw  # ``2>&1``, ``>out``
        operator, self.redirect = self.redirect, None
        if operator in ("<<", "<<-"):
            self.heredocs.append((plain, operator == "<<-"))
        self.redirects.append((operator, plain))

    def _end_command(self) -> None:
        self._end_word()
        if self.redirect is not None:
            raise _Unparsable("a redirection without a target")
        command = _build(self.shown, self.words, self.redirects)
        nested, self.nested = self.nested, []
        self.shown, self.words, self.redirects = [], [], []
        if command is not None:
            self.found.append(command)
            nested = [*_inner_scripts(command), *nested]
        for script in nested:
            _Scanner(script, self.found, self.depth + 1).run()

    def _skip_heredocs(self, i: int) -> int:
        """Skip the bodies of here-documents announced on the line that just ended."""
        text = self.text
        for delimiter, strip_tabs in self.heredocs:
            while i < len(text):
                end = text.find("\n", i)
                end = len(text) if end < 0 else end
                line = text[i:end]
                i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self.heredocs.clear()
        return min(i, len(text))


def _build(
    shown: list[str], words: list[tuple[str, str]], redirects: list[tuple[str, str]]
) -> SimpleCommand | None:
    plain = [word for _, word in words]
    raw = [word for word, _ in words]
    while raw and (raw[0] in _LEADING_RESERVED or _is_assignment(raw[0])):
        raw, plain = raw[1:], plain[1:]
    if raw and raw[0] in _NOT_COMMANDS:
        return None
    if not raw and not redirects:
        return None
    while shown and shown[0] in _LEADING_RESERVED:
        shown = shown[1:]
    return SimpleCommand(" ".join(shown), tuple(plain), tuple(redirects))


def _inner_scripts(command: SimpleCommand) -> list[str]:
    """Scripts run by ``sh -c '...'`` and ``eval ...``."""
    words = peel_wrappers(command.words)
    if not words:
        return []
    program = os.path.basename(words[0])
    if program == "eval":
        return [" ".join(words[1:])]
    if program in _SHELLS and "-c" in words[1:-1]:
        return [words[words.index("-c", 1) + 1]]
    return []


def _is_assignment(raw: str) -> bool:
    name, equals, _ = raw.partition("=")
    return bool(equals) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def _find(text: str, char: str, start: int) -> int:
    end = text.find(char, start)
    if end < 0:
        raise _Unparsable(f"unclosed {char}")
    return end


def _find_backtick(text: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "`":
            return i
        i += 1
    raise _Unparsable("unclosed backtick")


def _find_ansi_end(text: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            return i
        i += 1
    raise _Unparsable("unclosed $'")


def _skip_balanced(text: str, start: int, open_: str = "(", close: str = ")") -> int:
    """The index of the bracket closing the one at ``start``, skipping quoted text."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "'":
            i = _find(text, "'", i + 1) + 1
            continue
        if char == '"':
            i = _find_closing_double(text, i + 1) + 1
            continue
        if char == open_:
            depth += 1
        elif char == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise _Unparsable(f"unclosed {open_}")


def _find_closing_double(text: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        if text.startswith("$(", i):
            i = _skip_balanced(text, i + 1) + 1
            continue
        i += 1
    raise _Unparsable('unclosed "')


def _unescape_double(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '"\\$`\n':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(body[i])
        i += 1
    return "".join(out)
