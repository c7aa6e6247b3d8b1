"""The whole run's shell in one Docker container (``--sandbox``).

One container per run, started on the first command and removed by :meth:`aclose`:

- the image's own filesystem; the working directory bind-mounted at ``/workspace`` (where
  commands start) and at its own path too, so absolute paths in the prompt and in file-tool
  results name the same files; the roots the user added at their own paths; nothing else of
  this machine is visible (no home directory, no credentials, no ``MOCO_HOME``);
- the names that decide what the next run trusts (``.git/hooks``, ``.moco`` ...) mounted
  read-only over the bind, ``.env``-like files masked with ``/dev/null``;
- ``--network none`` unless the policy allows the network; ``--cap-drop ALL``,
  ``no-new-privileges``, memory / CPU / process limits; the user's uid and gid, so files the
  commands write belong to the user;
- ``docker exec`` per command, so what one command leaves (``pip install``, files in
  ``/tmp``) is there for the next. Only the variables moco sets on purpose (the run's ``env``,
  pager settings) go in, by name, never the host's environment.

``docker exec`` does not stop the command when its client dies, so each command records its
process group in the container and a small host-side ``sh`` turns the SIGTERM the shell tool
sends on timeout or cancel into a ``kill`` of that group inside the container.

A killed moco leaves no container: the container is named and labelled with moco's pid before
it starts, the reaper's watcher (:mod:`moco.tools.reaper`) runs ``docker rm -f`` when moco
dies, and the next start removes labelled containers whose owner on this host is gone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from moco.errors import ConfigError, ToolError
from moco.sandbox.base import SandboxPolicy
from moco.tools.reaper import REAPER

DEFAULT_IMAGE = "python:3.12-slim"
WORKSPACE = PurePosixPath("/workspace")
DEFAULT_MEMORY = "2g"
DEFAULT_CPUS = 2.0
DEFAULT_PIDS = 1024
#: labels every container of ours carries (stale ones are found by them)
LABEL = "moco.sandbox"
OWNER_LABEL = "moco.owner"
HOST_LABEL = "moco.host"
#: how long a docker CLI call may take (start, inspect, remove)
CLI_TIMEOUT = 60.0
#: where each command writes its process group inside the container
PID_DIR = "/tmp/.moco-exec"
#: variables of the host that never go into the container even when moco set them
HOST_ONLY = frozenset({"PATH", "HOME", "PWD", "OLDPWD", "TMPDIR", "SHELL", "HOSTNAME",
                       "USER", "LOGNAME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT"})

#: inside: remember this shell's pid (its group: docker exec makes it a group leader), run argv
_INNER = f'echo $$ >{PID_DIR}/"$1" 2>/dev/null; shift; exec "$@"'
#: outside: run docker exec; on SIGTERM/SIGINT/SIGHUP kill the command's group in the
#: container (TERM, up to a second, then KILL), since killing the client does not
_OUTER = f"""d=$1 c=$2 t=$3; shift 3
stop() {{
  "$d" exec "$c" sh -c 'g=$(cat {PID_DIR}/'"$t"' 2>/dev/null) || exit 0
    kill -TERM -- "-$g" 2>/dev/null || exit 0
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$g" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL -- "-$g" 2>/dev/null; exit 0' >/dev/null 2>&1
  exit 143
}}
trap stop TERM INT HUP
"$@" &
wait $!"""


class DockerSandbox:
    """Runs every command of a run in one container (see the module docstring).

    Making one checks that the engine answers and the image is here (a
    :class:`~moco.errors.ConfigError` saying what to do, never a silent pull); the container
    starts on the first :meth:`wrap`, or earlier with :meth:`start`.
    """

    confined = True

    def __init__(self, policy: SandboxPolicy, image: str = DEFAULT_IMAGE, *,
                 docker: str | None = None, memory: str = DEFAULT_MEMORY,
                 cpus: float = DEFAULT_CPUS, pids_limit: int = DEFAULT_PIDS,
                 user: str | None = None, host_env: Mapping[str, str] | None = None,
                 check: bool = True) -> None:
        found = docker or shutil.which("docker")
        if found is None:
            raise ConfigError("--sandbox needs Docker: the docker command is not installed "
                              "(install Docker, or run without --sandbox)")
        self.docker = found
        self.policy = policy
        self.image = image
        self.name = f"docker ({image})"
        self.memory = memory
        self.cpus = min(cpus, float(os.cpu_count() or 1))
        self.pids_limit = pids_limit
        self.user = user or f"{os.getuid()}:{os.getgid()}"
        self._host_env = os.environ if host_env is None else host_env
        self._workdir = _real(policy.working_dir)
        self.container = f"moco-{os.getpid()}-{secrets.token_hex(4)}"
        self._started = False
        self._shell = "bash"
        self._lock = threading.Lock()
        if check:
            self.check()

    # -- checks ---------------------------------------------------------------------------
    def check(self) -> None:
        """Raise a one-line :class:`ConfigError` unless the engine answers and the image is
        here."""
        done = self._cli("version", "--format", "{{.Server.Version}}")
        if done.returncode != 0:
            raise ConfigError(f"--sandbox: the Docker engine does not answer "
                              f"({_last_line(done.stderr)}) — start Docker (dockerd, Docker "
                              "Desktop) or run without --sandbox")
        done = self._cli("image", "inspect", "--format", "{{.Id}}", self.image)
        if done.returncode != 0:
            raise ConfigError(f"--sandbox: the Docker image {self.image} is not here — "
                              f"docker pull {self.image}, or pass --sandbox-image IMAGE")

    # -- the container --------------------------------------------------------------------
    def run_argv(self) -> list[str]:
        """The ``docker run`` that starts the container (kept alive by a long ``sleep``)."""
        argv = [self.docker, "run", "--detach", "--rm", "--init", "--name", self.container,
                "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={os.getpid()}",
                "--label", f"{HOST_LABEL}={socket.gethostname()}",
                "--user", self.user, "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges",
                "--memory", self.memory, "--cpus", f"{self.cpus:g}",
                "--pids-limit", str(self.pids_limit),
                "--env", "HOME=/tmp", "--workdir", str(WORKSPACE)]
        if not self.policy.network:
            argv += ["--network", "none"]
        argv += mount_arguments(self.policy)
        return [*argv, "--entrypoint", "sleep", self.image, "2147483647"]

    def start(self) -> None:
        """Start the container if it is not running yet (blocking; a few hundred ms)."""
        with self._lock:
            if self._started:
                return
            remove_stale(self.docker)
            REAPER.register_command(self._remove_argv())  # before it exists: no window
            done = self._cli(*self.run_argv()[1:])
            if done.returncode != 0:
                REAPER.unregister_command(self._remove_argv())
                raise ToolError(f"cannot start the sandbox container: "
                                f"{_last_line(done.stderr)}")
            self._started = True
            probe = self._cli("exec", self.container, "sh", "-c",
                              f"mkdir -p {PID_DIR}; command -v bash || true")
            if probe.returncode != 0:
                raise ToolError(f"the sandbox image {self.image} has no sh: "
                                f"{_last_line(probe.stderr)}")
            self._shell = "bash" if probe.stdout.strip() else "sh"

    def wrap(self, argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        self.start()
        inner = list(argv)
        if inner and inner[0] == "bash" and self._shell != "bash":
            inner[0] = "sh"  # the image has no bash (busybox, alpine)
        names = sorted(key for key, value in env.items()
                       if key not in HOST_ONLY and self._host_env.get(key) != value)
        token = secrets.token_hex(6)
        exec_argv = [self.docker, "exec", "--interactive", "--workdir", self.inside(cwd),
                     *(part for name in names for part in ("--env", name)),
                     self.container, "sh", "-c", _INNER, "sh", token, *inner]
        return ["sh", "-c", _OUTER, "moco-docker", self.docker, self.container, token,
                *exec_argv], dict(env)

    def inside(self, path: Path) -> str:
        """Where ``path`` (on this machine) is in the container: under ``/workspace`` for the
        working directory, its own path for the other roots; ``/workspace`` otherwise."""
        real = _real(path)
        if _within(real, self._workdir):
            return str(WORKSPACE.joinpath(*real.relative_to(self._workdir).parts))
        if any(_within(real, _real(root)) for root in self.policy.writable):
            return str(real)
        return str(WORKSPACE)

    async def aclose(self) -> None:
        if not self._started:
            return
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Remove the container now (blocking)."""
        with self._lock:
            if not self._started:
                return
            self._cli(*self._remove_argv()[1:])
            REAPER.unregister_command(self._remove_argv())
            self._started = False

    def _remove_argv(self) -> list[str]:
        return [self.docker, "rm", "--force", self.container]

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([self.docker, *args])


