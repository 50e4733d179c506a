"""Passage search: retrieval in three modes, fusion, filters, context and highlights."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from indexer.textutil import WORD, stem, word_stems
from server.engine import Engine, Filters, Hit, query_terms, with_base_forms
from server.spelling import Correction, correct_query

MODES = ("hybrid", "dense", "keyword")
FUSIONS = ("rerank", "rrf", "weighted")
RRF_K = 60
# Weighted fusion: each retriever's scores are min-max normalised over its own candidates.
KEYWORD_WEIGHT = 0.6
CANDIDATES = 100
# Second-stage scorer over the union of both retrievers' top RERANK_POOL passages. Weights
# were chosen on the development questions (docs/benchmarks.md): BM25 carries most of the
# signal on this text, the best single sentence's coverage of the question's words picks the
# passage that answers it, and the dense similarity breaks ties on meaning.
RERANK_POOL = 30
W_DENSE, W_KEYWORD, W_COVER = 0.2, 0.4, 0.35
# Coverage blends the best sentence's share of the query's words with the whole passage's;
# 0.3 was measured on all three question sets (docs/design.md) and helped or held each.
PASSAGE_SHARE = 0.3
# Added for a passage of a report whose case the query names (docs/design.md).
W_NAMED = 0.2



@dataclass
class SearchRequest:
    """A validated search."""

    query: str
    k: int = 10
    mode: str = "hybrid"
    filters: Filters = field(default_factory=Filters)
    per_report: int | None = None
    context: int = 0
    fusion: str = "rerank"


def fuse_rrf(dense: list[tuple[int, float]], keyword: list[tuple[int, float]], k: int = RRF_K) -> list[Hit]:
    """Reciprocal-rank fusion of two rankings."""
    hits: dict[int, Hit] = {}
    for rank, (pid, s) in enumerate(dense):
        hit = hits.setdefault(pid, Hit(pid, 0.0))
        hit.dense, hit.dense_rank = s, rank + 1
        hit.score += 1.0 / (k + rank + 1)
    for rank, (pid, s) in enumerate(keyword):
        hit = hits.setdefault(pid, Hit(pid, 0.0))
        hit.keyword, hit.keyword_rank = s, rank + 1
        hit.score += 1.0 / (k + rank + 1)
    return sorted(hits.values(), key=lambda h: -h.score)


def _minmax(scores: list[float]) -> list[float]:
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi - lo < 1e-9:
        return [1.0 for _ in scores]
    return [(s - lo) / (hi - lo) for s in scores]


def fuse_weighted(
    dense: list[tuple[int, float]], keyword: list[tuple[int, float]], keyword_weight: float | None = None
) -> list[Hit]:
    """Weighted sum of min-max normalised scores; a retriever that missed a passage gives 0."""
    keyword_weight = KEYWORD_WEIGHT if keyword_weight is None else keyword_weight
    hits: dict[int, Hit] = {}
    for rank, ((pid, s), norm) in enumerate(zip(dense, _minmax([s for _, s in dense]))):
        hit = hits.setdefault(pid, Hit(pid, 0.0))
        hit.dense, hit.dense_rank = s, rank + 1
        hit.score += (1 - keyword_weight) * norm
    for rank, ((pid, s), norm) in enumerate(zip(keyword, _minmax([s for _, s in keyword]))):
        hit = hits.setdefault(pid, Hit(pid, 0.0))
        hit.keyword, hit.keyword_rank = s, rank + 1
        hit.score += keyword_weight * norm
    return sorted(hits.values(), key=lambda h: -h.score)


def stem_matches(text: str, stems: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, stem) of the words in text whose stem is one of `stems`; a word also
    matches by its base form's stem ("found" for "find", "referral" for "refer")."""
    wanted = frozenset(stems)
    if not wanted:
        return []
    # decide once per distinct word, then walk the text only for the words that matched
    hits = {}
    for word in set(WORD.findall(text)):
        for s in word_stems(word):
            if s in wanted:
                hits[word] = s
                break
    if not hits:
        return []
    return [(m.start(), m.end(), hits[w]) for m in WORD.finditer(text) if (w := m.group(0)) in hits]


