"""Context compression against the scripted OpenAI server, through the real OpenAI SDK."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from moco.core.context_compressor import (
    CARRY_HEADER,
    SUMMARY_HEADER,
    CarryOver,
    ContextCompressor,
    TokenCounter,
    cut_points,
    estimate_message,
    estimate_prompt,
    estimate_text,
    split_point,
)
from moco.core.context_windows import DEFAULT_CONTEXT_WINDOW, ContextWindows, context_window
from moco.core.messages import ImagePart, Message, Part, TextPart, ToolCallPart, ToolResultPart
from moco.errors import ConfigError, ProviderError
from moco.providers.base import ModelRequest, RetryPolicy, ToolSchema
from moco.providers.openai_compat import OpenAICompatProvider
from moco.testing import RecordedRequest, Reply, ScriptedOpenAIServer

SYSTEM = "You are a careful coding agent."
TOOLS = [ToolSchema("read_file", "Read a file.",
                    {"type": "object", "properties": {"path": {"type": "string"}}})]
LATEST = "Now refactor src/file_5.py to use pathlib and run the tests."
CARRY = CarryOver(todos="- [x] read the files\n- [ ] refactor file_5.py",
                  skills=["python-refactoring", "pytest-runner"],
                  latest_user_instructions=LATEST)
SUMMARY = ("## Goals\nReview src/file_0..4.py.\n## Files touched\nsrc/file_0.py ... src/file_4.py "
           "(read only).\n## Open problems\nnone\n## Latest user request\nrefactor file_5.py")


def provider(server: ScriptedOpenAIServer) -> OpenAICompatProvider:
    return OpenAICompatProvider(api_key="k", base_url=server.base_url,
                                retry=RetryPolicy(max_retries=0, base_delay=0.001))


def assistant_calls(*calls: ToolCallPart, text: str = "") -> Message:
    parts: list[TextPart | ToolCallPart] = [TextPart(text)] if text else []
    return Message("assistant", [*parts, *calls])


def tool_turn(i: int, output_chars: int = 1500) -> list[Message]:
    call = ToolCallPart(f"call_{i}", "read_file", {"path": f"src/file_{i}.py"})
    output = f"OUTPUT-{i}-" + "x" * output_chars + f"-END-{i}"
    return [
        Message.user(f"Step {i}: please check src/file_{i}.py"),
        assistant_calls(call, text=f"Reading file {i}."),
        Message("tool", [ToolResultPart(call.id, "read_file", output)]),
        Message.assistant(f"File {i} looks fine (answer {i})."),
    ]


def long_history(turns: int = 6) -> list[Message]:
    history = [m for i in range(turns) for m in tool_turn(i)]
    return [*history, Message.user(LATEST)]


def assert_pairs(messages: list[Message]) -> None:
    """Every tool message answers calls of the assistant message right before its run of
    tool messages, and every call is answered."""
    assert messages and messages[0].role != "tool"
    open_calls: set[str] = set()
    for message in messages:
        if message.role == "tool":
            for result in message.tool_results:
                assert result.tool_call_id in open_calls, f"orphan {result.tool_call_id}"
                open_calls.discard(result.tool_call_id)
            continue
        assert not open_calls, f"unanswered calls {open_calls}"
        open_calls = {c.id for c in message.tool_calls}
    assert not open_calls


def prompt_text(request: RecordedRequest) -> str:
    return "\n".join(str(m.get("content") or "") for m in request.body["messages"])


def snapshot(messages: list[Message]) -> list[dict[str, object]]:
    return [m.to_dict() for m in messages]


# -- (a) (b) one summary request, and the result fits ---------------------------------------
async def test_long_history_is_summarized_in_one_request(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    scripted_openai.add(Reply.say(SUMMARY))
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000,
                                   tool_output_chars=200)
    history = long_history()
    before = snapshot(history)
    assert compressor.needs_compression(SYSTEM, history, TOOLS)

    result = await compressor.compress(SYSTEM, history, tools=TOOLS, carry=CARRY)

    assert result.compressed and result.requests == 1
    assert len(scripted_openai.requests) == 1
    body = scripted_openai.requests[0].body
    assert "tools" not in body and body["model"] == "gpt-4o"
    assert body["messages"][0]["role"] == "system"
    assert "summary" in body["messages"][0]["content"].lower()
    assert "summarize" in body["messages"][1]["content"].lower()
    sent = prompt_text(scripted_openai.requests[0])
    old, tail = history[: result.removed_messages], history[result.removed_messages:]
    assert result.removed_messages >= 8 and tail
    for message in old:  # every old message is in the request, tool outputs shortened
        for result_part in message.tool_results:
            i = result_part.tool_call_id.removeprefix("call_")
            assert f"OUTPUT-{i}-" in sent and f"-END-{i}" in sent
        if message.text:
            assert message.text in sent
    assert "characters omitted" in sent and "x" * 300 not in sent
    assert LATEST not in sent  # the recent tail is not summarized
    for message in tail:
        for result_part in message.tool_results:
            assert result_part.content not in sent

    out = result.messages
    assert out[0].role == "user" and out[0].text.startswith(SUMMARY_HEADER)
    assert SUMMARY in out[0].text and result.summary == SUMMARY
    assert out[1].text.startswith(CARRY_HEADER)
    for needle in ("refactor file_5.py", "python-refactoring", "pytest-runner", LATEST):
        assert needle in out[1].text
    assert out[2:] == tail and out[-1].text == LATEST
    assert_pairs(out[2:])
    assert estimate_prompt(SYSTEM, out, TOOLS) < 0.75 * 2000
    assert result.tokens_after_estimate < result.tokens_before
    assert not compressor.needs_compression(SYSTEM, out, TOOLS)
    assert snapshot(history) == before  # the caller's history is untouched
    assert (result.input_tokens, result.output_tokens) == (10, 5)


async def test_single_long_agent_run_is_cut_inside_the_turn(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    """One user task followed by many tool steps: the cut falls between steps, and the
    user's task (now summarized) is carried over verbatim."""
    scripted_openai.add(Reply.say(SUMMARY))
    task = "Audit every file under src/ and report problems."
    history = [Message.user(task)]
    for i in range(8):
        history.extend(tool_turn(i)[1:3])
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000,
                                   tool_output_chars=200)
    result = await compressor.compress(SYSTEM, history, tools=TOOLS)
    assert result.compressed and result.requests == 1
    out = result.messages
    assert out[1].text.startswith(CARRY_HEADER) and task in out[1].text
    assert out[2].role == "assistant"
    assert_pairs(out[2:])