def mount_arguments(policy: SandboxPolicy) -> list[str]:
    """``--mount`` options for ``policy``: the working directory at ``/workspace`` and at its
    own path, the added roots at theirs, protected names read-only, masked files and hidden
    paths inside them covered."""
    from moco.sandbox.bwrap import protected_paths

    workdir = _real(policy.working_dir)
    args = _bind(workdir, WORKSPACE) + (_bind(workdir, workdir) if str(workdir) != str(
        WORKSPACE) else [])
    roots = [_real(root) for root in policy.writable if _real(root).is_dir()]
    for root in dict.fromkeys(roots):
        if not _within(root, workdir):
            args += _bind(root, root)
    covers: list[tuple[Path, bool]] = [(path, True) for path in
                                       protected_paths(workdir, policy.protected)]
    covers += [(_real(path), False) for path in (*policy.masked, *policy.hidden)]
    for path, readonly in covers:
        if not os.path.lexists(path):
            continue
        for target in _targets(path, workdir, roots):
            if readonly:
                args += _bind(path, target, readonly=True)
            elif path.is_dir():
                args += ["--mount", _mount_spec("tmpfs", None, target)]
            else:
                args += _bind(Path("/dev/null"), target, readonly=True)
    return args


def remove_stale(docker: str) -> list[str]:
    """Remove our containers whose moco process on this host is gone; returns their ids."""
    done = _run([docker, "ps", "--all", "--filter", f"label={LABEL}",
                 "--filter", f"label={HOST_LABEL}={socket.gethostname()}",
                 "--format", f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}'])
    stale = []
    for line in done.stdout.splitlines():
        container, _, owner = line.partition(" ")
        if owner.isdigit() and not _alive(int(owner)):
            stale.append(container)
    if stale:
        _run([docker, "rm", "--force", *stale])
    return stale


def _targets(path: Path, workdir: Path, roots: Sequence[Path]) -> list[PurePosixPath]:
    """Where ``path`` shows in the container (nowhere if outside every mount)."""
    found: list[PurePosixPath] = []
    if _within(path, workdir):
        found.append(WORKSPACE.joinpath(*path.relative_to(workdir).parts))
        found.append(PurePosixPath(path))
    elif any(_within(path, root) for root in roots):
        found.append(PurePosixPath(path))
    return list(dict.fromkeys(found))


def _bind(source: Path, target: Path | PurePosixPath, *, readonly: bool = False) -> list[str]:
    return ["--mount", _mount_spec("bind", source, target) + (",readonly" if readonly else "")]


def _mount_spec(kind: str, source: Path | None, target: Path | PurePosixPath) -> str:
    """One ``--mount`` value; docker reads it as CSV, so fields with commas are quoted."""
    fields = [f"type={kind}", *([f"source={source}"] if source is not None else []),
              f"target={target}"]
    return ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if "," in f or '"' in f else f
                    for f in fields)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "",
                                           f"docker did not answer in {CLI_TIMEOUT:g}s")
    except OSError as error:
        return subprocess.CompletedProcess(list(argv), 127, "", str(error))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents



class SharedContainer:
    """A :class:`DockerSandbox` as one run of a longer session sees it: the runs of one
    orchestrator (a chat's turns) share the container, so what one installed the next can
    use; closing this view leaves it running, and the orchestrator's ``aclose`` removes it."""

    confined = True

    def __init__(self, owner: DockerSandbox) -> None:
        self.owner = owner
        self.name = owner.name
        self.policy = owner.policy

    def wrap(self, argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        return self.owner.wrap(argv, cwd=cwd, env=env)

    async def aclose(self) -> None:
        return None
