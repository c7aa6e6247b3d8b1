"""Git tools: status, diffs, commits (the message written by the model), pull requests.

Git runs as a subprocess in the working directory with no pager and no prompts, with
repository settings that would start other programs on a read (fsmonitor, external diff,
textconv) switched off, and without moco's API keys or any secret-named variable
(``*_TOKEN``, ``*_KEY`` ...) in its environment. Before a commit the staged additions are
scanned with moco's redactor; a secret (or a file such as ``.env`` by its name) refuses the
commit, naming the file, and the index is put back as it was. ``create_pr`` pushes the current
branch — never forced, never a protected branch — and opens the pull request through GitHub's
REST API with ``GITHUB_TOKEN`` (``GITHUB_API_URL`` for GitHub Enterprise), or with ``gh`` when
no token is set and ``gh`` is logged in. :func:`prepare_commit`, :func:`write_message` and
:func:`commit_staged` are shared with ``moco commit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from moco.errors import ProviderError, ToolError
from moco.safety.redaction import Redactor, is_env_like_file, looks_secret_name
from moco.tools.base import tool
from moco.tools.context import ToolContext
from moco.tools.shell import build_env, kill_process_group

GIT_TIMEOUT = 60.0
PUSH_TIMEOUT = 180.0
GITHUB_API = "https://api.github.com"
#: how much of the staged patch the model sees when it writes a message (the stat lists all)
PATCH_BUDGET = 12_000
#: settings that keep a repository's configuration from starting programs or paging output
_SAFE_CONFIG = ("-c", "core.fsmonitor=false", "-c", "core.pager=cat", "-c", "color.ui=false",
                "-c", "core.quotepath=off")
_DIFF_FLAGS = ("--no-color", "--no-ext-diff", "--no-textconv")

COMMIT_SYSTEM_PROMPT = """\
You write git commit messages in the Conventional Commits style.
First line: `type(scope): summary` - type is one of feat, fix, docs, style, refactor, perf,
test, build, ci, chore, revert; the scope is optional; imperative mood, no final period, at
most 72 characters.
When the change needs explaining, add a blank line and a short body (lines of at most 72
characters) saying what changed and why. Be concise; do not list every file.
Answer with the commit message only: no quotes, no code fences, no preamble."""

Complete = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: exit code, output (stdout cut to a limit) and how much was cut."""

    code: int
    out: str
    err: str
    cut: int = 0


#: variables that would point git at another repository or index than the working directory's
_REPOSITORY_VARS = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
                              "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE"})


def git_env(ctx: ToolContext) -> dict[str, str]:
    """The shell's environment (no pager, no prompts, moco's keys hidden) without any
    variable whose name looks secret (``GITHUB_TOKEN`` included) or that points git elsewhere
    (``GIT_DIR``, ``GIT_INDEX_FILE`` ...)."""
    return {k: v for k, v in build_env(ctx).items()
            if not looks_secret_name(k) and k not in _REPOSITORY_VARS}


def _settings(ctx: ToolContext) -> dict[str, str]:
    """Where ``GITHUB_TOKEN`` and ``GITHUB_API_URL`` are read from."""
    return {**os.environ, **(ctx.env or {})}


async def _read(stream: asyncio.StreamReader | None, limit: int | None) -> tuple[bytes, int]:
    kept, dropped = bytearray(), 0
    while stream is not None and (chunk := await stream.read(65536)):
        room = len(chunk) if limit is None else max(0, limit - len(kept))
        kept += chunk[:room]
        dropped += len(chunk) - min(room, len(chunk))
    return bytes(kept), dropped


async def run_command(ctx: ToolContext, argv: Sequence[str], *, stdin: str | None = None,
                      limit: int | None = None, seconds: float = GIT_TIMEOUT,
                      env: Mapping[str, str] | None = None) -> Completed:
    """Run ``argv`` in the working directory, in its own process group (killed after
    ``seconds`` or on cancellation); stdout beyond ``limit`` bytes is counted, not kept."""
    if ctx.is_cancelled:
        raise ToolError("cancelled by the user; git was not run")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=ctx.working_dir, env=dict(env if env is not None else git_env(ctx)),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:
        raise ToolError(f"cannot run {argv[0]}: {error}") from None

    async def talk() -> tuple[tuple[bytes, int], tuple[bytes, int]]:
        if process.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write((stdin or "").encode())
                await process.stdin.drain()
            process.stdin.close()
        out, err = await asyncio.gather(_read(process.stdout, limit), _read(process.stderr, 65536))
        await process.wait()
        return out, err

    try:
        (out, cut), (err, _) = await asyncio.wait_for(talk(), seconds)
    except TimeoutError:
        await kill_process_group(process.pid)
        raise ToolError(f"{' '.join(argv[:2])} timed out after {seconds:g}s") from None
    finally:
        if process.returncode is None:  # cancelled
            await asyncio.shield(kill_process_group(process.pid))
    return Completed(process.returncode or 0, out.decode("utf-8", errors="replace"),
                     err.decode("utf-8", errors="replace"), cut)