async def test_old_part_too_big_for_one_request_is_map_reduced() -> None:
    answers = iter(f"partial summary {n}" for n in range(1, 50))
    with ScriptedOpenAIServer(lambda request: Reply.say(next(answers))) as server:
        compressor = ContextCompressor(provider(server), "gpt-4o", window=2000,
                                       tool_output_chars=5000)
        result = await compressor.compress(SYSTEM, long_history(10), tools=TOOLS)
    prompts = [r.body["messages"][1]["content"] for r in server.requests]
    assert result.compressed and result.requests == len(prompts) >= 3
    parts = [p for p in prompts if p.startswith("Summarize part")]
    assert len(parts) >= 2 and f"part 1 of {len(parts)}" in parts[0]
    assert prompts[-1].startswith("Merge these summaries")
    assert "partial summary 1" in prompts[-1]
    assert result.summary == f"partial summary {len(prompts)}"
    for prompt in prompts:
        assert estimate_text(prompt) < 2000


async def test_compressing_again_folds_in_the_previous_summary(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    scripted_openai.add(Reply.say("first summary"), Reply.say("second summary"))
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000,
                                   tool_output_chars=200)
    first = await compressor.compress(SYSTEM, long_history(), tools=TOOLS, carry=CARRY)
    grown = first.messages + [m for i in range(6, 10) for m in tool_turn(i)]
    second = await compressor.compress(SYSTEM, grown, tools=TOOLS, carry=CARRY)
    assert second.compressed
    sent = prompt_text(scripted_openai.requests[1])
    assert "first summary" in sent
    carried = [m for m in second.messages if m.text.startswith(CARRY_HEADER)]
    assert len(carried) == 1 and second.messages[1] is carried[0]
    assert_pairs(second.messages[2:])


