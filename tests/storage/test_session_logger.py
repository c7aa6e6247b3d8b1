"""SessionLogger: sessions, runs and messages in the real SQLite file under MOCO_HOME."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from moco.core.messages import ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from moco.errors import ConfigError
from moco.storage import (
    AmbiguousSession,
    Database,
    DuplicateSessionName,
    SessionLogger,
    SessionNotFound,
    StorageError,
    open_database,
)

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")


@pytest.fixture
def logger() -> Iterator[SessionLogger]:
    db = open_database()
    yield SessionLogger(db)
    db.close()


def every_kind_of_message() -> list[Message]:
    return [
        Message("system", [TextPart("You are terse.")]),
        Message("user", [TextPart("Look at this — ünïcode ✓"),
                         ImagePart(media_type="image/jpeg", data="aGVsbG8="),
                         ImagePart(url="https://example.com/a.png")]),
        Message("assistant", [
            TextPart("Reading."),
            ToolCallPart("c1", "read_file", {"path": "a.py", "lines": [1, 2], "opts": {"x": None}}),
            ToolCallPart("c2", "broken", invalid_arguments="{not json"),
        ]),
        Message("tool", [
            ToolResultPart("c1", "read_file", "print('hi')\n"),
            ToolResultPart("c2", "broken", "arguments are not JSON", is_error=True),
        ]),
        Message("assistant", []),
    ]


# -- sessions ---------------------------------------------------------------------------------


def test_create_get_list_delete(logger: SessionLogger, tmp_path: Path) -> None:
    created = logger.create_session(
        title="Fix the parser", profile="code", provider="zai", model="glm-4.7",
        working_dir=tmp_path / "." / "", metadata={"tags": ["x"]},
    )
    assert len(created.id) == 12
    assert created.working_dir == str(tmp_path.resolve())
    assert created.metadata == {"tags": ["x"]}
    assert created.status == "active"
    assert created.created_at == created.updated_at
    assert logger.get_session(created.id) == created
    assert logger.list_sessions() == [created]
    assert logger.delete_session(created.id) is True
    assert logger.get_session(created.id) is None
    assert logger.delete_session(created.id) is False


def test_names_are_unique_with_a_clear_error(logger: SessionLogger) -> None:
    logger.create_session(name="work")
    with pytest.raises(DuplicateSessionName) as info:
        logger.create_session(name="work")
    assert isinstance(info.value, ConfigError)
    assert "'work' already exists" in str(info.value)
    assert "\n" not in str(info.value)
    other = logger.create_session(name="other")
    with pytest.raises(DuplicateSessionName):
        logger.rename(other.id, "work")
    with pytest.raises(ConfigError, match="cannot be empty"):
        logger.create_session(name="  ")


def test_rename_and_title(logger: SessionLogger) -> None:
    session = logger.create_session()
    renamed = logger.rename(session.id, "  feature-x ")
    assert renamed.name == "feature-x"
    assert logger.get_session("feature-x") == renamed
    titled = logger.set_title("feature-x", "Feature X")
    assert titled.title == "Feature X" and titled.label == "feature-x"
    assert titled.updated_at == session.updated_at  # not counted as activity
    assert logger.rename("feature-x", None).name is None
    assert logger.update_session(session.id, metadata={"a": 1}, status="archived").status == (
        "archived"
    )
    with pytest.raises(TypeError, match="unknown session fields"):
        logger.update_session(session.id, colour="red")


def test_lookup_by_id_prefix_and_name(logger: SessionLogger) -> None:
    session = logger.create_session(name="alpha")
    assert logger.get_session(session.id[:4]) == session
    assert logger.get_session(session.id[:4].upper()) == session
    assert logger.get_session(session.id[:3]) is None  # too short to guess
    assert logger.get_session("alpha") == session
    assert logger.get_session("nope") is None
    with pytest.raises(SessionNotFound, match="no session named 'nope' — list them"):
        logger.require_session("nope")


def test_an_ambiguous_prefix_is_an_error(logger: SessionLogger) -> None:
    for session_id in ("beef00000001", "beef00000002"):
        logger.db.execute(
            "INSERT INTO sessions (id, created_at, updated_at) VALUES (?, '', '')", (session_id,)
        )
    with pytest.raises(AmbiguousSession, match="beef00000001, beef00000002"):
        logger.get_session("beef")
    assert logger.get_session("beef00000002") is not None
    logger.create_session(name="beef")  # an exact name wins over a prefix
    assert logger.require_session("beef").name == "beef"


def test_find_or_create_named(logger: SessionLogger) -> None:
    first = logger.find_or_create_named("daily", profile="default")
    again = logger.find_or_create_named("daily", profile="ignored")
    assert again.id == first.id and again.profile == "default"


def test_latest_session_per_working_dir(logger: SessionLogger, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    in_a = logger.create_session(working_dir=a)
    in_b = logger.create_session(working_dir=b)
    latest = logger.latest_session()
    assert latest is not None and latest.id == in_b.id
    logger.append_message(in_a.id, Message.user("back to a"), agent="main")
    latest = logger.latest_session()
    assert latest is not None and latest.id == in_a.id
    latest_b = logger.latest_session(b)
    assert latest_b is not None and latest_b.id == in_b.id
    assert logger.latest_session(tmp_path / "c") is None


def test_list_sessions_counts_messages_and_limits(logger: SessionLogger) -> None:
    sessions = [logger.create_session(title=f"s{i}") for i in range(3)]
    for i in range(4):
        logger.append_message(sessions[0].id, Message.user(str(i)), agent="main")
    listed = logger.list_sessions(limit=2)
    assert [s.title for s in listed] == ["s0", "s2"]
    assert listed[0].message_count == 4 and listed[1].message_count == 0


def test_delete_removes_runs_and_messages(logger: SessionLogger) -> None:
    session = logger.create_session(name="gone")
    run = logger.start_run(session.id, agent="main", task="t")
    child = logger.start_run(session.id, agent="main > sub", task="t", parent_run_id=run)
    logger.append_message(session.id, Message.user("x"), agent="main > sub", run_id=child)
    assert logger.delete_session("gone")
    for table in ("runs", "messages"):
        assert logger.db.query_one(f"SELECT COUNT(*) FROM {table}")[0] == 0  # type: ignore[index]


# -- runs and messages ------------------------------------------------------------------------


def test_every_part_type_round_trips(logger: SessionLogger) -> None:
    session = logger.create_session()
    messages = every_kind_of_message()
    seqs = [logger.append_message(session.id, m, agent="main") for m in messages]
    assert seqs == [1, 2, 3, 4, 5]
    assert logger.load_messages(session.id) == messages
    reopened = SessionLogger(open_database())
    assert reopened.load_messages(session.id) == messages
    reopened.db.close()


def test_appending_to_a_missing_session_is_a_storage_error(logger: SessionLogger) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        logger.append_message("nosuchsession", Message.user("x"), agent="main")
    session = logger.create_session()
    with pytest.raises(StorageError):
        logger.append_message(session.id, Message.user("x"), agent="main", run_id="nosuchrun")
    with pytest.raises(StorageError):
        logger.finish_run("nosuchrun", "completed")


def build_delegation(logger: SessionLogger) -> tuple[str, str, str, str]:
    """main asks sub, which asks subsub; returns (session, run, child run, grandchild run)."""
    session = logger.create_session(name="team").id
    run = logger.start_run(session, agent="main", task="build", model="m", provider="p")
    logger.append_message(session, Message.user("build it"), agent="main", run_id=run)
    call = ToolCallPart("d1", "delegate_to_agent", {"agent": "sub", "task": "plan"})
    logger.append_message(session, Message("assistant", [call]), agent="main", run_id=run)
    child = logger.start_run(session, agent="main > sub", task="plan", parent_run_id=run)
    logger.append_message(session, Message.user("plan"), agent="main > sub", run_id=child)
    grandchild = logger.start_run(
        session, agent="main > sub > deep", task="dig", parent_run_id=child
    )
    logger.append_message(session, Message.user("dig"), agent="main > sub > deep",
                          run_id=grandchild)
    logger.append_message(session, Message.assistant("dug"), agent="main > sub > deep",
                          run_id=grandchild)
    logger.finish_run(grandchild, "completed", 5, 1)
    logger.append_message(session, Message.assistant("the plan"), agent="main > sub",
                          run_id=child)
    logger.finish_run(child, "completed", 20, 10)
    result = ToolResultPart("d1", "delegate_to_agent", "the plan")
    logger.append_message(session, Message("tool", [result]), agent="main", run_id=run)
    logger.append_message(session, Message.assistant("built"), agent="main", run_id=run)
    logger.finish_run(run, "completed", 100, 50)
    return session, run, child, grandchild


def test_child_runs_are_tagged_and_filtered(logger: SessionLogger) -> None:
    session, run, child, grandchild = build_delegation(logger)
    main = logger.load_messages(session)
    assert [m.role for m in main] == ["user", "assistant", "tool", "assistant"]
    assert main[2].tool_results[0].content == "the plan" and main[3].text == "built"
    assert len(logger.load_messages(session, include_children=True)) == 8
    assert [m.text for m in logger.load_messages(session, agent="main > sub")] == [
        "plan", "the plan"]
    assert [m.text for m in logger.load_messages(
        session, agent="main > sub", include_children=True)] == ["plan", "dig", "dug", "the plan"]
    records = logger.load_records(session)
    assert [r.run_id for r in records].count(grandchild) == 2
    assert [(r.seq, r.agent, r.role) for r in records][2] == (3, "main > sub", "user")
    runs = {r.id: r for r in logger.runs(session)}
    assert runs[child].parent_run_id == run and runs[grandchild].parent_run_id == child
    assert runs[run].status == "completed" and runs[run].finished_at is not None
    assert runs[run].model == "m" and runs[run].provider == "p"
    assert logger.usage_totals(session) == (125, 61)
    run_record = logger.get_run(run)
    assert run_record is not None and run_record.input_tokens == 100


def test_messages_outside_any_run_belong_to_the_main_conversation(
    logger: SessionLogger,
) -> None:
    session = logger.create_session().id
    logger.append_message(session, Message.user("hi"), agent="main")
    assert [m.text for m in logger.load_messages(session)] == ["hi"]
    assert logger.usage_totals(session) == (0, 0)


def test_cancelled_partial_answers_keep_their_status(logger: SessionLogger) -> None:
    session = logger.create_session().id
    logger.append_message(session, Message.user("go"), agent="main")
    logger.append_message(session, Message.assistant("half an ans"), agent="main",
                          status="cancelled")
    assert [r.status for r in logger.load_records(session)] == [None, "cancelled"]


def test_truncate_after_rewinds_and_appending_continues(logger: SessionLogger) -> None:
    session = logger.create_session().id
    for i in range(6):
        logger.append_message(session, Message.user(str(i)), agent="main")
    assert [m.text for m in logger.load_messages(session, upto_seq=3)] == ["0", "1", "2"]
    assert logger.truncate_after(session, 3) == 3
    assert logger.last_seq(session) == 3
    assert logger.append_message(session, Message.user("new"), agent="main") == 4
    assert [m.text for m in logger.load_messages(session)] == ["0", "1", "2", "new"]


# -- export -----------------------------------------------------------------------------------


def test_export_json_holds_everything(logger: SessionLogger) -> None:
    session, *_ = build_delegation(logger)
    data = json.loads(logger.export_session("team", "json"))
    assert data["session"]["id"] == session and data["session"]["message_count"] == 8
    assert len(data["runs"]) == 3
    assert [m["seq"] for m in data["messages"]] == list(range(1, 9))
    restored = [Message.from_dict(m["message"]) for m in data["messages"]]
    assert restored == logger.load_messages(session, include_children=True)


def test_export_markdown_is_a_readable_transcript(logger: SessionLogger) -> None:
    session, run, *_ = build_delegation(logger)
    long_result = "\n".join(f"line {i}" for i in range(100))
    logger.append_message(session, Message.user("read it"), agent="main", run_id=run)
    logger.append_message(session, Message("assistant", [
        TextPart("Here is ``` a fence"),
        ToolCallPart("r1", "read_file", {"path": "a.py", "limit": 20}),
    ]), agent="main", run_id=run)
    logger.append_message(session, Message("tool", [ToolResultPart("r1", "read_file",
                                                                   long_result)]),
                          agent="main", run_id=run)
    text = logger.export_session(session, "md")
    assert text.startswith("# team\n")
    assert "## Turn 1" in text and "## Turn 2" in text and "## Turn 3" not in text
    assert '→ read_file(path="a.py", limit=20)' in text
    assert '→ delegate_to_agent(agent="sub", task="plan")' in text
    assert "> **main > sub** · task" in text
    assert "> > **main > sub > deep** · assistant" in text
    assert "line 19" in text and "line 20" not in text and "more characters)" in text
    assert "tokens: 125 in, 61 out" in text
    with pytest.raises(ConfigError, match="unknown export format"):
        logger.export_session(session, "html")  # type: ignore[arg-type]


# -- crash safety -----------------------------------------------------------------------------

APPENDER = """
import sys
from pathlib import Path
from moco.core.messages import Message
from moco.storage import Database, SessionLogger

logger = SessionLogger(Database(Path(sys.argv[1])))
session_id = sys.argv[2]
i = 0
while True:
    logger.append_message(session_id, Message.user(f"m{i}"), agent="main")
    i += 1
    print(i, flush=True)
"""


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_a_killed_writer_leaves_a_contiguous_prefix(logger: SessionLogger) -> None:
    session = logger.create_session().id
    child = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(logger.db.path), session],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    for line in child.stdout:  # wait until it is well into its loop, then kill mid-flight
        if int(line) >= 300:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    child.stdout.close()
    child.stderr.close()  # type: ignore[union-attr]

    with Database(logger.db.path) as db:
        assert db.pragma("integrity_check") == "ok"
        reopened = SessionLogger(db)
        records = reopened.load_records(session)
        count = len(records)
        assert count >= 300
        assert [r.seq for r in records] == list(range(1, count + 1))
        assert [r.message.text for r in records] == [f"m{i}" for i in range(count)]
        assert reopened.append_message(session, Message.user("after"), agent="main") == count + 1
