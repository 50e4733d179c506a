"""Retrieval and answer quality through the HTTP API, against a naive baseline in the same run.

    python bench/quality.py [--index index] [--questions FILE ...] [--no-write]

For each question file: recall@1/5/10, MRR@10 and nDCG@10 of keyword, dense and hybrid search
(and each fusion method) and the accuracy of /api/ask's first citation; over all of them, that
accuracy by the citation's confidence. Then how /api/ask treats off-topic, near-domain and
loosely worded questions, the not-answerable threshold's margin, where /api/similar ranks the
report of each held-out case description, query-encoder speed and HTTP latency on one client. The
baseline is fixed 200-word windows (overlap 50) over the raw files, ranked by BM25 and by the
same model, built in this run.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Server, command, machine, publish, summary  # noqa: E402
from server.answer import ANSWERABLE_MIN_COSINE, LOOSE_BELOW  # noqa: E402

DEFAULT_QUESTIONS = [ROOT / "bench" / "data" / f"{name}.json" for name in ("questions", "questions_extra", "questions_more", "questions_fourth")]
OFFTOPIC = ROOT / "bench" / "data" / "offtopic.json"
NEAR_DOMAIN = ROOT / "bench" / "data" / "near_domain.json"
VAGUE = ROOT / "bench" / "data" / "vague.json"
CASES = ROOT / "bench" / "data" / "case_descriptions.json"


def norm(text: str) -> str:
    """The gold-phrase normalisation: case-folded, markup and punctuation dropped, spaces folded."""
    text = re.sub(r"<[^>]+>", " ", text.lower())
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", text)).strip()


def relevant(text: str, gold: list[str]) -> bool:
    """Whether a passage holds one of the gold phrases."""
    t = norm(text)
    return any(norm(g) in t for g in gold)


def metrics(ranked: list[list[str]], questions: list[dict], n_relevant: list[int]) -> dict[str, float]:
    """recall@1/5/10, MRR@10 and nDCG@10 from ranked passage texts."""
    r1 = r5 = r10 = mrr = ndcg = 0.0
    for texts, q, n_rel in zip(ranked, questions, n_relevant):
        rels = [relevant(t, q["gold"]) for t in texts[:10]]
        first = next((i + 1 for i, r in enumerate(rels) if r), None)
        if first:
            mrr += 1 / first
            r1 += first <= 1
            r5 += first <= 5
            r10 += 1
        dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(rels) if r)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(10, max(1, n_rel))))
        ndcg += dcg / ideal
    n = len(questions)
    return {"recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "MRR@10": mrr / n, "nDCG@10": ndcg / n}


def naive_windows(corpus: Path, size: int = 200, overlap: int = 50) -> list[str]:
    """Fixed word windows over the raw files, markup and all: the baseline's passages."""
    windows = []
    for path in sorted(corpus.glob("*.txt")) + sorted(corpus.glob("*.md")):
        words = path.read_text(encoding="utf-8", errors="replace").split()
        for start in range(0, max(1, len(words) - overlap), size - overlap):
            windows.append(" ".join(words[start : start + size]))
    return windows


class Baseline:
    """BM25 (tantivy) and dense (the same model) over naive windows."""

    def __init__(self, windows: list[str]) -> None:
        import tantivy

        from indexer.embedding import Embedder
        from indexer.store import keyword_schema

        self.windows = windows
        self.tmp = tempfile.TemporaryDirectory()
        index = tantivy.Index(keyword_schema(), path=self.tmp.name)
        writer = index.writer(heap_size=64_000_000, num_threads=1)
        for i, w in enumerate(windows):
            writer.add_document(tantivy.Document(pid=i, body=w, heading=""))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self.index = index
        self.embedder = Embedder()
        t = time.perf_counter()
        self.vectors = self.embedder.encode(windows)
        self.embed_seconds = time.perf_counter() - t

    def bm25(self, query: str) -> list[str]:
        from server.engine import query_terms

        terms = query_terms(query)
        if not terms:
            return []
        searcher = self.index.searcher()
        hits = searcher.search(self.index.parse_query(" ".join(terms), ["body"]), 10).hits
        return [self.windows[searcher.doc(a)["pid"][0]] for _, a in hits]

    def dense(self, query: str) -> list[str]:
        q = self.embedder.encode([query])[0]
        order = np.argsort(-(self.vectors @ q))[:10]
        return [self.windows[i] for i in order]