# -- (c) the split never separates a call from its result ----------------------------------
def random_history(rng: random.Random) -> list[Message]:
    history: list[Message] = []
    serial = 0
    reuse_ids = rng.random() < 0.4  # servers without ids: call_0, call_1 ... in every turn
    for turn in range(rng.randint(1, 6)):
        history.append(Message.user(f"turn {turn} " + "words " * rng.randint(1, 60)))
        for _ in range(rng.randint(0, 4)):
            calls = []
            for index in range(rng.randint(1, 3)):
                serial += 1
                call_id = f"call_{index}" if reuse_ids else f"c{serial}"
                calls.append(ToolCallPart(call_id, "read_file", {"path": f"f{serial}"}))
            history.append(assistant_calls(*calls, text=rng.choice(["", "let me look"])))
            results: list[Part] = [ToolResultPart(c.id, c.name, "data " * rng.randint(0, 400))
                                   for c in calls]
            if rng.random() < 0.3:  # results spread over several tool messages
                history.extend(Message("tool", [r]) for r in results)
            else:
                history.append(Message("tool", results))
        if rng.random() < 0.7:
            history.append(Message.assistant("done " * rng.randint(1, 30)))
    return history


def test_split_point_keeps_calls_with_results() -> None:
    for seed in range(200):
        rng = random.Random(seed)
        history = random_history(rng)
        start = split_point(history, keep_recent_turns=rng.randint(0, 5),
                            tail_tokens=rng.choice([0, 50, 300, 2000, 10**6]))
        assert 0 <= start < len(history), seed
        assert start == 0 or start in cut_points(history), seed
        if start:
            assert_pairs(history[:start])
            assert_pairs(history[start:])


def test_cut_points_refuse_spans_and_carried_blocks() -> None:
    call = assistant_calls(ToolCallPart("x", "read_file", {}))
    result = Message("tool", [ToolResultPart("x", "read_file", "r")])
    odd = [Message.user("u0"), call, Message.user("interjection"), result, Message.assistant("ok")]
    assert cut_points(odd) == [1, 4]  # never between the call and its late result
    compressed = [Message.user(f"{SUMMARY_HEADER} s"), Message.user(f"{CARRY_HEADER} c"),
                  Message.user("u1"), Message.assistant("a1")]
    assert cut_points(compressed) == [2, 3]  # a carried block stays with its summary


@pytest.fixture
def echo_server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(lambda request: Reply.say("a short summary")) as server:
        yield server


@pytest.mark.parametrize("seed", range(12))
async def test_compress_random_histories_keeps_pairs(
    seed: int, echo_server: ScriptedOpenAIServer,
) -> None:
    rng = random.Random(1000 + seed)
    history = random_history(rng)
    compressor = ContextCompressor(provider(echo_server), "gpt-4o", window=rng.choice([800, 3000]),
                                   keep_recent_turns=rng.randint(1, 4))
    result = await compressor.compress(SYSTEM, history, tools=TOOLS, force=True)
    if not result.compressed:
        assert result.messages == history and not echo_server.requests
        return
    tail = [m for m in result.messages if not m.text.startswith((SUMMARY_HEADER, CARRY_HEADER))]
    assert tail == history[result.removed_messages:]
    assert_pairs(tail)
    assert len(echo_server.requests) == result.requests


# -- (d) (e) short histories and force --------------------------------------------------------
@pytest.mark.parametrize("force", [False, True])
async def test_short_history_is_left_alone(
    scripted_openai: ScriptedOpenAIServer, force: bool,
) -> None:
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000)
    for history in ([Message.user("hi")], [Message.user("hi"), Message.assistant("hello")],
                    tool_turn(0, 5)[:3]):
        result = await compressor.compress(SYSTEM, history, tools=TOOLS, force=force)
        assert not result.compressed and result.messages == history
        assert result.messages is not history and result.requests == 0
    assert not scripted_openai.requests


async def test_below_threshold_needs_force(scripted_openai: ScriptedOpenAIServer) -> None:
    scripted_openai.add(Reply.say(SUMMARY))
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o")
    history = long_history(6)
    assert compressor.window == 128_000
    assert not compressor.needs_compression(SYSTEM, history, TOOLS)
    result = await compressor.compress(SYSTEM, history, tools=TOOLS, carry=CARRY)
    assert not result.compressed and not scripted_openai.requests

    result = await compressor.compress(SYSTEM, history, tools=TOOLS, carry=CARRY, force=True)
    assert result.compressed and len(scripted_openai.requests) == 1
    user_turns = [m for m in result.messages[2:] if m.role == "user"]
    assert len(user_turns) == 4  # keep_recent_turns, since everything fits the budget
    assert_pairs(result.messages[2:])