def sentence_coverage(sentence_stems: list[str], weights: dict[str, float]) -> float:
    """How much of the query's words (idf-weighted) a passage holds: mostly its best single
    sentence's share, which picks the passage that answers, plus the whole passage's share.

    Each sentence's stems come as one space-padded string (Engine.features).
    """
    total = sum(weights.values())
    if not total or not sentence_stems:
        return 0.0
    # most query stems occur in no sentence of a passage: drop them with one test on the whole
    whole = "".join(sentence_stems)
    present = [(f" {s} ", w) for s, w in weights.items() if f" {s} " in whole]
    if not present:
        return 0.0
    best = max(sum([w for s, w in present if s in line]) for line in sentence_stems)
    return ((1 - PASSAGE_SHARE) * best + PASSAGE_SHARE * sum(w for _, w in present)) / total


def rerank(
    engine: Engine,
    query: str,
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
    vec: np.ndarray,
    named: frozenset[int] = frozenset(),
    lexical: str | None = None,
) -> list[Hit]:
    """Score the union of both candidate lists on meaning, BM25 and best-sentence coverage.

    named: positions of the reports whose case the query names; lexical: the query as coverage
    reads it (without those names), the query itself when None.
    """
    lexical = query if lexical is None else lexical
    pool = list(dict.fromkeys([p for p, _ in dense[:RERANK_POOL]] + [p for p, _ in keyword[:RERANK_POOL]]))
    if not pool:
        return []
    stems, vectors = engine.features(pool)
    cos = vectors @ vec
    lo, hi = float(cos.min()), float(cos.max())
    dense_norm = (cos - lo) / (hi - lo) if hi - lo > 1e-9 else np.ones_like(cos)
    kw = dict(keyword)
    kmax = max(kw.values(), default=0.0) or 1.0
    weights = engine.idf_weights(with_base_forms(query_terms(lexical)))
    d_rank = {p: i + 1 for i, (p, _) in enumerate(dense)}
    k_rank = {p: i + 1 for i, (p, _) in enumerate(keyword)}
    hits = []
    for i, pid in enumerate(pool):
        cover = sentence_coverage(stems[pid], weights)
        score = W_DENSE * float(dense_norm[i]) + W_KEYWORD * kw.get(pid, 0.0) / kmax + W_COVER * cover
        if named and int(engine.p_report[pid]) in named:
            score += W_NAMED
        hits.append(Hit(pid, score, dense=float(cos[i]), keyword=kw.get(pid), dense_rank=d_rank.get(pid), keyword_rank=k_rank.get(pid)))
    return sorted(hits, key=lambda h: -h.score)


