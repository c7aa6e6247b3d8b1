"""Deterministic embeddings for tests: texts that share words are closer.

:func:`fake_embedding` hashes the words of a text (case-folded, lightly stemmed) and their
character trigrams into a fixed number of dimensions (feature hashing with signs), then
normalises the vector. The same text always gives the same vector, in every process; "expense
reports" and "Expense report" land close together, unrelated texts near orthogonal. The
scripted servers answer embedding requests with these vectors.
"""

from __future__ import annotations

import math
import re
import zlib

DEFAULT_DIM = 64

_WORD = re.compile(r"\w+")
_SUFFIXES = ("ings", "ing", "edly", "ies", "ied", "es", "ed", "ly", "s")
_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.35


def stem(word: str) -> str:
    """A crude English stemmer: ``reports`` -> ``report``, ``asked`` -> ``ask``."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            root = word[: -len(suffix)]
            return root + "y" if suffix in ("ies", "ied") else root
    return word


def features(text: str) -> list[tuple[str, float]]:
    """The weighted features of ``text``: its stemmed words and their trigrams."""
    out: list[tuple[str, float]] = []
    for word in _WORD.findall(text.casefold()):
        root = stem(word)
        out.append(("w:" + root, _WORD_WEIGHT))
        padded = f"#{root}#"
        out.extend(("t:" + padded[i : i + 3], _TRIGRAM_WEIGHT)
                   for i in range(len(padded) - 2))
    return out


def fake_embedding(text: str, dim: int = DEFAULT_DIM) -> list[float]:
    """A unit vector of ``dim`` floats for ``text``, the same in every process."""
    if dim < 1:
        raise ValueError(f"dim must be positive, not {dim}")
    vector = [0.0] * dim
    for feature, weight in features(text):
        code = zlib.crc32(feature.encode())
        vector[code % dim] += weight if (code >> 31) & 1 else -weight
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:  # no words at all: a fixed unit vector
        vector[0] = 1.0
        return vector
    return [value / norm for value in vector]