def all_passages(url: str) -> list[str]:
    """Every indexed passage's text, for counting relevant passages (nDCG's ideal)."""
    texts = []
    for r in requests.get(url + "/api/reports", timeout=30).json()["reports"]:
        detail = requests.get(f"{url}/api/reports/{r['id']}", timeout=30).json()
        texts += [detail["text"][p["start"] : p["end"]] for p in detail["passages"]]
    return texts


def ask_all(url: str, questions: list[str]) -> list[dict]:
    """/api/ask's answer to each question, in order."""
    return [requests.post(url + "/api/ask", json={"question": q}, timeout=60).json() for q in questions]


def search_texts(url: str, query: str, mode: str, fusion: str | None = None) -> list[str]:
    body = {"query": query, "k": 10, "mode": mode}
    if fusion:
        body["fusion"] = fusion
    r = requests.post(url + "/api/search", json=body, timeout=60)
    r.raise_for_status()
    return [p["text"] for p in r.json()["results"]]


def encoder_speed(index: Path, queries: list[str], rounds: int = 5) -> dict:
    """Median and p95 of one-query encoding: ONNX against sentence-transformers, same queries."""
    from indexer.embedding import Embedder, TorchQueryEncoder
    from server.engine import Engine

    engine = Engine(index)
    fast = engine.encoder
    slow = TorchQueryEncoder(Embedder(engine.manifest["model"]["path"]))
    out = {}
    for name, enc in (("onnx", fast), ("sentence-transformers", slow)):
        enc.encode("warm up")
        times = []
        for _ in range(rounds):
            for q in queries:
                t = time.perf_counter()
                enc.encode(q)
                times.append((time.perf_counter() - t) * 1000)
        out[name] = summary(times)
    out["min_cosine"] = min(float(np.dot(fast.encode(q), slow.encode(q))) for q in queries)
    out["encoder"] = type(fast).__name__
    return out


def http_latency(url: str, path: str, bodies: list[dict]) -> tuple[dict, dict]:
    """One client: each body once on a warmed server (cold query cache), then again (cached)."""
    requests.post(url + path, json=bodies[0], timeout=60)
    cold, warm = [], []
    for store in (cold, warm):
        for body in bodies:
            t = time.perf_counter()
            r = requests.post(url + path, json=body, timeout=60)
            store.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return summary(cold), summary(warm)


