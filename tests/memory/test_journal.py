"""task_run_events from the event stream, relations with NetworkX, and the agents' memory
tools — through real runs against a scripted Anthropic server (keyword-only memory)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import networkx
import pytest

from moco.core.orchestrator import Orchestrator
from moco.errors import ConfigError
from moco.memory.journal import SUMMARY_CHARS, relations_graph
from moco.storage.db import open_database
from moco.testing import Reply, ToolCall
from moco.testing.anthropic_server import ScriptedAnthropicServer
from tests.memory.conftest import NOTHING, learned

KEY = "sk-ant-api03-" + "x" * 40


def run(server: ScriptedAnthropicServer, folder: Path, task: str) -> str:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    orchestrator = Orchestrator(provider="anthropic", working_dir=folder, env=env)
    orchestrator.run_sync(task)
    assert orchestrator.session_id is not None
    return orchestrator.session_id


def rows(table: str) -> list[Any]:
    return open_database().query(f"SELECT * FROM {table} ORDER BY id")


def test_every_tool_call_is_logged_redacted(scripted_anthropic: ScriptedAnthropicServer,
                                            project: Path) -> None:
    (project / "big.txt").write_text("line\n" * 500)
    scripted_anthropic.add(
        Reply.calls(ToolCall("write_file", {"path": "k.txt", "content": f"key={KEY}"}),
                    ToolCall("read_file", {"path": "big.txt"})),
        Reply.call("read_file", {"path": "missing.txt"}),
        Reply.say("Done."), NOTHING)
    session = run(scripted_anthropic, project, "Write the key file and read big.txt")
    logged = rows("task_run_events")
    # the first two ran at once: they finish in either order
    assert sorted((r["tool_name"], r["success"]) for r in logged[:2]) == [
        ("read_file", 1), ("write_file", 1)]
    assert (logged[2]["tool_name"], logged[2]["success"]) == ("read_file", 0)
    assert {r["session_id"] for r in logged} == {session}
    assert len({r["run_id"] for r in logged}) == 1 and logged[0]["agent"] == "assistant"
    written = next(r for r in logged if r["tool_name"] == "write_file")
    read = next(r for r in logged if r["tool_name"] == "read_file")
    assert KEY not in written["params_json"] and "[REDACTED" in written["params_json"]
    assert json.loads(read["params_json"]) == {"path": "big.txt"}
    assert len(read["result_preview"]) == SUMMARY_CHARS
    assert "missing.txt" in logged[2]["result_preview"]


def test_relations_are_stored_and_make_a_graph(scripted_anthropic: ScriptedAnthropicServer,
                                               project: Path) -> None:
    fact = "Tanaka-san handles expense reports."
    scripted_anthropic.add(Reply.say("Noted."), learned(fact, relations=[
        ["Tanaka-san", "handles", "expense reports"], ["Tanaka-san", "works in", "finance"]]))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports; he is in finance.")
    stored = rows("relations")
    memory_id = rows("memories")[0]["id"]
    assert [(r["subject"], r["object"], r["memory_id"]) for r in stored] == [
        ("Tanaka-san", "expense reports", memory_id), ("Tanaka-san", "finance", None)]
    graph = relations_graph(open_database(), profile="default")
    assert isinstance(graph, networkx.DiGraph)
    assert graph["Tanaka-san"]["expense reports"]["predicate"] == "handles"
    assert set(graph.successors("Tanaka-san")) == {"expense reports", "finance"}
    assert relations_graph(open_database(), profile="other").number_of_edges() == 0


def test_relations_graph_without_networkx(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(ConfigError, match="relations_graph needs NetworkX — pip install"):
        relations_graph(open_database())


def test_agents_save_and_search_memories(scripted_anthropic: ScriptedAnthropicServer,
                                         project: Path) -> None:
    scripted_anthropic.add(
        Reply.call("memory_save", {"text": "The staging server is staging-3.", "kind": "fact"}),
        Reply.call("memory_save", {"text": "the staging server is staging-3"}),
        Reply.call("memory_search", {"query": "which staging server?"}),
        Reply.say("staging-3"), NOTHING)
    session = run(scripted_anthropic, project, "Remember our staging server, then look it up.")
    results = [m["content"] for r in scripted_anthropic.requests[1:4]
               for m in r.body["messages"][-1:] for m in m["content"]
               if m.get("type") == "tool_result"]
    texts = [r if isinstance(r, str) else r[0]["text"] for r in results]
    assert texts[0] == "saved as memory 1"
    assert texts[1].startswith("already remembered as memory 1")
    assert texts[2].startswith("[1] The staging server is staging-3. (fact, session:")
    (row,) = rows("memories")
    assert row["source"] == f"session:{session}" and row["profile"] == "default"
    names = {tool["name"] for tool in scripted_anthropic.requests[0].body["tools"]}
    assert {"memory_search", "memory_save"} <= names
