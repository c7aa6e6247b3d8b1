"""LoopDetector: identical calls, oscillations, repeated errors and near-identical texts."""

from __future__ import annotations

import random
from typing import Any

import pytest

from moco.core.loop_detector import LoopDetector, LoopDetectorConfig, LoopVerdict, normalize_error


def call(detector: LoopDetector, name: str, result: str = "ok", error: bool = False,
         **arguments: Any) -> tuple[LoopVerdict, LoopVerdict]:
    """One tool call and its result, as the runtime reports them."""
    first = detector.observe_tool_call(name, arguments)
    second = detector.observe_tool_result(name, result, error)
    return first, second


def actions(verdicts: list[LoopVerdict]) -> list[str]:
    return [v.action for v in verdicts]


# -- identical calls ----------------------------------------------------------------------


def test_identical_calls_warn_once_then_stop() -> None:
    detector = LoopDetector()
    verdicts = [call(detector, "read_file", path="a.py")[0] for _ in range(6)]
    assert actions(verdicts) == ["ok", "ok", "warn", "ok", "stop", "stop"]
    assert verdicts[2].kind == "identical_call"
    assert verdicts[2].message == (
        "You have called read_file with the same arguments 3 times in a row; the result will "
        "not change. Try a different approach or give your answer."
    )
    assert verdicts[4].kind == "identical_call"
    assert "read_file" in verdicts[4].message and "5 times" in verdicts[4].message


def test_argument_order_does_not_matter() -> None:
    detector = LoopDetector()
    detector.observe_tool_call("grep", {"pattern": "x", "path": "src"})
    detector.observe_tool_call("grep", {"path": "src", "pattern": "x"})
    verdict = detector.observe_tool_call("grep", {"pattern": "x", "path": "src"})
    assert verdict.action == "warn"


def test_nested_and_unusual_arguments_are_canonical() -> None:
    detector = LoopDetector()
    args = {"b": [1, {"y": 2, "x": 1}], "a": None, "when": object()}
    for _ in range(2):
        detector.observe_tool_call("tool", dict(args))
    assert detector.observe_tool_call("tool", {"b": [1, {"x": 1, "y": 2}], "a": None,
                                               "when": args["when"]}).action == "warn"


def test_a_different_call_breaks_the_streak() -> None:
    detector = LoopDetector()
    for _ in range(2):
        call(detector, "read_file", path="a.py")
    call(detector, "read_file", path="b.py")
    verdicts = [call(detector, "read_file", path="a.py")[0] for _ in range(2)]
    assert actions(verdicts) == ["ok", "ok"]
    assert call(detector, "read_file", path="a.py")[0].action == "warn"


def test_a_new_streak_warns_again() -> None:
    detector = LoopDetector()
    for _ in range(3):
        call(detector, "list_dir", path=".")
    call(detector, "read_file", path="README.md")
    verdicts = [call(detector, "list_dir", path="src")[0] for _ in range(3)]
    assert actions(verdicts) == ["ok", "ok", "warn"]


def test_identical_calls_whose_result_changes_are_not_a_loop() -> None:
    """Polling a process: same call, new output each time."""
    detector = LoopDetector()
    verdicts = [
        call(detector, "process_output", f"line {'x' * i}", pid=7)[0] for i in range(8)
    ]
    assert actions(verdicts) == ["ok"] * 8


def test_results_differing_only_in_numbers_count_as_unchanged() -> None:
    detector = LoopDetector()
    verdicts = [
        call(detector, "run_tests", f"5 passed in 0.{i}s")[0] for i in range(3)
    ]
    assert actions(verdicts) == ["ok", "ok", "warn"]


def test_parallel_calls_pair_results_by_tool_name() -> None:
    detector = LoopDetector()
    for _ in range(2):
        detector.observe_tool_call("read_file", {"path": "a"})
        detector.observe_tool_call("list_dir", {"path": "."})
        detector.observe_tool_result("list_dir", "a b", False)
        detector.observe_tool_result("read_file", "text", False)
    # read_file/list_dir alternate: after two pairs that is two cycles, no warning yet
    detector.observe_tool_call("read_file", {"path": "a"})
    assert detector.observe_tool_call("list_dir", {"path": "."}).kind == "oscillation"


def test_result_without_a_call_is_harmless() -> None:
    detector = LoopDetector()
    assert detector.observe_tool_result("unknown", "ok", False) == LoopVerdict()


# -- oscillation ----------------------------------------------------------------------------


def test_a_b_oscillation_warns_then_stops() -> None:
    detector = LoopDetector()
    verdicts = []
    for i in range(10):
        name = "read_file" if i % 2 == 0 else "edit_file"
        verdicts.append(call(detector, name, path="app.py")[0])
    assert actions(verdicts) == ["ok"] * 5 + ["warn"] + ["ok"] * 3 + ["stop"]
    assert verdicts[5].kind == verdicts[9].kind == "oscillation"
    assert "(read_file, edit_file)" in verdicts[5].message
    assert "3 times" in verdicts[5].message
    assert "5 times" in verdicts[9].message


