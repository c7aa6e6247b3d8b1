"""SemanticMemory on real SQLite (FTS5) and real FAISS files, with the real SDKs' embedders
talking to the scripted servers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import faiss
import pytest

from moco.providers.base import RetryPolicy
from moco.providers.embeddings import GeminiEmbedder, OpenAIEmbedder
from moco.storage.db import Database
from moco.storage.semantic_memory import MemoryNotFound, SemanticMemory, match_expression
from moco.testing import Reply, ScriptedGeminiServer, ScriptedOpenAIServer

FAST = RetryPolicy(max_retries=0)
FACT = "Ask Tanaka-san about expense reports."
QUESTION = "Who should I ask about expense reports?"
NOTES = [
    "The deploy script lives in ops/deploy.sh and needs VPN access.",
    "Lunch orders go out every Friday at eleven.",
    "The staging database is refreshed from production on Sundays.",
    "Use ruff and mypy before every commit.",
    "The office colour scheme is navy blue and white.",
]


@pytest.fixture
async def openai_embedder(scripted_openai: ScriptedOpenAIServer) -> AsyncIterator[OpenAIEmbedder]:
    embedder = OpenAIEmbedder(provider="openai", model="text-embedding-3-small", api_key="sk",
                              base_url=scripted_openai.base_url, retry=FAST)
    yield embedder
    await embedder.aclose()


@pytest.fixture
async def gemini_embedder(scripted_gemini: ScriptedGeminiServer) -> AsyncIterator[GeminiEmbedder]:
    scripted_gemini.embedding_dim = 48
    embedder = GeminiEmbedder(provider="gemini", model="gemini-embedding-001", api_key="g",
                              base_url=scripted_gemini.base_url, retry=FAST)
    yield embedder
    await embedder.aclose()


def store(home: Path, embedder: object = None) -> SemanticMemory:
    return SemanticMemory.open({"MOCO_HOME": str(home)}, embedder)  # type: ignore[arg-type]


def on_disk(path: Path) -> tuple[int, int]:
    """(vectors, dimension) of an index file, read fresh."""
    index = faiss.read_index(str(path))
    return int(index.ntotal), int(index.d)


async def filled(memory: SemanticMemory) -> int:
    record = await memory.add(FACT, kind="fact", profile="default", source="user")
    await memory.add_many(NOTES, kind="note")
    return record.id


# -- rows ------------------------------------------------------------------------------------
async def test_add_get_list_and_add_many(moco_home: Path) -> None:
    memory = store(moco_home)
    first = await memory.add("  Prefers   tabs over spaces ", kind="preference", profile="code",
                             project="/src/app", source="session:s1", metadata={"n": 1})
    assert first.text == "Prefers tabs over spaces"
    assert memory.get(first.id) == first
    many = await memory.add_many(NOTES, kind="note")
    assert [r.id for r in many] == list(range(first.id + 1, first.id + 1 + len(NOTES)))
    assert [memory.require(r.id).text for r in many] == NOTES
    assert [r.id for r in memory.list(limit=2)] == [many[-1].id, many[-2].id]
    assert len(memory.list(limit=0)) == 1 + len(NOTES)
    with pytest.raises(ValueError, match="unknown memory kind"):
        await memory.add("x", kind="rumour")
    with pytest.raises(ValueError, match="needs some text"):
        await memory.add("   ")
    with pytest.raises(MemoryNotFound, match="no memory 999"):
        memory.require(999)


def test_the_tables_are_the_seeds_names(moco_home: Path) -> None:
    db = Database(moco_home / "moco.db")
    tables = {row[0] for row in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"memories", "memories_fts", "task_run_events", "relations"} <= tables
    columns = {row[1] for row in db.query("PRAGMA table_info(task_run_events)")}
    assert {"run_id", "session_id", "agent", "tool_name", "params_json", "result_preview",
            "success", "duration_ms", "created_at"} <= columns


# -- keyword only ----------------------------------------------------------------------------
async def test_keyword_memory_works_without_an_embedder(moco_home: Path) -> None:
    memory = store(moco_home)
    fact = await filled(memory)
    hits = await memory.search(QUESTION, k=3)
    assert hits[0].record.id == fact and hits[0].via == "keyword"
    assert hits[0].bm25 is not None and hits[0].similarity is None
    assert memory.keyword_search("REPORT")[0].record.id == fact  # case and stem
    assert await memory.search("   ") == []
    assert memory.keyword_search("whom") == []
    only_stopwords = memory.keyword_search("on the", k=10)  # then the stopwords are searched
    assert {h.record.text for h in only_stopwords} == {NOTES[0], NOTES[2], NOTES[4]}
    assert memory.keyword_search('"; DROP TABLE memories; --') == []
    assert not (moco_home / "memory").exists() or not any((moco_home / "memory").rglob("*.faiss"))


def test_match_expression_quotes_words_and_drops_stopwords() -> None:
    assert match_expression(QUESTION) == '"ask" OR "expense" OR "reports"'
    assert match_expression("who is") == '"who" OR "is"'
    assert match_expression("a-b \"c\"") == '"b" OR "c"'
    assert match_expression("?!") == ""


# -- hybrid ------------------------------------------------------------------------------------
async def test_hybrid_search_fuses_vector_and_keyword(
    moco_home: Path, openai_embedder: OpenAIEmbedder, scripted_openai: ScriptedOpenAIServer,
) -> None:
    memory = store(moco_home, openai_embedder)
    fact = await filled(memory)
    hits = await memory.search(QUESTION, k=3)
    assert hits[0].record.id == fact and hits[0].via == "hybrid"
    assert hits[0].similarity is not None and hits[0].similarity > 0.4
    assert hits[0].score > hits[1].score
    typo = await memory.search("stagng databse", k=1)  # no word in common: the trigrams are
    assert typo[0].record.text == NOTES[2] and typo[0].via == "vector"
    inputs = [r.body["input"] for r in scripted_openai.embedding_requests]
    assert inputs[:2] == [[FACT], NOTES] and [QUESTION] in inputs
    index = moco_home / "memory" / "openai" / "text-embedding-3-small" / "64.faiss"
    assert on_disk(index) == (1 + len(NOTES), 64)
    assert index.stat().st_mode & 0o777 == 0o600


async def test_scopes_and_superseded_memories(moco_home: Path, openai_embedder: OpenAIEmbedder
                                              ) -> None:
    memory = store(moco_home, openai_embedder)
    everywhere = await memory.add("Deploys happen on Tuesdays.")
    coder = await memory.add("Deploys use the blue pipeline.", profile="code", project="/a")
    other = await memory.add("Deploys are frozen in December.", profile="tax", project="/b")
    for search in (memory.search, memory.keyword_search):
        result = search("deploys", k=10, profile="code")
        found = {h.record.id for h in (await result if not isinstance(result, list) else result)}
        assert found == {everywhere.id, coder.id}
    in_b = {h.record.id for h in await memory.search("deploys", k=10, project="/b")}
    assert in_b == {everywhere.id, other.id}
    assert len(await memory.search("deploys", k=10)) == 3
    newer = await memory.supersede(coder.id, "Deploys use the green pipeline.")
    assert (newer.profile, newer.project) == ("code", "/a")
    assert memory.require(coder.id).superseded_by == newer.id
    found = {h.record.id for h in await memory.search("pipeline", k=10, profile="code")}
    assert found == {newer.id, everywhere.id}  # the vector side ranks all in scope
    history = await memory.search("blue pipeline", k=10, include_superseded=True)
    assert coder.id in {h.record.id for h in history}
    assert [r.id for r in memory.list(profile="tax")] == [other.id, everywhere.id]
    with pytest.raises(TypeError, match="unexpected fields"):
        await memory.supersede(newer.id, "x", colour="red")


# -- deleting ------------------------------------------------------------------------------------
async def test_delete_removes_row_keyword_entry_and_vector(
    moco_home: Path, openai_embedder: OpenAIEmbedder,
) -> None:
    memory = store(moco_home, openai_embedder)
    fact = await filled(memory)
    memory.db.execute("INSERT INTO relations (subject, predicate, object, memory_id, created_at)"
                      " VALUES ('Tanaka-san', 'handles', 'expense reports', ?, 'now')", (fact,))
    index = moco_home / "memory" / "openai" / "text-embedding-3-small" / "64.faiss"
    assert on_disk(index)[0] == 6
    assert memory.delete(fact) is True
    assert memory.get(fact) is None
    assert on_disk(index)[0] == 5
    fts = memory.db.query("SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'tanaka'")
    assert fts == []
    assert memory.db.query("SELECT * FROM relations") == []
    assert all(h.record.id != fact for h in await memory.search(FACT, k=10))
    assert memory.delete(fact) is False


async def test_forget_all_clears_every_index(
    moco_home: Path, openai_embedder: OpenAIEmbedder, gemini_embedder: GeminiEmbedder,
) -> None:
    memory = store(moco_home, openai_embedder)
    await filled(memory)
    await memory.add("Tax forms are due in March.", profile="tax")
    await store(moco_home, gemini_embedder).search("tax forms")  # a second index, 48 dims
    files = sorted((moco_home / "memory").rglob("*.faiss"))
    assert [on_disk(f) for f in files] == [(7, 48), (7, 64)]
    assert memory.forget_all(profile="tax") == 1
    assert [on_disk(f)[0] for f in files] == [6, 6]
    assert memory.forget_all() == 6
    assert [on_disk(f)[0] for f in files] == [0, 0]
    assert memory.list() == [] and memory.stats()["memories"] == 0
    assert memory.db.query("SELECT * FROM memories_fts") == []


# -- models and dimensions -----------------------------------------------------------------------
async def test_a_model_change_keeps_separate_indexes(
    moco_home: Path, openai_embedder: OpenAIEmbedder, gemini_embedder: GeminiEmbedder,
    scripted_gemini: ScriptedGeminiServer,
) -> None:
    first = store(moco_home, openai_embedder)
    fact = await filled(first)
    openai_file = moco_home / "memory" / "openai" / "text-embedding-3-small" / "64.faiss"
    written = openai_file.stat().st_mtime_ns
    second = store(moco_home, gemini_embedder)
    hits = await second.search(QUESTION, k=1)
    assert hits[0].record.id == fact and hits[0].via == "hybrid"
    gemini_file = moco_home / "memory" / "gemini" / "gemini-embedding-001" / "48.faiss"
    assert on_disk(gemini_file) == (6, 48)
    assert on_disk(openai_file) == (6, 64) and openai_file.stat().st_mtime_ns == written
    batch = [len(r.body["requests"]) for r in scripted_gemini.embedding_requests]
    assert sorted(batch) == [1, 6]  # the query, and every row the new index lacked
    described = {(i["embedder"], i["dimension"], i["vectors"]) for i in second.stats()["indexes"]}
    assert described == {("openai/text-embedding-3-small", 64, 6),
                         ("gemini/gemini-embedding-001", 48, 6)}


async def test_the_dimension_comes_from_the_first_vector(
    moco_home: Path, openai_embedder: OpenAIEmbedder, scripted_openai: ScriptedOpenAIServer,
) -> None:
    scripted_openai.embedding_dim = 24
    memory = store(moco_home, openai_embedder)
    await memory.add(FACT)
    directory = moco_home / "memory" / "openai" / "text-embedding-3-small"
    assert on_disk(directory / "24.faiss") == (1, 24)
    scripted_openai.embedding_dim = 40  # same name, other vectors: a new index, not mixed
    assert (await memory.search(QUESTION, k=1))[0].record.text == FACT
    assert on_disk(directory / "40.faiss") == (1, 40)
    assert on_disk(directory / "24.faiss") == (1, 24)


async def test_rows_added_without_an_embedder_are_embedded_on_next_use(
    moco_home: Path, openai_embedder: OpenAIEmbedder, scripted_openai: ScriptedOpenAIServer,
) -> None:
    await filled(store(moco_home))
    memory = store(moco_home, openai_embedder)
    await memory.add("A later fact about invoices.")
    inputs = [len(r.body["input"]) for r in scripted_openai.embedding_requests]
    assert inputs == [1, 6]  # the new memory, then the six that had no vector
    hits = await memory.search(QUESTION, k=1)
    assert hits[0].via == "hybrid" and hits[0].record.text == FACT


async def test_a_failing_embedder_falls_back_to_keywords(
    moco_home: Path, openai_embedder: OpenAIEmbedder, scripted_openai: ScriptedOpenAIServer,
) -> None:
    memory = store(moco_home, openai_embedder)
    scripted_openai.add_embedding(Reply.error(401, "bad key"), Reply.error(401, "bad key"))
    record = await memory.add(FACT)
    hits = await memory.search(QUESTION)
    assert [(h.record.id, h.via) for h in hits] == [(record.id, "keyword")]
    assert memory.last_error is not None and "rejected (401)" in memory.last_error
    hits = await memory.search(QUESTION)  # the endpoint is back: the row gets its vector
    assert hits[0].via == "hybrid" and memory.last_error is None


async def test_two_processes_see_each_others_changes(
    moco_home: Path, openai_embedder: OpenAIEmbedder,
) -> None:
    one, two = store(moco_home, openai_embedder), store(moco_home, openai_embedder)
    await one.add("The printer on floor three is broken.")
    assert len(await two.search("printer", k=5)) == 1
    added = await two.add("Ask Sato-san for printer toner.")
    hits = await one.search("printer toner", k=5)
    assert hits[0].record.id == added.id and hits[0].via == "hybrid"
    assert two.delete(added.id)
    hits = await one.search("toner", k=5)
    assert added.id not in {h.record.id for h in hits}
    index = moco_home / "memory" / "openai" / "text-embedding-3-small" / "64.faiss"
    assert on_disk(index)[0] == 1


async def test_a_damaged_index_file_is_rebuilt(moco_home: Path, openai_embedder: OpenAIEmbedder
                                               ) -> None:
    await filled(store(moco_home, openai_embedder))
    index = moco_home / "memory" / "openai" / "text-embedding-3-small" / "64.faiss"
    index.write_bytes(b"not a faiss index")
    memory = store(moco_home, openai_embedder)
    assert (await memory.search(QUESTION, k=1))[0].via == "hybrid"
    assert on_disk(index) == (6, 64)


# -- where it lives ------------------------------------------------------------------------------
@pytest.mark.parametrize("variable", ["MEMORY_DB_PATH", "SEMANTIC_DB_PATH"])
async def test_a_separate_memory_file(tmp_path: Path, moco_home: Path, variable: str,
                                      openai_embedder: OpenAIEmbedder) -> None:
    path = tmp_path / "elsewhere" / "memories.db"
    memory = SemanticMemory.open({"MOCO_HOME": str(moco_home), variable: str(path)},
                                 openai_embedder)
    await memory.add(FACT)
    memory.close()
    assert not (moco_home / "moco.db").exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT text FROM memories").fetchall() == [(FACT,)]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "sessions" not in tables and "relations" in tables
    index = tmp_path / "elsewhere" / "memories.db.index" / "openai" / "text-embedding-3-small"
    assert on_disk(index / "64.faiss") == (1, 64)


async def test_stats(moco_home: Path) -> None:
    memory = store(moco_home)
    fact = await filled(memory)
    await memory.supersede(fact, "Ask Suzuki-san about expense reports.")
    stats = memory.stats()
    assert (stats["memories"], stats["superseded"]) == (6, 1)
    assert stats["by_kind"] == {"fact": 1, "note": 5}
    assert stats["by_profile"] == {"default": 1, "(all profiles)": 5}
    assert stats["embedder"] is None and stats["indexes"] == []
    assert stats["database"] == str(moco_home / "moco.db")


async def test_keyword_search_of_a_large_store_saves_common_words_for_last(
    moco_home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moco.storage import semantic_memory

    monkeypatch.setattr(semantic_memory, "LARGE_STORE", 20)
    monkeypatch.setattr(semantic_memory, "MIN_COMMON", 3)
    memory = store(moco_home)
    await memory.add_many([f"Team {i} reviews the roadmap on Mondays." for i in range(40)])
    fact = (await memory.add("Ask Tanaka-san about the roadmap budget.")).id
    hits = memory.keyword_search("Who owns the roadmap budget?", k=3)
    assert hits[0].record.id == fact  # the selective word first
    common_only = memory.keyword_search("roadmap reviews", k=3)
    assert len(common_only) == 3 and fact not in {h.record.id for h in common_only}
    fallback = memory.keyword_search("Tanaka-san's roadmap", k=5)  # rare word, then common
    assert fallback[0].record.id == fact and len(fallback) == 5
    assert memory.keyword_search("nothing matches zebra", k=5) == []
