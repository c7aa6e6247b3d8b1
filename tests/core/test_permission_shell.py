"""Splitting command lines into simple commands, and the read-only classification."""

from __future__ import annotations

import pytest

from moco.core.permission_shell import is_read_only, peel_wrappers, split_commands


def texts(script: str) -> list[str] | None:
    found = split_commands(script)
    return None if found is None else [command.text for command in found]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("git add . && git push", ["git add .", "git push"]),
        ("a || b; c | d |& e & f", ["a", "b", "c", "d", "e", "f"]),
        ("echo $(git push) `whoami`", ["echo $(git push) `whoami`", "git push", "whoami"]),
        ('echo "$(rm -rf x)"', ['echo "$(rm -rf x)"', "rm -rf x"]),
        ("diff <(ls a) <(ls b)", ["diff <(ls a) <(ls b)", "ls a", "ls b"]),
        ("sh -c 'git push; ls'", ["sh -c 'git push; ls'", "git push", "ls"]),
        ("eval git push", ["eval git push", "git push"]),
        ("for f in *.py; do cat $f; done", ["cat $f"]),
        ("if [ -f x ]; then rm x; fi", ["[ -f x ]", "rm x"]),
        ("(cd sub && make)", ["cd sub", "make"]),
        ("cat <<EOF > out\nrm -rf /\nEOF\nls", ["cat <<EOF >out", "ls"]),
        ("echo hi # && rm -rf /", ["echo hi"]),
        ("ls 2>&1  >/dev/null", ["ls 2>&1 >/dev/null"]),
        ("FOO=1 git   push", ["FOO=1 git push"]),
        ("x=$(git push)", ["git push"]),
        ("echo 'a;b' \"c && d\"", ["echo 'a;b' \"c && d\""]),
        ("ls \\\n  -la", ["ls -la"]),
        ("", []),
    ],
)
def test_split_commands(script: str, expected: list[str]) -> None:
    assert texts(script) == expected


@pytest.mark.parametrize("script", ["echo 'open", 'echo "open', "echo $(open", "ls >", "a `b"])
def test_unsplittable_text(script: str) -> None:
    assert split_commands(script) is None


def test_words_have_quotes_removed_and_assignments_dropped() -> None:
    (command,) = split_commands("A=1 B=2 'git' \"push\" --force") or []
    assert command.words == ("git", "push", "--force")
    assert command.plain == "git push --force"


def test_peel_wrappers() -> None:
    assert peel_wrappers(["sudo", "-u", "root", "timeout", "5", "git", "push"]) == ("git", "push")
    assert peel_wrappers(["env", "-i", "A=1", "nice", "-n", "5", "make"]) == ("make",)
    assert peel_wrappers(["git", "push"]) == ("git", "push")


@pytest.mark.parametrize(
    ("script", "read_only"),
    [
        ("ls -la", True),
        ("cat a.py 2>/dev/null", True),
        ("grep -rn foo src", True),
        ("git status", True),
        ("git -C sub log --oneline", True),
        ("git branch", True),
        ("find . -name '*.py'", True),
        ("ls > out.txt", False),
        ("echo hi >> notes.md", False),
        ("ls >& out.txt", False),
        ("git commit -m x", False),
        ("git branch -D old", False),
        ("git diff --output=patch.diff", False),
        ("git -c core.pager=x log", False),
        ("find . -delete", False),
        ("find . -exec rm {} +", False),
        ("sort -uo out in", False),
        ("rg --pre ./x foo", False),
        ("sudo ls", False),
        ("python script.py", False),
        ("sed -i s/a/b/ f", False),
    ],
)
def test_is_read_only(script: str, read_only: bool) -> None:
    commands = split_commands(script)
    assert commands is not None
    assert all(is_read_only(command) for command in commands) is read_only
