"""Slash commands of ``moco chat``: a table of small functions ``(chat, args) -> None``.

A line is a command when its first word starts with ``/`` and is not a path
(``/etc/hosts is broken`` is a message). Unknown commands get a hint and, when one is close,
a suggestion.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moco.chat.state import ChatState, human_tokens, short_path
from moco.core.model_switch import switch_model
from moco.errors import Cancelled, ConfigError, MocoError, ToolError

__all__ = ["COMMANDS", "switch_model"]

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator

Handler = Callable[[ChatState, str], Awaitable[None] | None]

KEYS_HELP = (
    "keys: Enter sends · Alt-Enter, Esc Enter, Ctrl-J or a trailing \\ adds a line · "
    "Tab completes",
    "      Ctrl-C stops a turn or clears the line · Ctrl-D (or Ctrl-C on an empty line) quits",
    "      @agent first asks that agent · @path mentions a file · Ctrl-X Ctrl-E opens $EDITOR",
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    handler: Handler
    usage: str
    help: str
    aliases: tuple[str, ...] = ()


COMMANDS: dict[str, Command] = {}


def command(
    name: str, usage: str, help: str, aliases: tuple[str, ...] = ()
) -> Callable[[Handler], Handler]:
    """Register a slash command in :data:`COMMANDS`."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, handler, usage, help, aliases)
        return handler

    return register


