"""Text from a model or a tool, made safe to print for a person.

A command or path may carry terminal control sequences: ``echo ok\\x1b[2K\\x1b[1Grm -rf ~``
shows as ``rm -rf ~`` overwritten by nothing — or, the other way round, hides the part a
person should see. :func:`visible` shows every control character (C0 except newline and
tab, DEL, C1 U+0080-U+009F) in caret notation (``^[``, ``^?``) or as ``\\u0085``, so what
is approved is what runs.
"""

from __future__ import annotations

import re

__all__ = ["visible"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\u{code:04x}"


def visible(text: str, *, newlines: bool = True) -> str:
    """``text`` with control characters shown escaped (``\\x1b`` -> ``^[``, ``\\r`` -> ``^M``);
    newlines and tabs stay unless ``newlines`` is False (then ``\\n`` -> ``^J``)."""
    shown = _CONTROL.sub(_show, text)
    return shown if newlines else shown.replace("\n", "^J")