def test_a_b_c_cycle_is_an_oscillation() -> None:
    detector = LoopDetector()
    names = ["read_file", "edit_file", "run_tests"]
    verdicts = [call(detector, names[i % 3], target="x")[0] for i in range(15)]
    assert verdicts[8] == LoopVerdict(
        "warn", "oscillation",
        "You have repeated the same cycle of tool calls (read_file, edit_file, run_tests) 3 "
        "times; it is not making progress. Try a different approach or give your answer.",
    )
    assert actions(verdicts).count("warn") == 1
    assert verdicts[14].action == "stop"
    assert actions(verdicts[:14]).count("stop") == 0


def test_a_b_with_different_arguments_is_not_an_oscillation() -> None:
    detector = LoopDetector()
    verdicts = []
    for i in range(12):
        if i % 2:
            verdicts.append(call(detector, "edit_file", path=f"f{i}.py")[0])
        else:
            verdicts.append(call(detector, "run_tests")[0])
    assert set(actions(verdicts)) == {"ok"}


def test_a_call_outside_the_cycle_breaks_the_oscillation() -> None:
    detector = LoopDetector()
    for i in range(5):
        call(detector, "a" if i % 2 == 0 else "b")
    call(detector, "c")
    verdicts = [call(detector, "a" if i % 2 == 0 else "b")[0] for i in range(5)]
    assert set(actions(verdicts)) == {"ok"}


def test_oscillation_whose_results_change_is_progress() -> None:
    detector = LoopDetector()
    verdicts = []
    for i in range(12):
        if i % 2 == 0:
            verdicts.append(call(detector, "run_tests", f"{'F' * (6 - i // 2)} failures")[0])
        else:
            verdicts.append(call(detector, "edit_file", "ok", path="app.py")[0])
    assert set(actions(verdicts)) == {"ok"}


# -- repeated errors ------------------------------------------------------------------------


def test_same_error_repeated_warns_then_stops() -> None:
    detector = LoopDetector()
    error = "Error: command not found: pytset"
    verdicts = [call(detector, "shell", error, True, command=f"pytset -k {i}")[1] for i in range(5)]
    assert actions(verdicts) == ["ok", "ok", "warn", "ok", "stop"]
    assert verdicts[2].kind == "repeated_error"
    assert verdicts[2].message == (
        'Your last 3 tool calls failed with the same error: "Error: command not found: '
        'pytset". Repeating them will not help; change the arguments, use another tool, '
        "or explain the problem."
    )
    assert verdicts[4].message.startswith("Stopped a loop: 5 tool calls in a row failed")


def test_errors_differing_in_numbers_paths_and_spacing_are_the_same() -> None:
    detector = LoopDetector()
    errors = [
        "FileNotFoundError: /work/app/src/a.py not found (errno 2)",
        "FileNotFoundError:  /work/app/src/b.py not found (errno 2)\n",
        "FileNotFoundError: ./lib/c.py not found (errno 12)",
    ]
    verdicts = [call(detector, "read_file", e, True, path=str(i))[1] for i, e in enumerate(errors)]
    assert actions(verdicts) == ["ok", "ok", "warn"]


def test_normalize_error() -> None:
    assert normalize_error("  timeout after 30s\n at 0x7ffe12ab in /usr/lib/x.so ") == (
        "timeout after 0s at <hex> in <path>"
    )
    assert normalize_error("commit deadbeefcafe1234 rejected") == "commit <hex> rejected"


def test_a_success_or_another_error_breaks_the_error_streak() -> None:
    detector = LoopDetector()
    for i in range(2):
        call(detector, "shell", "Permission denied", True, command=f"a{i}")
    call(detector, "shell", "done", False, command="ls")
    for i in range(2):
        call(detector, "shell", "Permission denied", True, command=f"b{i}")
    call(detector, "shell", "Connection refused", True, command="curl")
    verdicts = [call(detector, "shell", "Permission denied", True, command=f"c{i}")[1]
                for i in range(3)]
    assert actions(verdicts) == ["ok", "ok", "warn"]


# -- near-identical texts -------------------------------------------------------------------

PLAN = (
    "I will now read the configuration loader to understand how the settings are resolved, "
    "then update the provider registry so that the new endpoint is picked up."
)


def test_near_identical_texts_warn_then_stop() -> None:
    detector = LoopDetector()
    texts = [
        PLAN,
        PLAN.replace("settings", "options"),
        PLAN + " Let me start.",
        PLAN.upper(),
        PLAN.replace("now ", ""),
    ]
    verdicts = [detector.observe_assistant_text(t) for t in texts]
    assert actions(verdicts) == ["ok", "ok", "warn", "ok", "stop"]
    assert verdicts[2].kind == verdicts[4].kind == "similar_text"
    assert "nearly the same message 3 times" in verdicts[2].message


