"""Detection and false-positive rates of the dangerous shell command detector on the test
corpus (tests/safety/dangerous_commands.txt and benign_commands.txt), and its speed.

The working directory is a fresh git repository in a temporary folder, with a home directory
beside it, as in the tests.
Run: python bench/safety_corpus.py [-v]   (-v lists the misses and false alarms)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moco.safety import check_command

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "safety"


def load(name: str) -> list[str]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def main(verbose: bool) -> None:
    dangerous = load("dangerous_commands.txt")
    benign = load("benign_commands.txt")
    with tempfile.TemporaryDirectory() as root:
        work, home = Path(root) / "work", Path(root) / "home"
        work.mkdir()
        home.mkdir()
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        started = time.perf_counter()
        misses = [c for c in dangerous if not check_command(c, work, home=home).dangerous]
        alarms = [c for c in benign if check_command(c, work, home=home).dangerous]
        elapsed = time.perf_counter() - started
    total = len(dangerous) + len(benign)
    detection = 1 - len(misses) / len(dangerous)
    false_positive = len(alarms) / len(benign)
    print(f"dangerous commands: {len(dangerous)}, benign commands: {len(benign)}")
    print(f"detection rate:      {detection:.1%} ({len(dangerous) - len(misses)}/{len(dangerous)})")
    print(f"false-positive rate: {false_positive:.1%} ({len(alarms)}/{len(benign)})")
    print(f"time per command:    {elapsed / total * 1000:.2f} ms")
    if verbose:
        for command in misses:
            print(f"  missed: {command}")
        for command in alarms:
            print(f"  false alarm: {command}")


if __name__ == "__main__":
    main("-v" in sys.argv[1:])
