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
# A description's words and themes add to the passage similarity: a report earns up to
# W_THEMES for carrying the description's themes as strongly as any report does, and up to
# W_WORDS for its best BM25 passages. Measured on one description per seed review plus two
# more (docs/benchmarks.md): meaning alone put the right report first for 5 of 7.
W_THEMES, W_WORDS = 0.15, 0.10
# Every review opens with the same statutory framing ("This Serious Case Review is conducted
# under Working Together...") and methodology; compared report to report, those passages made
# any two reviews look alike, so unless a section_kind filter asks for them, they take no part.
BOILERPLATE_KINDS = ("introduction", "methodology", "glossary", "appendix")
# A description is not compared with bibliographies, terms of reference, glossaries or action
# plans either: they never changed which report came first, but 7 of the 117 passages shown as
# evidence for the benchmark descriptions were such lines. Introductions stay, since they often
# state the case ("The subject of this review is Matt, who ... was 2 and a half months old").
NOT_EVIDENCE_KINDS = ("methodology", "glossary", "appendix")


def kinds_mask(engine: Engine, kinds: tuple[str, ...]) -> np.ndarray:
    """Per passage, whether its section is of none of these kinds."""
    excluded = np.array([kind in kinds for kind in engine.kinds])  # by kind code
    return ~excluded[engine.p_kind]


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


def shared_themes(engine: Engine, themes: list[str], report_id: str) -> list[dict]:
    """The themes of a case (in its order) that also run through a report's profile."""
    profile = {e["id"]: e for e in engine.profiles.get(report_id, [])}
    return [{"id": t, "label": engine.themes[t]["label"], "passages": profile[t]["passages"]} for t in themes if t in profile]


def theme_agreement(engine: Engine, themes: list[str]) -> dict[str, float]:
    """Per report, 0..1: how strongly it carries these themes, each relative to the report that carries it most."""
    if not themes:
        return {}
    share, top = engine.theme_share, engine.theme_top_share
    return {rid: float(np.mean([share[rid].get(t, 0.0) / (top[t] or 1.0) for t in themes])) for rid in engine.report_order}


def word_evidence(keyword: list[tuple[int, float]], engine: Engine) -> dict[str, float]:
    """Per report, 0..1: the mean of its best few BM25 scores, relative to the best passage anywhere."""
    if not keyword:
        return {}
    best = max(s for _, s in keyword) or 1.0
    by_report: dict[str, list[float]] = {}
    for pid, score in keyword:
        by_report.setdefault(engine.report_order[int(engine.p_report[pid])], []).append(score / best)
    return {rid: float(np.mean((sorted(v, reverse=True) + [0.0] * TOP_PASSAGES)[:TOP_PASSAGES])) for rid, v in by_report.items()}


def _rank_reports(
    engine: Engine, best: dict[int, float], k: int, terms: list[str], themes: list[str], bonus: dict[str, float] | None = None
) -> list[dict]:
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
        ranked.append((float(np.mean(top)) + (bonus or {}).get(rid, 0.0), rid, items[:EVIDENCE]))
    ranked.sort(key=lambda r: -r[0])
    ranked = ranked[:k]
    rows = engine.fetch([pid for _, _, ev in ranked for _, pid in ev])
    return [
        {
            "report": report_json(engine, rid),
            "score": round(score, 6),
            "evidence": [passage_json(engine, rows[pid], s, terms) for s, pid in ev],
            "shared_themes": shared_themes(engine, themes, rid),
        }
        for score, rid, ev in ranked
    ]


def similar_to_text(engine: Engine, text: str, k: int = 5, filters: Filters | None = None) -> dict:
    """Reports most like a free-text case description."""
    t0 = time.perf_counter()
    mask = engine.allowed_mask(filters)
    if not (filters and filters.section_kind):  # unless asked for, as in similar_to_report
        evidence = kinds_mask(engine, NOT_EVIDENCE_KINDS)
        mask = evidence if mask is None else (mask & evidence)
    best: dict[int, float] = {}
    vectors = []
    for piece in split_description(text):
        vec = engine.encode(piece)
        vectors.append(vec)
        for pid, score in engine.dense(vec, 200, mask):
            if score > best.get(pid, -1.0):
                best[pid] = score
    themes = engine.tag_text(text, np.stack(vectors))
    agreement = theme_agreement(engine, themes)
    words = word_evidence(engine.keyword(text, 300, mask), engine)
    bonus = {rid: W_THEMES * agreement.get(rid, 0.0) + W_WORDS * words.get(rid, 0.0) for rid in engine.report_order}
    reports = _rank_reports(engine, best, k, query_terms(text)[:50], themes, bonus)
    return {"themes": _theme_list(engine, themes), "reports": reports, "took_ms": round((time.perf_counter() - t0) * 1000, 2)}


def _theme_list(engine: Engine, themes: list[str]) -> list[dict]:
    return [{"id": t, "label": engine.themes[t]["label"]} for t in themes]


def similar_to_report(engine: Engine, report_id: str, k: int = 5, filters: Filters | None = None) -> dict:
    """Other reports most like a given report; never the report itself."""
    t0 = time.perf_counter()
    mask = engine.allowed_mask(filters)
    own = engine.report_passages[report_id]
    own_index = engine.report_order.index(report_id)
    not_self = engine.p_report != own_index
    if not (filters and filters.section_kind):
        substantive = kinds_mask(engine, BOILERPLATE_KINDS)
        not_self &= substantive
        own = [pid for pid in own if substantive[pid]] or own  # a report of nothing else is compared whole
    mask = not_self if mask is None else (mask & not_self)
    vecs = engine.vectors(own)
    best: dict[int, float] = {}
    # each passage of the report looks for its nearest passages elsewhere
    for vec in vecs:
        for pid, score in engine.dense(vec, 20, mask):
            if score > best.get(pid, -1.0):
                best[pid] = score
    themes = [e["id"] for e in engine.profiles.get(report_id, [])]
    reports = _rank_reports(engine, best, k, [], themes)
    return {
        "report_id": report_id, "themes": _theme_list(engine, themes), "reports": reports,
        "took_ms": round((time.perf_counter() - t0) * 1000, 2),
    }
