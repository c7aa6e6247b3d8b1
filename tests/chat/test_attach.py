"""``/image``, ``/file`` and pasted image paths: the next message carries the files."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from moco.chat.commands import dispatch
from moco.chat.state import ChatState
from moco.chat.turns import run_turn
from moco.testing import Reply, ScriptedOpenAIServer

from .conftest import output


def png(path: Path, size: tuple[int, int] = (8, 6)) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def sent_parts(server: ScriptedOpenAIServer) -> list[dict[str, object]]:
    content = server.requests[-1].body["messages"][-1]["content"]
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


async def test_an_image_attached_with_a_command_goes_with_the_next_message_only(
        chat: ChatState, project: Path, scripted_openai: ScriptedOpenAIServer) -> None:
    png(project / "shot.png")
    await dispatch(chat, "/image shot.png")
    assert "attached shot.png (image" in output(chat)
    scripted_openai.add(Reply.say("a red square"), Reply.say("nothing attached"))
    await run_turn(chat, "what is this?")
    kinds = [p["type"] for p in sent_parts(scripted_openai)]
    assert kinds == ["text", "image_url"]
    url = str(sent_parts(scripted_openai)[1]["image_url"]["url"])  # type: ignore[index]
    assert url.startswith("data:image/png;base64,")
    Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).verify()
    await run_turn(chat, "and now?")
    assert [p["type"] for p in sent_parts(scripted_openai)] == ["text"]


async def test_a_pasted_image_path_is_attached_and_other_paths_stay_words(
        chat: ChatState, project: Path, scripted_openai: ScriptedOpenAIServer) -> None:
    png(project / "my shot.png")
    scripted_openai.add(Reply.say("seen"))
    await run_turn(chat, "compare '/nowhere/x.png' src/main.py and my\\ shot.png please")
    parts = sent_parts(scripted_openai)
    assert [p["type"] for p in parts] == ["text", "image_url"]
    assert "src/main.py" in str(parts[0]["text"])


async def test_a_missing_file_or_a_text_file_as_image_is_one_line(
        chat: ChatState, project: Path) -> None:
    await dispatch(chat, "/image missing.png")
    assert "no such file" in output(chat)
    await dispatch(chat, "/image README.md")
    said = output(chat)
    assert "is not an image" in said and "Traceback" not in said
    await dispatch(chat, "/file README.md")
    assert "attached README.md (text)" in output(chat)
    assert len(chat.attachments) == 1
