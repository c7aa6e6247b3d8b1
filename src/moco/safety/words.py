"""Shell words as the shell would see them: quote removal and best-effort expansion.

:func:`expand_word` turns the raw text of one word (``"$HOME"/x``, ``r""m``, ``$'\\x72m'``)
into a :class:`Word` whose ``value`` is what the shell would pass to the command. What cannot
be known before running (an unset variable, ``$(...)``, ``$1``) becomes the :data:`UNKNOWN`
marker, so a rule can tell "``$X/``" (may be ``/``) from "``build/``".

:func:`tokenize` is the conservative tokenizer used when bashlex cannot parse a command: it
splits on the control operators outside quotes and keeps every word's raw text.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

#: stands for text that cannot be known before the command runs
UNKNOWN = "\x00"

#: programs that fetch from the network
DOWNLOADERS = frozenset(
    {"curl", "wget", "fetch", "http", "https", "xh", "aria2c", "lwp-request", "GET"}
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_PARAMS = frozenset("0123456789@*#?$!-")


class ShellSyntaxError(ValueError):
    """The text is not a well-formed shell command (unbalanced quotes or brackets)."""


@dataclass(frozen=True, slots=True)
class Word:
    """One word after expansion.

    ``literal`` has quotes removed but expansions as written (``$HOME/x``): it is what deny and
    allow patterns match. ``value`` is the expansion, with :data:`UNKNOWN` where unknowable.
    ``substitutions`` are the bodies of ``$(...)``, backticks and ``<(...)`` in the word;
    ``tainted`` tells that some of the value comes from a download.
    """

    literal: str
    value: str
    substitutions: tuple[str, ...] = ()
    tainted: bool = False

    @property
    def unknown(self) -> bool:
        return UNKNOWN in self.value

    @classmethod
    def plain(cls, text: str) -> Word:
        return cls(text, text)


@dataclass(slots=True)
class Variables:
    """What the analysis knows of the shell's variables."""

    values: dict[str, str] = field(default_factory=dict)
    #: variables whose value came from a download (``x=$(curl ...)``)
    tainted: set[str] = field(default_factory=set)

    def copy(self) -> Variables:
        return Variables(dict(self.values), set(self.tainted))

    def assign(self, name: str, word: Word) -> None:
        self.values[name] = word.value
        if word.tainted:
            self.tainted.add(name)
        else:
            self.tainted.discard(name)

    def forget(self, name: str) -> None:
        self.values.pop(name, None)
        self.tainted.discard(name)


_DOWNLOAD_WORD = re.compile(
    r"(?:^|[\s;&|(`{/\"'])(?:" + "|".join(sorted(DOWNLOADERS)) + r")(?=[\s;&|)`\"']|$)"
)


def mentions_download(script: str) -> bool:
    """Whether a script (or text that becomes one) names a downloader as a word."""
    return _DOWNLOAD_WORD.search(script) is not None


def strip_quotes(raw: str) -> str:
    """Quote removal without expansion (what bashlex reports as a word)."""
    return expand_word(raw, Variables()).literal


# --------------------------------------------------------------------------- expansion