def test_different_texts_do_not_warn() -> None:
    detector = LoopDetector()
    texts = [
        PLAN,
        "The registry now lists the new endpoint; next I will run the test-suite to confirm.",
        "Two tests fail because the fixture still points at the old URL; fixing the fixture.",
        "All tests pass. The provider is registered and documented in the README.",
    ]
    assert {detector.observe_assistant_text(t).action for t in texts} == {"ok"}


def test_short_and_empty_texts_are_ignored() -> None:
    detector = LoopDetector()
    for _ in range(3):
        detector.observe_assistant_text(PLAN)
        # an empty text between tool calls neither counts nor breaks the streak
        assert detector.observe_assistant_text("").action == "ok"
        assert detector.observe_assistant_text("Let me check.").action == "ok"
    assert detector.observe_assistant_text(PLAN).action == "ok"  # 4th: already warned
    assert detector.observe_assistant_text(PLAN).action == "stop"


def test_same_narration_with_new_successful_calls_is_not_a_loop() -> None:
    detector = LoopDetector()
    narration = "Let me look at the next module to see how it uses the configuration object."
    verdicts = []
    for i in range(8):
        verdicts.append(detector.observe_assistant_text(narration))
        call(detector, "read_file", f"contents of module {i}", path=f"src/m{i}.py")
    assert set(actions(verdicts)) == {"ok"}


def test_same_narration_with_a_repeated_call_is_a_loop() -> None:
    detector = LoopDetector(LoopDetectorConfig(identical_call_warn=0, identical_call_stop=0))
    narration = "Let me look at the configuration module once more to find the problem."
    verdicts = []
    for _ in range(4):
        verdicts.append(detector.observe_assistant_text(narration))
        call(detector, "read_file", "same contents", path="config.py")
    # the first read was new, so progress: the streak counts from the text after it
    assert actions(verdicts) == ["ok", "ok", "ok", "warn"]


def test_similarity_of_10kb_texts() -> None:
    """Near-identical 10 kB narrations are caught (bench/loop_detector.py times this)."""
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 8)))
             for _ in range(500)]
    base = " ".join(rng.choice(words) for _ in range(1800))
    assert len(base) > 9000
    detector = LoopDetector()
    verdicts = [detector.observe_assistant_text(f"{base} (attempt {i})") for i in range(20)]
    assert actions(verdicts)[:5] == ["ok", "ok", "warn", "ok", "stop"]


# -- configuration --------------------------------------------------------------------------


def test_defaults() -> None:
    config = LoopDetectorConfig()
    assert (config.identical_call_warn, config.identical_call_stop) == (3, 5)
    assert (config.oscillation_warn, config.oscillation_stop) == (3, 5)
    assert config.text_similarity == 0.9 and config.window == 30


def test_config_from_mapping() -> None:
    config = LoopDetectorConfig.from_mapping(
        {"identical_call_warn": 2, "identical_call_stop": "4", "text_similarity": 0.8}
    )
    assert config.identical_call_warn == 2 and config.identical_call_stop == 4
    assert config.text_similarity == 0.8
    assert config.repeated_error_warn == 3
    detector = LoopDetector(config)
    verdicts = [call(detector, "ls", path=".")[0] for _ in range(4)]
    assert actions(verdicts) == ["ok", "warn", "ok", "stop"]


def test_config_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="'identical_calls_warn'"):
        LoopDetectorConfig.from_mapping({"identical_calls_warn": 3})


@pytest.mark.parametrize(
    "data",
    [
        {"identical_call_warn": "many"},
        {"identical_call_warn": True},
        {"identical_call_warn": 2.5},
        {"identical_call_warn": -1},
        {"identical_call_warn": 1},
        {"identical_call_warn": 6, "identical_call_stop": 5},
        {"text_similarity": 0},
        {"text_similarity": 1.5},
        {"oscillation_stop": 20},  # needs a window of 60
    ],
)
def test_config_rejects_bad_values(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="loop detector"):
        LoopDetectorConfig.from_mapping(data)


def test_zero_disables_a_step() -> None:
    detector = LoopDetector(LoopDetectorConfig(identical_call_warn=0))
    verdicts = [call(detector, "ls")[0] for _ in range(5)]
    assert actions(verdicts) == ["ok"] * 4 + ["stop"]
    detector = LoopDetector(LoopDetectorConfig(identical_call_stop=0))
    verdicts = [call(detector, "ls")[0] for _ in range(9)]
    assert actions(verdicts) == ["ok", "ok", "warn"] + ["ok"] * 6


def test_reset_forgets_everything() -> None:
    detector = LoopDetector()
    for _ in range(2):
        call(detector, "ls", "boom", True)
        detector.observe_assistant_text(PLAN)
    detector.reset()
    assert call(detector, "ls", "boom", True) == (LoopVerdict(), LoopVerdict())
    assert detector.observe_assistant_text(PLAN).action == "ok"
    assert call(detector, "ls", "boom", True)[0].action == "ok"
