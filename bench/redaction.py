"""Speed of the secret redactor: 1 MB of ordinary text, and inputs built to make badly written
patterns backtrack (repeated prefixes of secret patterns).

The tests check what the redactor returns; this script measures how long it takes. Compare
runs before and after changing a pattern: one that backtracks shows as a jump by orders of
magnitude on the pathological inputs, not as a few per cent.
Run: python bench/redaction.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from moco.safety.redaction import Redactor

ROOT = Path(__file__).resolve().parent.parent
PATHOLOGICAL = {
    "token= x50k": "token=" * 50_000,
    "password= x50k": "password=" * 50_000,
    "sk- x100k": "sk-" * 100_000,
    "http://a:a:... x100k": "http://" + "a:" * 100_000,
    '"password": " x30k': '"password": "' * 30_000,
}


def ordinary_megabyte() -> str:
    """moco's own source and README, repeated to 1 MB: code, prose and identifiers."""
    parts = [ROOT.joinpath("README.md").read_text(encoding="utf-8")]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "src" / "moco").rglob("*.py"))]
    chunk = "\n".join(parts)
    return (chunk * (1_000_000 // len(chunk) + 1))[:1_000_000]


def best_ms(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples), statistics.median(samples)


def main(repeats: int) -> None:
    redactor = Redactor(["configured-key-123456"])
    text = ordinary_megabyte()
    low, median = best_ms(lambda: redactor.redact(text), repeats)
    print(f"{'1 MB of source and prose':28} best {low:8.1f} ms   median {median:8.1f} ms")
    plain = Redactor()
    for name, sample in PATHOLOGICAL.items():
        low, median = best_ms(lambda sample=sample: plain.redact(sample), repeats)
        print(f"{name:28} best {low:8.1f} ms   median {median:8.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
