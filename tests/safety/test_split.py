"""The shared shell-parsing layer: simple commands of a line, with bashlex or the tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.safety.command import peel_wrappers
from moco.safety.shell import check_command
from moco.safety.split import inner_scripts, parse_bash, split_simple_commands
from moco.safety.words import ShellSyntaxError


def texts(script: str) -> list[str]:
    return [command.text for command in split_simple_commands(script)]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # bashlex cannot parse these: the tokenizer splits them the same way
        ("time make && git push", ["time make", "git push"]),
        ("case $x in a) git push;; esac", ["git push"]),
        ("[[ -n $(git push) ]] && ls", ["ls", "git push"]),
        ("echo $((1 + $(git push)))", ["echo $((1 + $(git push)))", "git push"]),
        ("cat <<'EOF' 2> err\nrm -rf /\nEOF\nls", ["cat <<'EOF' 2>err", "ls"]),
        # scripts handed to a shell, also behind wrappers
        ("bash -lc 'git push'", ["bash -lc 'git push'", "git push"]),
        ("sudo su -c 'git push'", ["sudo su -c 'git push'", "git push"]),
        ("find . | xargs sh -c 'rm x'", ["find .", "xargs sh -c 'rm x'", "rm x"]),
        ("env -S 'git push'", ["env -S 'git push'", "git push"]),
        ("watch -n 1 git status", ["watch -n 1 git status", "git status"]),
        # redirections of compound commands are not lost
        ("for i in 1; do ls; done > out", ["ls", ">out"]),
        ("{ ls; } 2>&-", ["ls", "2>&-"]),
        ("for f in $(git ls-files); do :; done", ["git ls-files", ":"]),
    ],
)
def test_split_simple_commands(script: str, expected: list[str]) -> None:
    assert texts(script) == expected


def test_words_are_unquoted_and_decoded() -> None:
    (command,) = split_simple_commands("A=1 $'\\x72m' \"-rf\" 'x y' 2>&1 >'o u t'")
    assert command.words == ("rm", "-rf", "x y")
    assert command.redirects == ((">&", "1"), (">", "o u t"))
    assert command.program == "rm"


@pytest.mark.parametrize("script", ["echo 'open", "ls >", "ls > > x", "a `b", "echo ${x"])
def test_unsplittable_text_raises(script: str) -> None:
    with pytest.raises(ShellSyntaxError):
        split_simple_commands(script)


def test_nesting_too_deep_raises() -> None:
    script = "ls"
    for _ in range(12):
        script = f"echo $({script})"
    with pytest.raises(ShellSyntaxError):
        split_simple_commands(script)


def test_bashlex_and_tokenizer_agree() -> None:
    script = "FOO=1 git  push 2>/dev/null | grep -v x; (cd sub && make) || echo \"$(whoami)\""
    assert parse_bash(script) is not None
    assert texts(script) == texts(script + "\ncase a in esac")


def test_inner_scripts_and_wrappers() -> None:
    assert inner_scripts(["sudo", "-u", "me", "bash", "-c", "ls; pwd"]) == ["ls; pwd"]
    assert inner_scripts(["eval", "git", "push"]) == ["git push"]
    assert inner_scripts(["bash", "script.sh"]) == []
    assert peel_wrappers(["xargs", "-n", "1", "sudo", "rm", "-rf"]) == ("rm", "-rf")
    assert peel_wrappers(["command", "-v", "git"]) == ()


def test_danger_check_sees_substitutions_the_tokenizer_skipped(tmp_path: Path) -> None:
    assert check_command("[[ -n $(rm -rf /) ]]", tmp_path).dangerous
    assert not check_command("rm -rf build 2>&-", tmp_path).dangerous
