"""Extractive, cited answers: verbatim sentences from the best passages, never generated text."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from server.engine import Engine, Filters, query_terms
from server.search import passage_json, report_json, retrieve, stem

# Calibrated on the development questions against off-topic questions (docs/benchmarks.md):
# a question is answerable when its best passage's cosine similarity reaches this value.
ANSWERABLE_MIN_COSINE = 0.30
# Confidence 0..1: the cited sentence's score rescaled from the threshold (0) to CONFIDENT (1).
CONFIDENT_SCORE = 0.75
MAX_SENTENCES = 3
CANDIDATE_PASSAGES = 8
CANDIDATE_SENTENCES = 12
NOT_FOUND = "The reports in this collection do not appear to answer this question. The nearest passages are shown for you to judge."

_WORDS = re.compile(r"[A-Za-z0-9]+")


@dataclass
class Candidate:
    """A sentence that might answer the question."""

    pid: int
    start: int  # offsets into the passage text
    end: int
    text: str
    passage_rank: int
    overlap: float = 0.0
    cosine: float = 0.0
    score: float = 0.0


def term_overlap(sentence: str, stems: set[str]) -> float:
    """Share of the question's content words (by stem) that the sentence contains."""
    if not stems:
        return 0.0
    present = {stem(w) for w in _WORDS.findall(sentence.lower())}
    return len(stems & present) / len(stems)


def _too_similar(a: str, b: str) -> bool:
    wa, wb = set(_WORDS.findall(a.lower())), set(_WORDS.findall(b.lower()))
    return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) > 0.7


def ask(engine: Engine, question: str, k: int = 5, filters: Filters | None = None) -> dict:
    """Answer with up to three cited sentences, or say the reports do not answer it."""
    t0 = time.perf_counter()
    hits = retrieve(engine, question, max(k, CANDIDATE_PASSAGES), "hybrid", filters)
    top = hits[: max(k, CANDIDATE_PASSAGES)]
    rows = engine.fetch([h.pid for h in top])
    terms = query_terms(question)
    qvec = engine.encode(question)
    pvecs = engine.vectors([h.pid for h in top])
    best_cos = float((pvecs @ qvec).max()) if len(top) else 0.0
    passages = [passage_json(engine, rows[h.pid], h.score, terms) for h in top[:k]]
    answerable = bool(top) and best_cos >= ANSWERABLE_MIN_COSINE
    base = {"question": question, "passages": passages, "best_cosine": round(best_cos, 4)}
    if not answerable:
        return {**base, "answerable": False, "answer": NOT_FOUND, "citations": [],
                "took_ms": round((time.perf_counter() - t0) * 1000, 2)}

    stems = {stem(t) for t in terms}
    seen: set[tuple[str, int]] = set()
    candidates: list[Candidate] = []
    for rank, h in enumerate(top[:CANDIDATE_PASSAGES]):
        row = rows[h.pid]
        for a, b in row["sentences"]:
            key = (row["report_id"], a)  # overlapping passages repeat a sentence: keep one
            if key in seen:
                continue
            seen.add(key)
            s, e = a - row["start"], b - row["start"]
            text = row["text"][s:e].strip()
            if len(_WORDS.findall(text)) < 4:
                continue
            c = Candidate(h.pid, s, e, text, rank, overlap=term_overlap(text, stems))
            candidates.append(c)
    # cheap first pass on words and passage rank, then embed only the few best sentences
    candidates.sort(key=lambda c: -(c.overlap + 0.5 / (1 + c.passage_rank)))
    shortlist = candidates[:CANDIDATE_SENTENCES]
    if shortlist:
        vecs = np.stack([engine.encode(c.text) for c in shortlist])
        for c, cos in zip(shortlist, vecs @ qvec):
            c.cosine = float(cos)
            c.score = 0.6 * c.cosine + 0.3 * c.overlap + 0.1 / (1 + c.passage_rank)
    shortlist.sort(key=lambda c: -c.score)

    chosen: list[Candidate] = []
    for c in shortlist:
        if len(chosen) >= MAX_SENTENCES:
            break
        if c.score < 0.5 * (chosen[0].score if chosen else 0):
            break
        if any(_too_similar(c.text, o.text) for o in chosen):
            continue
        chosen.append(c)
    citations = []
    parts = []
    for n, c in enumerate(chosen, start=1):
        row = rows[c.pid]
        conf = (c.score - ANSWERABLE_MIN_COSINE) / (CONFIDENT_SCORE - ANSWERABLE_MIN_COSINE)
        citations.append({
            "n": n,
            "quote": c.text,
            "passage_id": f"{row['report_id']}:{row['ordinal']}",
            "pid": row["id"],
            "report": report_json(engine, row["report_id"]),
            "section": row["heading"] or None,
            "section_kind": row["kind"],
            "paragraph": row["paragraph"],
            "page": row["page"],
            "offsets": [c.start, c.end],
            "confidence": round(min(1.0, max(0.0, conf)), 3),
        })
        parts.append(f"{c.text} [{n}]")
    return {**base, "answerable": True, "answer": " ".join(parts), "citations": citations,
            "took_ms": round((time.perf_counter() - t0) * 1000, 2)}
