"""Files given with a task: images shrunk, PDFs with their text, text inline; the model's
vision checked before any request; the parts stored and sent again on a resumed session."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from tests.fixtures.media import bmp_bytes, pdf_bytes, png_bytes

from moco.core.attachments import (
    MAX_EDGE,
    attachment_part,
    check_vision,
    load_attachment,
    supports_images,
)
from moco.core.orchestrator import Orchestrator
from moco.errors import ConfigError
from moco.messages import DocumentPart, ImagePart, Message, TextPart
from moco.testing import Reply, ScriptedOpenAIServer


def decoded_size(part: ImagePart) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(part.data or ""))).size


def test_a_small_png_is_sent_as_it_is() -> None:
    png = png_bytes()
    part = attachment_part(png, "shot.png", "image/png")
    assert part == ImagePart("image/png", data=base64.b64encode(png).decode())


def test_a_large_image_is_shrunk_to_the_max_edge_as_jpeg() -> None:
    part = attachment_part(png_bytes((4000, 1000)), "wide.png", "image/png")
    assert isinstance(part, ImagePart) and part.media_type == "image/jpeg"
    assert decoded_size(part) == (MAX_EDGE, 512)


def test_transparency_keeps_png_and_odd_formats_are_re_encoded() -> None:
    wide = attachment_part(png_bytes((3000, 100), alpha=True), "logo.png", "image/png")
    assert isinstance(wide, ImagePart) and wide.media_type == "image/png"
    bmp = attachment_part(bmp_bytes(), "old.bmp", "image/bmp")
    assert isinstance(bmp, ImagePart) and bmp.media_type == "image/jpeg"
    assert decoded_size(bmp) == (16, 16)


def test_a_pdf_keeps_the_file_and_its_text() -> None:
    pdf = pdf_bytes("Invoice total 42 EUR")
    part = attachment_part(pdf, "invoice.pdf", "application/pdf")
    assert isinstance(part, DocumentPart) and part.name == "invoice.pdf"
    assert base64.b64decode(part.data or "") == pdf and part.text == "Invoice total 42 EUR"
    assert Message.from_dict(Message("user", [part]).to_dict()).parts == [part]


def test_text_files_go_inline_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\nship it\n")
    assert load_attachment(tmp_path / "notes.md") == TextPart("[file notes.md]\n# Notes\nship it\n")
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="neither an image, a PDF nor UTF-8 text"):
        load_attachment(tmp_path / "blob.bin")
    with pytest.raises(ConfigError, match="is not an image"):
        load_attachment(tmp_path / "notes.md", image=True)
    (tmp_path / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    with pytest.raises(ConfigError, match="not an image moco can read"):
        load_attachment(tmp_path / "fake.png")
    with pytest.raises(ConfigError, match="no such file"):
        load_attachment(tmp_path / "missing.png", image=True)


@pytest.mark.parametrize(("model", "vision"), [
    ("gpt-4o", True), ("claude-sonnet-5-5", True), ("gemini-2.0-flash", True),
    ("glm-4.7", False), ("glm-4.5v", True), ("deepseek-chat", False),
    ("kimi-k2-0905-preview", False), ("llama3.1", False), ("llama3.2-vision", True),
    ("qwen/qwen2.5-vl-72b-instruct", True), ("some-new-model", True),
])
def test_known_text_only_models_and_unknown_ones(model: str, vision: bool) -> None:
    assert supports_images(model) is vision


def test_the_profile_overrides_the_table() -> None:
    image = ImagePart("image/png", data="AA==")
    assert supports_images("glm-4.7", True) and not supports_images("gpt-4o", False)
    check_vision("glm-4.7", [TextPart("no image")])
    with pytest.raises(ConfigError, match="the model gpt-4o does not take images"):
        check_vision("gpt-4o", [image], False)


def orchestrator(server: ScriptedOpenAIServer, folder: Path, **options: object) -> Orchestrator:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url}
    return Orchestrator(provider="openai", working_dir=folder, env=env,
                        **options)  # type: ignore[arg-type]


async def test_attachments_join_the_task_and_are_sent_again_on_resume(
        scripted_openai: ScriptedOpenAIServer, tmp_path: Path) -> None:
    scripted_openai.add(Reply.say("a red square"), Reply.say("still red"))
    image = attachment_part(png_bytes(), "shot.png", "image/png")
    moco = orchestrator(scripted_openai, tmp_path)
    assert await moco.run("what is this?", attachments=[image]) == "a red square"
    session = moco.session_id
    assert session is not None
    await moco.aclose()
    again = orchestrator(scripted_openai, tmp_path)
    assert await again.run("and now?", session_id=session) == "still red"
    await again.aclose()
    for request in scripted_openai.requests:
        first = request.body["messages"][1]["content"]
        assert first[0] == {"type": "text", "text": "what is this?"}
        assert first[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


async def test_a_text_only_model_is_refused_before_any_request(
        scripted_openai: ScriptedOpenAIServer, tmp_path: Path) -> None:
    image = attachment_part(png_bytes(), "shot.png", "image/png")
    moco = orchestrator(scripted_openai, tmp_path, model="deepseek-chat")
    with pytest.raises(ConfigError, match="deepseek-chat does not take images"):
        await moco.run("what is this?", attachments=[image])
    await moco.aclose()
    assert scripted_openai.requests == []
