"""Context compression: summarize the older part of a conversation before it outgrows the window.

Three pieces:

- :class:`TokenCounter` — how big the next prompt is. The provider's *reported* input tokens
  of the last request are exact for everything that request sent; only the messages added
  since are estimated (a character-class heuristic: no tokenizer, no network).
- :func:`split_point` — where to cut the history: always before a user or assistant message,
  never between an assistant's tool calls and their results, preferring whole user turns.
- :class:`ContextCompressor` — when the prompt crosses ``threshold`` x the model's window,
  asks the model (one dedicated summary request; chunked map-reduce when the old part is too
  big for one) to summarize the old part, and returns
  ``[summary, carried-over block, *recent tail verbatim]``.

The compressor never touches the list it is given: the caller keeps the full history (on disk
and in memory) and sends the returned list instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from moco.core.context_windows import ContextWindows
from moco.errors import ProviderError
from moco.messages import DocumentPart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from moco.providers.base import ModelRequest, Provider, ToolSchema

__all__ = [
    "CARRY_HEADER",
    "SUMMARY_HEADER",
    "CarryOver",
    "CompressionResult",
    "ContextCompressor",
    "TokenCounter",
    "cut_points",
    "estimate_message",
    "estimate_prompt",
    "estimate_text",
    "is_compression_message",
    "split_point",
]

SUMMARY_HEADER = "Summary of the earlier conversation:"
CARRY_HEADER = "Carried over from the earlier conversation (still in force):"
LATEST_HEADER = "## The user's latest instructions (verbatim)"

#: flat cost of one image: providers charge ~85-1,600 tokens depending on size and detail
IMAGE_TOKENS = 1_200
#: per-message framing (role markers, separators) most chat templates add
MESSAGE_OVERHEAD = 4

_SYMBOLS = "{}[]()<>\"'`:;,.=+-*/\\|&!?#$%^~@_"
_DIGITS = "0123456789"


# -- token estimates ------------------------------------------------------------------------
def estimate_text(text: str) -> int:
    """Estimate the tokens of ``text`` from its character classes.

    BPE tokenizers give ordinary words about 4 characters a token (with the leading space),
    split numbers into groups of up to 3 digits, and spend about a token on every 1-2
    punctuation characters — which is what makes JSON and code denser than prose. Non-ASCII
    text costs a token per 3 UTF-8 bytes: one per CJK character, two per three Cyrillic or
    Greek letters. The result errs high, which only makes compression start a little early.
    """
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    other_bytes = len(text.encode("utf-8", "ignore")) - ascii_chars
    symbols = sum(text.count(c) for c in _SYMBOLS)
    digits = sum(text.count(c) for c in _DIGITS)
    plain = max(ascii_chars - symbols - digits, 0)
    return math.ceil(plain / 4 + digits / 3 + symbols / 2 + other_bytes / 3)


def _estimate_part(part: object) -> int:
    if isinstance(part, TextPart):
        return estimate_text(part.text)
    if isinstance(part, ToolCallPart):
        arguments = part.invalid_arguments or json.dumps(part.arguments, ensure_ascii=False)
        return 6 + estimate_text(part.id) + estimate_text(part.name) + estimate_text(arguments)
    if isinstance(part, ToolResultPart):
        return 6 + estimate_text(part.tool_call_id) + estimate_text(part.content)
    if isinstance(part, ImagePart):
        return IMAGE_TOKENS
    if isinstance(part, DocumentPart):
        return estimate_text(part.text) + IMAGE_TOKENS
    return 0


def estimate_message(message: Message) -> int:
    """Estimated tokens of one message as a provider would send it."""
    return MESSAGE_OVERHEAD + sum(_estimate_part(p) for p in message.parts)


def estimate_tools(tools: Sequence[ToolSchema]) -> int:
    total = 0
    for schema in tools:
        body = json.dumps(schema.parameters, ensure_ascii=False, sort_keys=True)
        total += 8 + estimate_text(schema.name) + estimate_text(schema.description)
        total += estimate_text(body)
    return total


def estimate_prompt(system: str, messages: Sequence[Message],
                    tools: Sequence[ToolSchema] = ()) -> int:
    """A whole request estimated from scratch (no reported usage)."""
    head = estimate_text(system) + MESSAGE_OVERHEAD if system else 0
    return head + estimate_tools(tools) + sum(estimate_message(m) for m in messages)


class TokenCounter:
    """Prompt size from the provider's reported usage plus an estimate of what is new.

    After a request that sent the system prompt, the tools and ``messages[:n]``, call
    ``record_usage(n, input_tokens)`` with the input tokens the provider reported for it (the
    usage of a request covers the whole prompt it sent). ``estimate(system, messages, tools)``
    then returns ``input_tokens + estimate(messages[n:])``: exact for the part the provider
    counted, estimated only for the messages added since.

    The reported figure is used only while it still describes a prefix of ``messages``: when
    the list is shorter than ``n`` or (if an ``anchor`` message was recorded) its message
    ``n - 1`` is no longer that object, the whole prompt is estimated instead. The system
    prompt and tools are assumed unchanged since the recorded request; call :meth:`reset`
    when they change (and after replacing the history, which :class:`ContextCompressor` does).
    """

    def __init__(self) -> None:
        self._count = 0
        self._tokens: int | None = None
        self._anchor: Message | None = None

    @property
    def reported(self) -> tuple[int, int] | None:
        """``(message_count, input_tokens)`` of the recorded request, if any."""
        return None if self._tokens is None else (self._count, self._tokens)

    def record_usage(self, message_count: int, input_tokens: int, *,
                     anchor: Message | None = None) -> None:
        """Remember that a prompt with ``message_count`` messages measured ``input_tokens``.

        A report of zero tokens (a provider that sent no usage) is ignored.
        """
        if input_tokens <= 0 or message_count < 0:
            return
        self._count, self._tokens, self._anchor = message_count, input_tokens, anchor

    def reset(self) -> None:
        self._count, self._tokens, self._anchor = 0, None, None

    def _covers(self, messages: Sequence[Message]) -> bool:
        if self._tokens is None or self._count > len(messages):
            return False
        if self._anchor is not None and self._count > 0:
            return messages[self._count - 1] is self._anchor
        return True

    def estimate(self, system: str, messages: Sequence[Message],
                 tools: Sequence[ToolSchema] = ()) -> int:
        """Tokens of a request sending ``system``, ``messages`` and ``tools``."""
        if self._tokens is not None and self._covers(messages):
            return self._tokens + sum(estimate_message(m) for m in messages[self._count:])
        return estimate_prompt(system, messages, tools)


# -- where to cut ---------------------------------------------------------------------------
def is_compression_message(message: Message) -> bool:
    """A summary or carried-over block an earlier compression produced."""
    if message.role != "user":
        return False
    text = message.text
    return text.startswith(SUMMARY_HEADER) or text.startswith(CARRY_HEADER)


def _call_spans(messages: Sequence[Message]) -> list[int]:
    """``covered[i] > 0`` when a tool call made before ``i`` is answered at or after ``i``.

    A result answers the latest earlier call with its id (servers that send no ids get
    ``call_0``, ``call_1`` ... again in every turn)."""
    called: dict[str, int] = {}
    delta = [0] * (len(messages) + 1)
    for index, message in enumerate(messages):
        for call in message.tool_calls:
            called[call.id] = index
        for result in message.tool_results:
            start = called.get(result.tool_call_id)
            if start is not None and start < index:
                delta[start + 1] += 1
                delta[index + 1] -= 1
    covered, running = [], 0
    for value in delta[:-1]:
        running += value
        covered.append(running)
    return covered


def cut_points(messages: Sequence[Message]) -> list[int]:
    """Indices ``i`` (``0 < i < len``) where ``messages[i:]`` may start a verbatim tail.

    The tail must not start with a tool message, must not start inside a span between a tool
    call and its result, and must not start with a block an earlier compression carried over
    (it belongs with its summary).
    """
    covered = _call_spans(messages)
    return [
        i for i in range(1, len(messages))
        if messages[i].role != "tool" and not covered[i]
        and not (messages[i].text.startswith(CARRY_HEADER) and messages[i].role == "user")
    ]


def split_point(messages: Sequence[Message], *, keep_recent_turns: int, tail_tokens: int) -> int:
    """Index where the verbatim tail starts; 0 when the history cannot be split.

    Candidates, earliest first: the starts of the last ``keep_recent_turns`` user turns, then
    every cut point inside the last turn (a long agent run may be one turn). The tail is the
    earliest candidate whose messages fit ``tail_tokens``; when none does, the latest one
    (the smallest tail that keeps every tool call with its results).
    """
    cuts = cut_points(messages)
    if not cuts:
        return 0
    turns = [i for i in cuts
             if messages[i].role == "user" and not is_compression_message(messages[i])]
    last_turn = turns[-1] if turns else 0
    candidates = turns[-keep_recent_turns:] if keep_recent_turns > 0 else []
    candidates += [i for i in cuts if i > last_turn]
    if not candidates:  # no turns kept and the history ends with the user's message
        candidates = [last_turn]
    suffix = [0] * (len(messages) + 1)
    for i in range(len(messages) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + estimate_message(messages[i])
    for start in candidates:
        if suffix[start] <= tail_tokens:
            return start
    return candidates[-1]


# -- what the summarizer reads ----------------------------------------------------------------
SUMMARY_SYSTEM = """\
You compress the earlier part of a working session between a user and an AI agent that uses \
tools, so that the agent can continue the work without the original messages.