# -- (f) context windows ------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "window"), [
    ("gpt-4o-mini-2024-07-18", 128_000),
    ("openai/gpt-4.1-mini", 1_047_576),
    ("gpt-4-0613", 8_192),
    ("gpt-5-mini", 272_000),
    ("gpt-5-chat-latest", 128_000),
    ("o3-mini", 200_000),
    ("o1-mini", 128_000),
    ("models/gemini-2.5-pro", 1_048_576),
    ("gemini-3-pro-preview", 1_048_576),
    ("claude-sonnet-4-5-20250929", 200_000),
    ("anthropic/claude-3.5-haiku", 200_000),
    ("glm-4.5-air", 128_000),
    ("GLM-4.6", 200_000),
    ("kimi-k2-0905-preview", 262_144),
    ("kimi-k2-0711-preview", 131_072),
    ("deepseek-chat", 128_000),
    ("llama3:8b", 8_192),
    ("llama3.1:70b", 131_072),
    ("meta-llama/Meta-Llama-3.1-8B-Instruct", 131_072),
    ("Qwen/Qwen3-235B-A22B-Instruct-2507", 262_144),
    ("qwen2.5-coder:7b", 32_768),
    ("mistral-large-latest", 131_072),
    ("some-brand-new-model", DEFAULT_CONTEXT_WINDOW),
])
def test_builtin_context_windows(model: str, window: int) -> None:
    assert context_window(model) == window


def test_context_windows_from_config() -> None:
    windows = ContextWindows({"llama3.1": "8k", "my-finetune-*": 32768, "default": "64k",
                              "gpt": 1000, "gpt-4o-mini": "1.5M"})
    assert windows.lookup("llama3.1:8b") == 8_000
    assert windows.lookup("my-finetune-v2") == 32_768
    assert windows.lookup("unheard-of") == 64_000
    assert windows.lookup("gpt-4o") == 1000  # a user entry beats a longer built-in one
    assert windows.lookup("gpt-4o-mini") == 1_500_000  # longest user entry wins
    assert windows.lookup("claude-opus-4-1") == 200_000
    assert not windows.is_known("unheard-of") and windows.is_known("claude-opus-4-1")
    for bad in ({"x": "lots"}, {"x": 0}, {"x": True}):
        with pytest.raises(ConfigError, match="context_windows"):
            ContextWindows(bad)


