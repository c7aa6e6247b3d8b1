"""Context compression inside a run, persisted so a resumed session starts from the summary."""

from __future__ import annotations

from pathlib import Path

from moco.core.events import ContextCompressed
from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, ScriptedOpenAIServer


def small_window_profile(root: Path) -> None:
    folder = root / ".moco" / "profiles" / "tiny"
    (folder / "agents").mkdir(parents=True)
    (folder / "profile.yaml").write_text(
        "name: tiny\ncompression:\n  window: 1200\n  threshold: 0.75\n  keep_recent_turns: 1\n")
    (folder / "agents" / "main.md").write_text("---\nmode: primary\ntools: []\n---\nYou help.\n")


def is_summary_request(body: dict[str, object]) -> bool:
    return "summar" in str(body.get("messages", [{}])[0]).lower() and "tools" not in body


async def test_long_session_is_summarized_and_resumes_from_summary(tmp_path: Path) -> None:
    small_window_profile(tmp_path)
    long_answer = "details " * 250

    def script(request: object) -> Reply:
        body = request.body  # type: ignore[attr-defined]
        if is_summary_request(body):
            return Reply.say("SUMMARY: the user asked three questions about details.")
        return Reply.say(long_answer, input_tokens=400)

    with ScriptedOpenAIServer(script) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
        orch = Orchestrator(profile="tiny", provider="openai", working_dir=tmp_path, env=env)
        session = orch.create_session(title="long")
        events = []
        for question in ("first question", "second question", "third question"):
            events += [e async for e in orch.events(question, session_id=session)]
        compressed = [e for e in events if isinstance(e, ContextCompressed)]
        assert compressed, "the history never crossed the threshold"
        summaries = [r for r in server.requests if is_summary_request(r.body)]
        assert summaries and "first question" in str(summaries[0].body)
        after = server.requests[-1].body["messages"]
        assert "SUMMARY" in after[1]["content"]
        assert after[-1]["content"] == "third question"

        resumed = Orchestrator(profile="tiny", provider="openai", working_dir=tmp_path, env=env)
        await resumed.run("fourth question", session_id=session)
        sent = server.requests[-1].body["messages"]
        assert "SUMMARY" in sent[1]["content"]
        assert not any(m.get("content") == "first question" for m in sent)
        everything = resumed.sessions.load_messages(session)
        assert everything[0].text == "first question"  # the full history stays on disk


async def test_compact_command_forces_a_summary(tmp_path: Path) -> None:
    with ScriptedOpenAIServer([Reply.say("a1"), Reply.say("a2"), Reply.say("SUMMARY x"),
                               Reply.say("a3")]) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
        orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
        await orch.run("q1")
        await orch.run("q2", session_id=orch.session_id)
        result = await orch.compact()
        assert result is not None and result.removed_messages >= 2
        await orch.run("q3", session_id=orch.session_id)
        sent = server.requests[-1].body["messages"]
        assert "SUMMARY x" in sent[1]["content"]
