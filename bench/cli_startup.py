"""Cold start of `moco --help` and `moco version`, and proof that no provider SDK is imported.

Run: python bench/cli_startup.py [repeats]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

SDKS = ("openai", "anthropic", "google.genai")


def time_command(args: list[str], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "moco", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def imported_sdks(args: list[str]) -> list[str]:
    probe = (
        f"import sys, runpy; sys.argv = ['moco', *{args!r}]\n"
        "try:\n    runpy.run_module('moco', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('SDKS:' + ','.join(m for m in {SDKS!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    line = [x for x in result.stdout.splitlines() if x.startswith("SDKS:")][-1]
    return [name for name in line[5:].split(",") if name]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    baseline = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append((time.perf_counter() - started) * 1000)
    print(f"python -c pass          median {statistics.median(baseline):6.1f} ms")
    for args in (["--help"], ["version"]):
        samples = time_command(args, repeats)
        sdks = imported_sdks(args) or ["none"]
        print(f"moco {' '.join(args):<18} median {statistics.median(samples):6.1f} ms "
              f"min {min(samples):6.1f} ms  (target < 150 ms; provider SDKs imported: "
              f"{', '.join(sdks)})")


if __name__ == "__main__":
    main()
