"""The six example profiles under ``examples/`` run as their READMEs and prompts describe.

Each test loads the real example profile, plays every agent with a scripted model (a
:class:`RoutedScript` keyed on a sentence of that agent's own prompt) and checks the mechanics
twice: at the server (what each agent was asked, in which order) and in the event stream
(paths, order, concurrency, the final answer). Concurrency is checked by the order of events,
never by seconds: agents that run at once all start before any of them returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from moco.core.events import (
    AgentDelegated,
    AgentReturned,
    Error,
    Event,
    RunFinished,
)
from moco.core.events import Warning as RunWarning
from moco.core.orchestrator import Orchestrator
from moco.testing import RecordedRequest, Reply, RoutedScript, ScriptedOpenAIServer, ToolCall

ROOT = Path(__file__).resolve().parents[2]
#: seconds the scripted model waits before answering an agent that should run in parallel: a
#: margin that keeps the others' start events ahead of its return, not a measured bound
LATENCY = 0.2


class OrderedScript:
    """A :class:`RoutedScript` that also records the order in which requests arrived (route
    keys)."""

    def __init__(self, routes: dict[str, list[Reply]]) -> None:
        self.routed = RoutedScript(routes)
        self.arrivals: list[str] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        key = next((k for k in self.routed.routes if k in request.system_text), "?")
        self.arrivals.append(key)
        return self.routed(request)


def example(name: str, server: ScriptedOpenAIServer, workdir: Path) -> Orchestrator:
    return Orchestrator(profile=str(ROOT / "examples" / name), provider="openai",
                        working_dir=workdir,
                        env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url})


async def collect(orch: Orchestrator, task: str) -> list[Event]:
    return [event async for event in orch.events(task)]


def delegate(name: str, task: str) -> ToolCall:
    return ToolCall("delegate_to_agent", {"agent_name": name, "task": task})


def requests_of(server: ScriptedOpenAIServer, key: str) -> list[RecordedRequest]:
    return [r for r in server.requests if key in r.system_text]


def task_of(request: RecordedRequest) -> str:
    """The task an agent was given: the first user message of its conversation."""
    return str(next(m["content"] for m in request.body["messages"] if m["role"] == "user"))


def tool_results(request: RecordedRequest) -> list[str]:
    return [str(m["content"]) for m in request.body["messages"] if m["role"] == "tool"]


def assert_ran_at_once(events: list[Event], children: Iterable[str]) -> None:
    """Every one of ``children`` (paths) was delegated before any of them returned: run one
    after another, the first would return before the second is delegated."""
    wanted = set(children)
    starts = [i for i, e in enumerate(events)
              if isinstance(e, AgentDelegated) and e.child in wanted]
    ends = [i for i, e in enumerate(events) if isinstance(e, AgentReturned) and e.child in wanted]
    assert len(starts) == len(ends) == len(wanted), (starts, ends, wanted)
    assert max(starts) < min(ends), delegation_order(events)


def assert_clean_run(events: list[Event], root: str, output: str) -> None:
    """No warnings or errors anywhere; every agent completed; the root answered ``output``."""
    problems = [e for e in events if isinstance(e, RunWarning | Error)]
    assert not problems, problems
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert all(e.status == "completed" for e in finished), finished
    last = events[-1]
    assert isinstance(last, RunFinished) and last.agent == root
    assert last.output == output


def delegation_order(events: list[Event]) -> list[tuple[str, str]]:
    """("delegated"|"returned", child path) in event order."""
    order: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, AgentDelegated):
            order.append(("delegated", event.child))
        elif isinstance(event, AgentReturned):
            order.append(("returned", event.child))
    return order


# -- hierarchical ---------------------------------------------------------------------------
LEAD = "You are the lead."
ARCHITECT = "You are the architect, the middle of a hierarchy"
API = "You design API contracts"
SCHEMA = "You design data models"


async def test_hierarchical_lead_architect_two_designers(tmp_path: Path) -> None:
    design = "MERGED DESIGN: POST /bookmarks + table bookmarks(id, url, tags)"
    api_answer = "API: POST /bookmarks {url, tags} -> 201"
    schema_answer = "SCHEMA: CREATE TABLE bookmarks (id INTEGER PRIMARY KEY, url TEXT, tags TEXT)"
    script = OrderedScript({
        LEAD: [Reply.calls(delegate("architect", "Design bookmarks: save URLs with tags.")),
               Reply.say("Design ready: " + design)],
        ARCHITECT: [Reply.calls(delegate("api-designer", "Operations for bookmarks."),
                                delegate("schema-designer", "Entities for bookmarks.")),
                    Reply.say(design)],
        API: [Reply.say(api_answer, latency=LATENCY)],
        SCHEMA: [Reply.say(schema_answer, latency=LATENCY)],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(example("hierarchical", server, tmp_path), "Design bookmarks")
        architect = requests_of(server, ARCHITECT)
        lead = requests_of(server, LEAD)
        api, schema = requests_of(server, API), requests_of(server, SCHEMA)

    assert script.routed.remaining == {}
    # the tree, with its paths
    paths = {e.agent for e in events}
    assert {"lead", "lead > architect", "lead > architect > api-designer",
            "lead > architect > schema-designer"} <= paths
    delegated = {(e.agent, e.child) for e in events if isinstance(e, AgentDelegated)}
    assert delegated == {("lead", "lead > architect"),
                         ("lead > architect", "lead > architect > api-designer"),
                         ("lead > architect", "lead > architect > schema-designer")}
    # the architect may delegate (its tools name it); the designers may not
    assert "delegate_to_agent" in {t["function"]["name"] for t in architect[0].body["tools"]}
    for designer in (api[0], schema[0]):
        assert "delegate_to_agent" not in {t["function"]["name"] for t in designer.body["tools"]}
    assert task_of(api[0]) == "Operations for bookmarks."
    assert task_of(schema[0]) == "Entities for bookmarks."
    # the designers ran in parallel, and both answers came back to the architect
    designers = ["lead > architect > api-designer", "lead > architect > schema-designer"]
    assert_ran_at_once(events, designers)
    assert script.arrivals[:2] == [LEAD, ARCHITECT]
    assert set(script.arrivals[2:4]) == {API, SCHEMA}
    assert len(architect) == 2
    assert sorted(tool_results(architect[1])) == sorted([api_answer, schema_answer])
    # the merged design went up to the lead, whose final answer comes back
    assert tool_results(lead[1]) == [design]
    assert_clean_run(events, "lead", "Design ready: " + design)


# -- parallel -------------------------------------------------------------------------------
COORDINATOR = "You coordinate a parallel code review"
REVIEWERS = {
    "security-reviewer": "You review code for security.",
    "performance-reviewer": "You review code for performance.",
    "readability-reviewer": "You review code for readability",
}


async def test_parallel_three_mentions_run_at_once_and_merge(tmp_path: Path) -> None:
    scope = "app.py (a URL shortener)"
    lines = {
        "security-reviewer": f"Review {scope} for security problems. Return findings ranked.",
        "performance-reviewer": f"Review {scope} for performance problems. Return findings.",
        "readability-reviewer": f"Review {scope} for readability. Return findings ranked.",
    }
    fan_out = "\n".join(f"@{name} {text}" for name, text in lines.items())
    findings = {name: f"[high] app.py:{n} — {name} finding" for n, name in enumerate(lines, 1)}
    merged = "Verdict: fix three things.\n1. [security] app.py:1"
    routes = {COORDINATOR: [Reply.say(fan_out), Reply.say(merged)]}
    routes |= {REVIEWERS[name]: [Reply.say(findings[name], latency=LATENCY)] for name in lines}
    script = OrderedScript(routes)
    with ScriptedOpenAIServer(script) as server:
        events = await collect(example("parallel", server, tmp_path), "Review app.py")
        coordinator = requests_of(server, COORDINATOR)
        reviews = {name: requests_of(server, key) for name, key in REVIEWERS.items()}

    assert script.routed.remaining == {}
    # each reviewer got exactly the text after its name
    for name, text in lines.items():
        assert [task_of(r) for r in reviews[name]] == [text]
    # they ran at once: all three were delegated before any returned
    assert_ran_at_once(events, [f"coordinator > {name}" for name in lines])
    assert script.arrivals[0] == COORDINATOR and script.arrivals[-1] == COORDINATOR
    assert set(script.arrivals[1:4]) == set(REVIEWERS.values())
    # the synthesis request carries all three results in one user message
    assert len(coordinator) == 2
    report = coordinator[1].body["messages"][-1]
    assert report["role"] == "user"
    assert report["content"].startswith("Results of the agents you mentioned:")
    for name in lines:
        assert f"## @{name}\n{findings[name]}" in report["content"]
    assert_clean_run(events, "coordinator", merged)


# -- pipeline -------------------------------------------------------------------------------
PIPE = "You run a three-stage pipeline"
RESEARCHER = "You are the researcher"
WRITER = "You are the writer"
EDITOR = "You are the editor"


async def test_pipeline_stages_run_in_order_and_pass_output_whole(tmp_path: Path) -> None:
    request = "Write 100 words on moco profiles for new users."
    research = ("**Key facts**\n- profiles are profile.yaml + agents/*.md (README.md:12)\n"
                "**Sources**\n- README.md")
    draft = "moco profiles bundle agents and tools.\nGaps: none"
    final = "Moco profiles bundle a team of agents and their tools.\nEdits:\n- tightened"
    writer_task = f"{request}\nResearch notes:\n{research}"
    editor_task = f"{request}\nResearch notes:\n{research}\nDraft:\n{draft}"
    script = OrderedScript({
        PIPE: [Reply.calls(delegate("researcher", f"{request} Sources: README.md")),
               Reply.calls(delegate("writer", writer_task)),
               Reply.calls(delegate("editor", editor_task)),
               Reply.say(final)],
        RESEARCHER: [Reply.say(research)],
        WRITER: [Reply.say(draft)],
        EDITOR: [Reply.say(final)],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(example("pipeline", server, tmp_path), request)
        coordinator = requests_of(server, PIPE)
        writer, editor = requests_of(server, WRITER), requests_of(server, EDITOR)

    assert script.routed.remaining == {}
    # each stage's output reached the coordinator whole and went into the next task verbatim
    assert [tool_results(r) for r in coordinator] == [
        [], [research], [research, draft], [research, draft, final]]
    assert research in task_of(writer[0])
    assert draft in task_of(editor[0]) and research in task_of(editor[0])
    # strictly in sequence: each stage asked only after the previous one returned
    assert script.arrivals == [PIPE, RESEARCHER, PIPE, WRITER, PIPE, EDITOR, PIPE]
    assert delegation_order(events) == [
        (step, f"coordinator > {stage}")
        for stage in ("researcher", "writer", "editor") for step in ("delegated", "returned")]
    assert_clean_run(events, "coordinator", final)


# -- review ---------------------------------------------------------------------------------
DRIVER = "You drive a peer review"
AUTHOR = "You are the author."
REVIEWER = "You are the reviewer."


async def test_review_author_reviewer_author_with_everything_whole(tmp_path: Path) -> None:
    request = "Write a CONTRIBUTING.md for this project."
    first = "# Contributing\nRun the tests.\nAssumptions: pytest."
    critique = "1. [major] CONTRIBUTING.md — no setup steps — add `pip install -e .[dev]`."
    revised = "# Contributing\npip install -e .[dev]\nRun the tests.\n1. done"
    second_task = f"{request}\nYour first version:\n{first}\nReview:\n{critique}"
    answer = f"{revised}\n**Changes after review**\n- setup steps"
    script = OrderedScript({
        DRIVER: [Reply.calls(delegate("author", request)),
                 Reply.calls(delegate("reviewer", f"{request}\nWork to review:\n{first}")),
                 Reply.calls(delegate("author", second_task)),
                 Reply.say(answer)],
        AUTHOR: [Reply.say(first), Reply.say(revised)],
        REVIEWER: [Reply.say(critique)],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(example("review", server, tmp_path), request)
        author, reviewer = requests_of(server, AUTHOR), requests_of(server, REVIEWER)
        driver = requests_of(server, DRIVER)

    assert script.routed.remaining == {}
    assert script.arrivals == [DRIVER, AUTHOR, DRIVER, REVIEWER, DRIVER, AUTHOR, DRIVER]
    assert delegation_order(events) == [
        (step, f"coordinator > {agent}")
        for agent in ("author", "reviewer", "author") for step in ("delegated", "returned")]
    assert first in task_of(reviewer[0])
    # the second call to the author starts afresh (no memory of the first) and carries it all
    assert len(author) == 2
    assert [m["role"] for m in author[1].body["messages"]] == ["system", "user"]
    assert first in task_of(author[1]) and critique in task_of(author[1])
    assert tool_results(driver[-1]) == [first, critique, revised]
    # the reviewer reads and runs tests but cannot write
    reviewer_tools = {t["function"]["name"] for t in reviewer[0].body["tools"]}
    assert "execute_bash" in reviewer_tools
    assert not reviewer_tools & {"write_file", "edit_file", "delegate_to_agent"}
    assert_clean_run(events, "coordinator", answer)


# -- discussion -----------------------------------------------------------------------------
MODERATOR = "You moderate a panel"
PANEL = {
    "product": "You are the product manager on a panel",
    "engineering": "You are the engineering lead on a panel",
    "security": "You are the security engineer on a panel",
}


async def test_discussion_panel_answers_the_same_question_at_once(tmp_path: Path) -> None:
    question = ("Decision: replace passwords with magic links? Context: 40k users, email "
                "provider X. Return: Position, three Reasons, Main risk, What would change "
                "my mind.")
    views = {name: f"**Position** ({name}): yes, with conditions." for name in PANEL}
    synthesis = "**Question** magic links?\n**Recommendation** pilot it."
    routes = {MODERATOR: [Reply.calls(*(delegate(name, question) for name in PANEL)),
                          Reply.say(synthesis)]}
    routes |= {key: [Reply.say(views[name], latency=LATENCY)] for name, key in PANEL.items()}
    script = OrderedScript(routes)
    with ScriptedOpenAIServer(script) as server:
        events = await collect(example("discussion", server, tmp_path), "Magic links?")
        moderator = requests_of(server, MODERATOR)
        panel = {name: requests_of(server, key) for name, key in PANEL.items()}

    assert script.routed.remaining == {}
    # the identical question, and nothing else, went to every panelist
    for name in PANEL:
        assert [m["role"] for m in panel[name][0].body["messages"]] == ["system", "user"]
        assert task_of(panel[name][0]) == question
    assert_ran_at_once(events, [f"moderator > {name}" for name in PANEL])
    assert set(script.arrivals[1:4]) == set(PANEL.values())
    assert len(moderator) == 2
    assert sorted(tool_results(moderator[1])) == sorted(views.values())
    assert_clean_run(events, "moderator", synthesis)


# -- competition ----------------------------------------------------------------------------
CONTEST = "You run a competition."
SOLVERS = {
    "solver-simple": "Your approach: **simplicity**",
    "solver-fast": "Your approach: **performance**",
    "solver-robust": "Your approach: **robustness**",
}
JUDGE = "You judge a competition."


async def test_competition_solvers_in_parallel_then_judge_picks_winner(tmp_path: Path) -> None:
    brief = ("Problem: merge overlapping intervals. Tests: [(1,3),(2,4)] -> [(1,4)]. "
             "Criteria: correctness, clarity, performance, robustness.")
    solutions = {name: f"**Solution** ({name})\ndef merge(xs): ...  # {name}" for name in SOLVERS}
    judge_task = brief + "".join(
        f"\nSolution {letter} ({name}):\n{solutions[name]}"
        for letter, name in zip("ABC", SOLVERS, strict=True))
    verdict = "| A | B | C |\n**Winner:** B — sorts once, O(n log n), passes all tests."
    final = f"Winner: solver-fast (B).\n- sorts once\n{solutions['solver-fast']}"
    routes = {CONTEST: [Reply.calls(*(delegate(name, brief) for name in SOLVERS)),
                        Reply.calls(delegate("judge", judge_task)),
                        Reply.say(final)],
              JUDGE: [Reply.say(verdict)]}
    routes |= {key: [Reply.say(solutions[name], latency=LATENCY)]
               for name, key in SOLVERS.items()}
    script = OrderedScript(routes)
    with ScriptedOpenAIServer(script) as server:
        events = await collect(example("competition", server, tmp_path), "Merge intervals")
        coordinator, judge = requests_of(server, CONTEST), requests_of(server, JUDGE)
        solver_requests = {name: requests_of(server, key) for name, key in SOLVERS.items()}

    assert script.routed.remaining == {}
    for name in SOLVERS:
        assert task_of(solver_requests[name][0]) == brief
    solvers = [f"coordinator > {name}" for name in SOLVERS]
    assert_ran_at_once(events, solvers)
    assert set(script.arrivals[1:4]) == set(SOLVERS.values())
    # the judge ran after every solver returned, with all three solutions whole
    order = delegation_order(events)
    assert order.index(("delegated", "coordinator > judge")) > max(
        order.index(("returned", child)) for child in solvers)
    assert all(solution in task_of(judge[0]) for solution in solutions.values())
    # the judge's verdict reached the coordinator, whose answer names that winner
    assert f"Solution B (solver-fast):\n{solutions['solver-fast']}" in task_of(judge[0])
    # the judge's verdict (B) reached the coordinator, whose final answer names that solver
    assert tool_results(coordinator[-1])[-1] == verdict
    assert_clean_run(events, "coordinator", final)
    assert isinstance(events[-1], RunFinished) and "solver-fast" in events[-1].output