class _Expander:
    def __init__(self, raw: str, variables: Variables) -> None:
        self.raw = raw
        self.vars = variables
        self.literal: list[str] = []
        self.value: list[str] = []
        self.subs: list[str] = []
        self.tainted = False

    def add(self, literal: str, value: str | None = None) -> None:
        self.literal.append(literal)
        self.value.append(literal if value is None else value)

    def run(self) -> Word:
        raw, i = self.raw, 0
        if raw.startswith("~"):
            i = self._tilde()
        while i < len(raw):
            i = self._step(i, quoted=False)
        return Word("".join(self.literal), "".join(self.value), tuple(self.subs), self.tainted)

    def _tilde(self) -> int:
        end = self.raw.find("/")
        end = len(self.raw) if end < 0 else end
        user = self.raw[1:end]
        if user in ("", "+"):
            self.add(self.raw[:end], self.vars.values.get("PWD" if user else "HOME", UNKNOWN))
        elif user == "-":
            self.add("~-", UNKNOWN)
        elif user == "root":
            self.add(self.raw[:end], "/root")
        elif _NAME.fullmatch(user):
            self.add(self.raw[:end], f"/home/{user}")
        else:
            return 0
        return end

    def _step(self, i: int, *, quoted: bool) -> int:
        raw, char = self.raw, self.raw[i]
        if char == "\\":
            return self._backslash(i, quoted=quoted)
        if char == "'" and not quoted:
            end = _find(raw, "'", i + 1)
            self.add(raw[i + 1 : end])
            return end + 1
        if char == '"' and not quoted:
            return self._double(i + 1)
        if char == "$":
            return self._dollar(i, quoted=quoted)
        if char == "`":
            end = _skip_backticks(raw, i)
            self._substitution(raw[i + 1 : end - 1].replace("\\`", "`"), raw[i:end])
            return end
        if char in "<>" and raw[i + 1 : i + 2] == "(" and not quoted:
            end = skip_balanced(raw, i + 1)
            self._substitution(raw[i + 2 : end - 1], raw[i:end])
            return end
        self.add(char)
        return i + 1

    def _backslash(self, i: int, *, quoted: bool) -> int:
        nxt = self.raw[i + 1 : i + 2]
        if nxt == "\n":
            return i + 2
        if not nxt:
            self.add("\\")
            return i + 1
        if quoted and nxt not in '$`"\\':
            self.add("\\" + nxt)
        else:
            self.add(nxt)
        return i + 2

    def _double(self, i: int) -> int:
        raw = self.raw
        while i < len(raw) and raw[i] != '"':
            i = self._step(i, quoted=True)
        if i >= len(raw):
            raise ShellSyntaxError("unterminated double quote")
        return i + 1

    def _dollar(self, i: int, *, quoted: bool) -> int:
        raw = self.raw
        nxt = raw[i + 1 : i + 2]
        if nxt == "'" and not quoted:
            end = _find_ansi_end(raw, i + 2)
            self.add(_decode_ansi(raw[i + 2 : end]))
            return end + 1
        if nxt == '"' and not quoted:
            return self._double(i + 2)
        if nxt == "(":
            end = skip_balanced(raw, i + 1)
            inner = raw[i + 2 : end - 1]
            if inner.startswith("(") and inner.endswith(")"):
                self._arithmetic(inner[1:-1])
                self.add(raw[i:end], UNKNOWN)
            else:
                self._substitution(inner, raw[i:end])
            return end
        if nxt == "{":
            end = skip_balanced(raw, i + 1, "{", "}")
            self._parameter(raw[i + 2 : end - 1], raw[i:end])
            return end
        match = _NAME.match(raw, i + 1)
        if match:
            self._parameter(match.group(), raw[i : match.end()])
            return match.end()
        if nxt and nxt in _SPECIAL_PARAMS:
            self.add(raw[i : i + 2], UNKNOWN)
            return i + 2
        self.add("$")
        return i + 1

    def _arithmetic(self, body: str) -> None:
        """``$(( ... ))`` is a number, but substitutions inside it still run."""
        try:
            inner = expand_word(body, self.vars)
        except ShellSyntaxError:
            return
        self.subs.extend(inner.substitutions)
        self.tainted = self.tainted or inner.tainted

    def _parameter(self, body: str, literal: str) -> None:
        match = _NAME.match(body)
        if not match:
            self.add(literal, UNKNOWN)
            return
        name, rest = match.group(), body[match.end() :]
        known = self.vars.values.get(name)
        if name in self.vars.tainted:
            self.tainted = True
        if rest == "" or rest[:2] == ":?" or rest[:1] == "?":
            self.add(literal, UNKNOWN if known is None else known)
        elif rest[:2] in (":-", ":=") or rest[:1] in ("-", "="):
            default = rest[2:] if rest.startswith(":") else rest[1:]
            fallback = expand_word(default, self.vars).value if default else ""
            self.add(literal, fallback if known is None or known == "" else known)
        else:
            self.add(literal, UNKNOWN)

    def _substitution(self, body: str, literal: str) -> None:
        self.subs.append(body)
        if mentions_download(body):
            self.tainted = True
        self.add(literal, UNKNOWN)


def expand_word(raw: str, variables: Variables) -> Word:
    """Expand the raw text of one shell word. Raises :class:`ShellSyntaxError` when its
    quotes or brackets are unbalanced."""
    return _Expander(raw, variables).run()


def _find(text: str, char: str, start: int) -> int:
    end = text.find(char, start)
    if end < 0:
        raise ShellSyntaxError(f"unterminated {char}")
    return end