async def git(ctx: ToolContext, *args: str, check: bool = True, **options: Any) -> Completed:
    """``git args...``; raises :class:`ToolError` with git's own words when it fails."""
    done = await run_command(ctx, ["git", *_SAFE_CONFIG, *args], **options)
    if check and done.code != 0:
        said = (done.err.strip() or done.out.strip() or f"exit code {done.code}").splitlines()
        raise ToolError(f"git {args[0]} failed: {' / '.join(said[-4:])}")
    return done


def _pathspecs(ctx: ToolContext, paths: Sequence[str] | None) -> list[str]:
    """Paths confined to the working directory, after ``--`` so none is read as an option."""
    return ["--", *(str(ctx.resolve_path(path)) for path in paths or ())]


def _check_ref(ref: str) -> str:
    if not ref.strip() or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref):
        raise ToolError(f"'{ref}' is not a git revision (a branch, tag, commit or a..b range)")
    return ref


# -- status and diff ------------------------------------------------------------------------


@tool
async def git_status(ctx: ToolContext) -> str:
    """Show the branch (ahead/behind) and changed, staged, untracked files: `XY path`, X staged,
    Y unstaged."""
    done = await git(ctx, "status", "--short", "--branch")
    lines = done.out.rstrip("\n")
    return ctx.truncate(lines if "\n" in lines else f"{lines}\n(no changes)")


@tool
async def git_diff(ctx: ToolContext, staged: bool = False, ref: str | None = None,
                   paths: list[str] | None = None, stat: bool = False) -> str:
    """Show changes as a unified diff: unstaged ones by default, staged ones, or against a ref.

    Args:
        staged: Show what is staged for the next commit instead of unstaged changes.
        ref: Compare against this branch, tag or commit (or show an `a..b` range).
        paths: Only these files or folders.
        stat: Only a per-file summary of lines added and removed.
    """
    args = ["diff", *_DIFF_FLAGS, *(["--stat"] if stat else []), *(["--cached"] if staged else [])]
    if ref:
        args.append(_check_ref(ref))
    done = await git(ctx, *args, *_pathspecs(ctx, paths), limit=ctx.max_output_chars * 2)
    if not done.out.strip():
        what = "staged changes" if staged else "unstaged changes"
        hint = "" if staged or ref else " (staged=true shows what is staged)"
        return f"(no {'differences from ' + ref if ref else what}){hint}"
    text = ctx.truncate(done.out.rstrip("\n"))
    if done.cut:
        text += (f"\n[the diff goes on for {done.cut} more bytes: use stat=true, or name "
                 "paths, to see less at a time]")
    return text


# -- commits --------------------------------------------------------------------------------


class NothingStaged(ToolError):
    """There is nothing to commit."""


@dataclass(frozen=True, slots=True)
class StagedChanges:
    """What the next commit holds: ``git diff --cached --stat`` and the start of the patch."""

    stat: str
    patch: str
    #: characters of the patch not in ``patch``
    omitted: int


async def stage(ctx: ToolContext, paths: Sequence[str] | None = None,
                tracked: bool = False) -> None:
    """``git add -u`` (``tracked``: every change to tracked files) and ``git add`` of
    ``paths``."""
    if tracked:
        await git(ctx, "add", "--update", "--", ".")
    if paths:
        await git(ctx, "add", *_pathspecs(ctx, paths))


