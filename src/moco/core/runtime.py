"""AgentRuntime: one agent's loop — model, tools, model ... — as a stream of events.

The runtime knows nothing about profiles, files or front ends: it is given a system prompt,
a provider, tools and a tool context, and it appends to the message list it is handed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moco.core.context_compressor import CarryOver, ContextCompressor
from moco.core.loop_detector import LoopDetector, LoopVerdict
from moco.core.policy import ToolPolicy, check_all
from moco.errors import MocoError, ProviderError, ToolError
from moco.events import (
    AttemptDiscarded,
    ContextCompressed,
    Error,
    Event,
    MessageCompleted,
    RunFinished,
    RunIdentity,
    RunStarted,
    RunStatus,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageReported,
    Warning,
    new_run_id,
)
from moco.messages import Message, ToolCallPart, ToolResultPart
from moco.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    StreamRestart,
    TextChunk,
    ToolCallReady,
    ToolSchema,
    UsageChunk,
    assistant_message,
)
from moco.providers.registry import LLMProvider
from moco.tools.base import Tool, ToolRegistry
from moco.tools.context import ToolContext
from moco.tools.delegate import DELEGATE_TOOL

if TYPE_CHECKING:
    from moco.core.guardrails import GuardrailResult

__all__ = ["AgentRuntime", "LLMProvider", "RunOutcome"]


@dataclass(slots=True)
class RunOutcome:
    """What a finished run left behind (also carried by its ``RunFinished`` event)."""

    status: RunStatus = "completed"
    output: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    error: MocoError | None = None
    tool_calls: int = 0
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class _Turn:
    text: list[str] = field(default_factory=list)
    calls: list[ToolCallPart] = field(default_factory=list)
    finish: str = "stop"


class AgentRuntime:
    """Runs one agent until it gives a final answer or runs out of turns."""

    def __init__(
        self,
        *,
        name: str,
        provider: Provider,
        model: str,
        system_prompt: str,
        tools: ToolRegistry | Sequence[Tool] = (),
        context: ToolContext,
        max_turns: int = 50,
        temperature: float | None = None,
        max_tokens: int | None = None,
        path: str | None = None,
        policies: Sequence[ToolPolicy] = (),
        max_tool_calls_per_turn: int | None = None,
        mentions: Callable[[str], list[tuple[str, str]]] | None = None,
        compressor: ContextCompressor | None = None,
        carry: Callable[[], CarryOver] | None = None,
        loop_detector: LoopDetector | None = None,
        redact: Callable[[str], str] | None = None,
        check_output: Callable[[str], Awaitable[GuardrailResult]] | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        self.name = name
        self.path = path or name
        self._parent_run_id = parent_run_id
        self._started = False
        self.provider = provider
        self.model = model
        self.system_prompt = system_prompt
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.context = context
        self._set_identity(run_id or new_run_id())
        self.max_turns = max_turns
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.policies = list(policies)
        self.max_tool_calls_per_turn = max_tool_calls_per_turn
        self.mentions = mentions
        self.compressor = compressor
        self.carry = carry
        self.loop_detector = loop_detector
        self.redact = redact
        self.check_output = check_output
        self._loop_warnings: list[str] = []
        self._done = False
        #: what is sent to the model: the caller's history, or its compressed form
        self._sent: list[Message] = []
        self.outcome = RunOutcome()
        self._schemas = [ToolSchema(t.name, t.description, t.parameters) for t in self.tools]

    def _set_identity(self, run_id: str) -> None:
        self.identity = RunIdentity(run_id=run_id, agent_name=self.name, path=self.path,
                                    parent_run_id=self._parent_run_id,
                                    session_id=self.context.session_id)
        self._ids = self.identity.fields()
        self.context.run_id = run_id

    @property
    def run_id(self) -> str:
        return self.identity.run_id

    async def run(self, messages: list[Message], task: str = "") -> AsyncIterator[Event]:
        """Continue the conversation in ``messages`` (appending to it) and yield events.
        Each call is one agent run with its own ``run_id``."""
        if self._started:
            self._set_identity(new_run_id())
        self._started = True
        self.outcome = outcome = RunOutcome(messages=messages)
        self.prepare(messages)
        yield RunStarted(**self._ids, task=task, model=self.model,
                         provider=self.provider.name)
        for turn_number in range(1, self.max_turns + 1):
            outcome.turns = turn_number
            self._done = False
            async for event in self._one_turn(turn_number, messages):
                yield event
            if self._done:
                break
        else:
            outcome.status = "max_turns"
            outcome.output = _last_text(messages)
            message = (f"{self.path} stopped after {self.max_turns} turns without a final "
                       "answer — raise --max-turns or narrow the task")
            yield Error(**self._ids, message=message, kind="max_turns")
        yield RunFinished(
            **self._ids, status=outcome.status, output=outcome.output,
            input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens,
            turns=outcome.turns,
        )

    async def _one_turn(self, turn_number: int, messages: list[Message]) -> AsyncIterator[Event]:
        """One model call and what follows from it; sets ``_done`` when the run is over."""
        outcome, turn = self.outcome, _Turn()
        try:
            async for event in self.maybe_compress():
                yield event
            async for event in self._model_turn(turn):
                yield event
        except ProviderError as error:
            outcome.status, outcome.error, self._done = "error", error, True
            yield Error(**self._ids, message=str(error), kind="provider")
            return
        async for event in self._release_checked(turn):
            yield event
        assistant = assistant_message("".join(turn.text), turn.calls)
        self._append(messages, assistant)
        yield MessageCompleted(**self._ids, message=assistant)
        if turn.calls:
            async for event in self._tool_turn(assistant, messages):
                yield event
        else:
            async for event in self._answer_turn(assistant, turn, turn_number, messages):
                yield event

    async def _answer_turn(self, assistant: Message, turn: _Turn, turn_number: int,
                           messages: list[Message]) -> AsyncIterator[Event]:
        """A turn without tool calls: the final answer, unless it @mentions agents."""
        outcome = self.outcome
        outcome.output = assistant.text
        self._done = True
        if outcome.status == "blocked":
            return
        if turn.finish == "length":
            yield Warning(**self._ids,
                          message="the answer was cut off at the model's token limit")
        mentioned = self.mentions(assistant.text) if self.mentions else []
        if mentioned and turn_number < self.max_turns:
            self._done = False
            async for event in self._run_mentions(mentioned, turn_number, messages):
                yield event

    async def _tool_turn(self, assistant: Message,
                         messages: list[Message]) -> AsyncIterator[Event]:
        """Run the turn's tool calls, watched by the loop detector."""
        outcome = self.outcome
        stop = self._loop_before_tools(assistant)
        if stop:
            outcome.status, outcome.output, self._done = "stopped", assistant.text, True
            yield Error(**self._ids, message=stop, kind="loop")
            return
        results = Message("tool")
        async for event in self._run_tools(assistant.tool_calls, results):
            yield event
        verdict = self._loop_after_tools(results)
        self._append(messages, results)
        yield MessageCompleted(**self._ids, message=results)
        if verdict.action == "warn":
            yield Warning(**self._ids, message=verdict.message)
        elif verdict.action == "stop":
            outcome.status, outcome.output, self._done = "stopped", _last_text(messages), True
            yield Error(**self._ids, message=verdict.message, kind="loop")

    def request(self, messages: list[Message]) -> ModelRequest:
        return ModelRequest(
            model=self.model, messages=messages, system=self.system_prompt,
            tools=self._schemas, temperature=self.temperature, max_tokens=self.max_tokens,
        )

    def prepare(self, messages: list[Message]) -> None:
        """Start from ``messages`` as what the model sees (used before ``maybe_compress``)."""
        self._sent = list(messages)

    def _append(self, messages: list[Message], message: Message) -> None:
        messages.append(message)
        self._sent.append(message)

    async def maybe_compress(self, *, force: bool = False) -> AsyncIterator[Event]:
        """Summarize the oldest turns when the next request would pass the threshold."""
        compressor = self.compressor
        if compressor is None:
            return
        if not force and not compressor.needs_compression(self.system_prompt, self._sent,
                                                          self._schemas):
            return
        try:
            result = await compressor.compress(
                self.system_prompt, self._sent, tools=self._schemas,
                carry=self.carry() if self.carry else None, force=force)
        except ProviderError as error:
            yield Warning(**self._ids, message=f"context compression failed: {error}")
            return
        if not result.compressed:
            return
        kept = len(self._sent) - result.removed_messages
        header = tuple(result.messages[: len(result.messages) - kept])
        self._sent = list(result.messages)
        self.outcome.input_tokens += result.input_tokens
        self.outcome.output_tokens += result.output_tokens
        if result.input_tokens or result.output_tokens:
            yield UsageReported(**self._ids, input_tokens=result.input_tokens,
                                output_tokens=result.output_tokens, model=self.model)
        yield ContextCompressed(
            **self._ids, removed_messages=result.removed_messages, kept_messages=kept,
            tokens_before=result.tokens_before, tokens_after=result.tokens_after_estimate,
            summary=result.summary, header=header)

    async def _model_turn(self, turn: _Turn) -> AsyncIterator[Event]:
        sent = list(self._sent)
        turn_input = 0
        async for chunk in self.provider.stream(self.request(sent)):
            if isinstance(chunk, TextChunk):
                turn.text.append(chunk.text)
                if self.check_output is None:  # checked text is held until the turn ends
                    yield TextDelta(**self._ids, text=chunk.text)
            elif isinstance(chunk, ToolCallReady):
                turn.calls.append(chunk.call)
            elif isinstance(chunk, UsageChunk):
                turn_input = chunk.input_tokens
                self.outcome.input_tokens += chunk.input_tokens
                self.outcome.output_tokens += chunk.output_tokens
                yield UsageReported(**self._ids, input_tokens=chunk.input_tokens,
                                    output_tokens=chunk.output_tokens, model=self.model)
            elif isinstance(chunk, Finish):
                turn.finish = chunk.reason
            elif isinstance(chunk, StreamRestart):
                if turn.text and self.check_output is None:  # its text was shown: take it back
                    yield AttemptDiscarded(**self._ids, text="".join(turn.text),
                                           reason=chunk.reason)
                turn.text.clear()
                turn.calls.clear()
                turn_input = 0
                note = f"the connection failed mid-answer; retrying ({chunk.reason})"
                yield Warning(**self._ids, message=note)
        if self.compressor is not None and turn_input:
            self.compressor.record_usage(sent, turn_input)

    async def _run_tools(
        self, calls: list[ToolCallPart], results: Message
    ) -> AsyncIterator[Event]:
        """Run all calls of one turn concurrently; yield events as they happen — each call's
        finish, and whatever the tools emit meanwhile (a sub-agent's events)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.context.emit = queue.put_nowait
        limit = self.max_tool_calls_per_turn

        async def run_one(index: int, call: ToolCallPart) -> ToolResultPart:
            started = time.perf_counter()
            if limit is not None and index >= limit:
                content, is_error = (f"Error: not run — at most {limit} tool calls per turn "
                                     "are allowed; make fewer calls at once"), True
            else:
                content, is_error = await self.execute(call)
            elapsed = (time.perf_counter() - started) * 1000
            queue.put_nowait(ToolCallFinished(**self._ids, call_id=call.id, name=call.name,
                                              result=content, is_error=is_error,
                                              duration_ms=round(elapsed, 2)))
            return ToolResultPart(call.id, call.name, content, is_error)

        # the calls start before their events are handed out, so they run while a front end
        # is busy with the events (finish events are queued until every start was yielded)
        tasks = [asyncio.ensure_future(run_one(i, call)) for i, call in enumerate(calls)]
        gathered = asyncio.gather(*tasks)
        try:
            for call in calls:
                yield ToolCallStarted(**self._ids, call_id=call.id, name=call.name,
                                      arguments=call.arguments)
            finished = 0
            while finished < len(calls):
                event = await queue.get()
                finished += isinstance(event, ToolCallFinished) and event.run_id == self.run_id
                yield event
            while not queue.empty():
                yield queue.get_nowait()
            results.parts.extend(await gathered)
        finally:
            if not gathered.done():
                gathered.cancel()
                gathered.add_done_callback(_consume_outcome)
            self.context.emit = None
        self.outcome.tool_calls += len(calls)

    async def _run_mentions(
        self, mentioned: list[tuple[str, str]], turn_number: int, messages: list[Message]
    ) -> AsyncIterator[Event]:
        """``@agent`` lines run as ``delegate_to_agent`` calls, in parallel; their results come
        back to this agent as one message to synthesize."""
        calls = [
            ToolCallPart(f"mention_{turn_number}_{index}", DELEGATE_TOOL,
                         {"agent_name": name, "task": task})
            for index, (name, task) in enumerate(mentioned)
        ]
        results = Message("tool")
        async for event in self._run_tools(calls, results):
            yield event
        sections = [
            f"## @{call.arguments['agent_name']}" + (" (failed)" if result.is_error else "")
            + f"\n{result.content}"
            for call, result in zip(calls, results.tool_results, strict=True)
        ]
        report = Message.user("Results of the agents you mentioned:\n\n" + "\n\n".join(sections)
                              + "\n\nCombine them into your answer.")
        self._append(messages, report)
        yield MessageCompleted(**self._ids, message=report)

    async def _release_checked(self, turn: _Turn) -> AsyncIterator[Event]:
        """With output guardrails, a turn's text was held back while it streamed: check it
        now, then release what may be shown. A blocked text is replaced by a marker before
        anything sees it — no delta, no stored message, nothing sent back to the model; a
        blocked final answer ends the run ``blocked``. A modify rewrites the text."""
        if self.check_output is None or not turn.text:
            return
        from moco.core.guardrails import GuardrailAction

        text = "".join(turn.text)
        result = await self.check_output(text)
        if result.action is GuardrailAction.BLOCK:
            text = f"[answer blocked by guardrails: {result.message}]"
            if not turn.calls:
                self.outcome.status = "blocked"
            yield Error(**self._ids, message=f"answer blocked: {result.message}",
                        kind="guardrail")
        elif result.action is GuardrailAction.MODIFY and isinstance(result.modified, str):
            text = result.modified
            yield Warning(**self._ids, message=f"answer changed by guardrails: "
                                                   f"{result.message}")
        elif result.action is GuardrailAction.WARN:
            yield Warning(**self._ids, message=result.message)
        turn.text = [text]
        if result.action is not GuardrailAction.BLOCK:
            yield TextDelta(**self._ids, text=text)

    def _loop_before_tools(self, assistant: Message) -> str:
        """Feed the loop detector the turn's text and calls; a stop message when it says so.
        (Warnings are collected and reported with the results.)"""
        detector = self.loop_detector
        if detector is None:
            return ""
        self._loop_warnings = []
        verdicts = [detector.observe_assistant_text(assistant.text)] if assistant.text else []
        verdicts += [detector.observe_tool_call(c.name, c.arguments) for c in assistant.tool_calls]
        for verdict in verdicts:
            if verdict.action == "stop":
                return str(verdict.message)
            if verdict.action == "warn":
                self._loop_warnings.append(verdict.message)
        return ""

    def _loop_after_tools(self, results: Message) -> LoopVerdict:
        """Observe the results; a warning is appended to the last result so the model reads
        it; returns the strongest verdict."""
        detector = self.loop_detector
        if detector is None:
            return LoopVerdict()
        warnings = list(self._loop_warnings)
        for part in results.tool_results:
            verdict = detector.observe_tool_result(part.name, part.content, part.is_error)
            if verdict.action == "stop":
                return verdict
            if verdict.action == "warn":
                warnings.append(verdict.message)
        if not warnings or not results.parts:
            return LoopVerdict()
        last = results.parts[-1]
        assert isinstance(last, ToolResultPart)
        note = "\n\n[moco] " + " ".join(warnings)
        results.parts[-1] = ToolResultPart(last.tool_call_id, last.name, last.content + note,
                                           last.is_error)
        return LoopVerdict("warn", "loop", " ".join(warnings))

    async def execute(self, call: ToolCallPart) -> tuple[str, bool]:
        """Run one tool call; every failure becomes a result the model can recover from."""
        found = self.tools.get(call.name)
        if found is None:
            available = ", ".join(sorted(self.tools.names)) or "none"
            return f"Error: unknown tool '{call.name}'. Available tools: {available}", True
        if call.invalid_arguments is not None:
            return (f"Error: the arguments for {call.name} were not a valid JSON object "
                    f"({call.invalid_arguments[:200]!r}); send a JSON object matching the "
                    "tool's schema"), True
        arguments = call.arguments
        if self.policies:
            try:
                decision = await check_all(self.policies, call, found, self.context)
            except ToolError as error:
                return self._clean(f"Error: {error}"), True
            except Exception as error:  # a check that fails refuses the call (fails closed)
                return self._clean(f"Error: {call.name} was not run: checking it failed "
                                   f"({type(error).__name__}: {error})"), True
            if not decision.allowed:
                return f"Error: {decision.message}", True
            if decision.warning and self.context.emit is not None:
                self.context.emit(Warning(**self._ids, message=decision.warning))
            if decision.arguments is not None:
                arguments = decision.arguments
        try:
            output = await found.invoke(self.context, arguments)
        except ToolError as error:
            return self._clean(f"Error: {error}"), True
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a tool's bug must not end the run
            return self._clean(f"Error: {call.name} failed: {type(error).__name__}: {error}"), True
        return self._clean(self.context.truncate(output)), False

    def _clean(self, text: str) -> str:
        """Tool output as the model may see it: secrets redacted (when configured)."""
        return self.redact(text) if self.redact is not None else text


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Mark a cancelled batch's outcome as seen (no "exception was never retrieved")."""
    if not future.cancelled():
        future.exception()


def _last_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "assistant" and message.text:
            return message.text
    return ""
