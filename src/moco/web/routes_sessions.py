"""Sessions, turns, the event stream and permission asks (see ``docs/web-api.md``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from moco.core.permissions import Approval
from moco.errors import ConfigError
from moco.web.service import SessionMissing, WebService


async def service_of(request: Request) -> WebService:
    service: WebService = request.app.state.service
    return service


Service = Annotated[WebService, Depends(service_of)]
router = APIRouter(prefix="/api", tags=["sessions"])


class NewSession(BaseModel):
    profile: str | None = None
    provider: str | None = None
    model: str | None = None
    working_dir: str | None = None
    name: str | None = None
    agent: str | None = None


class SessionChange(BaseModel):
    name: str | None = Field(default=None, description="a name to resume it by; null clears")
    title: str | None = None


class NewMessage(BaseModel):
    text: str = Field(min_length=1, max_length=200_000)
    attachments: list[str] = Field(default_factory=list, max_length=20)


class Answer(BaseModel):
    choice: Literal["once", "always", "deny"]
    message: str = ""


@router.get("/info")
async def info(service: Service) -> dict[str, Any]:
    """The server's defaults: folder, profile, provider and model of new sessions."""
    return service.info()


@router.get("/profiles")
async def profiles(service: Service) -> list[dict[str, Any]]:
    return service.profiles()


@router.get("/providers")
async def providers(service: Service) -> list[dict[str, Any]]:
    """Every provider moco knows, whether a key (or local URL) for it was found, and the
    model it would use; key values are never shown."""
    return service.providers()


@router.get("/sessions")
async def list_sessions(service: Service, q: str = "",
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """Most recently active first; ``q`` searches ids, names, titles and messages."""
    from moco.storage.session_search import search_sessions

    return [service.view(record) for record in search_sessions(service.sessions, q, limit)]


@router.post("/sessions", status_code=201)
async def create_session(body: NewSession, service: Service) -> dict[str, Any]:
    record = service.create(**body.model_dump())
    return service.view(record)


@router.get("/sessions/{session_id}")
async def get_session(session_id: str, service: Service, all: bool = False) -> dict[str, Any]:
    """The session, its stored messages, what is running now and the asks waiting."""
    record = service.record(session_id)
    data = service.view(record)
    data["messages"] = [m.to_dict() for m in service.sessions.load_records(
        record.id, include_children=all)]
    held = service.held(record.id)
    log = service.log(record.id)
    if held is not None:
        data["live"] = held.live_view()
        data["pending_permissions"] = held.approver.waiting()
        data["agents"] = list(held.orchestrator.profile.agents)
        data["agent"] = held.orchestrator.agent_name
    else:
        data["live"] = {"running": False, "last_event_id": log.last_id,
                        "run_start_event_id": None, "history_seq": None}
        data["pending_permissions"], data["agents"], data["agent"] = [], [], None
    return data


@router.patch("/sessions/{session_id}")
async def change_session(session_id: str, body: SessionChange, service: Service) -> dict[str, Any]:
    record = service.record(session_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        record = service.sessions.rename(record.id, changes["name"] or None)
    if changes.get("title"):
        record = service.sessions.set_title(record.id, changes["title"])
    return service.view(record)


@router.delete("/sessions/{session_id}", status_code=204)
async def delete_session(session_id: str, service: Service) -> Response:
    service.delete(session_id)
    return Response(status_code=204)


@router.get("/sessions/{session_id}/export")
async def export_session(session_id: str, service: Service,
                   format: Literal["md", "json"] = "md") -> Response:
    record = service.record(session_id)
    text = service.sessions.export_session(record.id, format)
    media = "application/json" if format == "json" else "text/markdown; charset=utf-8"
    filename = f"moco-session-{record.id}.{format}"
    return Response(text, media_type=media,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


# -- turns ------------------------------------------------------------------------------------
@router.post("/sessions/{session_id}/messages", status_code=202)
async def send_message(session_id: str, body: NewMessage, service: Service) -> dict[str, Any]:
    """Start a turn; its events come on ``/events``. 409 while a turn runs."""
    live = service.live(session_id)
    if not body.text.strip():
        raise ConfigError("the message is empty")
    if not service.record(live.session_id).title:  # as a run from the CLI is titled
        service.sessions.set_title(live.session_id, " ".join(body.text.split())[:80])
    uploads = service.uploads.require(live.session_id, body.attachments)
    task, parts = service.uploads.task_with_attachments(live.session_id, body.text, uploads)
    first = live.start_turn(body.text, [u.to_dict() for u in uploads], task_text=task,
                            parts=parts)
    return {"accepted": True, "event_id": first}


@router.post("/sessions/{session_id}/cancel")
async def cancel(session_id: str, service: Service) -> dict[str, bool]:
    """Stop the running turn (the seed's Stop button): the model stream is closed, tools and
    sub-agents are cancelled, the partial answer is kept as cancelled."""
    record = service.record(session_id)
    held = service.held(record.id)
    return {"cancelled": held.cancel() if held is not None else False}


@router.get("/sessions/{session_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def events(
    session_id: str, service: Service, after: int | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events: every event of the session's turns, after ``Last-Event-ID`` (or
    ``after``; by default from now on)."""
    record = service.record(session_id)
    log = service.log(record.id)
    start = log.last_id
    if last_event_id and last_event_id.strip().isdigit():
        start = int(last_event_id)
    elif after is not None:
        start = after

    async def stream() -> AsyncIterator[bytes]:
        # no is_disconnected() per event: the response cancels this generator when the
        # client goes (and asking costs ~8 % of the server's time at 50 streams)
        yield b"retry: 1500\n\n"
        async for item in log.follow(start):
            yield b": keep-alive\n\n" if item is None else item.sse()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


@router.get("/sessions/{session_id}/permissions")
async def permissions(session_id: str, service: Service) -> list[dict[str, Any]]:
    held = service.held(service.record(session_id).id)
    return held.approver.waiting() if held is not None else []


@router.post("/sessions/{session_id}/permissions/{ask_id}")
async def answer_permission(session_id: str, ask_id: str, body: Answer,
                      service: Service) -> dict[str, bool]:
    """Answer an ask as chat's prompt would: once, always for this session, or deny (the
    message goes to the model)."""
    held = service.held(service.record(session_id).id)
    approval = {"once": Approval.once(), "always": Approval.always(),
                "deny": Approval.deny(body.message.strip())}[body.choice]
    if held is None or not held.approver.answer(ask_id, approval):
        raise SessionMissing(f"no question {ask_id} is waiting — it was answered or withdrawn")
    return {"resolved": True}
