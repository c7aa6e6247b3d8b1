"""Loop detection: notice when an agent repeats itself, warn it once, then stop the run.

The runtime feeds the detector what happens in a run — each tool call, each tool result, each
assistant text — and acts on the :class:`LoopVerdict` it gets back: ``"ok"`` means carry on,
``"warn"`` means tell the model (``message`` is written for the model), ``"stop"`` means end
the run (``message`` is written for the user). Four kinds of loop are recognised:

``identical_call``
    the same tool with the same arguments (canonical JSON, sorted keys) several times in a row;
``oscillation``
    a cycle of two or three different calls repeated (A-B-A-B..., A-B-C-A-B-C...), counted in
    whole cycles;
``repeated_error``
    tool results that fail with the same error text (digits, hex ids, paths and whitespace
    normalised) several times in a row;
``similar_text``
    near-identical assistant texts in a row (texts shorter than ``min_text_chars`` are ignored).

Each kind warns once per streak, when the streak reaches its ``*_warn`` threshold, and stops
when it reaches its ``*_stop`` threshold. A streak ends when the pattern breaks: a different
call ends an identical-call streak, a call outside the cycle ends an oscillation, a successful
result ends an error streak, a dissimilar text ends a text streak. Two signs of progress end
more: a repeated call whose result *changed* (polling a process, re-running tests after an
edit) clears the call history, and a successful call not seen in the window ends a text streak
(an agent narrating "Let me look at the next file." while reading new files is not looping).

The detector is pure logic: no I/O, no clock, one instance per agent run.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["LoopDetector", "LoopDetectorConfig", "LoopVerdict"]

Action = Literal["ok", "warn", "stop"]

#: the longest cycle that counts as an oscillation (A-B-C-A-B-C)
MAX_PERIOD = 3
#: texts with at most this many words are compared word by word (difflib); longer ones by
#: the overlap of their word 3-shingles, which is linear and stays fast on 10 KB texts
_SHORT_TEXT_WORDS = 300
_SHINGLE = 3
#: how much of an error text is compared
_ERROR_CHARS = 2000
_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")


@dataclass(frozen=True, slots=True)
class LoopVerdict:
    """What the runtime should do after an observation. ``LoopVerdict()`` is "ok"."""

    action: Action = "ok"
    kind: str = ""
    message: str = ""


_OK = LoopVerdict()


@dataclass(frozen=True, slots=True)
class LoopDetectorConfig:
    """Thresholds of the loop detector. Counts are streak lengths; 0 disables that step.

    The defaults leave room for honest retries: an agent may re-run a call twice (say, after
    a transient failure) before the third identical call draws a warning, and is stopped only
    after ignoring that warning twice.
    """

    #: identical calls in a row (same tool, same arguments) before a warning / a stop
    identical_call_warn: int = 3
    identical_call_stop: int = 5
    #: whole cycles of a 2- or 3-call pattern (A-B-A-B-A-B is three cycles)
    oscillation_warn: int = 3
    oscillation_stop: int = 5
    #: tool results in a row failing with the same (normalised) error
    repeated_error_warn: int = 3
    repeated_error_stop: int = 5
    #: near-identical assistant texts in a row
    similar_text_warn: int = 3
    similar_text_stop: int = 5
    #: similarity (0-1) from which two texts count as the same: difflib's ratio over words
    #: for short texts, the Dice overlap of word 3-shingles for long ones
    text_similarity: float = 0.9
    #: assistant texts shorter than this (after stripping) are ignored
    min_text_chars: int = 40
    #: how many recent tool calls are remembered; must hold the longest streak that stops
    window: int = 30

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "text_similarity":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"loop detector: {f.name} must be a number")
                if not 0.0 < value <= 1.0:
                    raise ValueError(f"loop detector: {f.name} must be in (0, 1], got {value}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"loop detector: {f.name} must be a non-negative integer")
        for kind in ("identical_call", "oscillation", "repeated_error", "similar_text"):
            warn, stop = getattr(self, f"{kind}_warn"), getattr(self, f"{kind}_stop")
            if 0 < warn < 2 or 0 < stop < 2:
                raise ValueError(f"loop detector: {kind} thresholds must be 0 (off) or >= 2")
            if warn and stop and warn > stop:
                raise ValueError(
                    f"loop detector: {kind}_warn ({warn}) exceeds {kind}_stop ({stop})"
                )
        needed = max(self.identical_call_warn, self.identical_call_stop,
                     MAX_PERIOD * max(self.oscillation_warn, self.oscillation_stop))
        if self.window < needed:
            raise ValueError(f"loop detector: window ({self.window}) must be at least {needed} "
                             "to see the longest streak its thresholds ask for")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LoopDetectorConfig:
        """Build from profile or settings data; unknown keys raise ``ValueError``."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                names = ", ".join(known)
                raise ValueError(f"unknown loop detector setting {key!r} — known: {names}")
            values[key] = _coerce(key, value, float if key == "text_similarity" else int)
        return cls(**values)


