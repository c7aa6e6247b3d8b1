"""A session's surroundings: its model, folder, checkpoints, files, uploads and usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from moco.errors import ConfigError
from moco.web.files import list_folder, read_text_file
from moco.web.live import SessionBusy
from moco.web.routes_sessions import Service
from moco.web.service import SessionMissing
from moco.web.uploads import MAX_UPLOAD_BYTES, UploadRefused

router = APIRouter(prefix="/api", tags=["workspace"])


class ModelChange(BaseModel):
    model: str = Field(min_length=1, description="model, provider/model, or a provider")


class FolderChange(BaseModel):
    path: str = Field(min_length=1)


class NewCheckpoint(BaseModel):
    name: str | None = None


@router.put("/sessions/{session_id}/model")
async def change_model(session_id: str, body: ModelChange, service: Service) -> dict[str, Any]:
    """Chat's ``/model``: used from the next turn, kept with the session."""
    from moco.core.model_switch import switch_model

    live = service.live(session_id)
    switch_model(live.orchestrator, body.model)
    return service.view(service.record(live.session_id))


@router.put("/sessions/{session_id}/workdir")
async def change_folder(session_id: str, body: FolderChange,
                        service: Service) -> dict[str, Any]:
    """Chat's ``/cd``: the folder the session's agents work in from the next turn."""
    live = service.live(session_id)
    if live.running:
        raise SessionBusy("change the folder between turns")
    target = _folder_target(live.orchestrator.working_dir, body.path)
    live.orchestrator.working_dir = target
    record = service.sessions.update_session(live.session_id, working_dir=str(target))
    return service.view(record)


def _folder_target(current: Path, text: str) -> Path:
    target = (current / Path(text).expanduser()).resolve()
    if not target.is_dir():
        raise ConfigError(f"{target} is not a folder")
    return target


@router.post("/sessions/{session_id}/compact")
async def compact(session_id: str, service: Service) -> dict[str, Any]:
    """Chat's ``/compact``: summarize the older conversation now."""
    live = service.live(session_id)
    if live.running:
        raise SessionBusy("compact between turns")
    result = await live.orchestrator.compact(live.session_id)
    if result is None:
        return {"removed_messages": 0}
    return {"removed_messages": result.removed_messages,
            "tokens_before": result.tokens_before, "tokens_after": result.tokens_after}


# -- checkpoints ------------------------------------------------------------------------------
def _checkpoint_view(record: Any) -> dict[str, Any]:
    return {"name": record.name, "created_at": record.created_at, "seq": record.seq,
            "files": len(record.manifest), "profile": record.profile, "model": record.model,
            "working_dir": record.working_dir}


@router.get("/sessions/{session_id}/checkpoints")
async def checkpoints(session_id: str, service: Service) -> list[dict[str, Any]]:
    from moco.core.checkpoint import CheckpointManager

    record = service.record(session_id)
    return [_checkpoint_view(c) for c in CheckpointManager(service.sessions, record.id).list()]


@router.post("/sessions/{session_id}/checkpoints", status_code=201)
async def save_checkpoint(session_id: str, body: NewCheckpoint,
                          service: Service) -> dict[str, Any]:
    """Chat's ``/checkpoint``: this point of the conversation and of the files changed."""
    from moco.core import checkpoint

    live = service.live(session_id)
    if live.running:
        raise SessionBusy("save a checkpoint between turns")
    return _checkpoint_view(checkpoint.save_checkpoint(live.orchestrator, body.name or None))


@router.post("/sessions/{session_id}/checkpoints/{name}/restore")
async def restore_checkpoint(session_id: str, name: str, service: Service) -> dict[str, Any]:
    """Chat's ``/restore``: the conversation, the files, the todos and skills as they were."""
    from moco.core import checkpoint

    live = service.live(session_id)
    if live.running:
        raise SessionBusy("restore between turns")
    result = checkpoint.restore_checkpoint(live.orchestrator, name)
    folder = Path(result.working_dir) if result.working_dir else None
    if folder is not None and folder.is_dir() and folder != live.orchestrator.working_dir:
        live.orchestrator.working_dir = folder
        service.sessions.update_session(live.session_id, working_dir=str(folder))
    return {"messages_dropped": result.messages_dropped,
            "restored": [str(p) for p in result.restored],
            "removed": [str(p) for p in result.removed],
            "skipped": [[str(p), reason] for p, reason in result.skipped],
            "working_dir": str(live.orchestrator.working_dir),
            "model": result.checkpoint.model}


# -- files ------------------------------------------------------------------------------------
def _folder_of(service: Service, session_id: str) -> tuple[Path, Any]:
    live = service.live(session_id)
    return live.orchestrator.working_dir, live.orchestrator.permissions


@router.get("/sessions/{session_id}/files")
async def files(session_id: str, service: Service, path: str = "") -> dict[str, Any]:
    """The entries of a folder inside the session's working directory."""
    root, _ = _folder_of(service, session_id)
    return list_folder(root, path)


@router.get("/sessions/{session_id}/file")
async def file(session_id: str, service: Service, path: str) -> dict[str, Any]:
    """A file inside the working directory, read-only; protected files (``.env``, keys) are
    not shown, as the agents are not let read them without asking."""
    root, permissions = _folder_of(service, session_id)
    return read_text_file(root, path, permissions.may_read)


# -- uploads ----------------------------------------------------------------------------------
@router.post("/sessions/{session_id}/uploads", status_code=201)
async def upload(session_id: str, file: UploadFile, service: Service) -> dict[str, Any]:
    """An image or document to send with the next message (20 MB at most)."""
    record = service.record(session_id)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"{file.filename}: larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    saved = service.uploads.save(record.id, file.filename or "file", file.content_type, data)
    return saved.to_dict()


@router.get("/sessions/{session_id}/uploads")
async def uploads(session_id: str, service: Service) -> list[dict[str, Any]]:
    record = service.record(session_id)
    return [u.to_dict() for u in service.uploads.all(record.id)]


@router.get("/sessions/{session_id}/uploads/{upload_id}")
async def upload_file(session_id: str, upload_id: str, service: Service) -> FileResponse:
    record = service.record(session_id)
    found = service.uploads.get(record.id, upload_id)
    if found is None:
        raise SessionMissing(f"no upload {upload_id}")
    disposition = "inline" if found.kind == "image" else "attachment"
    return FileResponse(service.uploads.path(record.id, found), media_type=found.media_type,
                        filename=found.name, content_disposition_type=disposition)


# -- usage ------------------------------------------------------------------------------------
@router.get("/sessions/{session_id}/usage")
async def session_usage(session_id: str, service: Service) -> dict[str, Any]:
    """Tokens of the session, per agent (money comes with the price table)."""
    return service.usage(service.record(session_id).id)


@router.get("/usage")
async def usage(service: Service) -> dict[str, Any]:
    """Tokens of every session, per model and provider."""
    return service.total_usage()
