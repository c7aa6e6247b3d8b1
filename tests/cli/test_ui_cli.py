"""``moco ui``: loopback by default, a token printed as a login URL, one line for bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from tests.web.conftest import free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")


def moco(*args: str, env: dict[str, str] | None = None, **options: object
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moco", *args], capture_output=True,
                          text=True, timeout=60, env=env or child_env(), **options)  # type: ignore[call-overload]


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": SRC, **extra}
    env.pop("MOCO_UI_TOKEN", None)
    return env


def test_help_does_not_import_the_web_stack_or_a_provider_sdk() -> None:
    code = ("import sys; sys.argv = ['moco', '--help']\n"
            "from moco.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = {'openai', 'anthropic', 'google', 'fastapi', 'uvicorn', 'starlette'}\n"
            "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=child_env())
    assert " ui " in done.stdout or "│ ui" in done.stdout or "\n  ui" in done.stdout
    assert "LOADED []" in done.stdout


def test_binding_every_interface_needs_an_explicit_flag() -> None:
    done = moco("ui", "--host", "0.0.0.0", "-p", str(free_port()))
    assert done.returncode != 0
    assert done.stderr.strip().startswith("error:") and "--allow-remote" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = moco("ui", "-p", str(port))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "-p" in done.stderr


@pytest.mark.slow
def test_moco_ui_prints_a_login_url_and_serves_the_api(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moco", "ui", "-p", str(port), "-w", str(tmp_path),
         "--provider", "openai"],
        env=child_env(OPENAI_API_KEY="k", OPENAI_BASE_URL="http://127.0.0.1:9/v1"),
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert process.stderr is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = process.stderr.readline()
            if "?token=" in line:
                url = line.split()[-1]
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        token = url.split("token=")[1]
        for _ in range(100):
            try:
                info = httpx2.get(f"http://127.0.0.1:{port}/api/info",
                                  headers={"authorization": f"Bearer {token}"})
                break
            except httpx2.ConnectError:
                time.sleep(0.1)
        assert info.json()["working_dir"] == str(tmp_path.resolve())
        assert httpx2.get(f"http://127.0.0.1:{port}/api/info").status_code == 401
        with httpx2.Client(follow_redirects=True) as browser:
            page = browser.get(url)
            assert page.status_code == 200 and "moco_token" in browser.cookies
            assert browser.get(f"http://127.0.0.1:{port}/api/sessions").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert process.returncode in (0, 130, -signal.SIGINT)
