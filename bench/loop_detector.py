"""Speed of the loop detector's similarity check on long, nearly identical narrations.

Twenty 10 kB assistant texts that differ only in their last words, as a model stuck in a loop
writes them. The tests check the verdicts; this script measures the time per text.
Run: python bench/loop_detector.py [repeats]
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from moco.core.loop_detector import LoopDetector


def narration(seed: int = 7) -> str:
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 8)))
             for _ in range(500)]
    return " ".join(rng.choice(words) for _ in range(1800))


def main(repeats: int) -> None:
    base = narration()
    texts = [f"{base} (attempt {i})" for i in range(20)]
    per_text = []
    for _ in range(repeats):
        detector = LoopDetector()
        started = time.perf_counter()
        for text in texts:
            detector.observe_assistant_text(text)
        per_text.append((time.perf_counter() - started) * 1000 / len(texts))
    print(f"text length: {len(base)} characters, {len(texts)} texts per run, {repeats} runs")
    print(f"per text: best {min(per_text):.2f} ms, median {statistics.median(per_text):.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