def _coerce(key: str, value: Any, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"loop detector: {key} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"loop detector: {key} must be a number, got {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise ValueError(f"loop detector: {key} must be a whole number, got {value!r}")
    return number


_WARN = {
    "identical_call": (
        "You have called {name} with the same arguments {count} times in a row; the result "
        "will not change. Try a different approach or give your answer."
    ),
    "oscillation": (
        "You have repeated the same cycle of tool calls ({names}) {count} times; it is not "
        "making progress. Try a different approach or give your answer."
    ),
    "repeated_error": (
        "Your last {count} tool calls failed with the same error: {error}. Repeating them "
        "will not help; change the arguments, use another tool, or explain the problem."
    ),
    "similar_text": (
        "You have written nearly the same message {count} times in a row. Do not repeat "
        "yourself: take a different step or give your final answer."
    ),
}
_STOP = {
    "identical_call": "Stopped a loop: {name} was called with the same arguments {count} "
                      "times in a row.",
    "oscillation": "Stopped a loop: the agent repeated the same cycle of tool calls ({names}) "
                   "{count} times.",
    "repeated_error": "Stopped a loop: {count} tool calls in a row failed with the same "
                      "error: {error}.",
    "similar_text": "Stopped a loop: the agent wrote nearly the same message {count} times "
                    "in a row.",
}


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    digest: str


@dataclass(slots=True)
class _Text:
    words: list[str]
    shingles: frozenset[int] | None = None

    def shingle_set(self) -> frozenset[int]:
        if self.shingles is None:
            w = self.words
            self.shingles = frozenset(
                hash(tuple(w[i:i + _SHINGLE])) for i in range(max(1, len(w) - _SHINGLE + 1))
            )
        return self.shingles


class LoopDetector:
    """Watches one agent's run; see the module documentation for what counts as a loop."""

    def __init__(self, config: LoopDetectorConfig | None = None) -> None:
        self.config = config or LoopDetectorConfig()
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new run, or the user intervened)."""
        self._calls: deque[_Call] = deque(maxlen=self.config.window)
        self._pending: dict[str, deque[tuple[_Call, bool]]] = {}
        self._results: dict[_Call, int] = {}
        self._warned: set[str] = set()
        self._error_key: str | None = None
        self._error_text = ""
        self._error_count = 0
        self._text: _Text | None = None
        self._text_count = 0

    # -- observations -------------------------------------------------------------------

    def observe_tool_call(self, name: str, arguments: Mapping[str, Any]) -> LoopVerdict:
        """A tool call the model asked for, before it runs."""
        call = _Call(name, _digest(arguments))
        novel = call not in self._calls
        self._calls.append(call)
        # bounded: a call whose result never comes (blocked, cancelled) must not pile up
        pending = self._pending.setdefault(name, deque(maxlen=self.config.window))
        pending.append((call, novel))
        calls = list(self._calls)
        cfg = self.config
        identical = _trailing_identical(calls)
        first = self._judge("identical_call", identical, cfg.identical_call_warn,
                            cfg.identical_call_stop, name=name)
        period, cycles = _oscillation(calls)
        start = len(calls) - period * cycles
        names = ", ".join(c.name for c in calls[start:start + period])
        second = self._judge("oscillation", cycles, cfg.oscillation_warn,
                             cfg.oscillation_stop, names=names)
        return _worst(first, second)

    def observe_tool_result(self, name: str, content: str, is_error: bool) -> LoopVerdict:
        """The result of a call observed earlier (results may arrive in any order of names)."""
        call, novel = self._take_pending(name)
        changed = call is not None and self._record_result(call, content)
        if not is_error:
            self._error_key, self._error_count = None, 0
            self._warned.discard("repeated_error")
            if novel or changed:
                self._text_count = 0
            return _OK
        key = normalize_error(content)
        if key == self._error_key:
            self._error_count += 1
        else:
            self._error_key, self._error_count = key, 1
            self._error_text = _quote_error(content)
        cfg = self.config
        return self._judge("repeated_error", self._error_count, cfg.repeated_error_warn,
                           cfg.repeated_error_stop, error=self._error_text)

    def observe_assistant_text(self, text: str) -> LoopVerdict:
        """The text of an assistant message (the whole message, not a stream delta)."""
        cfg = self.config
        if len(text.strip()) < cfg.min_text_chars:
            return _OK
        current = _Text(text.lower().split())
        similar = self._text is not None and (
            _similarity(self._text, current, cfg.text_similarity) >= cfg.text_similarity
        )
        self._text_count = self._text_count + 1 if similar and self._text_count else 1
        self._text = current
        return self._judge("similar_text", self._text_count, cfg.similar_text_warn,
                           cfg.similar_text_stop)

    # -- helpers ------------------------------------------------------------------------

    def _judge(self, kind: str, count: int, warn: int, stop: int, **detail: str) -> LoopVerdict:
        if stop and count >= stop:
            return LoopVerdict("stop", kind, _STOP[kind].format(count=count, **detail))
        if warn and count >= warn:
            if kind in self._warned:
                return _OK
            self._warned.add(kind)
            return LoopVerdict("warn", kind, _WARN[kind].format(count=count, **detail))
        self._warned.discard(kind)
        return _OK

    def _take_pending(self, name: str) -> tuple[_Call | None, bool]:
        queue = self._pending.get(name)
        if not queue:
            return None, False
        call, novel = queue.popleft()
        if not queue:
            del self._pending[name]
        return call, novel

    def _record_result(self, call: _Call, content: str) -> bool:
        """Remember the result of ``call``; True when it differs from its previous one."""
        digest = hash(content.translate(_DIGITS_TO_ZERO))
        previous = self._results.get(call)
        self._results[call] = digest
        if len(self._results) > 4 * self.config.window:
            recent = set(self._calls)
            self._results = {c: d for c, d in self._results.items() if c in recent}
        if previous is None or previous == digest:
            return False
        # the same call gave a new answer: the world moved, so the calls so far are no loop
        self._calls.clear()
        self._calls.append(call)
        return True


def _digest(arguments: Mapping[str, Any]) -> str:
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _trailing_identical(calls: list[_Call]) -> int:
    count = 0
    for call in reversed(calls):
        if call != calls[-1]:
            break
        count += 1
    return count


def _oscillation(calls: list[_Call]) -> tuple[int, int]:
    """(period, whole cycles) of the longest periodic tail with a period of 2..MAX_PERIOD."""
    best = (0, 0)
    for period in range(2, MAX_PERIOD + 1):
        if len(calls) < 2 * period or len(set(calls[-period:])) == 1:
            continue
        run = 0
        for i in range(len(calls) - 1, period - 1, -1):
            if calls[i] != calls[i - period]:
                break
            run += 1
        cycles = (run + period) // period
        if cycles > best[1]:
            best = (period, cycles)
    return best if best[1] >= 2 else (0, 0)


def _worst(first: LoopVerdict, second: LoopVerdict) -> LoopVerdict:
    rank = {"ok": 0, "warn": 1, "stop": 2}
    return second if rank[second.action] > rank[first.action] else first


_PATH_RE = re.compile(r"(?:[A-Za-z]:\\|~?/|\.{1,2}/)[^\s'\"`,;()\[\]{}<>]*")
_HEX_RE = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{8,}\b")
_DIGITS_RE = re.compile(r"[0-9]+")
_SPACE_RE = re.compile(r"\s+")


def normalize_error(content: str) -> str:
    """Error text with paths, hex ids, digits and runs of whitespace made uniform."""
    text = _PATH_RE.sub("<path>", content[:_ERROR_CHARS])
    text = _DIGITS_RE.sub("0", _HEX_RE.sub("<hex>", text))
    return _SPACE_RE.sub(" ", text).strip()


def _quote_error(content: str) -> str:
    line = next((s.strip() for s in content.splitlines() if s.strip()), "")
    if len(line) > 200:
        line = line[:197] + "..."
    return f'"{line}"'


def _similarity(a: _Text, b: _Text, threshold: float = 0.0) -> float:
    """How alike two texts are (0-1). Returns early with a bound below ``threshold``."""
    n, m = len(a.words), len(b.words)
    if not n or not m:
        return 1.0 if n == m else 0.0
    if 2 * min(n, m) / (n + m) < threshold:
        return 0.0  # the lengths alone rule it out
    if max(n, m) <= _SHORT_TEXT_WORDS:
        matcher = difflib.SequenceMatcher(None, a.words, b.words, autojunk=False)
        if matcher.quick_ratio() < threshold:
            return 0.0
        return matcher.ratio()
    sa, sb = a.shingle_set(), b.shingle_set()
    return 2 * len(sa & sb) / (len(sa) + len(sb))
