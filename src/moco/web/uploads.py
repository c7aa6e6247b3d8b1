"""Files a person attaches in the browser: kept under ``MOCO_HOME/uploads/<session>/``.

Each upload is the file (``<id>``) and a small JSON description (``<id>.json``: name, media
type, size, kind). Images and documents are accepted; what the model gets from them is
decided when a message is sent (:func:`task_with_attachments`): text documents go inline,
images and PDFs go as image and document parts (:mod:`moco.core.attachments`), each named in
the text.
"""

from __future__ import annotations

import json
import mimetypes
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from moco.config import ensure_private_dir
from moco.errors import ConfigError
from moco.messages import Part

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: text documents sent with a message are given to the model inline, up to this much each
INLINE_TEXT_BYTES = 100_000

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOCUMENT_TYPES = frozenset({"application/pdf"})
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml",
                        "application/yaml", "application/toml", "application/javascript",
                        "application/x-sh", "application/sql"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".yaml",
                           ".yml", ".toml", ".ini", ".cfg", ".log", ".py", ".js", ".ts",
                           ".tsx", ".jsx", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".hpp",
                           ".rb", ".php", ".sh", ".sql", ".html", ".css", ".xml", ".diff",
                           ".patch", ".kt", ".swift", ".cs", ".lua", ".r", ".tex"})

Kind = Literal["image", "document", "text"]
_ID = re.compile(r"^[0-9a-f]{16}$")


class UploadRefused(ConfigError):
    """The file is not one the UI accepts (type or size)."""


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    name: str
    media_type: str
    size: int
    kind: Kind

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def classify(name: str, declared: str | None) -> tuple[str, Kind]:
    """The media type and kind of an uploaded file, from its name and the declared type;
    refuses what is neither an image nor a document."""
    suffix = Path(name).suffix.lower()
    guessed = mimetypes.guess_type(name)[0]
    media_type = (declared or "").split(";")[0].strip().lower() or guessed or ""
    if media_type in IMAGE_TYPES:
        return media_type, "image"
    if media_type in DOCUMENT_TYPES or suffix == ".pdf":
        return "application/pdf", "document"
    if media_type.startswith("text/") or media_type in TEXT_TYPES or suffix in TEXT_SUFFIXES:
        return (media_type if media_type.startswith("text/") else "text/plain"), "text"
    if guessed in IMAGE_TYPES:
        return guessed, "image"
    raise UploadRefused(f"{name}: only images (PNG, JPEG, GIF, WebP), PDFs and text files "
                        "can be attached")


def safe_name(name: str) -> str:
    """The file's own name without folders or control characters, at most 120 characters."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip() or "file"
    return cleaned[:120]


class UploadStore:
    """The uploads of every session, on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, session_id: str) -> Path:
        return self.root / session_id

    def save(self, session_id: str, name: str, media_type: str | None, data: bytes) -> Upload:
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadRefused(f"{name}: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        name = safe_name(name)
        kind_type, kind = classify(name, media_type)
        if kind == "text" and b"\0" in data[:8192]:
            raise UploadRefused(f"{name}: looks binary, not text")
        upload = Upload(uuid.uuid4().hex[:16], name, kind_type, len(data), kind)
        folder = ensure_private_dir(self._folder(session_id))
        (folder / upload.id).write_bytes(data)
        (folder / f"{upload.id}.json").write_text(json.dumps(upload.to_dict()))
        return upload

    def get(self, session_id: str, upload_id: str) -> Upload | None:
        if not _ID.match(upload_id):
            return None
        meta = self._folder(session_id) / f"{upload_id}.json"
        if not meta.is_file():
            return None
        return Upload(**json.loads(meta.read_text()))

    def path(self, session_id: str, upload: Upload) -> Path:
        return self._folder(session_id) / upload.id

    def all(self, session_id: str) -> list[Upload]:
        folder = self._folder(session_id)
        if not folder.is_dir():
            return []
        found = [Upload(**json.loads(p.read_text())) for p in folder.glob("*.json")]
        return sorted(found, key=lambda u: self.path(session_id, u).stat().st_mtime)

    def require(self, session_id: str, upload_ids: list[str]) -> list[Upload]:
        uploads = []
        for upload_id in upload_ids:
            upload = self.get(session_id, upload_id)
            if upload is None:
                raise ConfigError(f"no upload {upload_id} in this session — attach it again")
            uploads.append(upload)
        return uploads

    def remove_session(self, session_id: str) -> None:
        folder = self._folder(session_id)
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            folder.rmdir()

    def task_with_attachments(self, session_id: str, text: str,
                              uploads: list[Upload]) -> tuple[str, list[Part]]:
        """What the model is asked: ``text``, then each text document inline and a line
        naming each image or PDF; and the image and document parts that go with it."""
        from moco.core.attachments import attachment_part

        pieces = [text]
        parts: list[Part] = []
        for upload in uploads:
            raw = self.path(session_id, upload).read_bytes()
            if upload.kind == "text":
                body = raw[:INLINE_TEXT_BYTES].decode("utf-8", errors="replace")
                cut = "\n[… cut]" if len(raw) > INLINE_TEXT_BYTES else ""
                pieces.append(f"Attached file {upload.name}:\n```\n{body}{cut}\n```")
            else:
                parts.append(attachment_part(raw, upload.name, upload.media_type))
                pieces.append(f"[The user attached {upload.name} ({upload.media_type}, "
                              f"{upload.size:,} bytes).]")
        return "\n\n".join(pieces), parts
