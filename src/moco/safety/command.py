"""Simple commands as the rules see them, and the peeling of prefixes like ``sudo``.

A :class:`Command` is one simple command after expansion and after its wrappers (``sudo``,
``env VAR=x``, ``nice``, ``timeout 10`` ...) were peeled off: ``name`` is what really runs.
:func:`unwrap` peels them for the danger check; :func:`peel_wrappers` does the same on plain
words (``xargs`` included) for the permission layer.
Rules report through a :class:`RuleEnv`, which also lets them analyze commands they find
inside others (``sh -c '...'``, ``find -exec``, ``xargs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from moco.safety.paths import PathJudge
from moco.safety.words import UNKNOWN, Word, is_assignment, split_assignment


@dataclass(frozen=True, slots=True)
class Redirect:
    op: str  # ">", ">>", "<", "<<", "<<<", "&>", "2>", ">&" ...
    target: Word | None
    heredoc: str | None = None

    @property
    def writes(self) -> bool:
        op = self.op.lstrip("0123456789")
        return op in (">", ">>", ">|", "&>", "&>>", "<>") or (
            op == ">&" and self.target is not None and not self.target.value.isdigit()
        )

    @property
    def appends(self) -> bool:
        return self.op.endswith(">>")


@dataclass(slots=True)
class Command:
    """One simple command, its wrappers peeled off."""

    name: str  # basename of the program ("" when it cannot be known)
    args: list[Word]
    cwd: Path | None
    #: the command as the rules see it (wrappers and assignments dropped), quotes removed
    text: str
    #: the simple command as written, quotes removed
    full_text: str
    upstream: list[Command] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    assignments: dict[str, Word] = field(default_factory=dict)
    #: the text as written, when the command was written (not derived from ``find -exec``)
    source: str = ""

    @property
    def display(self) -> str:
        text = " ".join((self.source or self.full_text).split())
        return text if len(text) <= 80 else text[:77] + "..."

    @property
    def value_text(self) -> str:
        return " ".join([self.name, *(word.value for word in self.args)]).replace(UNKNOWN, "?")


@dataclass(frozen=True, slots=True)
class Finding:
    reason: str
    #: critical findings cannot be allowed by configuration
    critical: bool
    #: texts of the command that produced it, for ``extra_allow`` patterns
    texts: tuple[str, ...] = ()


class RuleEnv(Protocol):
    judge: PathJudge
    protected_branches: tuple[str, ...]

    def report(self, cmd: Command, what: str, *, critical: bool) -> None: ...

    def run_words(self, words: Sequence[Word], cwd: Path | None) -> None: ...

    def run_script(self, text: str, cwd: Path | None) -> None: ...


def basename(value: str) -> str:
    if UNKNOWN in value:
        return ""
    return value.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class _Wrapper:
    #: options whose value is the next word
    takes_value: frozenset[str] = frozenset()
    #: operands before the wrapped command (``timeout DURATION cmd``)
    operands: int = 0
    #: leading ``NAME=value`` words are assignments (``env``, ``sudo``)
    assigns: bool = False


def _wrapper(*takes: str, operands: int = 0, assigns: bool = False) -> _Wrapper:
    return _Wrapper(frozenset(takes), operands, assigns)


WRAPPERS: dict[str, _Wrapper] = {
    "sudo": _wrapper("-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "-R",
                     "--user", "--group", "--chdir", assigns=True),
    "doas": _wrapper("-u", "-C"),
    "env": _wrapper("-u", "-C", "--unset", "--chdir", assigns=True),
    "nice": _wrapper("-n", "--adjustment"),
    "nohup": _wrapper(),
    "timeout": _wrapper("-s", "-k", "--signal", "--kill-after", operands=1),
    "command": _wrapper(),
    "builtin": _wrapper(),
    "exec": _wrapper("-a"),
    "time": _wrapper("-f", "-o", "--format", "--output"),
    "stdbuf": _wrapper("-i", "-o", "-e"),
    "ionice": _wrapper("-c", "-n", "-t"),
    "setsid": _wrapper(),
    "chrt": _wrapper(operands=1),
    "taskset": _wrapper(operands=1),
    "flock": _wrapper("-w", "-E", "--timeout", operands=1),
    "unbuffer": _wrapper(),
    "strace": _wrapper("-o", "-e", "-p", "-s", "-u"),
    "ltrace": _wrapper("-o", "-e", "-p", "-s", "-u"),
    "caffeinate": _wrapper(),
    "busybox": _wrapper(),
    "proxychains": _wrapper(),
    "proxychains4": _wrapper(),
    "torsocks": _wrapper(),
    "nocache": _wrapper(),
    "chronic": _wrapper(),
    "runuser": _wrapper("-u", "-g", "-G", "--user", "--group"),
}  # fmt: skip


@dataclass(slots=True)
class Unwrapped:
    words: list[Word]
    assignments: dict[str, Word]
    #: scripts a wrapper runs through a shell (``watch 'cmd'``, ``su -c 'cmd'``, ``env -S``)
    scripts: list[Word]
    #: a directory the wrapper changes to (``env -C dir``, ``sudo -D dir``)
    chdir: Word | None = None


def unwrap(words: Sequence[Word]) -> Unwrapped:
    """Peel wrappers and leading assignments off a simple command."""
    result = Unwrapped(list(words), {}, [])
    for _ in range(32):
        result.words = _take_assignments(result.words, result.assignments)
        name = basename(result.words[0].value) if result.words else ""
        if name in ("watch", "su"):
            result.scripts.extend(_shell_string(name, result.words[1:]))
            result.words = []
        elif name == "command" and any(w.value in ("-v", "-V") for w in result.words[1:2]):
            result.words = []
        elif name in WRAPPERS:
            result.words = _peel(WRAPPERS[name], result)
        else:
            break
    return result


#: ``xargs`` options whose value is the next word
XARGS_VALUES = frozenset(
    {"-a", "-d", "-E", "-e", "-I", "-L", "-l", "-n", "-P", "-s", "--arg-file", "--delimiter",
     "--eof", "--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars",
     "--process-slot-var"}
)  # fmt: skip


def peel_words(words: Sequence[Word]) -> Unwrapped:
    """:func:`unwrap`, and ``xargs`` with its options peeled off too (``find | xargs rm`` runs
    ``rm``): what a command runs, as far as its words tell."""
    result = unwrap(words)
    for _ in range(8):
        if not result.words or basename(result.words[0].value) != "xargs":
            break
        operands = parse_args(result.words[1:], XARGS_VALUES, stop=True).operands
        inner = unwrap(operands)
        inner.assignments = {**result.assignments, **inner.assignments}
        inner.scripts = [*result.scripts, *inner.scripts]
        inner.chdir = inner.chdir or result.chdir
        result = inner
    return result


def peel_wrappers(words: Iterable[str]) -> tuple[str, ...]:
    """``sudo -u x timeout 5 git push`` -> ``git push``: wrappers (``xargs`` included), their
    options and leading assignments removed from plain words (best effort); ``()`` when the
    command only runs a script (``su -c``, ``watch``) or runs nothing (``command -v``)."""
    peeled = peel_words([Word.plain(word) for word in words])
    return tuple(word.value for word in peeled.words)


def _take_assignments(words: list[Word], into: dict[str, Word]) -> list[Word]:
    index = 0
    while index < len(words) and is_assignment(words[index].literal):
        name, value = split_assignment(words[index].value)
        into[name] = Word(split_assignment(words[index].literal)[1], value)
        index += 1
    return words[index:]


def _peel(wrapper: _Wrapper, result: Unwrapped) -> list[Word]:
    words, index = result.words, 1
    while index < len(words):
        value = words[index].value
        if value == "--":
            index += 1
            break
        if wrapper.assigns and is_assignment(words[index].literal):
            name, assigned = split_assignment(value)
            result.assignments[name] = Word(assigned, assigned)
            index += 1
            continue
        if not value.startswith("-") or value == "-":
            break
        option = value.split("=", 1)[0]
        if option in ("-S", "--split-string"):
            result.scripts.append(_option_value(words, index))
            return []
        if option in ("-C", "-D", "--chdir") and "=" not in value:
            result.chdir = words[index + 1] if index + 1 < len(words) else None
        takes_next = option in wrapper.takes_value and "=" not in value
        index += 2 if takes_next else 1
    return words[index + wrapper.operands :]


def _option_value(words: list[Word], index: int) -> Word:
    value = words[index].value
    if "=" in value:
        text = value.split("=", 1)[1]
        return Word(text, text, words[index].substitutions, words[index].tainted)
    return words[index + 1] if index + 1 < len(words) else Word.plain("")


def _shell_string(name: str, args: list[Word]) -> list[Word]:
    """The script ``watch`` or ``su -c`` runs through a shell."""
    if name == "su":
        for index, word in enumerate(args):
            if word.value in ("-c", "--command") and index + 1 < len(args):
                return [args[index + 1]]
            if word.value.startswith("--command="):
                return [_option_value(args, index)]
        return []
    index = 0
    while index < len(args) and args[index].value.startswith("-"):
        takes = args[index].value in ("-n", "--interval", "-d", "--differences")
        index += 2 if takes and args[index].value != "-d" else 1
    rest = args[index:]
    if not rest:
        return []
    return [
        Word(
            " ".join(w.literal for w in rest),
            " ".join(w.value for w in rest),
            tuple(s for w in rest for s in w.substitutions),
            any(w.tainted for w in rest),
        )
    ]


@dataclass(slots=True)
class Args:
    """Arguments split GNU-style: short flags as letters (``-rf`` -> ``r``, ``f``), long flags
    with their dashes (``--force``), option values, and operands."""

    flags: set[str] = field(default_factory=set)
    values: dict[str, Word] = field(default_factory=dict)
    operands: list[Word] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        return any(name in self.flags for name in names)


def parse_args(
    args: Sequence[Word], takes_value: frozenset[str] = frozenset(), *, stop: bool = False
) -> Args:
    """Split ``args``; options in ``takes_value`` (``-n``, ``--size``) consume a value.
    With ``stop``, the first operand ends the options (``xargs``, ``find -exec``)."""
    parsed = Args()
    index = 0
    while index < len(args):
        value = args[index].value
        if value == "--":
            parsed.operands.extend(args[index + 1 :])
            break
        if value == "-" or not value.startswith("-"):
            parsed.operands.append(args[index])
            if stop:
                parsed.operands.extend(args[index + 1 :])
                break
            index += 1
            continue
        index = _parse_option(args, index, takes_value, parsed)
    return parsed


def _parse_option(args: Sequence[Word], index: int, takes: frozenset[str], parsed: Args) -> int:
    value = args[index].value
    if value.startswith("--"):
        name, equals, attached = value.partition("=")
        parsed.flags.add(name)
        if equals:
            parsed.values[name] = Word(attached, attached)
        elif name in takes and index + 1 < len(args):
            parsed.values[name] = args[index + 1]
            return index + 2
        return index + 1
    for position, letter in enumerate(value[1:], start=2):
        option = "-" + letter
        parsed.flags.add(letter)
        if option in takes:
            rest = value[position:]
            if rest:
                parsed.values[option] = Word(rest, rest)
            elif index + 1 < len(args):
                parsed.values[option] = args[index + 1]
                return index + 2
            break
    return index + 1