def _find_ansi_end(text: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            return i
        i += 1
    raise ShellSyntaxError("unterminated $'")


def _decode_ansi(body: str) -> str:
    body = body.replace("\\e", "\x1b").replace("\\E", "\x1b")
    try:
        return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return UNKNOWN


def _skip_backticks(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "`":
            return i + 1
        i += 1
    raise ShellSyntaxError("unterminated backtick")


def skip_balanced(text: str, start: int, open_: str = "(", close: str = ")") -> int:
    """Index just past the bracket that closes the one at ``start``, skipping quotes."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "'" and open_ == "(":
            i = _find(text, "'", i + 1) + 1
            continue
        if char == '"':
            i = _skip_double(text, i)
            continue
        if char == open_:
            depth += 1
        elif char == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ShellSyntaxError(f"unbalanced {open_}")


def _skip_double(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i + 1
        if char == "$" and text[i + 1 : i + 2] == "(":
            i = skip_balanced(text, i + 1)
            continue
        if char == "`":
            i = _skip_backticks(text, i)
            continue
        i += 1
    raise ShellSyntaxError("unterminated double quote")


# --------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "word" or "op"
    text: str
    #: the body of a here-document, on the delimiter word that follows ``<<``
    heredoc: str | None = None


_OPERATORS = (
    "&>>", "<<<", "<<-", ";;&", ";;", ";&", "&&", "||", "|&", "&>", "<<", "<>", "<&",
    ">>", ">&", ">|", ";", "&", "|", "(", ")", "<", ">", "\n",
)  # fmt: skip


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []
        self.word: list[str] = []
        self.pending: list[tuple[int, str, bool]] = []  # token index, delimiter, strip tabs
        self.expect_delimiter: bool | None = None

    def run(self) -> list[Token]:
        text, i = self.text, 0
        while i < len(text):
            i = self._step(i)
        self._end_word()
        return self.tokens

    def _step(self, i: int) -> int:
        text, char = self.text, self.text[i]
        if char in " \t":
            self._end_word()
            return i + 1
        if char == "#" and not self.word:
            end = text.find("\n", i)
            return len(text) if end < 0 else end
        if char in "\\'\"`$" or (char in "<>" and text[i + 1 : i + 2] == "("):
            end = _word_piece_end(text, i)
            self.word.append(text[i:end])
            return end
        for op in _OPERATORS:
            if text.startswith(op, i):
                return self._operator(op, i)
        self.word.append(char)
        return i + 1

    def _operator(self, op: str, i: int) -> int:
        end = i + len(op)
        prefix = "".join(self.word)
        if op[0] in "<>" and prefix.isdigit():
            self.word.clear()
        else:
            prefix = ""
        self._end_word()
        self.tokens.append(Token("op", prefix + op))
        if op in ("<<", "<<-"):
            self.expect_delimiter = op == "<<-"
        if op == "\n":
            return self._read_heredocs(end)
        return end

    def _end_word(self) -> None:
        if not self.word:
            return
        self.tokens.append(Token("word", "".join(self.word)))
        self.word.clear()
        if self.expect_delimiter is not None:
            delimiter = strip_quotes(self.tokens[-1].text)
            self.pending.append((len(self.tokens) - 1, delimiter, self.expect_delimiter))
            self.expect_delimiter = None

    def _read_heredocs(self, i: int) -> int:
        for index, delimiter, strip_tabs in self.pending:
            lines: list[str] = []
            while i < len(self.text):
                end = self.text.find("\n", i)
                end = len(self.text) if end < 0 else end
                line = self.text[i:end]
                i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
                lines.append(line)
            token = self.tokens[index]
            self.tokens[index] = Token(token.kind, token.text, "\n".join(lines))
        self.pending.clear()
        return i


def _word_piece_end(text: str, i: int) -> int:
    char = text[i]
    if char == "\\":
        return min(i + 2, len(text))
    if char == "'":
        return _find(text, "'", i + 1) + 1
    if char == '"':
        return _skip_double(text, i)
    if char == "`":
        return _skip_backticks(text, i)
    if char in "<>":
        return skip_balanced(text, i + 1)
    nxt = text[i + 1 : i + 2]
    if nxt == "'":
        return _find_ansi_end(text, i + 2) + 1
    if nxt == "(":
        return skip_balanced(text, i + 1)
    if nxt == "{":
        return skip_balanced(text, i + 1, "{", "}")
    return i + 1


def tokenize(text: str) -> list[Token]:
    """Split a script into words and operators, outside quotes. Raises
    :class:`ShellSyntaxError` on unbalanced quotes or brackets."""
    return _Tokenizer(text).run()


_BRACE = re.compile(r"(?<![$\\])\{([^{}\s'\"]*,[^{}\s'\"]*)\}")


def expand_braces(raw: str, limit: int = 64) -> list[str]:
    """Brace expansion of a raw word: ``/{etc,usr}`` -> ``/etc``, ``/usr``."""
    match = _BRACE.search(raw)
    if match is None or _quoted_at(raw, match.start()):
        return [raw]
    head, tail = raw[: match.start()], raw[match.end() :]
    results: list[str] = []
    for alternative in match.group(1).split(","):
        results.extend(expand_braces(head + alternative + tail, limit))
        if len(results) >= limit:
            break
    return results[:limit]


def _quoted_at(raw: str, position: int) -> bool:
    quote: str | None = None
    index = 0
    while index < position:
        char = raw[index]
        if char == "\\" and quote != "'":
            index += 2
            continue
        if quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        index += 1
    return quote is not None


def is_assignment(raw: str) -> bool:
    """Whether a raw word is a variable assignment (``NAME=value``, ``NAME+=value``)."""
    match = _NAME.match(raw)
    return match is not None and raw[match.end() :].startswith(("=", "+="))


def split_assignment(raw: str) -> tuple[str, str]:
    name, _, value = raw.partition("=")
    return name.rstrip("+"), value
