"""Rules for commands that delete, overwrite or re-permission files and disks."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from moco.safety.command import XARGS_VALUES, Args, Command, RuleEnv, parse_args
from moco.safety.paths import Target
from moco.safety.words import UNKNOWN, Word

Rule = Callable[[Command, RuleEnv], None]

_INPUT = Word("<input>", UNKNOWN)


def _contents(word: Word) -> Word:
    """``dir`` -> ``dir/*``: what ``find dir`` walks over."""
    return Word(word.literal.rstrip("/") + "/*", word.value.rstrip("/") + "/*")


def _destroy(cmd: Command, env: RuleEnv, target: Target, verb: str) -> None:
    judgement = env.judge.destroy(target)
    if judgement:
        env.report(cmd, f"{verb} of {judgement.what}", critical=judgement.critical)


def _destroy_file(cmd: Command, env: RuleEnv, word: Word, verb: str) -> None:
    """Shredding or truncating one file: disks and system files are critical."""
    device = env.judge.device(word.value, cmd.cwd)
    if device:
        env.report(cmd, f"{verb} of disk device {device}", critical=True)
        return
    _destroy(cmd, env, env.judge.target(word, cmd.cwd), verb)


def rule_rm(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args)
    if args.has("--no-preserve-root"):
        env.report(cmd, "rm --no-preserve-root", critical=True)
    recursive = args.has("r", "R", "--recursive")
    for word in args.operands:
        target = env.judge.target(word, cmd.cwd)
        judgement = env.judge.destroy(target) if recursive else env.judge.delete(target)
        if judgement:
            verb = "recursive delete" if recursive else "delete"
            env.report(cmd, f"{verb} of {judgement.what}", critical=judgement.critical)


def rule_rmdir(cmd: Command, env: RuleEnv) -> None:
    for word in parse_args(cmd.args).operands:
        judgement = env.judge.delete(env.judge.target(word, cmd.cwd))
        if judgement and judgement.critical:
            env.report(cmd, f"rmdir of {judgement.what}", critical=True)


_FIND_EXPRESSION = re.compile(r"^(-[a-z]|[(!,)])")
_FIND_EXEC = ("-exec", "-execdir", "-ok", "-okdir")


def _find_starts(args: list[Word]) -> tuple[list[Word], list[Word]]:
    index = 0
    while index < len(args) and args[index].value in ("-H", "-L", "-P"):
        index += 1
    starts: list[Word] = []
    while index < len(args) and not _FIND_EXPRESSION.match(args[index].value):
        starts.append(args[index])
        index += 1
    return starts or [Word.plain(".")], args[index:]


def rule_find(cmd: Command, env: RuleEnv) -> None:
    starts, expression = _find_starts(cmd.args)
    values = [word.value for word in expression]
    for start in starts:
        contents = _contents(start)
        if "-delete" in values:
            _destroy(cmd, env, env.judge.target(contents, cmd.cwd), "find -delete")
        for index, value in enumerate(values):
            if value not in _FIND_EXEC:
                continue
            inner: list[Word] = []
            for word in expression[index + 1 :]:
                if word.value in (";", "+"):
                    break
                inner.append(_replace(word, "{}", contents))
            env.run_words(inner, cmd.cwd)


def _replace(word: Word, marker: str, by: Word) -> Word:
    if marker not in word.value:
        return word
    return Word(word.literal.replace(marker, by.literal), word.value.replace(marker, by.value))


def _produced(upstream: list[Command]) -> list[Word]:
    """What the previous stage of a pipeline prints, as far as it can be known."""
    if not upstream:
        return [_INPUT]
    producer = upstream[-1]
    if producer.name == "find":
        return [_contents(start) for start in _find_starts(producer.args)[0]]
    if producer.name in ("echo", "printf"):
        return [word for word in producer.args if not word.value.startswith("-")] or [_INPUT]
    if producer.name == "ls":
        operands = parse_args(producer.args).operands
        return operands or [Word.plain("./*")]
    return [_INPUT]


def rule_xargs(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args, XARGS_VALUES, stop=True)
    command = args.operands
    if not command:
        return
    marker = args.values.get("-I") or args.values.get("--replace")
    if marker is None and args.has("i"):
        marker = Word.plain("{}")
    for produced in _produced(cmd.upstream):
        if marker is not None:
            env.run_words([_replace(word, marker.value, produced) for word in command], cmd.cwd)
        else:
            env.run_words([*command, produced], cmd.cwd)


def rule_dd(cmd: Command, env: RuleEnv) -> None:
    for word in cmd.args:
        if word.value.startswith("of="):
            judgement = env.judge.write(word.value[3:], cmd.cwd)
            if judgement:
                env.report(cmd, f"dd writes to {judgement.what}", critical=judgement.critical)


_MKFS_VALUES = frozenset(
    {"-t", "-L", "-b", "-C", "-E", "-g", "-G", "-i", "-I", "-J", "-l", "-m", "-M", "-N", "-o",
     "-O", "-r", "-T", "-U", "-e", "-s", "-d"}
)  # fmt: skip


def rule_mkfs(cmd: Command, env: RuleEnv) -> None:
    """Formatting is allowed only for image files inside the working directory."""
    operands = parse_args(cmd.args, _MKFS_VALUES).operands
    paths = [word for word in operands if not word.value.isdigit()]
    for word in paths:
        device = env.judge.device(word.value, cmd.cwd)
        target = env.judge.target(word, cmd.cwd)
        if device or target.path is None or not env.judge.inside(target.path):
            env.report(cmd, f"creates a filesystem on {device or word.literal}", critical=True)
            return
    if not paths:
        env.report(cmd, f"{cmd.name} without a target", critical=True)


def _device_tool(verb: str, is_read_only: Callable[[Args], bool], *values: str) -> Rule:
    takes = frozenset(values)

    def rule(cmd: Command, env: RuleEnv) -> None:
        args = parse_args(cmd.args, takes)
        if is_read_only(args) or args.has("h", "V", "--help", "--version"):
            return
        for word in args.operands:
            target = env.judge.target(word, cmd.cwd)
            if target.path is None or not env.judge.inside(target.path):
                env.report(cmd, f"{verb} {word.literal}", critical=True)
                return
        if not args.operands:
            env.report(cmd, f"{verb} a disk", critical=True)

    return rule


def _lists(args: Args) -> bool:
    listing = ("l", "p", "d", "--list", "--print", "--dump", "--list-types", "--json")
    return args.has(*listing) or any(w.value in ("print", "p") for w in args.operands[1:])


rule_partition = _device_tool("repartitions", _lists, "-a", "--align", "-t", "-b", "-u")
rule_wipefs = _device_tool(
    "wipes signatures of",
    lambda a: not a.has("a", "--all", "o", "--offset") or a.has("n", "--no-act"),
    "-o",
    "--offset",
    "-t",
    "--types",
    "-b",
)
rule_blkdiscard = _device_tool("discards every block of", lambda a: False)


def rule_hdparm(cmd: Command, env: RuleEnv) -> None:
    for word in cmd.args:
        if word.value.startswith(("--security-", "--write-sector", "--trim-sector", "--fwdown")):
            env.report(cmd, f"hdparm {word.value} erases or rewrites a disk", critical=True)
            return


def rule_shred(cmd: Command, env: RuleEnv) -> None:
    for word in parse_args(cmd.args, frozenset({"-n", "-s", "--iterations", "--size"})).operands:
        _destroy_file(cmd, env, word, "shred")


def rule_truncate(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args, frozenset({"-s", "-r", "--size", "--reference"}))
    for word in args.operands:
        _destroy_file(cmd, env, word, "truncate")


_CHMOD_LETTERS = set("Rcfvh")


def rule_chmod(cmd: Command, env: RuleEnv) -> None:
    """``chmod``/``chown``/``chgrp``: recursive on critical paths, or any on ``/`` and
    system directories. The mode (``-w``, ``u+x``) is the first operand."""
    words = list(cmd.args)
    options = [w for w in words if w.value.startswith("-") and set(w.value[1:]) <= _CHMOD_LETTERS]
    operands = [w for w in words if w not in options and not w.value.startswith("--")]
    recursive = any("R" in w.value for w in options) or any(w.value == "--recursive" for w in words)
    if not any(w.value.startswith("--reference") for w in words):
        operands = operands[1:]
    for word in operands:
        target = env.judge.target(word, cmd.cwd)
        if recursive:
            _destroy(cmd, env, dataclasses.replace(target, contents=True), f"recursive {cmd.name}")
            continue
        judgement = env.judge.chmod(target)
        if judgement:
            env.report(cmd, f"{cmd.name} of {judgement.what}", critical=judgement.critical)


_COPY_VALUES = frozenset({"-t", "-S", "--target-directory", "--suffix", "--backup"})


def _split_copy(args: Args) -> tuple[list[Word], Word | None]:
    target = args.values.get("-t") or args.values.get("--target-directory")
    if target is not None:
        return args.operands, target
    if len(args.operands) < 2:
        return args.operands, None
    return args.operands[:-1], args.operands[-1]


def _overwrites(cmd: Command, env: RuleEnv, word: Word, verb: str, append: bool = False) -> None:
    judgement = env.judge.write(word.value, cmd.cwd, append=append)
    if judgement:
        env.report(cmd, f"{verb} {judgement.what}", critical=judgement.critical)


def rule_cp(cmd: Command, env: RuleEnv) -> None:
    sources, destination = _split_copy(parse_args(cmd.args, _COPY_VALUES))
    for word in sources:
        path = env.judge.target(word, cmd.cwd).path
        if path is not None and env.judge.reads_secret(path):
            env.report(cmd, f"copies credentials ({path})", critical=True)
    if destination is not None:
        _overwrites(cmd, env, destination, f"{cmd.name} overwrites")


def rule_mv(cmd: Command, env: RuleEnv) -> None:
    sources, destination = _split_copy(parse_args(cmd.args, _COPY_VALUES))
    for word in sources:
        target = env.judge.target(word, cmd.cwd)
        judgement = env.judge.destroy(target)
        path = target.path
        if judgement and judgement.critical:
            env.report(cmd, f"moves away {judgement.what}", critical=True)
        elif path is not None and path.parent == env.judge.home and path.name.startswith("."):
            env.report(cmd, f"moves away {path} in the home directory", critical=False)
    if destination is not None:
        _overwrites(cmd, env, destination, "mv overwrites")


def rule_tee(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args)
    for word in args.operands:
        _overwrites(cmd, env, word, "tee writes to", args.has("a", "--append"))


def rule_ln(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args, _COPY_VALUES)
    if args.has("f", "--force"):
        _, destination = _split_copy(args)
        if destination is not None:
            _overwrites(cmd, env, destination, "ln -f replaces")


def rule_sed(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args, frozenset({"-e", "-f", "--expression", "--file"}))
    if not (args.has("i", "--in-place") or any(f.startswith("--in-place") for f in args.flags)):
        return
    files = args.operands if args.has("e", "f", "--expression", "--file") else args.operands[1:]
    for word in files:
        _overwrites(cmd, env, word, "sed -i edits")


def rule_rsync(cmd: Command, env: RuleEnv) -> None:
    args = parse_args(cmd.args, frozenset({"-e", "--rsh", "--exclude", "--include", "-f"}))
    if not any(flag.startswith(("--delete", "--del")) for flag in args.flags):
        return
    if len(args.operands) < 2 or ":" in args.operands[-1].value:
        return
    destination = env.judge.target(_contents(args.operands[-1]), cmd.cwd)
    _destroy(cmd, env, destination, "rsync --delete")


FS_RULES: dict[str, Rule] = {
    "rm": rule_rm,
    "unlink": rule_rm,
    "rmdir": rule_rmdir,
    "find": rule_find,
    "xargs": rule_xargs,
    "dd": rule_dd,
    "mke2fs": rule_mkfs,
    "mkswap": rule_mkfs,
    "mkntfs": rule_mkfs,
    "mkdosfs": rule_mkfs,
    "fdisk": rule_partition,
    "sfdisk": rule_partition,
    "gdisk": rule_partition,
    "sgdisk": rule_partition,
    "cfdisk": rule_partition,
    "cgdisk": rule_partition,
    "parted": rule_partition,
    "wipefs": rule_wipefs,
    "blkdiscard": rule_blkdiscard,
    "hdparm": rule_hdparm,
    "shred": rule_shred,
    "truncate": rule_truncate,
    "chmod": rule_chmod,
    "chown": rule_chmod,
    "chgrp": rule_chmod,
    "cp": rule_cp,
    "install": rule_cp,
    "mv": rule_mv,
    "tee": rule_tee,
    "ln": rule_ln,
    "sed": rule_sed,
    "rsync": rule_rsync,
}


def fs_rule(name: str) -> Rule | None:
    if name.startswith("mkfs"):
        return rule_mkfs
    return FS_RULES.get(name)