def fmt(x: float) -> str:
    return f"{x:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="index")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--questions", nargs="*", default=[str(p) for p in DEFAULT_QUESTIONS])
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs/benchmarks.md")
    args = parser.parse_args()
    index = Path(args.index)
    sets = [(Path(f).name, json.loads(Path(f).read_text())["questions"]) for f in args.questions]
    offtopic = json.loads(OFFTOPIC.read_text())["questions"]
    near_domain = json.loads(NEAR_DOMAIN.read_text())["questions"]
    vague = json.loads(VAGUE.read_text())["questions"]
    cases = json.loads(CASES.read_text())["descriptions"]

    print("building the naive baseline (embedding fixed windows)...", file=sys.stderr)
    baseline = Baseline(naive_windows(Path(args.corpus)))
    lines = ["## Retrieval and answer quality", "", f"Machine: {machine()}.", "", f"Command: `{command()}`", ""]
    results: dict = {}
    first_citations: list[tuple[float, bool]] = []  # (confidence, holds a gold phrase) over every set
    with Server(index) as server:
        passages = all_passages(server.url)
        for name, questions in sets:
            n_rel = [sum(relevant(t, q["gold"]) for t in passages) for q in questions]
            rows = {
                "naive windows, BM25": metrics([baseline.bm25(q["q"]) for q in questions], questions, n_rel),
                "naive windows, dense": metrics([baseline.dense(q["q"]) for q in questions], questions, n_rel),
                "keyword (BM25)": metrics([search_texts(server.url, q["q"], "keyword") for q in questions], questions, n_rel),
                "dense": metrics([search_texts(server.url, q["q"], "dense") for q in questions], questions, n_rel),
                "hybrid, reciprocal-rank fusion": metrics([search_texts(server.url, q["q"], "hybrid", "rrf") for q in questions], questions, n_rel),
                "hybrid, weighted min-max sum": metrics([search_texts(server.url, q["q"], "hybrid", "weighted") for q in questions], questions, n_rel),
                "**hybrid, second-stage scorer (default)**": metrics([search_texts(server.url, q["q"], "hybrid") for q in questions], questions, n_rel),
            }
            ask_ok, answerable, cautioned = 0, 0, 0
            dev_cos = []
            for q, body in zip(questions, ask_all(server.url, [q["q"] for q in questions])):
                answerable += body["answerable"]
                cautioned += bool(body["caution"])
                dev_cos.append(body["best_cosine"])
                right = bool(body["citations"]) and relevant(body["citations"][0]["quote"], q["gold"])
                ask_ok += right
                if body["citations"]:
                    first_citations.append((body["citations"][0]["confidence"], right))
            results[name] = {"rows": rows, "ask": ask_ok / len(questions), "answerable": answerable, "n": len(questions), "cos": dev_cos}
            lines += [f"### {name} ({len(questions)} questions)", "",
                      "| retriever | recall@1 | recall@5 | recall@10 | MRR@10 | nDCG@10 |", "|---|---|---|---|---|---|"]
            for label, m in rows.items():
                lines.append(f"| {label} | {fmt(m['recall@1'])} | {fmt(m['recall@5'])} | {fmt(m['recall@10'])} | {fmt(m['MRR@10'])} | {fmt(m['nDCG@10'])} |")
            best_naive = max(rows["naive windows, BM25"]["MRR@10"], rows["naive windows, dense"]["MRR@10"])
            hybrid = rows["**hybrid, second-stage scorer (default)**"]["MRR@10"]
            lines += ["", f"Hybrid MRR@10 minus the naive baseline's best: {hybrid - best_naive:+.3f}.",
                      f"`/api/ask` first citation holds a gold phrase: {ask_ok}/{len(questions)} = {ask_ok / len(questions):.3f}; "
                      f"answerable: {answerable}/{len(questions)}, of which {cautioned} with a caution (first citation's confidence below {LOOSE_BELOW}).", ""]

        lines += ["### Citation confidence", "",
                  f"First citations over all {len(first_citations)} questions above, by their confidence: how many hold a gold phrase.", "",
                  "| confidence | citations | hold a gold phrase | share |", "|---|---|---|---|"]
        for lo, hi in [(0.0, LOOSE_BELOW), (LOOSE_BELOW, 0.9), (0.9, 1.0)]:  # the lowest band is the one cautioned
            band = [ok for c, ok in first_citations if lo <= c < hi or (hi == 1.0 and c == 1.0)]
            share = f"{sum(band) / len(band):.2f}" if band else "-"
            lines.append(f"| {lo:.1f} to {hi:.1f} | {len(band)} | {sum(band)} | {share} |")
        lines.append("")

        off = ask_all(server.url, offtopic)
        refused = sum(not b["answerable"] for b in off)
        off_cos = [b["best_cosine"] for b in off]
        on_cos = [c for r in results.values() for c in r["cos"]]

        lines += ["### Not answerable", "",
                  f"Off-topic questions refused: {refused}/{len(off)} (bench/data/offtopic.json).",
                  f"Best passage cosine: off-topic max {max(off_cos):.3f}, lowest of the questions above {min(on_cos):.3f}; "
                  f"threshold {ANSWERABLE_MIN_COSINE} (the midpoint, rounded) leaves a margin of "
                  f"{ANSWERABLE_MIN_COSINE - max(off_cos):.3f} below and {min(on_cos) - ANSWERABLE_MIN_COSINE:.3f} above.", ""]
        near = ask_all(server.url, near_domain)
        near_cos = sorted(b["best_cosine"] for b in near)
        answered = [b for b in near if b["answerable"]]
        lines += [f"Near-domain questions that the reports do not answer (bench/data/near_domain.json; not a target): "
                  f"refused {len(near) - len(answered)}/{len(near)}, best passage cosine {near_cos[0]:.3f} to "
                  f"{near_cos[-1]:.3f}. The threshold tells whether the collection speaks of a question's subject, "
                  f"not whether a passage answers it; of the {len(answered)} answered, {sum(bool(b['caution']) for b in answered)} "
                  "say that their quotes are only loosely related (`caution`).", ""]
        loose = ask_all(server.url, vague)
        refused_loose = [q for q, b in zip(vague, loose) if not b["answerable"]]
        lines += [f"Short, loosely worded questions that the reports do speak to (bench/data/vague.json; not a target): "
                  f"answered {len(loose) - len(refused_loose)}/{len(loose)} ({sum(bool(b['caution']) for b in loose)} with a caution)"
                  + (f"; refused: {', '.join(repr(q) for q in refused_loose)}." if refused_loose else "."), ""]

        lines += ["### Similar cases", "", "Held-out case descriptions (bench/data/case_descriptions.json), written after the weights "
                  "were set: where `/api/similar` ranks the described report.", "",
                  "| described report | words | rank | ranked first |", "|---|---|---|---|"]
        firsts = 0
        for case in cases:
            ranked = [r["report"]["id"] for r in requests.post(server.url + "/api/similar", json={"text": case["text"], "k": 10}, timeout=60).json()["reports"]]
            rank = ranked.index(case["report_id"]) + 1 if case["report_id"] in ranked else None
            firsts += rank == 1
            lines.append(f"| {case['report_id']} | {len(case['text'].split())} | {rank or '-'} | {ranked[0] if ranked else '-'} |")
        lines += ["", f"Right report first: {firsts}/{len(cases)}.", ""]

        all_q = [q["q"] for _, qs in sets for q in qs]
        search_cold, search_warm = http_latency(server.url, "/api/search", [{"query": q, "k": 10} for q in all_q])
        # ask after search: the question vector is cached, the quote embeddings are not
        ask_cold, _ = http_latency(server.url, "/api/ask", [{"question": q + " ?"} for q in all_q])
    enc = encoder_speed(index, all_q)
    lines += ["### Speed on one client", "",
              "| what | median ms | p95 ms |", "|---|---|---|",
              f"| query encoder, ONNX Runtime ({enc['encoder']}) | {enc['onnx']['median']:.2f} | {enc['onnx']['p95']:.2f} |",
              f"| query encoder, sentence-transformers (baseline) | {enc['sentence-transformers']['median']:.2f} | "
              f"{enc['sentence-transformers']['p95']:.2f} |",
              f"| `POST /api/search` over HTTP, new query | {search_cold['median']:.2f} | {search_cold['p95']:.2f} |",
              f"| `POST /api/search` over HTTP, repeated query (cached vector) | {search_warm['median']:.2f} | {search_warm['p95']:.2f} |",
              f"| `POST /api/ask` over HTTP | {ask_cold['median']:.2f} | {ask_cold['p95']:.2f} |",
              "", f"ONNX against sentence-transformers: lowest cosine over {len(all_q)} queries {enc['min_cosine']:.6f}.",
              f"{len(all_q)} queries, each timed once per pass; the encoder over 5 passes.", ""]
    publish("quality", lines, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