def retrieve(
    engine: Engine,
    query: str,
    n: int,
    mode: str = "hybrid",
    filters: Filters | None = None,
    fusion: str = "rerank",
    timings: dict | None = None,
) -> list[Hit]:
    """Ranked passage hits for a query; the core of search, ask and similar."""
    timings = timings if timings is not None else {}
    mask = engine.allowed_mask(filters)
    if mask is not None and not mask.any():
        return []
    pool = max(n, CANDIDATES)
    dense: list[tuple[int, float]] = []
    keyword: list[tuple[int, float]] = []
    vec = None
    named: frozenset[int] = frozenset()
    if mode == "hybrid" and fusion == "rerank":
        pool = RERANK_POOL  # the second stage reads only each retriever's top RERANK_POOL
        # a query that names a case ("Child E", "Sofia's mother") is about that case's report;
        # the letter of "Child E" is invisible to both retrievers, and the passages that answer
        # seldom repeat a child's name ("the mother"), so the scorer counts the name for the
        # report, and BM25 and coverage read the query without it
        named = engine.named_reports(query)
    lexical = engine.without_case_names(query) if named else query
    if mode in ("dense", "hybrid"):
        t = time.perf_counter()
        vec = engine.encode(query)
        timings["encode_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        dense = engine.dense(vec, pool, mask)
        timings["vector_ms"] = (time.perf_counter() - t) * 1000
    if mode in ("keyword", "hybrid"):
        t = time.perf_counter()
        keyword = engine.keyword(lexical, pool, mask)
        timings["keyword_ms"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    if mode == "dense":
        hits = [Hit(pid, s, dense=s, dense_rank=i + 1) for i, (pid, s) in enumerate(dense)]
    elif mode == "keyword":
        hits = [Hit(pid, s, keyword=s, keyword_rank=i + 1) for i, (pid, s) in enumerate(keyword)]
    elif fusion == "rrf":
        hits = fuse_rrf(dense, keyword)
    elif fusion == "weighted":
        hits = fuse_weighted(dense, keyword)
    else:
        hits = rerank(engine, query, dense, keyword, vec, named, lexical)
    timings["fusion_ms"] = (time.perf_counter() - t) * 1000
    return hits


def cap_per_report(engine: Engine, hits: list[Hit], per_report: int | None) -> list[Hit]:
    """Keep at most per_report hits from any one report, preserving order."""
    if not per_report:
        return hits
    counts: dict[int, int] = {}
    out = []
    for h in hits:
        r = int(engine.p_report[h.pid])
        if counts.get(r, 0) < per_report:
            counts[r] = counts.get(r, 0) + 1
            out.append(h)
    return out


def highlights(text: str, terms: list[str]) -> list[list[int]]:
    """[start, end] offsets in text of words that match a query term by stem."""
    return sorted([a, b] for a, b, _ in stem_matches(text, {stem(t) for t in with_base_forms(terms)}))


def report_json(engine: Engine, report_id: str) -> dict:
    """The Report object of the contract."""
    r = engine.reports[report_id]
    return {k: r[k] for k in ("id", "title", "area", "year", "child", "review_type", "source", "board", "file")}


def passage_json(engine: Engine, row: dict, score: float | None, terms: list[str]) -> dict:
    """The Passage object of the contract, with highlight offsets."""
    return {
        "id": f"{row['report_id']}:{row['ordinal']}",
        "pid": row["id"],
        "report": report_json(engine, row["report_id"]),
        "text": row["text"],
        "section": row["heading"] or None,
        "heading_path": row["heading_path"].split(" > ") if row["heading_path"] else [],
        "section_kind": row["kind"],
        "paragraph": row["paragraph"],
        "paragraphs": row["paragraphs"],
        "page": row["page"],
        "page_end": row["page_end"],
        "start": row["start"],
        "end": row["end"],
        "score": None if score is None else round(float(score), 6),
        "highlights": highlights(row["text"], terms),
        "themes": engine.themes_of(row["id"]),
    }


def theme_facets(engine: Engine, pids: list[int]) -> list[dict]:
    """How many of these passages carry each theme, most first; themes with none are left out."""
    if not pids:
        return []
    bits = engine.p_themes[np.asarray(pids, dtype=np.int64)]
    out = []
    for i, t in enumerate(engine.theme_ids):
        n = int(np.count_nonzero((bits >> i) & 1))
        if n:
            out.append({"id": t, "label": engine.themes[t]["label"], "count": n})
    return sorted(out, key=lambda f: -f["count"])


def corrections_json(corrections: list[Correction]) -> list[dict]:
    """The query words that were replaced, for the page to say what was searched for."""
    return [{"typed": c.typed, "used": c.used} for c in corrections]


def search(engine: Engine, req: SearchRequest) -> dict:
    """Run a search request and build the response body."""
    t0 = time.perf_counter()
    timings: dict = {}
    query, corrections = correct_query(engine, req.query)
    hits = retrieve(engine, query, max(req.k * 3, req.k), req.mode, req.filters, req.fusion, timings)
    hits = cap_per_report(engine, hits, req.per_report)
    # facets count the candidate passages the ranking weighed, not only the k shown
    facets = {"themes": theme_facets(engine, [h.pid for h in hits])}
    hits = hits[: req.k]
    t = time.perf_counter()
    rows = engine.fetch([h.pid for h in hits])
    terms = query_terms(query)
    results = []
    for h in hits:
        p = passage_json(engine, rows[h.pid], h.score, terms)
        p["scores"] = {"dense": h.dense, "keyword": h.keyword, "dense_rank": h.dense_rank, "keyword_rank": h.keyword_rank}
        if req.context:
            p["context"] = {"before": [], "after": []}
            for n in engine.neighbours(h.pid, req.context, req.context):
                where = "before" if n["ordinal"] < rows[h.pid]["ordinal"] else "after"
                p["context"][where].append(passage_json(engine, n, None, terms))
        results.append(p)
    timings["fetch_ms"] = (time.perf_counter() - t) * 1000
    return {
        "query": req.query,
        "corrections": corrections_json(corrections),
        "mode": req.mode,
        "k": req.k,
        "took_ms": round((time.perf_counter() - t0) * 1000, 2),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "results": results,
        "facets": facets,
    }
