"""Session store throughput: appends (each its own committed transaction, as in a real run)
and loading a long session back.

Realistic messages of ~500 bytes: a user turn, an assistant message with text and a tool call,
a tool result, in rotation. WAL mode, synchronous=NORMAL: the settings moco runs with.
Targets: >= 5,000 appends/s and < 100 ms to load 10,000 messages.
Run: python bench/storage.py [messages]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from moco.core.messages import Message, TextPart, ToolCallPart, ToolResultPart
from moco.storage import Database, SessionLogger

FILLER = "The quick brown fox jumps over the lazy dog while the agent reads the code. "


def sample_messages() -> list[Message]:
    """Three messages of about 500 bytes of JSON each."""
    return [
        Message.user("Refactor the parser so that it reports line numbers. " + FILLER * 5),
        Message("assistant", [
            TextPart("I will read the parser first, then change the error type. " + FILLER * 3),
            ToolCallPart("call_0123456789", "read_file",
                         {"path": "src/parser/core.py", "offset": 120, "limit": 80}),
        ]),
        Message("tool", [ToolResultPart("call_0123456789", "read_file",
                                        "def parse(text):\n    " + FILLER * 5)]),
    ]


def run(count: int) -> None:
    samples = sample_messages()
    sizes = [len(json.dumps(m.to_dict())) for m in samples]
    with tempfile.TemporaryDirectory() as tmp:
        logger = SessionLogger(Database(Path(tmp) / "moco.db"))
        session = logger.create_session(title="bench")
        run_id = logger.start_run(session.id, agent="orchestrator", task="bench")

        start = time.perf_counter()
        for i in range(count):
            logger.append_message(session.id, samples[i % 3], agent="orchestrator",
                                  run_id=run_id)
        elapsed = time.perf_counter() - start
        print(f"append: {count:,} messages (~{sum(sizes) // 3} bytes each) in {elapsed:.2f} s"
              f" = {count / elapsed:,.0f} appends/s (target >= 5,000)")

        timings = []
        for _ in range(5):
            start = time.perf_counter()
            messages = logger.load_messages(session.id)
            timings.append((time.perf_counter() - start) * 1000)
        assert len(messages) == count
        print(f"load:   {count:,} messages in {min(timings):.1f} ms best, "
              f"{sorted(timings)[2]:.1f} ms median (target < 100 ms)")

        start = time.perf_counter()
        records = logger.load_records(session.id)
        print(f"load_records (full transcript): {(time.perf_counter() - start) * 1000:.1f} ms"
              f" ({len(records):,} records)")
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        print(f"database size: {size / 1e6:.1f} MB (with WAL)")
        logger.db.close()


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
