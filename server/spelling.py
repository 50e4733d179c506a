"""Query words the index has never seen: American spellings and typing slips, corrected to a
word the reports use ("behavior" -> "behaviour", "safegaurding" -> "safeguarding").

A word is only ever corrected when its stem occurs in no passage, so a rare word of the
reports is left alone, and a typing slip only when the word is not in the embedding model's
vocabulary either, so that an English word the reports never use is not bent into one they do
("bread" into "broad"). The response says what was changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from indexer.textutil import WORD, stem

# American -> British endings and spellings, tried in order; the reports are British.
_VARIANTS = [
    (re.compile(r"iz(e|es|ed|ing|ation|ations)$"), r"is\1"),
    (re.compile(r"yz(e|es|ed|ing)$"), r"ys\1"),
    (re.compile(r"or(s|ed|ing|al|ally)?$"), r"our\1"),
    (re.compile(r"er(s)?$"), r"re\1"),
    (re.compile(r"ense(s)?$"), r"ence\1"),
    (re.compile(r"og(s)?$"), r"ogue\1"),
    (re.compile(r"el(ed|ing)$"), r"ell\1"),
    (re.compile(r"^pedi"), "paedi"),
    (re.compile(r"^(f|esoph)e"), r"\1oe"),
    (re.compile(r"^(an|septic)e"), r"\1ae"),
    (re.compile(r"^hem"), "haem"),
    (re.compile(r"^edema"), "oedema"),
]
MIN_LENGTH = 4  # shorter words are too often meant as typed ("CAF", "ICPC")
MIN_SLIP_LENGTH = 5  # the vocabulary lacks some short real words whole ("bake")
# Unknown words looked at in one query: each costs a few milliseconds the first time, and a
# query of hundreds of unknown words is not a misspelt question
MAX_UNKNOWN_WORDS = 6


@dataclass(frozen=True)
class Correction:
    """One query word replaced by a word of the reports."""

    typed: str
    used: str


def british_variants(word: str) -> list[str]:
    """British spellings an American-spelt word may have, most likely first."""
    lower = word.lower()
    out = []
    for pattern, repl in _VARIANTS:
        variant = pattern.sub(repl, lower, count=1)
        if variant != lower:
            out.append(variant)
    return out


def max_edits(word: str) -> int:
    """Typing slips allowed in a word of this length: one up to six letters, two beyond."""
    return 1 if len(word) <= 6 else 2


def nearest_terms(typed_stem: str, candidates: list[tuple[str, int]], most: int = 4) -> list[tuple[str, int]]:
    """The indexed stems within max_edits of typed_stem (a swap of two letters is one edit),
    nearest first and the more frequent first on a tie, at most `most` of them."""
    limit = max_edits(typed_stem)
    near = []
    for term, count in candidates:
        d = OSA.distance(typed_stem, term, score_cutoff=limit)
        if d <= limit:
            near.append((d, -count, term))
    return [(term, -neg) for _, neg, term in sorted(near)[:most]]


def best_form(typed: str, forms: list[tuple[str, int]]) -> str | None:
    """Of the written forms of the nearest stems (form, the stem's passage count), the one
    closest to what was typed; the more frequent stem on a tie."""
    ranked = sorted((OSA.distance(typed.lower(), form), -count, form) for form, count in forms)
    return ranked[0][2] if ranked else None


def correct_query(engine, query: str) -> tuple[str, list[Correction]]:  # noqa: ANN001 - server.engine.Engine
    """The query with each word unknown to the index replaced by the reports' word for it."""
    corrections: list[Correction] = []
    out = query
    unknown = 0
    for word in dict.fromkeys(WORD.findall(query)):
        if len(word) < MIN_LENGTH or not word.isalpha() or word.isupper() or engine.doc_freq(stem(word)):
            continue
        unknown += 1
        if unknown > MAX_UNKNOWN_WORDS:
            break
        used = engine.cached_correction(word.lower(), lambda w=word: _replacement(engine, w))
        if used:
            out = re.sub(rf"\b{re.escape(word)}\b", used, out)
            corrections.append(Correction(word, used))
    return out, corrections


def _replacement(engine, word: str) -> str | None:  # noqa: ANN001
    for variant in british_variants(word):
        if engine.doc_freq(stem(variant)):
            return variant
    # a real word the reports never use ("bread", "tall") is not a slip: only a word that the
    # model's own 30,000-word vocabulary lacks as a whole is corrected
    if len(word) < MIN_SLIP_LENGTH or engine.is_known_word(word):
        return None
    # stems are compared first ("safegaurd" is one swap from "safeguard"), then the words the
    # reports write for them against what was typed ("supervison": "supervision", not "supervisor")
    near = nearest_terms(stem(word), engine.terms_with_prefix(stem(word)[:2]))
    return best_form(word, [(form, count) for term, count in near for form in engine.surface_words(term)])