Write a concise, technical summary of the conversation you are given, in the language of the \
conversation, with these sections:
## Goals — what the user wants overall, and constraints they set
## Decisions and facts — what was decided or learned, and why
## Files touched — paths, and what was read, created or changed in each
## Commands run — commands and tool calls that mattered, with their results or errors
## Open problems — what failed, what is unfinished, the next steps that were planned
## Latest user request — what the user asked most recently, as precisely as possible

Rules: keep exact identifiers (paths, function names, commands, error messages, URLs, numbers, \
ids); drop chit-chat and details that later messages superseded; never invent anything; write \
"none" under a section with nothing to say. Use at most about {words} words. Answer with the \
summary only."""

_WHOLE = "Summarize this conversation.\n\n<conversation>\n{body}\n</conversation>"
_PART = ("Summarize part {index} of {count} of one conversation (the parts are in "
         "chronological order).\n\n<conversation-part>\n{body}\n</conversation-part>")
_MERGE = ("Merge these summaries of consecutive parts of one conversation, oldest first, "
          "into one summary with the same sections. Where they disagree, the later part is "
          "right.\n\n{body}")


def truncate_middle(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and its tail."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[len(text) - tail:]}"


def render_message(message: Message, *, tool_chars: int, text_chars: int) -> str:
    """One message as plain text for the summary request, long contents shortened."""
    lines = [f"[{message.role}]"]
    for part in message.parts:
        if isinstance(part, TextPart):
            lines.append(truncate_middle(part.text, text_chars))
        elif isinstance(part, ImagePart):
            lines.append("[an image]")
        elif isinstance(part, DocumentPart):
            lines.append(truncate_middle(part.as_text(), text_chars))
        elif isinstance(part, ToolCallPart):
            arguments = part.invalid_arguments or json.dumps(part.arguments, ensure_ascii=False)
            lines.append(f"-> tool call {part.name} (id {part.id}): "
                         f"{truncate_middle(arguments, tool_chars)}")
        elif isinstance(part, ToolResultPart):
            status = " ERROR" if part.is_error else ""
            lines.append(f"<- result of {part.name} (id {part.tool_call_id}){status}: "
                         f"{truncate_middle(part.content, tool_chars)}")
    return "\n".join(lines)


def pack(entries: Sequence[str], budget: int, *, min_group: int = 1) -> list[list[str]]:
    """Group consecutive entries into chunks of at most ``budget`` estimated tokens.

    An entry bigger than the budget on its own is shortened to fit. A chunk holds at least
    ``min_group`` entries even if that exceeds the budget (so that merging always progresses).
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for entry in entries:
        size = estimate_text(entry)
        if size > budget:
            entry = truncate_middle(entry, budget * 2)
            size = estimate_text(entry)
        if current and used + size > budget and len(current) >= min_group:
            chunks.append(current)
            current, used = [], 0
        current.append(entry)
        used += size
    if current:
        chunks.append(current)
    return chunks


