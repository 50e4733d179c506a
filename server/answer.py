"""Extractive, cited answers: verbatim sentences from the best passages, never generated text."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from server.engine import Engine, Filters, query_terms, with_base_forms
from server.search import corrections_json, passage_json, report_json, retrieve
from server.spelling import correct_query

# Calibrated on the development questions against off-topic questions (docs/benchmarks.md):
# a question is answerable when its best passage's cosine similarity reaches this value.
ANSWERABLE_MIN_COSINE = 0.37
# Confidence 0..1: the quote's cosine similarity to the question, rescaled so that the
# not-answerable threshold is 0 and CONFIDENT_COSINE (or more) is 1.
CONFIDENT_COSINE = 0.75
MAX_QUOTES = 3
QUOTE_SENTENCES = 2
CANDIDATE_PASSAGES = 8
CANDIDATE_QUOTES = 2  # each costs about 10 ms to embed on 2 cores
FOLLOW_ON = 0.85
# Quote scoring, chosen on the development questions (docs/benchmarks.md): meaning first,
# then the passage's own rank, then the share of the question's words.
W_COS, W_OVERLAP, W_PASSAGE, W_RANK = 0.6, 0.2, 0.4, 0.1
# Below this confidence a first citation held the answer a third of the time on the benchmark
# questions, against three in four above it (docs/design.md), so the answer says so.
LOOSE_BELOW = 0.5
LOOSE = "The quoted sentences are only loosely related to the question; the nearest passages are shown for you to judge."
NOT_FOUND = "The reports in this collection do not appear to answer this question. The nearest passages are shown for you to judge."

_WORDS = re.compile(r"[A-Za-z0-9]+")
# A quote that ends like this stops mid-thought ("...met the following criteria: (a) abuse or
# neglect of a child is known or suspected; and"): the passage's next sentences complete it.
_CONTINUES = re.compile(r"(?:[:;,]|\b(?:and|or))\s*$", re.IGNORECASE)
MAX_EXTRA_SENTENCES = 3


@dataclass
class Candidate:
    """A sentence that might answer the question."""

    pid: int
    start: int  # offsets into the passage text
    end: int
    text: str
    passage_rank: int
    sentence: int = 0  # the quote's first sentence within the passage, for its paragraph and page
    overlap: float = 0.0
    passage_score: float = 0.0
    cosine: float = 0.0
    score: float = 0.0


def _complete(row: dict, c: Candidate) -> None:
    """Run a quote on through the passage's next sentences while it ends mid-list or mid-thought."""
    spans = row["sentences"]
    last = min(c.sentence + QUOTE_SENTENCES - 1, len(spans) - 1)
    stop = min(last + MAX_EXTRA_SENTENCES, len(spans) - 1)
    while _CONTINUES.search(c.text) and last < stop:
        last += 1
        c.text = row["text"][c.start:spans[last][1] - row["start"]].strip()
        c.end = c.start + len(c.text)


def _too_similar(a: str, b: str) -> bool:
    wa, wb = set(_WORDS.findall(a.lower())), set(_WORDS.findall(b.lower()))
    return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) > 0.7


