"""TerminalApprover: what it prints and how it reads answers (stdin replaced by a stream)."""

from __future__ import annotations

import io

import pytest

from moco.core.permissions import Approval, ApprovalRequest
from moco.ui.approval import TerminalApprover, parse_answer

COMMAND = ApprovalRequest(
    agent="orchestrator > coder", tool="execute_bash", arguments={"command": "git push"},
    description="git add . && git push", rule="execute_bash: {'git push*': ask}, from x",
    kind="command", always="these exact commands: 'git add .', 'git push'",
    grants=("git add .", "git push"),
)
DIFF = ApprovalRequest(
    agent="orchestrator", tool="edit_file", arguments={"path": "a.py"},
    description="--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-a = 1\n+a = 2", rule="edit: ask",
    kind="diff", always="every edit_file call",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("y\n", Approval.once()),
        ("Yes", Approval.once()),
        ("a", Approval.always()),
        ("always\n", Approval.always()),
        ("n", Approval.deny()),
        ("", Approval.deny()),
        ("no, use the staging branch", Approval.deny("use the staging branch")),
        ("maybe", None),
    ],
)
def test_parse_answer(text: str, expected: Approval | None) -> None:
    assert parse_answer(text) == expected


async def test_prints_the_request_and_reads_the_answer() -> None:
    err = io.StringIO()
    approver = TerminalApprover(stdin=io.StringIO("what?\na\n"), err=err, color=False)
    assert await approver.approve(COMMAND) == Approval.always()
    shown = err.getvalue()
    assert "? orchestrator > coder wants to run execute_bash" in shown
    assert "  git add . && git push" in shown
    assert "asked by execute_bash: {'git push*': ask}, from x" in shown
    assert "[a]lways for this session (these exact commands: 'git add .', 'git push')" in shown
    assert "please answer y, a or n" in shown


async def test_end_of_input_denies() -> None:
    approver = TerminalApprover(stdin=io.StringIO(""), err=io.StringIO(), color=False)
    answer = await approver.approve(COMMAND)
    assert answer.choice == "deny"


async def test_diff_is_coloured_on_a_terminal() -> None:
    err = io.StringIO()
    approver = TerminalApprover(stdin=io.StringIO("n not now\n"), err=err, color=True)
    assert await approver.approve(DIFF) == Approval.deny("not now")
    shown = err.getvalue()
    assert "\x1b[31m-a = 1\x1b[0m" in shown and "\x1b[32m+a = 2\x1b[0m" in shown
    assert "--- a/a.py" in shown