# -- the compressor ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CarryOver:
    """What must survive a compression word for word.

    ``latest_user_instructions=None`` lets the compressor carry the most recent user message
    itself when that message is among those summarized.
    """

    todos: str | None = None
    skills: list[str] = field(default_factory=list)
    latest_user_instructions: str | None = None


@dataclass(slots=True)
class CompressionResult:
    """What to send next. When ``compressed``, ``messages`` is ``[summary, carried-over block
    (when there is anything to carry), *tail]`` where ``tail`` is the input's
    ``[removed_messages:]``, the same message objects; otherwise a copy of the input."""

    messages: list[Message]
    compressed: bool
    summary: str = ""
    removed_messages: int = 0
    tokens_before: int = 0
    tokens_after_estimate: int = 0
    #: summary requests made, and the tokens they used (for usage accounting)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def carry_over_text(carry: CarryOver) -> str:
    """The carried-over block, or ``""`` when there is nothing to carry."""
    sections: list[str] = []
    if carry.todos and carry.todos.strip():
        sections.append(f"## Todo list\n{carry.todos.strip()}")
    if carry.skills:
        names = "\n".join(f"- {name}" for name in carry.skills)
        sections.append(f"## Loaded skills (their instructions still apply)\n{names}")
    if carry.latest_user_instructions and carry.latest_user_instructions.strip():
        sections.append(f"{LATEST_HEADER}\n{carry.latest_user_instructions}")
    if not sections:
        return ""
    return CARRY_HEADER + "\n\n" + "\n\n".join(sections)