def test_compressor_window_comes_from_the_table(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    llm = provider(scripted_openai)
    assert ContextCompressor(llm, "claude-3-5-haiku-latest").window == 200_000
    custom = ContextCompressor(llm, "local-coder", context_windows={"local-*": "32k"},
                               threshold=0.5)
    assert (custom.window, custom.limit) == (32_000, 16_000)
    assert ContextCompressor(llm, "gpt-4o", window=5000).window == 5000
    with pytest.raises(ValueError, match="threshold"):
        ContextCompressor(llm, "gpt-4o", threshold=1.5)


# -- (g) token accounting ----------------------------------------------------------------------
def test_estimate_text_weighs_characters() -> None:
    prose = "The quick brown fox jumps over the lazy dog near the river bank. " * 20
    data = '{"path": "src/a.py", "line": 12, "ok": [1, 2, 3]}' * 26
    assert estimate_text("") == 0
    assert 0.18 < estimate_text(prose) / len(prose) < 0.3
    assert estimate_text(data) / len(data) > estimate_text(prose) / len(prose)
    assert 280 <= estimate_text("漢字" * 150) <= 330  # about a token per CJK character
    image = Message("user", [TextPart("see"), ImagePart(data="AAAA" * 10_000)])
    assert estimate_message(image) < 2_000  # a flat cost, not the base64 length


def test_token_counter_uses_reported_usage_for_the_prefix() -> None:
    history = long_history(2)
    counter = TokenCounter()
    heuristic = estimate_prompt(SYSTEM, history, TOOLS)
    assert counter.estimate(SYSTEM, history, TOOLS) == heuristic

    counter.record_usage(5, 5000, anchor=history[4])
    delta = sum(estimate_message(m) for m in history[5:])
    assert counter.reported == (5, 5000)
    assert counter.estimate(SYSTEM, history, TOOLS) == 5000 + delta
    assert counter.estimate("a far longer system prompt " * 50, history, TOOLS) == 5000 + delta
    grown = [*history, Message.assistant("more")]
    assert counter.estimate(SYSTEM, grown, TOOLS) == 5000 + delta + estimate_message(grown[-1])

    replaced = [Message.user("summary"), *history[1:]]  # message 4 is no longer the anchor
    replaced[4] = Message.assistant("another")
    assert counter.estimate(SYSTEM, replaced, TOOLS) == estimate_prompt(SYSTEM, replaced, TOOLS)
    assert counter.estimate(SYSTEM, history[:3], TOOLS) == estimate_prompt(SYSTEM, history[:3],
                                                                           TOOLS)
    counter.record_usage(3, 0)  # no usage reported: the previous figure stays
    assert counter.reported == (5, 5000)
    counter.reset()
    assert counter.estimate(SYSTEM, history, TOOLS) == heuristic


async def test_reported_usage_triggers_compression(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    """A prompt the heuristic thinks is small, but the provider counted as big (images,
    another tokenizer): the reported figure wins."""
    scripted_openai.add(Reply.say("ok", input_tokens=1600))
    llm = provider(scripted_openai)
    compressor = ContextCompressor(llm, "gpt-4o", window=2000)
    history = [Message.user("hello"), Message.assistant("hi"), Message.user("go on")]
    assert not compressor.needs_compression(SYSTEM, history, TOOLS)
    response = await llm.complete(ModelRequest("gpt-4o", history, SYSTEM, TOOLS))
    compressor.record_usage(history, response.input_tokens)
    assert compressor.needs_compression(SYSTEM, history, TOOLS)
    assert compressor.estimate(SYSTEM, history, TOOLS) == 1600


# -- (h) failures ------------------------------------------------------------------------------
async def test_provider_error_propagates_and_leaves_history(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    scripted_openai.add(Reply.error(400, "prompt is too long"))
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000)
    history = long_history()
    before, length = snapshot(history), len(history)
    with pytest.raises(ProviderError, match="prompt is too long") as caught:
        await compressor.compress(SYSTEM, history, tools=TOOLS, carry=CARRY)
    assert caught.value.status == 400
    assert len(history) == length and snapshot(history) == before


async def test_empty_summary_is_a_provider_error(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    scripted_openai.add(Reply.say("", finish_reason="length"))
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000)
    with pytest.raises(ProviderError, match="empty summary"):
        await compressor.compress(SYSTEM, long_history(), tools=TOOLS)


async def test_second_and_third_compression_in_one_turn_keep_the_instruction_verbatim(
) -> None:
    """One long agent run compressed three times: the user's task, summarized by the first
    compression, stays word for word in the carried-over block of every later one."""
    answers = iter(f"summary {n}" for n in range(1, 50))
    with ScriptedOpenAIServer(lambda request: Reply.say(next(answers))) as server:
        await _compress_three_times(server)


async def _compress_three_times(scripted_openai: ScriptedOpenAIServer) -> None:
    task = "Audit every file under src/ and report problems, keeping `make lint` green."
    history = [Message.user(task)]
    compressor = ContextCompressor(provider(scripted_openai), "gpt-4o", window=2000,
                                   tool_output_chars=200)
    steps = iter(range(100))
    for _round in range(3):
        for i in [next(steps) for _ in range(8)]:
            history.extend(tool_turn(i)[1:3])
        result = await compressor.compress(SYSTEM, history, tools=TOOLS)
        assert result.compressed
        history = result.messages
        every_text = "\n".join(part.text for m in history for part in m.parts
                               if isinstance(part, TextPart))
        assert every_text.count(task) == 1
        assert history[1].text.startswith(CARRY_HEADER) and task in history[1].text
        assert_pairs(history[2:])
    summaries = [r for r in scripted_openai.requests if prompt_text(r).count("summary 1")]
    assert summaries  # the later compressions folded in the earlier summaries
