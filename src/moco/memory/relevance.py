"""The relevance bar: which search hits are worth a recall's tokens.

A search always returns its nearest neighbours — ask "what is the capital of France?" and the
vector side still finds *something*, and a keyword side searching every word may match on
"the". So a hit is kept only when it shares a content word with the query (stop words and
short words do not count, plurals count as their singular), or — found by meaning only — when
the cosine similarity of its vector and the query's (which the store's search reports)
reaches ``min_similarity``. Keyword search alone (no embedder) therefore recalls BM25 hits
that share a content word with the question, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moco.storage.semantic_memory import MemoryHit

_WORD = re.compile(r"[^\W_]+")
_STOP_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves please tell know want
need let lets say said get got make made also one thing things like ok okay yes yeah thanks
thank hi hello hey
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def content_words(text: str) -> set[str]:
    """The words of ``text`` that carry meaning: case-folded, stop words and words under three
    letters dropped, a plural ``s`` removed."""
    words = set()
    for word in _WORD.findall(text.casefold()):
        if len(word) < 3 or word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def normalized(text: str) -> str:
    """A memory's text as compared for duplicates: words only, case-folded."""
    return " ".join(_WORD.findall(text.casefold()))


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the content words of two texts (0 when either has none)."""
    left, right = content_words(a), content_words(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def relevant(hits: Sequence[MemoryHit], query: str, *,
             min_similarity: float) -> list[MemoryHit]:
    """The hits that pass the relevance bar (see the module docstring), in their order."""
    wanted = content_words(query)
    return [hit for hit in hits
            if wanted & content_words(hit.record.text)
            or (hit.similarity is not None and hit.similarity >= min_similarity)]
