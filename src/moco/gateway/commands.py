"""The slash commands a phone sends (``/help`` lists them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moco.gateway.core import Gateway

HELP = """Commands:
/stop - stop the answer under way
/new or /clear - start a new session for this chat
/profile NAME - the profile of the next session
/provider NAME - the provider (or provider/model) from the next message on
/workdir PATH or /cd PATH - the session's working folder
/status - session, profile, model, folder, running?
/help - this list
Anything else goes to moco."""

Command = Callable[["Gateway", str, str], Awaitable[str]]


async def _help(gateway: Gateway, chat: str, argument: str) -> str:
    return HELP


async def _stop(gateway: Gateway, chat: str, argument: str) -> str:
    session = gateway.chats.get(chat).session_id
    if session is None or not await gateway.api.cancel(session):
        return "Nothing is running."
    return "Stopped."


async def _new(gateway: Gateway, chat: str, argument: str) -> str:
    session = gateway.chats.get(chat).session_id
    if session is not None and gateway.running(chat):
        await gateway.api.cancel(session)
    return f"New session {await gateway.session_id(chat, fresh=True)}."


async def _profile(gateway: Gateway, chat: str, argument: str) -> str:
    if not argument:
        return f"Profile: {gateway.chats.get(chat).profile or gateway.profile or 'default'}."
    names = [str(entry["name"]) for entry in await gateway.api.profiles()]
    if argument not in names:
        return f"No profile {argument!r}; there are: {', '.join(names)}."
    gateway.chats.get(chat).profile = argument
    gateway.chats.save()
    return f"Profile {argument} from the next session (/new starts one)."


async def _provider(gateway: Gateway, chat: str, argument: str) -> str:
    if not argument:
        return "Usage: /provider NAME (or NAME/MODEL)."
    state = gateway.chats.get(chat)
    state.provider = argument
    gateway.chats.save()
    if state.session_id is None:
        return f"Provider {argument} for the session your next message starts."
    view = await gateway.api.set_model(state.session_id, argument)
    return f"Model {view['provider']}/{view['model']} from the next message on."


async def _workdir(gateway: Gateway, chat: str, argument: str) -> str:
    if not argument:
        return "Usage: /workdir PATH."
    view = await gateway.api.set_workdir(await gateway.session_id(chat), argument)
    return f"Folder: {view['working_dir']}."


async def _status(gateway: Gateway, chat: str, argument: str) -> str:
    state = gateway.chats.get(chat)
    if state.session_id is None:
        profile = state.profile or gateway.profile or "default"
        return f"No session yet; your next message starts one (profile {profile})."
    view = await gateway.api.session(state.session_id)
    running = "yes" if view.get("running") or gateway.running(chat) else "no"
    return "\n".join([
        f"Session: {view['id']}" + (f" ({view['title']})" if view.get("title") else ""),
        f"Profile: {view['profile']}",
        f"Model: {view['provider']}/{view['model']}",
        f"Folder: {view['working_dir']}",
        f"Running: {running}",
    ])


COMMANDS: dict[str, Command] = {
    "/help": _help, "/stop": _stop, "/new": _new, "/clear": _new, "/profile": _profile,
    "/provider": _provider, "/workdir": _workdir, "/cd": _workdir, "/status": _status,
}


async def run_command(gateway: Gateway, chat: str, command: str, argument: str) -> str:
    """Run ``command`` (a key of :data:`COMMANDS`) for ``chat``; the text to reply."""
    return await COMMANDS[command](gateway, chat, argument)