async def staged_changes(ctx: ToolContext, budget: int = PATCH_BUDGET) -> StagedChanges | None:
    """The staged changes, ``None`` when nothing is staged."""
    stat = await git(ctx, "diff", "--cached", *_DIFF_FLAGS, "--stat=100", limit=16_000)
    if not stat.out.strip():
        return None
    patch = await git(ctx, "diff", "--cached", *_DIFF_FLAGS, limit=budget)
    shown = patch.out
    if patch.cut and "\n" in shown:
        shown = shown[: shown.rfind("\n") + 1]
    return StagedChanges(stat.out.rstrip("\n"), shown, patch.cut + len(patch.out) - len(shown))


async def find_secrets(ctx: ToolContext, redactor: Redactor | None = None) -> list[str]:
    """Staged files that must not be committed: added lines holding a secret the redactor
    recognises (token shapes, the environment's secret values), or a name such as ``.env`` or
    ``id_rsa`` that says the file holds secrets. Each entry names the file and why."""
    redactor = redactor or Redactor(env=_settings(ctx))
    names = await git(ctx, "diff", "--cached", "--name-only", "--diff-filter=d", "-z")
    found = [f"{name} (a file of secrets, by its name)"
             for name in names.out.split("\0") if name and is_env_like_file(name)]
    patch = await git(ctx, "diff", "--cached", *_DIFF_FLAGS, "--no-renames", "-U0")
    for name, added in _added_lines(patch.out):
        if redactor.contains_secret(added) and not any(f.startswith(name + " ") for f in found):
            found.append(f"{name} (holds what looks like an API key, token or password)")
    return found


def _added_lines(patch: str) -> list[tuple[str, str]]:
    """(file, its added lines) for every file of a patch."""
    files: list[tuple[str, list[str]]] = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            files.append((line.rsplit(" b/", 1)[-1], []))
        elif line.startswith("+++ b/") and files:
            files[-1] = (line[6:], files[-1][1])
        elif line.startswith("+") and not line.startswith("+++ ") and files:
            files[-1][1].append(line[1:])
    return [(name, "\n".join(lines)) for name, lines in files if lines]


async def index_tree(ctx: ToolContext) -> str | None:
    """The index as a tree object, to put it back with :func:`restore_index` (``None``
    while a merge leaves conflicts)."""
    done = await git(ctx, "write-tree", check=False)
    if done.code != 0:
        return None
    return done.out.strip() or None


async def restore_index(ctx: ToolContext, tree: str | None) -> None:
    if tree is not None:
        await git(ctx, "read-tree", tree, check=False)


async def prepare_commit(ctx: ToolContext, paths: Sequence[str] | None = None,
                         tracked: bool = False) -> tuple[StagedChanges, str | None]:
    """Stage, then check what is staged: returns the staged changes and the index as it was
    before (for :func:`restore_index`). Nothing staged, or a secret, raises
    :class:`ToolError` (after a secret the index is put back as it was)."""
    before = await index_tree(ctx)
    await stage(ctx, paths, tracked)
    changes = await staged_changes(ctx)
    if changes is None:
        raise NothingStaged("nothing is staged to commit — name the files to commit"
                            " (paths) or stage every tracked change (all)")
    secrets = await find_secrets(ctx)
    if secrets:
        await restore_index(ctx, before)
        raise ToolError(
            "refused to commit: " + "; ".join(secrets) + ". Remove the secret (keep it in the "
            "environment or an untracked .env) and stage the file again; nothing was committed"
            + (" and the index is as it was" if before else ""))
    return changes, before


def commit_prompt(changes: StagedChanges) -> str:
    """What the model is asked to write a message for: the stat and the start of the patch."""
    note = (f" (the first {len(changes.patch):,} characters; {changes.omitted:,} more are not"
            " shown, the summary above lists every file)" if changes.omitted else "")
    return (f"Summary of the staged changes (git diff --cached --stat):\n{changes.stat}\n\n"
            f"Patch{note}:\n{changes.patch}")


async def write_message(complete: Complete | None, changes: StagedChanges) -> str:
    """A conventional-commit message for ``changes``, written by the model."""
    if complete is None:
        raise ToolError("no model is available here to write the message; pass message")
    try:
        text = await complete(COMMIT_SYSTEM_PROMPT, commit_prompt(changes))
    except ProviderError as error:
        raise ToolError(f"the model could not write the message ({error}); pass message"
                        ) from None
    message = clean_message(text)
    if not message:
        raise ToolError("the model wrote an empty commit message; pass message")
    return message


