"""Rules for commands that run other code or act on the whole machine: shells, ``eval``,
downloads piped into interpreters, ``git`` history rewriting, power and process control."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from moco.safety.command import Command, RuleEnv, parse_args
from moco.safety.words import DOWNLOADERS, UNKNOWN, Word, mentions_download

Rule = Callable[[Command, RuleEnv], None]

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh"})
_INTERPRETER = re.compile(r"(python|pypy)[0-9.]*|perl|ruby|node|nodejs|php|deno|bun|lua")
#: stages that turn hidden text into a script
_DECODERS = {"base64": ("d", "D", "--decode"), "xxd": ("r",), "openssl": ("d",)}


_DECODING = re.compile(r"\b(base64\b.*\s(-d|-D|--decode)\b|xxd\b.*\s-r|openssl\b.*\s-d\b)")


def _downloaded(word: Word) -> bool:
    """Whether a word's text comes from a download, or is decoded from hidden text."""
    if word.tainted:
        return True
    return any(mentions_download(body) or _DECODING.search(body) for body in word.substitutions)


def _stdin_script(cmd: Command, env: RuleEnv, runner: str) -> None:
    """``runner`` reads its program from standard input: judge what feeds it."""
    for redirect in cmd.redirects:
        if redirect.heredoc is not None:
            env.run_script(redirect.heredoc, cmd.cwd)
        elif redirect.op == "<<<" and redirect.target is not None:
            _script_word(cmd, env, redirect.target, runner)
        elif redirect.op == "<" and redirect.target is not None and _downloaded(redirect.target):
            env.report(cmd, f"runs a downloaded or decoded script with {runner}", critical=True)
    for stage in cmd.upstream:
        if stage.name in DOWNLOADERS or any(_downloaded(word) for word in stage.args):
            env.report(cmd, f"pipes a download ({stage.display}) into {runner}", critical=True)
            return
        letters = _DECODERS.get(stage.name)
        if letters and parse_args(stage.args).has(*letters):
            env.report(cmd, f"pipes a decoded, hidden script into {runner}", critical=True)
            return
    feeder = cmd.upstream[-1] if cmd.upstream else None
    if feeder is not None and feeder.name in ("echo", "printf"):
        text = " ".join(w.value for w in feeder.args if not w.value.startswith("-"))
        env.run_script(text.replace("\\n", "\n"), cmd.cwd)
    elif feeder is not None and feeder.name == "cat" and not feeder.args:
        _stdin_script(feeder, env, runner)


def _script_word(cmd: Command, env: RuleEnv, word: Word, runner: str) -> None:
    if _downloaded(word):
        env.report(cmd, f"runs a downloaded or decoded script with {runner}", critical=True)
    else:
        env.run_script(word.value, cmd.cwd)


_SHELL_VALUES = frozenset({"-o", "-O", "+O", "+o", "--rcfile", "--init-file"})


def shell_operands(args: Sequence[Word]) -> tuple[bool, bool, Sequence[Word]]:
    """A shell's arguments: whether it was given ``-c`` (its first operand is the script, also
    in ``-lc``, ``-ec`` ...), whether ``-s`` (it reads the script from its input), and the
    operands."""
    index, command_string, reads_stdin = 0, False, False
    while index < len(args) and args[index].value[:1] in ("-", "+") and args[index].value != "-":
        value = args[index].value
        if value == "--":
            index += 1
            break
        if value in _SHELL_VALUES:
            index += 1
        elif not value.startswith("--"):
            command_string = command_string or "c" in value[1:]
            reads_stdin = reads_stdin or "s" in value[1:]
        index += 1
    return command_string, reads_stdin, args[index:]


def rule_shell(cmd: Command, env: RuleEnv) -> None:
    """``sh -c STRING`` is parsed in turn; ``sh`` alone reads a script from its input."""
    command_string, reads_stdin, rest = shell_operands(cmd.args)
    if command_string and rest:
        _script_word(cmd, env, rest[0], cmd.name)
    elif rest and rest[0].value != "-" and not reads_stdin:
        if _downloaded(rest[0]):
            env.report(cmd, f"runs a downloaded or decoded script with {cmd.name}", critical=True)
    else:
        _stdin_script(cmd, env, cmd.name)