def ask(engine: Engine, question: str, k: int = 5, filters: Filters | None = None) -> dict:
    """Answer with up to three cited sentences, or say the reports do not answer it."""
    t0 = time.perf_counter()
    asked = question
    question, corrections = correct_query(engine, question)
    hits = retrieve(engine, question, max(k, CANDIDATE_PASSAGES), "hybrid", filters)
    top = hits[: max(k, CANDIDATE_PASSAGES)]
    rows = engine.fetch([h.pid for h in top])
    terms = query_terms(question)
    qvec = engine.encode(question)
    # the closest passage in meaning anywhere (the dense retriever's first, which the scorer's
    # pool holds), not only among those the scorer put first
    best_cos = max((h.dense for h in hits if h.dense is not None), default=0.0)
    passages = [passage_json(engine, rows[h.pid], h.score, terms) for h in top[:k]]
    answerable = bool(top) and best_cos >= ANSWERABLE_MIN_COSINE
    base = {"question": asked, "corrections": corrections_json(corrections), "passages": passages,
            "best_cosine": round(best_cos, 4)}
    if not answerable:
        return {**base, "answerable": False, "answer": NOT_FOUND, "citations": [], "caution": None,
                "took_ms": round((time.perf_counter() - t0) * 1000, 2)}

    weights = engine.idf_weights(with_base_forms(terms))
    total = sum(weights.values()) or 1.0
    top_score = top[0].score or 1.0
    seen: set[tuple[str, int]] = set()
    candidates: list[Candidate] = []
    for rank, h in enumerate(top[:CANDIDATE_PASSAGES]):
        row = rows[h.pid]
        spans = row["sentences"]
        for i, (a, _) in enumerate(spans):
            # a quote is a sentence and the one after it: answers often follow a lead-in
            b = spans[min(i + QUOTE_SENTENCES - 1, len(spans) - 1)][1]
            key = (row["report_id"], a)  # overlapping passages repeat sentences: keep one
            if key in seen:
                continue
            seen.add(key)
            s, e = a - row["start"], b - row["start"]
            text = row["text"][s:e].strip()
            if len(_WORDS.findall(text)) < 4:
                continue
            present = row["stems"][i] + (row["stems"][i + 1] if i + 1 < len(spans) else "")
            overlap = sum(v for t, v in weights.items() if f" {t} " in present) / total
            candidates.append(Candidate(h.pid, s, s + len(text), text, rank, sentence=i, overlap=overlap,
                                        passage_score=max(0.0, h.score / top_score)))
    # a cheap first pass on words and passage rank, then embed only a few quotes in one batch
    candidates.sort(key=lambda c: -(c.overlap + 0.5 * c.passage_score + 0.2 / (1 + c.passage_rank)))
    shortlist = candidates[:CANDIDATE_QUOTES]
    if shortlist:
        vecs = engine.encode_batch([c.text for c in shortlist])
        for c, cos in zip(shortlist, vecs @ qvec):
            c.cosine = float(cos)
            c.score = W_COS * c.cosine + W_OVERLAP * c.overlap + W_PASSAGE * c.passage_score + W_RANK / (1 + c.passage_rank)
    shortlist.sort(key=lambda c: -c.score)
    for c in shortlist:
        _complete(rows[c.pid], c)

    chosen: list[Candidate] = []
    for c in shortlist:
        if len(chosen) >= MAX_QUOTES:
            break
        if chosen and (c.score < FOLLOW_ON * chosen[0].score or any(c.pid == o.pid for o in chosen)):
            continue  # later quotes must be nearly as good, and from other passages
        if any(_too_similar(c.text, o.text) for o in chosen):
            continue
        chosen.append(c)
    citations = []
    parts = []
    for n, c in enumerate(chosen, start=1):
        row = rows[c.pid]
        conf = (c.cosine - ANSWERABLE_MIN_COSINE) / (CONFIDENT_COSINE - ANSWERABLE_MIN_COSINE)
        # where the quote itself stands: a passage's later sentences may be in later paragraphs and pages
        paragraph, page = row["sentence_refs"][c.sentence]
        citations.append({
            "n": n,
            "quote": c.text,
            "passage_id": f"{row['report_id']}:{row['ordinal']}",
            "pid": row["id"],
            "report": report_json(engine, row["report_id"]),
            "section": row["heading"] or None,
            "section_kind": row["kind"],
            "paragraph": paragraph,
            "page": page,
            "offsets": [c.start, c.end],  # within the passage's text
            "start": row["start"] + c.start,  # within the report's cleaned text
            "end": row["start"] + c.end,
            "confidence": round(min(1.0, max(0.0, conf)), 3),
        })
        parts.append(f"{c.text} [{n}]")
    loose = not citations or citations[0]["confidence"] < LOOSE_BELOW
    return {**base, "answerable": True, "answer": " ".join(parts), "citations": citations,
            "caution": LOOSE if loose else None, "took_ms": round((time.perf_counter() - t0) * 1000, 2)}
