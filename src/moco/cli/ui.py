"""``moco ui``: the web UI and its HTTP API, on 127.0.0.1 behind a token."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from moco.cli.options import (
    AllowOutsideOption,
    BaseUrlOption,
    MaxTurnsOption,
    ModelOption,
    NoNetworkOption,
    ProviderOption,
    ReadOnlyOption,
    SandboxImageOption,
    SandboxOption,
    TrustProjectOption,
    WorkdirOption,
    YesOption,
)

if TYPE_CHECKING:
    from moco.web.auth import Access
    from moco.web.service import UIOptions


def register(app: typer.Typer) -> None:
    app.command("ui")(ui_command)


def ui_command(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(
        "--host", "-h", help="Address to bind (127.0.0.1: only this machine).")] = "127.0.0.1",
    reload: Annotated[bool, typer.Option(
        "--reload", "-r", help="Development mode: restart when moco's code changes.")] = False,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote",
        help="Allow binding a non-loopback address: anyone who can reach it and has the token "
             "can run commands on this machine.")] = False,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Another name the server may be reached by (repeatable).")
    ] = None,
    open_browser: Annotated[bool, typer.Option(
        "--open", help="Open the page in the default browser.")] = False,
    profile: Annotated[str, typer.Option(
        "--profile", help="Profile of new sessions.")] = "default",
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
    max_turns: MaxTurnsOption = 50,
    yes: YesOption = False,
    read_only: ReadOnlyOption = False,
    allow_outside: AllowOutsideOption = False,
    no_network: NoNetworkOption = False,
    sandbox: SandboxOption = False,
    sandbox_image: SandboxImageOption = None,
    trust_project: TrustProjectOption = False,
) -> None:
    """Serve the web UI and its HTTP API (the token is printed; /docs describes the API)."""
    from moco.errors import ConfigError
    from moco.web.auth import Access, is_loopback, new_token
    from moco.web.service import UIOptions

    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"binding {host} lets other machines run commands here — add "
                          "--allow-remote if you mean it (the token still guards every request)")
    folder = (working_dir or Path.cwd()).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"working directory {folder} does not exist")
    if not trust_project and sys.stdin.isatty():  # asked once, as moco chat asks
        from moco.trust.asking import ask_once

        ask_once(folder, None, input)
    options = UIOptions(
        working_dir=folder, profile=profile, provider=provider, model=model, base_url=base_url,
        max_turns=max_turns, yes=yes, read_only=read_only, allow_outside=allow_outside,
        network=False if no_network else None,
        sandbox="docker" if sandbox or sandbox_image else None, sandbox_image=sandbox_image,
        trust_project=trust_project or None,
    )
    extra = tuple(allowed_host or ()) or (("*",) if not is_loopback(host) else ())
    access = Access(token=os.environ.get("MOCO_UI_TOKEN") or new_token(), port=port,
                    host=host, extra_hosts=extra)
    serve(options, access, reload=reload, open_browser=open_browser)


def login_url(access: Access) -> str:
    shown = "127.0.0.1" if access.host in ("0.0.0.0", "::") else access.host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{access.port}/?token={access.token}"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or one line saying why there is none."""
    from moco.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on each connection: without it every answer on
    # a kept-alive connection waits ~40 ms for Nagle's algorithm and the delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror} — "
                          "choose another port with -p") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(options: UIOptions, access: Access, *, reload: bool, open_browser: bool) -> None:
    import uvicorn

    from moco.web.app import SETTINGS_VAR, create_app, settings_for_reload

    url = login_url(access)
    typer.echo(f"moco ui on {url.split('/?')[0]}  (Ctrl-C stops)\n"
               f"open this URL to log in: {url}", err=True)
    if reload:
        os.environ["MOCO_UI_TOKEN"] = access.token
        os.environ[SETTINGS_VAR] = settings_for_reload(options, access)
        import moco

        uvicorn.run("moco.web.app:app_from_env", factory=True, host=access.host,
                    port=access.port, reload=True, log_level="info", access_log=False,
                    reload_dirs=[str(Path(moco.__file__).parent)])
        return
    sock = bind(access.host, access.port)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(create_app(options, access), log_level="warning",
                            access_log=False, timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])