def rule_interpreter(cmd: Command, env: RuleEnv) -> None:
    """``python``, ``perl``, ``node`` ... running downloaded code."""
    inline = ("-c", "-e", "-E", "-m", "-r", "--eval", "--print", "-p")
    args = cmd.args
    for index, word in enumerate(args):
        if word.value in inline:
            code = args[index + 1] if index + 1 < len(args) else None
            if code is not None and _downloaded(code):
                env.report(cmd, f"runs downloaded or decoded code with {cmd.name}", critical=True)
            return
        if word.value == "-":
            break
        if not word.value.startswith("-"):
            if _downloaded(word):
                env.report(cmd, f"runs downloaded or decoded code with {cmd.name}", critical=True)
            return
    _stdin_script(cmd, env, cmd.name)


def rule_eval(cmd: Command, env: RuleEnv) -> None:
    if any(_downloaded(word) for word in cmd.args):
        env.report(cmd, "evaluates a downloaded or decoded script", critical=True)
        return
    env.run_script(" ".join(word.value for word in cmd.args), cmd.cwd)


def rule_source(cmd: Command, env: RuleEnv) -> None:
    if cmd.args and _downloaded(cmd.args[0]):
        env.report(cmd, "sources a downloaded or decoded script", critical=True)
    elif not cmd.args or cmd.args[0].value in ("/dev/stdin", "-"):
        _stdin_script(cmd, env, cmd.name)


def rule_power(cmd: Command, env: RuleEnv) -> None:
    if any(word.value in ("--help", "-h") for word in cmd.args) and cmd.name != "shutdown":
        return
    env.report(cmd, f"{cmd.name} shuts down or restarts the machine", critical=True)


def rule_init(cmd: Command, env: RuleEnv) -> None:
    if any(word.value in ("0", "6") for word in cmd.args):
        env.report(cmd, "changes the runlevel to halt or reboot", critical=True)


_SYSTEMCTL_POWER = frozenset(
    {"poweroff", "reboot", "halt", "kexec", "emergency", "rescue", "soft-reboot",
     "suspend", "hibernate", "hybrid-sleep"}
)  # fmt: skip


def rule_systemctl(cmd: Command, env: RuleEnv) -> None:
    operands = [w.value for w in parse_args(cmd.args).operands]
    if operands and operands[0] in _SYSTEMCTL_POWER:
        env.report(cmd, f"{cmd.name} {operands[0]} stops the machine", critical=True)
    elif operands[:1] == ["isolate"] and any(
        value.removesuffix(".target") in _SYSTEMCTL_POWER | {"runlevel0", "runlevel6"}
        for value in operands[1:]
    ):
        env.report(cmd, "systemctl isolate stops the machine", critical=True)


def rule_kill(cmd: Command, env: RuleEnv) -> None:
    """``kill -9 -1`` (every process) and ``kill 1`` (init)."""
    args, index = cmd.args, 0
    if args and args[0].value in ("-s", "-n", "--signal"):
        index = 2
    elif args and args[0].value.startswith("-") and args[0].value != "--":
        index = 1
    pids = [word.value for word in args[index:] if word.value != "--"]
    if "-1" in pids:
        env.report(cmd, "kill -1 signals every process", critical=True)
    elif "1" in pids:
        env.report(cmd, "kill 1 signals init", critical=True)


def rule_killall5(cmd: Command, env: RuleEnv) -> None:
    env.report(cmd, "killall5 signals every process", critical=True)


def rule_crontab(cmd: Command, env: RuleEnv) -> None:
    if parse_args(cmd.args, frozenset({"-u"})).has("r", "--remove"):
        env.report(cmd, "crontab -r removes every cron job", critical=True)


# ------------------------------------------------------------------------------ git

_GIT_GLOBAL_VALUES = frozenset(
    {"-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env",
     "--super-prefix"}
)  # fmt: skip


def rule_git(cmd: Command, env: RuleEnv) -> None:
    args, index, where = cmd.args, 0, cmd.cwd
    elsewhere: list[Word] = [w for n, w in cmd.assignments.items() if n in _GIT_ENV]
    while index < len(args) and args[index].value.startswith("-"):
        value = args[index].value
        name = value.split("=", 1)[0]
        if value == "-C" and index + 1 < len(args):
            where = env.judge.directory(args[index + 1].value, where)
            index += 1
        elif name in ("--git-dir", "--work-tree"):
            elsewhere.append(_value_of(args, index))
            index += 0 if "=" in value else 1
        elif name in _GIT_GLOBAL_VALUES and "=" not in value:
            _git_alias(cmd, env, args[index + 1].value if index + 1 < len(args) else "")
            index += 1
        index += 1
    if index >= len(args):
        return
    sub, rest = args[index].value, args[index + 1 :]
    if sub == "push":
        _git_push(cmd, env, rest)
    elif sub == "clean":
        flags = parse_args(rest, frozenset({"-e", "--exclude"}))
        if flags.has("f", "--force") and not flags.has("n", "--dry-run"):
            _git_place(cmd, env, "git clean", where, elsewhere, flags.operands)
    elif sub == "reset" and any(word.value == "--hard" for word in rest):
        _git_place(cmd, env, "git reset --hard", where, elsewhere, [])


