"""Word stems shared by the indexer and the query side, so both agree on what a word is."""

from __future__ import annotations

import re
from functools import lru_cache

from nltk.stem.snowball import SnowballStemmer

WORD = re.compile(r"[A-Za-z0-9]+")
_stemmer = SnowballStemmer("english")  # the same algorithm as tantivy's en_stem


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem of a word, lower-cased."""
    return _stemmer.stem(word.lower())


def sentence_stems(text: str, spans: list[tuple[int, int]], offset: int = 0) -> str:
    """The distinct stems of each sentence, one line per sentence, for fast matching later."""
    return "\n".join(
        " ".join(sorted({stem(w) for w in WORD.findall(text[a - offset : b - offset])})) for a, b in spans
    )
