"""The web UI's FastAPI app: the page, its static files and the API, behind the token.

``create_app(options, access)`` builds it; ``moco ui`` serves it with uvicorn. With ``-r``
(development) uvicorn re-imports :func:`app_from_env`, which reads the same settings from
the environment ``moco ui`` prepared.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from moco.errors import ConfigError, MocoError
from moco.web.auth import Access, AccessMiddleware, login_cookies

log = logging.getLogger("moco.web")
STATIC = Path(str(resources.files("moco.web") / "static"))
#: ``moco ui -r``: the settings handed to the re-importing worker
SETTINGS_VAR = "MOCO_UI_SETTINGS"


def status_for(error: MocoError) -> int:
    """The HTTP status of an error the service raised."""
    from moco.core.checkpoint import CheckpointNotFound, DuplicateCheckpoint
    from moco.storage.session_logger import DuplicateSessionName, SessionNotFound
    from moco.web.files import FileMissing, OutsideFolder
    from moco.web.live import SessionBusy
    from moco.web.service import SessionMissing
    from moco.web.uploads import UploadRefused

    table: tuple[tuple[type[MocoError] | tuple[type[MocoError], ...], int], ...] = (
        ((SessionMissing, SessionNotFound, CheckpointNotFound, FileMissing), 404),
        ((SessionBusy, DuplicateSessionName, DuplicateCheckpoint), 409),
        (OutsideFolder, 403),
        (UploadRefused, 413),
        (ConfigError, 400),
    )
    for kinds, status in table:
        if isinstance(error, kinds):
            return status
    return 500


def create_app(options: Any, access: Access, *, development: bool = False) -> FastAPI:
    """The app for :class:`~moco.web.service.UIOptions` ``options`` behind ``access``."""
    from moco.web.routes_sessions import router as sessions_router
    from moco.web.routes_workspace import router as workspace_router
    from moco.web.service import WebService

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = WebService(options)
        try:
            yield
        finally:
            await app.state.service.aclose()

    app = FastAPI(title="moco", version=_version(), lifespan=lifespan,
                  description="The HTTP API of moco's web UI. Authenticate with "
                              "`Authorization: Bearer <token>`. See docs/web-api.md.")
    app.state.access = access
    app.include_router(sessions_router)
    app.include_router(workspace_router)

    @app.exception_handler(MocoError)
    async def moco_error(request: Request, error: MocoError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status_for(error))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(error).__name__}: {error}"},
                            status_code=500)

    @app.get("/", include_in_schema=False)
    async def page(request: Request, token: str | None = None) -> Response:
        if token is not None:  # the URL moco ui printed: log in, then drop it from the bar
            if not access.token_matches(token):
                return JSONResponse({"detail": "wrong token"}, status_code=401)
            answer = RedirectResponse("/", status_code=303)
            for name, value, http_only in login_cookies(access):
                answer.set_cookie(name, value, httponly=http_only, samesite="strict",
                                  secure=access.secure_cookies, max_age=30 * 86400)
            return answer
        return FileResponse(STATIC / "index.html", headers=_cache(development))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        icon = STATIC / "favicon.svg"
        if icon.is_file():
            return FileResponse(icon, media_type="image/svg+xml")
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    # the page's files go compressed (~140 KB -> ~40 KB); the event stream never is
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(AccessMiddleware, access=access)  # outermost: nothing passes unchecked
    return app


def _cache(development: bool) -> dict[str, str]:
    return {"cache-control": "no-store" if development else "no-cache"}


def _version() -> str:
    from moco import __version__

    return __version__


def settings_for_reload(options: Any, access: Access) -> str:
    """The JSON :func:`app_from_env` rebuilds the app from (no token: that stays in
    ``MOCO_UI_TOKEN``)."""
    from dataclasses import asdict

    data = asdict(options)
    data["working_dir"] = str(options.working_dir)
    data.pop("env", None)
    return json.dumps({"options": data, "port": access.port, "host": access.host,
                       "extra_hosts": list(access.extra_hosts)})


def app_from_env() -> Any:
    """``moco ui -r``: the app, from what :func:`settings_for_reload` wrote."""
    from moco.web.service import UIOptions

    settings = json.loads(os.environ[SETTINGS_VAR])
    raw = settings["options"]
    raw["working_dir"] = Path(raw["working_dir"])
    access = Access(token=os.environ["MOCO_UI_TOKEN"], port=settings["port"],
                    host=settings["host"], extra_hosts=tuple(settings["extra_hosts"]))
    return create_app(UIOptions(**raw), access, development=True)
