"""A synthetic national-scale index built from the seed index, for latency and memory tests.

Passages are the seed passages with about a third of their sentences swapped for sentences of
other seed passages of the same section kind, grouped into replicated reports of 150 passages,
so that word statistics look like the real text. Vectors are NOT real embeddings of these
texts: each is its base passage's real vector plus Gaussian noise, renormalised. That keeps the
vector search's work realistic without three hours of embedding; it says nothing about quality.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

import numpy as np

from indexer import store
from indexer.build import store_themes
from indexer.themes import load_taxonomy

PASSAGES_PER_REPORT = 150
SWAP_SHARE = 0.33
NOISE = 0.03  # per dimension, before renormalising: cosine to the base vector about 0.75


def build_synthetic(seed_index: Path, out_dir: Path, n_passages: int, seed: int = 11) -> Path:
    """Write a complete index directory with n_passages passages; returns its path."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    gen = store.current_generation(seed_index)
    src = sqlite3.connect(gen.db_path)
    src.row_factory = sqlite3.Row
    base = src.execute("SELECT * FROM passages ORDER BY id").fetchall()
    reports = {r["id"]: dict(r) for r in src.execute("SELECT id, title, area, year, child, review_type, board FROM reports")}
    by_kind: dict[str, list[tuple[str, str]]] = {}
    parsed = []
    for row in base:
        spans = json.loads(row["sentences"])
        stems = row["stems"].split("\n")
        sentences = [(row["text"][a - row["start"] : b - row["start"]], stems[i]) for i, (a, b) in enumerate(spans)]
        parsed.append(sentences)
        by_kind.setdefault(row["kind"], []).extend(sentences)

    out_dir.mkdir(parents=True, exist_ok=True)
    gen_dir = store.new_generation_dir(out_dir)
    conn = store.connect(gen_dir / store.DB_NAME)
    conn.executescript(store.SCHEMA)
    acronyms = src.execute("SELECT short, long FROM acronyms").fetchall()
    conn.executemany("INSERT INTO acronyms VALUES (?, ?)", acronyms)
    areas = sorted({r["area"] for r in reports.values()})
    vectors = np.empty((n_passages, len(np.frombuffer(base[0]["vector"], dtype=np.float32))), dtype=np.float32)
    keyword_rows = []
    pid = 0
    n_reports = (n_passages + PASSAGES_PER_REPORT - 1) // PASSAGES_PER_REPORT
    for r in range(n_reports):
        rid = f"synthetic-{r:05d}"
        texts, rows = [], []
        offset = 0
        for ordinal in range(min(PASSAGES_PER_REPORT, n_passages - pid)):
            i = rng.randrange(len(base))
            row = base[i]
            sentences = [
                rng.choice(by_kind[row["kind"]]) if rng.random() < SWAP_SHARE else s for s in parsed[i]
            ]
            spans, parts, at = [], [], offset
            for text, _ in sentences:
                spans.append((at, at + len(text)))
                parts.append(text)
                at += len(text) + 1
            text = " ".join(parts)
            texts.append(text)
            vec = np.frombuffer(row["vector"], dtype=np.float32) + nrng.normal(0, NOISE, vectors.shape[1]).astype(np.float32)
            vectors[pid] = vec / np.linalg.norm(vec)
            rows.append((pid, rid, ordinal, 0, row["heading"], row["heading_path"], row["kind"], row["paragraph"], row["paragraphs"],
                         None, None, offset, offset + len(text), text, text, row["tokens"], json.dumps(spans),
                         json.dumps([[row["paragraph"], None]] * len(spans)), "\n".join(s for _, s in sentences), vectors[pid].tobytes()))
            keyword_rows.append((pid, text, row["heading_path"]))
            offset += len(text) + 2
            pid += 1
        seed_report = reports[base[rng.randrange(len(base))]["report_id"]]
        conn.execute("INSERT INTO reports VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (rid, f"Synthetic review {r} ({seed_report['child']})", areas[r % len(areas)], 2008 + r % 16,
                      seed_report["child"], seed_report["review_type"], "synthetic", f"{rid}.txt", seed_report["board"],
                      "\n\n".join(texts), 0))
        conn.execute("INSERT INTO sections VALUES (?,?,?,?,?,?,?,?,?)", (rid, 0, "Synthetic", "[]", "analysis", 1, None, 0, offset))
        conn.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    # themes are tagged as `reviews index` tags them, with the seed index's prototypes
    t_themes = time.perf_counter()
    protos = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in src.execute("SELECT prototype FROM themes ORDER BY ordinal")])
    rows = [(r[0], None, r[1], r[2], r[3]) for r in conn.execute("SELECT id, text, heading_path, report_id FROM passages ORDER BY id")]
    store_themes(conn, load_taxonomy(), protos, vectors, rows)
    themes_seconds = time.perf_counter() - t_themes
    conn.close()
    np.save(gen_dir / "ids.npy", np.arange(n_passages, dtype=np.int64))
    t_faiss = time.perf_counter()
    faiss_info = store.build_faiss(vectors, gen_dir / store.FAISS_NAME)
    faiss_seconds = time.perf_counter() - t_faiss
    t_kw = time.perf_counter()
    acr = dict(acronyms)
    from indexer.expansion import keyword_text

    store.build_keyword([(p, keyword_text(t, acr), h) for p, t, h in keyword_rows], gen_dir / store.KEYWORD_DIR)
    keyword_seconds = time.perf_counter() - t_kw
    manifest = dict(gen.manifest)
    manifest.update({
        "faiss": faiss_info, "files": {}, "reports": {}, "skipped": {}, "synthetic": True,
        "counts": {"reports": n_reports, "passages": n_passages},
        "build_seconds": {"total": time.perf_counter() - t0, "faiss": faiss_seconds, "keyword": keyword_seconds, "themes": themes_seconds},
    })
    store.write_manifest(gen_dir, manifest)
    store.publish(out_dir, gen_dir)
    src.close()
    return out_dir
