"""Similar cases: rank reports by passage-level evidence for a case description or a report."""

from __future__ import annotations

import re
import time

import numpy as np

from server.engine import Engine, Filters, query_terms
from server.search import passage_json, report_json

TOP_PASSAGES = 3  # a report's score is the mean of its best few passage similarities
EVIDENCE = 3
MAX_PIECES = 24


def split_description(text: str, max_words: int = 120) -> list[str]:
    """Cut a case description into pieces the model can read whole (about a paragraph each)."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    pieces, current = [], []
    for s in sentences:
        if current and len(" ".join(current + [s]).split()) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.append(s)
    if current:
        pieces.append(" ".join(current))
    if len(pieces) > MAX_PIECES:  # a very long text: keep an even spread of it
        step = len(pieces) / MAX_PIECES
        pieces = [pieces[int(i * step)] for i in range(MAX_PIECES)]
    return pieces


def _rank_reports(engine: Engine, best: dict[int, float], k: int, terms: list[str]) -> list[dict]:
    """Group passage similarities by report; mean of the top few, so length alone cannot win."""
    by_report: dict[str, list[tuple[float, int]]] = {}
    for pid, score in best.items():
        rid = engine.report_order[int(engine.p_report[pid])]
        by_report.setdefault(rid, []).append((score, pid))
    ranked = []
    for rid, items in by_report.items():
        items.sort(reverse=True)
        top = [s for s, _ in items[:TOP_PASSAGES]]
        top += [0.0] * (TOP_PASSAGES - len(top))
        ranked.append((float(np.mean(top)), rid, items[:EVIDENCE]))
    ranked.sort(key=lambda r: -r[0])
    ranked = ranked[:k]
    rows = engine.fetch([pid for _, _, ev in ranked for _, pid in ev])
    return [
        {
            "report": report_json(engine, rid),
            "score": round(score, 6),
            "evidence": [passage_json(engine, rows[pid], s, terms) for s, pid in ev],
        }
        for score, rid, ev in ranked
    ]


def similar_to_text(engine: Engine, text: str, k: int = 5, filters: Filters | None = None) -> dict:
    """Reports most like a free-text case description."""
    t0 = time.perf_counter()
    mask = engine.allowed_mask(filters)
    best: dict[int, float] = {}
    for piece in split_description(text):
        vec = engine.encode(piece)
        for pid, score in engine.dense(vec, 200, mask):
            if score > best.get(pid, -1.0):
                best[pid] = score
    reports = _rank_reports(engine, best, k, query_terms(text)[:50])
    return {"reports": reports, "took_ms": round((time.perf_counter() - t0) * 1000, 2)}


def similar_to_report(engine: Engine, report_id: str, k: int = 5, filters: Filters | None = None) -> dict:
    """Other reports most like a given report; never the report itself."""
    t0 = time.perf_counter()
    mask = engine.allowed_mask(filters)
    own = engine.report_passages[report_id]
    own_index = engine.report_order.index(report_id)
    not_self = engine.p_report != own_index
    mask = not_self if mask is None else (mask & not_self)
    vecs = engine.vectors(own)
    best: dict[int, float] = {}
    # each passage of the report looks for its nearest passages elsewhere
    for vec in vecs:
        for pid, score in engine.dense(vec, 20, mask):
            if score > best.get(pid, -1.0):
                best[pid] = score
    reports = _rank_reports(engine, best, k, [])
    return {"report_id": report_id, "reports": reports, "took_ms": round((time.perf_counter() - t0) * 1000, 2)}
