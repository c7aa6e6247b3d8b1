"""What opening beneath the working directory costs, against a plain ``open``.

    python bench/beneath.py

Opens ``a/b/c/file.txt`` in a temporary directory N times each way: ``os.open`` by path,
``openat2(RESOLVE_BENEATH)`` and the portable ``O_NOFOLLOW`` walk (plus the root fd each
tool call opens), and the whole ``write_file`` tool call against a plain ``write_bytes``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from moco.safety import beneath
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.filesystem import write_file

N = 20_000


def per_call(label: str, function: Callable[[], None], count: int = N) -> float:
    function()
    started = time.perf_counter()
    for _ in range(count):
        function()
    micros = (time.perf_counter() - started) / count * 1e6
    print(f"{label:<44} {micros:8.2f} µs")
    return micros


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "a" / "b" / "c").mkdir(parents=True)
        target = root / "a" / "b" / "c" / "file.txt"
        target.write_text("x")

        def plain() -> None:
            os.close(os.open(target, os.O_RDONLY))

        def with_root(walk: bool) -> Callable[[], None]:
            def run() -> None:
                fd = beneath.open_root(root)
                os.close(beneath.open_beneath(fd, "a/b/c/file.txt", os.O_RDONLY,
                                              force_walk=walk))
                os.close(fd)
            return run

        base = per_call("os.open(path)", plain)
        if beneath.openat2_available():
            per_call("open_root + openat2(RESOLVE_BENEATH)", with_root(False))
        per_call("open_root + O_NOFOLLOW walk (4 components)", with_root(True))

        context = ToolContext(working_dir=root)
        tool = get_tool(write_file)
        assert tool is not None

        def tool_call() -> None:
            tool.function(context, path="a/b/c/file.txt", content="y")

        def write_bytes() -> None:
            target.write_bytes(b"y")

        per_call("Path.write_bytes", write_bytes, 5_000)
        per_call("write_file tool (checks + beneath + nlink)", tool_call, 5_000)
        print(f"(plain open baseline {base:.2f} µs)")


if __name__ == "__main__":
    main()
