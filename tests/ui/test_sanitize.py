"""Control characters cannot hide part of a command from the person approving it, nor from
the tool-call lines on stderr."""

from __future__ import annotations

import io

from moco.core.permissions import ApprovalRequest
from moco.events import ToolCallFinished, ToolCallStarted
from moco.ui.approval import TerminalApprover
from moco.ui.console import ConsoleRenderer
from moco.ui.sanitize import visible

HIDING = "echo ok\x1b[2K\x1b[1Grm -rf ~"


def no_controls(text: str) -> bool:
    return not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)


def test_visible_escapes_c0_del_and_c1() -> None:
    assert visible("a\x1b[2Kb") == "a^[[2Kb"
    assert visible("x\ry\x00z\x7f") == "x^My^@z^?"
    assert visible("next\x85line\x9b31m") == "next\\u0085line\\u009b31m"
    assert visible("tab\tand\nnewline") == "tab\tand\nnewline"
    assert visible("a\nb", newlines=False) == "a^Jb"
    assert visible("naïve – ok ✓") == "naïve – ok ✓"


def test_the_approval_prompt_shows_the_hidden_part_of_a_command() -> None:
    request = ApprovalRequest(agent="coder", tool="execute_bash", arguments={"command": HIDING},
                              description=HIDING, rule="default: ask", kind="command",
                              always="this exact command", grants=(HIDING,))
    shown = TerminalApprover(stdin=io.StringIO(), err=io.StringIO(), color=False).render(request)
    assert "\x1b" not in shown and no_controls(shown)
    assert "echo ok^[[2K^[[1Grm -rf ~" in shown


def test_a_carriage_return_in_a_diff_or_path_does_not_rewind_the_line() -> None:
    request = ApprovalRequest(agent="", tool="write_file", arguments={},
                              description="+++ b/ok.txt\r+++ b/../../.bashrc\n+safe\x1b[8m",
                              rule="default: ask", kind="diff", always="", grants=())
    shown = TerminalApprover(stdin=io.StringIO(), err=io.StringIO(), color=True).render(request)
    assert "\r" not in shown and "^M+++ b/../../.bashrc" in shown and "^[[8m" in shown


def test_tool_call_lines_on_stderr_show_control_characters() -> None:
    err = io.StringIO()
    renderer = ConsoleRenderer(out=io.StringIO(), err=err)
    renderer.handle(ToolCallStarted(run_id="r", agent="a", call_id="1", name="execute_bash",
                                    arguments={"command": HIDING}))
    renderer.handle(ToolCallFinished(run_id="r", agent="a", call_id="1", name="read_file",
                                     result="Error: \x1b[31mno\x9b such file", is_error=True,
                                     duration_ms=1.0))
    text = err.getvalue()
    assert no_controls(text) and "^[[2K^[[1Grm -rf" in text and "\\u009b" in text