# -- parsing ----------------------------------------------------------------------------------
def parse_command(text: str) -> tuple[str, str] | None:
    """``"/cd  src "`` -> ``("cd", "src")``; ``None`` when the line is a message."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    parts = stripped[1:].split(maxsplit=1)
    if not parts:
        return "", ""
    if "/" in parts[0]:  # a path such as /etc/hosts starts a message
        return None
    return parts[0].lower(), (parts[1].strip() if len(parts) > 1 else "")


def find_command(name: str) -> Command | None:
    name = name.lower()
    if name in COMMANDS:
        return COMMANDS[name]
    return next((c for c in COMMANDS.values() if name in c.aliases), None)


def command_names() -> list[str]:
    """Every name and alias, sorted."""
    names = {alias for c in COMMANDS.values() for alias in (c.name, *c.aliases)}
    return sorted(names)


def suggest(name: str) -> str | None:
    """The closest command name to a mistyped one, if any is close."""
    matches = difflib.get_close_matches(name.lower(), command_names(), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_message(name: str) -> str:
    hint = f"unknown command /{name} — try /help"
    close = suggest(name)
    return f"{hint} (did you mean /{close}?)" if close else hint


async def dispatch(chat: ChatState, text: str) -> bool:
    """Run ``text`` if it is a slash command (errors become one line); False for a message."""
    parsed = parse_command(text)
    if parsed is None:
        return False
    name, args = parsed
    found = find_command(name or "help")
    if found is None:
        chat.say(unknown_message(name))
        return True
    try:
        result = found.handler(chat, args)
        if inspect.isawaitable(result):
            await result
    except Cancelled:
        chat.say("[cancelled]")
    except MocoError as error:
        chat.error(str(error))
    chat.refresh()
    return True


# -- general ----------------------------------------------------------------------------------
@command("help", "/help", "show the commands and keys", aliases=("?",))
def help_command(chat: ChatState, args: str) -> None:
    width = max(len(c.usage) for c in COMMANDS.values())
    for entry in COMMANDS.values():
        aliases = f" (also /{', /'.join(entry.aliases)})" if entry.aliases else ""
        chat.say(f"  {entry.usage.ljust(width)}  {entry.help}{aliases}")
    for line in KEYS_HELP:
        chat.say(line)


@command("quit", "/quit", "leave the chat", aliases=("exit", "q"))
def quit_command(chat: ChatState, args: str) -> None:
    chat.should_exit = True


@command("clear", "/clear", "start a new session and clear the screen", aliases=("new",))
def clear_command(chat: ChatState, args: str) -> None:
    chat.new_session()
    if chat.out.isatty():
        chat.out.write("\x1b[2J\x1b[H")
    chat.say("new session — the next message starts it")


@command("sessions", "/sessions", "list recent sessions")
def sessions_command(chat: ChatState, args: str) -> None:
    records = chat.orchestrator.sessions.list_sessions(limit=10)
    if not records:
        chat.say("no sessions yet")
        return
    for record in records:
        mark = "*" if record.id == chat.session_id else " "
        label = (record.name or record.title or "")[:50]
        when = record.updated_at[:16].replace("T", " ")
        chat.say(f"{mark} {record.id}  {when}  {record.message_count:>4} msgs  {label}")
    chat.say("resume one with: moco chat -s <id>")


# -- folders ----------------------------------------------------------------------------------
def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def resolve_folder(chat: ChatState, target: str) -> Path:
    """A folder (relative to the working directory), ``-`` (the previous one) or a bookmark."""
    if target == "-":
        if chat.previous_dir is None:
            raise ConfigError("no previous directory yet")
        return chat.previous_dir
    candidate = Path(os.path.expanduser(target))
    if not candidate.is_absolute():
        candidate = chat.working_dir / candidate
    if candidate.is_dir():
        return candidate.resolve()
    bookmark = chat.bookmarks.get(target)
    if bookmark is not None:
        if not bookmark.path.is_dir():
            raise ConfigError(f"bookmark '{target}' points to {bookmark.path}, which is gone")
        return bookmark.path
    raise ConfigError(f"no such directory or bookmark: {target}")


@command("cd", "/cd <path|bookmark|->", "change the working directory")
def cd_command(chat: ChatState, args: str) -> None:
    if args:
        chat.change_dir(resolve_folder(chat, _unquote(args)))
    chat.say(f"working directory: {chat.working_dir}")


@command("image", "/image <path>", "send an image with your next message")
def image_command(chat: ChatState, args: str) -> None:
    from moco.chat.attach import attach, describe

    if args.strip():
        chat.say(attach(chat, args, image=True))
    elif chat.attachments:
        chat.say("with your next message: " + ", ".join(describe(p) for p in chat.attachments))
    else:
        chat.say("usage: /image <path> (or paste an image's path into your message)")


@command("file", "/file <path>", "send a file (image, PDF, text) with your next message")
def file_command(chat: ChatState, args: str) -> None:
    from moco.chat.attach import attach

    if not args.strip():
        raise ConfigError("usage: /file <path>")
    chat.say(attach(chat, args, image=False))


@command("workdir", "/workdir add|list|remove", "bookmark folders: add [name], list, remove <name>",
         aliases=("bookmark",))
def workdir_command(chat: ChatState, args: str) -> None:
    action, _, rest = args.partition(" ")
    action, rest = action.lower(), rest.strip()
    store = chat.bookmarks
    if action == "add":
        bookmark, replaced = store.add(rest or chat.working_dir.name, chat.working_dir)
        verb = "updated" if replaced else "added"
        chat.say(f"{verb} bookmark {bookmark.name} → {short_path(bookmark.path, 70)}"
                 f" (jump there with /cd {bookmark.name})")
    elif action in ("", "list", "ls"):
        found = store.entries()
        if not found:
            chat.say("no bookmarks yet — add this folder with /workdir add [name]")
        width = max((len(b.name) for b in found), default=0)
        for bookmark in found:
            chat.say(f"  {bookmark.name.ljust(width)}  {bookmark.path}")
    elif action in ("remove", "rm", "delete"):
        if not rest:
            raise ConfigError("usage: /workdir remove <name>")
        removed = store.remove(rest)
        chat.say(f"removed bookmark {rest}" if removed else f"no bookmark named {rest}")
    else:
        raise ConfigError("usage: /workdir add [name] | /workdir list | /workdir remove <name>")


def _tool_context(chat: ChatState) -> Any:
    from moco.tools.context import ToolContext

    return ToolContext(working_dir=chat.working_dir, allow_outside=True)


@command("ls", "/ls [path]", "list a folder")
def ls_command(chat: ChatState, args: str) -> None:
    from moco.tools.filesystem import list_dir

    try:
        chat.say(list_dir(_tool_context(chat), _unquote(args) or "."))
    except ToolError as error:
        chat.error(str(error))


@command("tree", "/tree [path] [depth]", "show the folder tree (depth 2 by default)")
def tree_command(chat: ChatState, args: str) -> None:
    from moco.tools.filesystem import tree

    path, depth = ".", 2
    for word in args.split():
        if word.isdigit():
            depth = int(word)
        else:
            path = word
    try:
        chat.say(tree(_tool_context(chat), path, depth))
    except ToolError as error:
        chat.error(str(error))


# -- model and profile ------------------------------------------------------------------------
@command("model", "/model [name|provider/model]", "show or switch the model")
def model_command(chat: ChatState, args: str) -> None:
    if args:
        settings = switch_model(chat.orchestrator, args)
        chat.say(f"model: {settings.label} (from the next message)")
    else:
        chat.say(f"model: {chat.orchestrator.settings.label}")


def rebuild_with_profile(orchestrator: Orchestrator, profile: str) -> Orchestrator:
    """A new orchestrator for ``profile`` in the same folder, on the same provider and model."""
    from moco.core.orchestrator import Orchestrator

    settings = orchestrator.settings
    rebuilt = Orchestrator(
        profile=profile, provider=settings.name, model=settings.model,
        base_url=settings.base_url, working_dir=orchestrator.working_dir,
        max_turns=orchestrator.max_turns, env=orchestrator.env,
        allow_outside=orchestrator.allow_outside, max_depth=orchestrator.max_depth,
        max_parallel_agents=orchestrator.max_parallel_agents,
        session_logger=orchestrator.sessions,
        approver=orchestrator.permissions.approver, yes=orchestrator.permissions.yes,
        read_only=orchestrator.permissions.read_only,
    )
    rebuilt.settings = settings
    rebuilt._explicit_model = orchestrator._explicit_model
    rebuilt.model_choice = orchestrator.model_choice
    return rebuilt


@command("profile", "/profile [name]", "show or switch the profile (starts a new session)")
async def profile_command(chat: ChatState, args: str) -> None:
    orchestrator = chat.orchestrator
    if args:
        chat.replace_orchestrator(rebuild_with_profile(orchestrator, args.strip()))
        await orchestrator.aclose()
        orchestrator = chat.orchestrator
        chat.say(f"profile: {orchestrator.profile.name} — new session")
    profile = orchestrator.profile
    agents = ", ".join(profile.agents)
    chat.say(f"profile: {profile.name} — {profile.description}".rstrip(" —"))
    chat.say(f"agents: {agents} (talking to {orchestrator.agent_name})")
    if not args:
        from moco.profiles import list_profiles

        names = [i.name for i in list_profiles(orchestrator.working_dir, orchestrator.env)]
        chat.say(f"available: {', '.join(names)}")


# -- session tools ----------------------------------------------------------------------------
@command("checkpoint", "/checkpoint [name]", "save this point of the session and its files")
def checkpoint_command(chat: ChatState, args: str) -> None:
    try:
        from moco.core.checkpoint import save_checkpoint
    except ImportError:
        chat.say("checkpoints are not available")
        return
    record = save_checkpoint(chat.orchestrator, args.strip() or None)
    chat.say(f"checkpoint {record.name} saved — /restore {record.name} comes back here")


@command("restore", "/restore <name>", "rewind the session and files to a checkpoint")
def restore_command(chat: ChatState, args: str) -> None:
    try:
        from moco.core.checkpoint import restore_checkpoint
    except ImportError:
        chat.say("checkpoints are not available")
        return
    if not args.strip():
        raise ConfigError("usage: /restore <name>")
    result = restore_checkpoint(chat.orchestrator, args.strip())
    chat.say(f"restored {result.checkpoint.name}: {result.messages_dropped} messages dropped, "
             f"{len(result.restored)} files restored, {len(result.removed)} removed")
    for path, reason in result.skipped:
        chat.say(f"  {path} {reason}")
    folder = Path(result.working_dir) if result.working_dir else None
    if folder is not None and folder != chat.working_dir and folder.is_dir():
        chat.change_dir(folder)
        chat.say(f"working directory: {folder}")
    model = result.checkpoint.model
    if model and model != chat.orchestrator.settings.model:
        chat.say(f"(the checkpoint was made with {model} — /model {model} to switch back)")


@command("compact", "/compact", "summarize the older conversation now to free context")
async def compact_command(chat: ChatState, args: str) -> None:
    from moco.chat.turns import cancellable

    compact = getattr(chat.orchestrator, "compact", None)
    if not callable(compact):
        chat.say("context compression is not available")
        return
    if chat.session_id is None:
        chat.say("nothing to compact yet")
        return
    result = await cancellable(chat, _maybe_await(compact()))
    removed = getattr(result, "removed_messages", None)
    if removed is None:
        chat.say("nothing to compact")
        return
    chat.say(f"compacted: {removed} messages summarized, "
             f"~{human_tokens(int(getattr(result, 'tokens_before', 0)))} → "
             f"~{human_tokens(int(getattr(result, 'tokens_after', 0)))} tokens")


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@command("cost", "/cost", "tokens used in this session, per agent")
def cost_command(chat: ChatState, args: str) -> None:
    if chat.session_id is None:
        chat.say("no tokens used yet")
        return
    sessions = chat.orchestrator.sessions
    used_in, used_out = sessions.usage_totals(chat.session_id)
    chat.say(f"session {chat.session_label}: {used_in:,} in / {used_out:,} out tokens "
             f"({human_tokens(used_in + used_out)} total)")
    per_agent: dict[str, list[int]] = {}
    for run in sessions.runs(chat.session_id):
        totals = per_agent.setdefault(run.agent, [0, 0, 0])
        totals[0] += run.input_tokens
        totals[1] += run.output_tokens
        totals[2] += 1
    width = max((len(agent) for agent in per_agent), default=0)
    for agent, (agent_in, agent_out, count) in per_agent.items():
        runs = "run" if count == 1 else "runs"
        chat.say(f"  {agent.ljust(width)}  {agent_in:,} in / {agent_out:,} out  "
                 f"({count} {runs})")