def _latest_user_text(messages: Sequence[Message]) -> str | None:
    """The user's most recent instruction: the last user message, or, when an earlier
    compression already summarized it, the verbatim copy its carried-over block holds (so a
    second and third compression in one turn carry it on word for word)."""
    for message in reversed(messages):
        if message.role != "user" or not message.text:
            continue
        if not is_compression_message(message):
            return message.text
        carried = _carried_instruction(message.text)
        if carried is not None:
            return carried
    return None


def _carried_instruction(text: str) -> str | None:
    """The latest-instructions section of a carried-over block (always its last section)."""
    if not text.startswith(CARRY_HEADER):
        return None
    marker = f"\n\n{LATEST_HEADER}\n"
    _head, found, instruction = text.partition(marker)
    return instruction if found and instruction.strip() else None


def default_summary_tokens(window: int) -> int:
    """A tenth of the window, between 200 and 4,096 tokens."""
    return min(4_096, max(200, window // 10))


class ContextCompressor:
    """Keeps one agent's prompt under ``threshold`` x the model's context window.

    ``window`` defaults to the table in :mod:`moco.core.context_windows` (``context_windows``
    adds or overrides entries). ``keep_recent_turns`` caps how many user turns stay verbatim;
    ``tail_tokens`` caps their size (default: half the threshold budget, minus the system
    prompt, tools and summary). Tool outputs and tool-call arguments are shortened to
    ``tool_output_chars`` (other texts to ``text_chars``) in what the summarizer reads.
    """

    def __init__(
        self,
        provider: Provider,
        model: str,
        *,
        window: int | None = None,
        threshold: float = 0.75,
        keep_recent_turns: int = 4,
        tail_tokens: int | None = None,
        summary_max_tokens: int | None = None,
        tool_output_chars: int = 2_000,
        text_chars: int = 8_000,
        context_windows: Mapping[str, object] | None = None,
        summary_model: str | None = None,
        counter: TokenCounter | None = None,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}")
        if keep_recent_turns < 0:
            raise ValueError("keep_recent_turns must not be negative")
        self.provider = provider
        self.model = model
        self.summary_model = summary_model or model
        self.window = window or ContextWindows(context_windows).lookup(model)
        self.threshold = threshold
        self.limit = int(self.window * threshold)
        self.keep_recent_turns = keep_recent_turns
        self.tail_tokens = tail_tokens
        self.summary_max_tokens = summary_max_tokens or default_summary_tokens(self.window)
        self.tool_output_chars = tool_output_chars
        self.text_chars = text_chars
        self.counter = counter or TokenCounter()

    # -- measuring --------------------------------------------------------------------------
    def record_usage(self, sent: Sequence[Message], input_tokens: int) -> None:
        """The provider reported ``input_tokens`` for a request that sent ``sent``."""
        anchor = sent[-1] if sent else None
        self.counter.record_usage(len(sent), input_tokens, anchor=anchor)

    def estimate(self, system: str, messages: Sequence[Message],
                 tools: Sequence[ToolSchema] = ()) -> int:
        return self.counter.estimate(system, messages, tools)

    def needs_compression(self, system: str, messages: Sequence[Message],
                          tools: Sequence[ToolSchema] = ()) -> bool:
        """Whether the next request would reach ``threshold`` x the window."""
        return self.estimate(system, messages, tools) >= self.limit

    def _tail_budget(self, system: str, tools: Sequence[ToolSchema], carry_text: str) -> int:
        if self.tail_tokens is not None:
            return self.tail_tokens
        fixed = estimate_prompt(system, [], tools) + self.summary_max_tokens
        fixed += estimate_text(carry_text) + 2 * MESSAGE_OVERHEAD
        return max(self.limit // 2 - fixed, 0)

    def chunk_budget(self) -> int:
        """Transcript tokens one summary request may carry."""
        prompt = estimate_text(SUMMARY_SYSTEM) + 100
        return max(int(self.window * 0.7) - self.summary_max_tokens - prompt, 256)

    # -- compressing ------------------------------------------------------------------------
    async def compress(
        self,
        system: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        carry: CarryOver | None = None,
        force: bool = False,
    ) -> CompressionResult:
        """Summarize the older messages when the prompt is too big (or ``force``).

        Returns ``[summary, carried-over block, *tail]`` with ``compressed=True``, or the
        messages unchanged (a new list) when below the threshold or too short to split.
        Raises :class:`ProviderError` when a summary request fails; ``messages`` is never
        modified.
        """
        history = list(messages)
        before = self.estimate(system, history, tools)
        unchanged = CompressionResult(history, False, tokens_before=before,
                                      tokens_after_estimate=before)
        if not force and before < self.limit:
            return unchanged
        carry = carry or CarryOver()
        budget = self._tail_budget(system, tools, carry_over_text(carry))
        start = split_point(history, keep_recent_turns=self.keep_recent_turns,
                            tail_tokens=budget)
        old, tail = history[:start], history[start:]
        if sum(1 for m in old if not is_compression_message(m)) < 2:
            return unchanged
        if carry.latest_user_instructions is None and _latest_user_text(tail) is None:
            latest = _latest_user_text(old)
            carry = CarryOver(carry.todos, list(carry.skills), latest)
        run = _SummaryRun(self)
        summary = await run.summarize(old)
        compressed = [Message.user(f"{SUMMARY_HEADER}\n{summary}")]
        block = carry_over_text(carry)
        if block:
            compressed.append(Message.user(block))
        compressed.extend(tail)
        self.counter.reset()
        return CompressionResult(
            compressed, True, summary=summary, removed_messages=len(old),
            tokens_before=before,
            tokens_after_estimate=self.estimate(system, compressed, tools),
            requests=run.requests, input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
        )


class _SummaryRun:
    """The summary requests of one compression (one, or map-reduce over chunks)."""

    def __init__(self, owner: ContextCompressor) -> None:
        self.owner = owner
        self.requests = 0
        self.input_tokens = 0
        self.output_tokens = 0

    async def summarize(self, old: Sequence[Message]) -> str:
        owner = self.owner
        entries = [render_message(m, tool_chars=owner.tool_output_chars,
                                  text_chars=0 if is_compression_message(m) else owner.text_chars)
                   for m in old]
        budget = owner.chunk_budget()
        chunks = pack(entries, budget)
        if len(chunks) == 1:
            return await self.ask(_WHOLE.format(body="\n\n".join(chunks[0])))
        partials = []
        for index, chunk in enumerate(chunks, 1):
            prompt = _PART.format(index=index, count=len(chunks), body="\n\n".join(chunk))
            partials.append(await self.ask(prompt))
        return await self.merge(partials, budget)

    async def merge(self, partials: list[str], budget: int) -> str:
        while True:
            groups = pack(partials, budget, min_group=2)
            if len(groups) == 1:
                return await self.ask(_MERGE.format(body=_numbered(groups[0])))
            partials = [await self.ask(_MERGE.format(body=_numbered(g))) if len(g) > 1 else g[0]
                        for g in groups]

    async def ask(self, prompt: str) -> str:
        owner = self.owner
        words = max(int(owner.summary_max_tokens * 0.6), 50)
        request = ModelRequest(model=owner.summary_model, messages=[Message.user(prompt)],
                               system=SUMMARY_SYSTEM.format(words=words))
        response = await owner.provider.complete(request)
        self.requests += 1
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens
        text = response.message.text.strip()
        if not text:
            name = owner.provider.name or "the provider"
            raise ProviderError(
                f"{name} returned an empty summary (finish reason: {response.finish_reason}) "
                "— the conversation was not compressed", provider=owner.provider.name)
        return text


def _numbered(summaries: Sequence[str]) -> str:
    return "\n\n".join(f"<summary part=\"{i}\">\n{s}\n</summary>"
                       for i, s in enumerate(summaries, 1))