_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE")
_GIT_SHELL_ALIAS = re.compile(r"alias\.[^=]+=!(.*)", re.DOTALL)


def _git_alias(cmd: Command, env: RuleEnv, setting: str) -> None:
    """``git -c alias.x='!cmd' x`` runs ``cmd`` through a shell."""
    match = _GIT_SHELL_ALIAS.match(setting)
    if match:
        env.run_script(match.group(1), cmd.cwd)


def _value_of(args: Sequence[Word], index: int) -> Word:
    value = args[index].value
    if "=" in value:
        text = value.split("=", 1)[1]
        return Word(text, text)
    return args[index + 1] if index + 1 < len(args) else Word.plain("")


def _git_place(
    cmd: Command,
    env: RuleEnv,
    what: str,
    where: Path | None,
    elsewhere: list[Word],
    pathspecs: list[Word],
) -> None:
    """History-destroying git commands are fine in the working directory's own repository."""
    judge = env.judge
    places = [where] + [judge.directory(word.value, where) for word in elsewhere + pathspecs]
    for place in places:
        if place is None:
            env.report(cmd, f"{what} in a directory that cannot be known", critical=False)
            return
        if not judge.inside(place):
            env.report(cmd, f"{what} outside the working directory ({place})", critical=False)
            return
    if judge.repo_root is None:
        where_text = "the working directory is not in a git repository"
        env.report(cmd, f"{what}, but {where_text}", critical=False)


_PUSH_VALUES = frozenset({"-o", "--push-option", "--repo", "--receive-pack", "--exec"})


def _branch(refspec: str) -> str | None:
    """The remote branch a refspec updates; ``None`` when it is the current one or unknown."""
    spec = refspec.lstrip("+")
    destination = spec.split(":", 1)[1] if ":" in spec else spec
    if UNKNOWN in destination or destination in ("", "HEAD", "@"):
        return None
    return destination.removeprefix("refs/heads/")


def _protected(env: RuleEnv, branch: str | None) -> bool:
    return branch is None or any(fnmatchcase(branch, p) for p in env.protected_branches)


def _git_push(cmd: Command, env: RuleEnv, rest: Sequence[Word]) -> None:
    args = parse_args(rest, _PUSH_VALUES)
    refspecs = [word.value for word in args.operands[1:]]
    forced = args.has("f", "--force", "--mirror") or any(
        flag.startswith("--force-with-lease") for flag in args.flags
    )
    if forced and (not refspecs or args.has("--all", "--branches", "--mirror")):
        env.report(cmd, "force push that may rewrite a protected branch", critical=True)
        return
    for spec in refspecs:
        branch = _branch(spec)
        if (forced or spec.startswith("+")) and _protected(env, branch):
            shown = (
                f"protected branch {branch}" if branch else "the current branch, maybe protected"
            )
            env.report(cmd, f"force push to {shown}", critical=True)
            return
        deleting = args.has("d", "--delete") or spec.startswith(":")
        if deleting and branch and _protected(env, branch):
            env.report(cmd, f"deletes protected branch {branch}", critical=True)
            return


EXEC_RULES: dict[str, Rule] = {
    **dict.fromkeys(SHELLS, rule_shell),
    "eval": rule_eval,
    "source": rule_source,
    ".": rule_source,
    **dict.fromkeys(("shutdown", "reboot", "halt", "poweroff"), rule_power),
    "init": rule_init,
    "telinit": rule_init,
    "systemctl": rule_systemctl,
    "loginctl": rule_systemctl,
    "kill": rule_kill,
    "killall5": rule_killall5,
    "crontab": rule_crontab,
    "git": rule_git,
}


def exec_rule(name: str) -> Rule | None:
    found = EXEC_RULES.get(name)
    if found is None and _INTERPRETER.fullmatch(name):
        return rule_interpreter
    return found