def clean_message(text: str) -> str:
    """The model's answer without code fences, quotes or a ``Commit message:`` preamble."""
    text = text.strip()
    fenced = re.fullmatch(r"```[\w-]*\n(.*?)\n?```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    text = re.sub(r"^(?:commit message|message)\s*:\s*", "", text, flags=re.IGNORECASE)
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return re.sub(r"\n{3,}", "\n\n", text)


async def commit_staged(ctx: ToolContext, message: str) -> str:
    """``git commit`` of what is staged with ``message``; returns git's summary."""
    if Redactor(env=_settings(ctx)).contains_secret(message):
        raise ToolError("refused to commit: the commit message holds what looks like a secret")
    done = await git(ctx, "commit", "--file=-", "--cleanup=strip", stdin=message + "\n")
    return done.out.strip()


@tool(mutates=True)
async def git_commit(ctx: ToolContext, message: str | None = None,
                     paths: list[str] | None = None, all: bool = False) -> str:
    """Commit what is staged (staging `paths` or `all` first); refuses secrets; writes the
    message when none is given.

    Args:
        message: The commit message; leave it out to have one written from the staged diff.
        paths: Files or folders to stage before committing (new files need naming here).
        all: Stage every change to already tracked files first (like git commit -a).
    """
    changes, _ = await prepare_commit(ctx, paths, tracked=all)
    text = clean_message(message or "") or await write_message(ctx.complete, changes)
    return await commit_staged(ctx, text)


# -- pull requests --------------------------------------------------------------------------


def parse_remote(url: str) -> tuple[str, str, str] | None:
    """(host, owner, repo) of ``https://host/o/r.git``, ``ssh://git@host/o/r`` or
    ``git@host:o/r.git``; ``None`` for a local path."""
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    elif re.match(r"^[^/\\]+:", url) and not re.match(r"^[A-Za-z]:[\\/]", url):
        address, path = url.split(":", 1)
        host = address.rsplit("@", 1)[-1]
    else:
        return None
    segments = path.strip("/").removesuffix(".git").split("/")
    if not host or len(segments) < 2 or not all(segments[-2:]):
        return None
    return host.lower(), segments[-2], segments[-1]


async def current_branch(ctx: ToolContext) -> str:
    done = await git(ctx, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    if done.code != 0 or not done.out.strip():
        raise ToolError("HEAD is detached — switch to a branch first (git switch -c <name>)")
    return done.out.strip()


async def default_base(ctx: ToolContext) -> str:
    """The remote's default branch (``refs/remotes/origin/HEAD``), else ``main``."""
    done = await git(ctx, "symbolic-ref", "--short", "-q", "refs/remotes/origin/HEAD", check=False)
    name = done.out.strip()
    return name.removeprefix("origin/") if done.code == 0 and name else "main"


def is_protected(branch: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(branch, pattern) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class PullRequest:
    title: str
    head: str
    base: str
    body: str
    draft: bool


@tool(mutates=True)
async def create_pr(ctx: ToolContext, title: str, body: str | None = None,
                    base: str | None = None, draft: bool = False) -> str:
    """Push the current branch to origin and open a GitHub pull request from it.

    Args:
        title: The pull request's title.
        body: Its description (Markdown).
        base: The branch to merge into (default: the remote's default branch).
        draft: Open it as a draft.
    """
    head = await current_branch(ctx)
    target = _check_ref(base) if base else await default_base(ctx)
    if head == target or is_protected(head, ctx.protected_branches):
        raise ToolError(f"refused: {head} is a protected branch and would be pushed directly; "
                        "commit on a topic branch (git switch -c <name>) and open the pull "
                        "request from there")
    remote = await git(ctx, "remote", "get-url", "origin", check=False)
    if remote.code != 0:
        raise ToolError("this repository has no remote named origin (git remote add origin URL)")
    request = PullRequest(title, head, target, body or "", draft)
    settings = _settings(ctx)
    token = settings.get("GITHUB_TOKEN") or settings.get("GH_TOKEN")
    use_gh = not token and await _gh_ready(ctx)
    if not token and not use_gh:
        raise ToolError("set GITHUB_TOKEN (a token that may open pull requests) or log in with "
                        "gh auth login to open pull requests; nothing was pushed")
    api, owner, repo = _github_repo(remote.out, settings) if token else ("", "", "")
    await git(ctx, "push", "-u", "origin", "HEAD", seconds=PUSH_TIMEOUT)
    if use_gh:
        return await _open_with_gh(ctx, request)
    return await _open_with_api(api, str(token), owner, repo, request)


def _github_repo(url: str, settings: Mapping[str, str]) -> tuple[str, str, str]:
    """The API base URL, owner and repository for the ``origin`` URL."""
    api = (settings.get("GITHUB_API_URL") or "").rstrip("/")
    parsed = parse_remote(url)
    if parsed is None and "/" in settings.get("GITHUB_REPOSITORY", ""):
        owner, _, repo = settings["GITHUB_REPOSITORY"].partition("/")
        return api or GITHUB_API, owner, repo
    if parsed is None:
        raise ToolError(f"cannot tell the GitHub repository from origin ({url.strip()}); "
                        "set GITHUB_REPOSITORY=owner/repo")
    host, owner, repo = parsed
    if not api and host != "github.com":  # the token is not sent to a host nobody named
        raise ToolError(f"origin is on {host}, not github.com: set GITHUB_API_URL "
                        f"(https://{host}/api/v3 for GitHub Enterprise Server)")
    return api or GITHUB_API, owner, repo


async def _open_with_api(api: str, token: str, owner: str, repo: str,
                         pr: PullRequest) -> str:
    payload = {"title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body,
               "draft": pr.draft}
    status, data = await asyncio.to_thread(
        _post_json, f"{api}/repos/{owner}/{repo}/pulls", payload, token)
    if status == 0:
        raise ToolError(f"pushed {pr.head}, but cannot reach {api}: {data}")
    if status == 201 and isinstance(data, dict):
        kind = "draft pull request" if pr.draft else "pull request"
        return (f"opened {kind} #{data.get('number')}: {data.get('html_url')} "
                f"({pr.head} -> {pr.base})")
    raise ToolError(f"pushed {pr.head}, but GitHub refused the pull request "
                    f"({status}): {_github_error(data, status)}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST is not followed (the token would go along to wherever it points)."""

    def redirect_request(self, *args: Any) -> None:
        return None


def _post_json(url: str, payload: Mapping[str, Any], token: str) -> tuple[int, Any]:
    """POST ``payload`` to a GitHub REST endpoint: (status, decoded JSON); (0, reason) when
    the server cannot be reached."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/vnd.github+json",
                                              "X-GitHub-Api-Version": "2022-11-28",
                                              "Content-Type": "application/json",
                                              "User-Agent": "moco"})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=30) as response:
            status, raw = response.status, response.read(1_000_000)
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read(1_000_000)
    except (urllib.error.URLError, OSError) as error:
        return 0, getattr(error, "reason", error)
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {}


def _github_error(data: Any, status: int) -> str:
    """GitHub's ``message`` and the ``errors`` of a validation failure, in one line."""
    if not isinstance(data, dict):
        return "no readable answer"
    said = [str(data.get("message") or "no message")]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            said.append(str(error.get("message") or
                            " ".join(str(error.get(k, "")) for k in ("field", "code")).strip()))
        else:
            said.append(str(error))
    hints = {401: "is GITHUB_TOKEN valid?",
             403: "may the token open pull requests in this repository?",
             404: "does the repository exist, and may the token see it?"}
    return " — ".join(filter(None, said)) + (f" ({hints[status]})" if status in hints else "")


async def _gh_ready(ctx: ToolContext) -> bool:
    env = git_env(ctx)
    if shutil.which("gh", path=env.get("PATH")) is None:
        return False
    done = await run_command(ctx, ["gh", "auth", "status"], env=env, seconds=30.0)
    return done.code == 0


async def _open_with_gh(ctx: ToolContext, pr: PullRequest) -> str:
    argv = ["gh", "pr", "create", "--title", pr.title, "--body", pr.body, "--base", pr.base,
            "--head", pr.head, *(["--draft"] if pr.draft else [])]
    env = {**git_env(ctx), "GH_PROMPT_DISABLED": "1", "NO_COLOR": "1"}
    done = await run_command(ctx, argv, env=env, seconds=PUSH_TIMEOUT)
    if done.code != 0:
        said = (done.err.strip() or done.out.strip()).splitlines()
        raise ToolError(f"pushed {pr.head}, but gh pr create failed: {' / '.join(said[-4:])}")
    return f"opened pull request: {done.out.strip()} ({pr.head} -> {pr.base})"


GIT_TOOLS = (git_status, git_diff, git_commit, create_pr)
