"""Files given with a task (``moco run --image/--file``, web UI uploads) as message parts.

- images: decoded with Pillow, shrunk to at most :data:`MAX_EDGE` pixels on the long side and
  re-encoded (JPEG, or PNG when they have transparency) when they were larger, in a format
  every provider reads, or above :data:`MAX_IMAGE_BYTES`; the stored transcript keeps the
  shrunk image, not the original;
- PDFs: a :class:`~moco.messages.DocumentPart` with the file (for Anthropic, Gemini, OpenAI
  and OpenRouter, which read PDFs) and its text extracted with pypdf (for the others);
- text files: inline, as a text part naming the file.

Whether a model takes images: :func:`supports_images` — a small table of known text-only
models; an unknown model is assumed to take them; ``vision: true|false`` in ``profile.yaml``
overrides the table.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from moco.errors import ConfigError
from moco.messages import DocumentPart, ImagePart, Message, Part, TextPart

MAX_EDGE = 2048
MAX_IMAGE_BYTES = 4 * 1024 * 1024  # under Anthropic's 5 MB per image, base64 aside
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_TEXT_BYTES = 256 * 1024
#: formats every provider reads as they are
_DIRECT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
                   "WEBP": "image/webp"}
#: models known to take text only (matched on the name after the last ``/``, lower case);
#: names with ``vision`` or ``-vl`` or a GLM ``v`` suffix are taken for vision models
_TEXT_ONLY = re.compile(
    r"^(deepseek-(chat|reasoner|coder|r1|v\d).*|glm-\d(\.\d)?(-(air|flash|plus|x))*"
    r"|kimi-k2(?!.*vision).*|gpt-3\.5.*|o1-mini.*|o3-mini.*|llama-?3(\.[0-3])?(:|-|$).*"
    r"|codestral.*|qwen[\d.]*-coder.*|mistral-7b.*|text-.*)$"
)
_VISION_HINT = re.compile(r"vision|-vl|\bvl\b|glm-[\d.]+v")


def supports_images(model: str, override: Any = None) -> bool:
    """Whether ``model`` takes images: ``override`` (the profile's ``vision``) when it is a
    bool, else False for the known text-only models, else True."""
    if isinstance(override, bool):
        return override
    name = model.rsplit("/", 1)[-1].lower()
    return bool(_VISION_HINT.search(name)) or not _TEXT_ONLY.match(name)


def check_vision(model: str, parts: Iterable[Part], override: Any = None) -> None:
    """Refuse, before any request, images for a model that does not take them."""
    if any(isinstance(p, ImagePart) for p in parts) and not supports_images(model, override):
        raise ConfigError(f"the model {model} does not take images — choose a vision model "
                          "with --model (or set vision: true in profile.yaml if it does)")


def task_message(task: str, attachments: Sequence[Part] = ()) -> Message:
    """The first user message of a run: the task, then its attachments."""
    return Message("user", [TextPart(task), *attachments])


def load_attachment(path: Path, *, image: bool = False) -> Part:
    """The part for the file at ``path``; ``image`` says it must be an image (``--image``)."""
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    data = path.read_bytes()
    media_type = guess_type(path.name)
    if image and not media_type.startswith("image/"):
        raise ConfigError(f"{path} is not an image (use --file for other files)")
    return attachment_part(data, path.name, media_type)


def guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def attachment_part(data: bytes, name: str, media_type: str) -> Part:
    """The part for the bytes of one file by its media type."""
    if media_type.startswith("image/"):
        return image_part(data, name)
    if media_type == "application/pdf":
        return document_part(data, name)
    return text_file_part(data, name)


def image_part(data: bytes, name: str = "image") -> ImagePart:
    """An inline image, shrunk and re-encoded when needed (see the module's docstring)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        raise ConfigError(f"{name} is not an image moco can read") from None
    media_type = _DIRECT_FORMATS.get(image.format or "")
    if media_type and max(image.size) <= MAX_EDGE and len(data) <= MAX_IMAGE_BYTES:
        return ImagePart(media_type, data=base64.b64encode(data).decode("ascii"))
    image.thumbnail((MAX_EDGE, MAX_EDGE))
    encoded, media_type = _encode(image)
    if len(encoded) > MAX_IMAGE_BYTES:
        raise ConfigError(f"{name} is over {MAX_IMAGE_BYTES // 2**20} MB even when shrunk")
    return ImagePart(media_type, data=base64.b64encode(encoded).decode("ascii"))


def _encode(image: Any) -> tuple[bytes, str]:
    out = io.BytesIO()
    alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    if alpha:
        image.save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png"
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


def document_part(data: bytes, name: str = "document.pdf") -> DocumentPart:
    """A PDF with its extracted text."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"{name} is over {MAX_DOCUMENT_BYTES // 2**20} MB")
    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except (PdfReadError, ValueError, OSError):
        raise ConfigError(f"{name} is not a PDF moco can read") from None
    return DocumentPart("application/pdf", data=base64.b64encode(data).decode("ascii"),
                        text=text.strip(), name=name)


def text_file_part(data: bytes, name: str) -> TextPart:
    """A text file inline; binary files are refused."""
    if len(data) > MAX_TEXT_BYTES:
        raise ConfigError(f"{name} is over {MAX_TEXT_BYTES // 1024} KB; give the agents "
                          "its path in the working directory instead")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name} is neither an image, a PDF nor UTF-8 text") from None
    return TextPart(f"[file {name}]\n{text}")
