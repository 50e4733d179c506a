"""Indexing speed: the pipeline against raw encoding, token overhead, re-index times, projection.

    python bench/indexing.py [--corpus corpus] [--reports 1000] [--no-write]

1. A full build of the seeds (model already loaded) against `SentenceTransformer.encode` of
   the same passage texts in the same run: the ratio is the pipeline's overhead.
2. The share of embedded word pieces spent on contextual prefixes and sentence overlap.
3. A no-change re-index of the seeds, as a fresh `reviews index` process.
4. A collection of N reports (copies of the seeds, each made unique): its first build, a
   no-change re-index and a one-report change, each as a fresh `reviews index` process.
5. The projected time to embed the national collection (about 150k passages).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, command, machine, publish  # noqa: E402

NATIONAL_PASSAGES = 150_000


def timed_cli(*args: str) -> tuple[float, str]:
    """Wall-clock seconds of a fresh `reviews index` process, and its summary."""
    t = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "server.cli", "index", "--quiet", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return time.perf_counter() - t, result.stdout.strip()


def pipeline_vs_raw(corpus: Path, work: Path, rounds: int = 2) -> dict:
    """Full in-process builds against raw encodes of the same texts, alternating, best of each."""
    from indexer import store
    from indexer.build import build_index
    from indexer.embedding import Embedder

    embedder = Embedder()
    pipeline, raw = [], []
    texts: list[str] = []
    for i in range(rounds):
        index = work / f"full-{i}"
        t = time.perf_counter()
        summary = build_index(corpus, index, embedder=embedder, progress=False)
        pipeline.append(time.perf_counter() - t)
        conn = store.connect(store.current_generation(index).db_path, readonly=True)
        texts = [r[0] for r in conn.execute("SELECT embed_text FROM passages ORDER BY id")]
        conn.close()
        t = time.perf_counter()
        embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, show_progress_bar=False)
        raw.append(time.perf_counter() - t)
        n = summary.passages_total
    return {"passages": n, "pipeline_s": min(pipeline), "raw_s": min(raw), "index": work / "full-0", "embedder": embedder}


def token_overhead(index: Path, embedder) -> dict:  # noqa: ANN001
    """Prefix and overlap word pieces as shares of everything embedded."""
    from indexer import store

    conn = store.connect(store.current_generation(index).db_path, readonly=True)
    rows = conn.execute("SELECT report_id, text, embed_text, sentences, start, tokens FROM passages ORDER BY report_id, ordinal").fetchall()
    total = prefix = overlap = 0
    previous: dict[str, set[tuple[int, int]]] = {}
    for row in rows:
        body = " ".join(row["text"].split())
        pre = row["embed_text"][: len(row["embed_text"]) - len(body)]
        total += row["tokens"]
        prefix += embedder.count_tokens([pre])[0] if pre else 0
        spans = [tuple(s) for s in json.loads(row["sentences"])]
        shared = [s for s in spans if s in previous.get(row["report_id"], set())]
        if shared:
            overlap += sum(embedder.count_tokens([row["text"][a - row["start"] : b - row["start"]] for a, b in shared]))
        previous[row["report_id"]] = set(spans)
    return {"total": total, "prefix": prefix, "overlap": overlap}


def make_collection(corpus: Path, out: Path, n: int) -> None:
    """n report files: the seeds in turn, each with a closing line of its own, and a catalogue
    that gives each copy its seed's metadata (so a copy's passages embed like its seed's)."""
    from indexer.metadata import load_catalog

    catalog = load_catalog(corpus)
    seeds = sorted(corpus.glob("*.txt"))
    out.mkdir(parents=True)
    entries = []
    for i in range(n):
        src = seeds[i % len(seeds)]
        name = f"{i:04d}_{src.name}"
        text = src.read_text(encoding="utf-8")
        (out / name).write_text(text + f"\n\nThis copy is number {i} of the benchmark collection.\n", encoding="utf-8")
        entry = dict(catalog.get(src.name, {"title": src.stem}))
        entry.update({"id": f"copy-{i:04d}", "file": name})
        entries.append("[[report]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items()))
    (out / "catalog.toml").write_text("\n".join(entries), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    work = Path(tempfile.mkdtemp(prefix="reviews-indexing-"))
    try:
        print("full builds against raw encoding...", file=sys.stderr)
        full = pipeline_vs_raw(corpus, work)
        tokens = token_overhead(full["index"], full["embedder"])
        no_change_seed, _ = timed_cli("--corpus", str(corpus), "--index", str(full["index"]))

        print(f"a collection of {args.reports} reports...", file=sys.stderr)
        big = work / "collection"
        make_collection(corpus, big, args.reports)
        big_index = work / "collection-index"
        first_build, first_summary = timed_cli("--corpus", str(big), "--index", str(big_index))
        no_change_big, nc_summary = timed_cli("--corpus", str(big), "--index", str(big_index))
        victim = sorted(big.glob("*.txt"))[args.reports // 2]
        victim.write_text(victim.read_text(encoding="utf-8") + "\n\nA paragraph added later.\n", encoding="utf-8")
        one_change, one_summary = timed_cli("--corpus", str(big), "--index", str(big_index))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rate = full["passages"] / full["pipeline_s"]
    raw_rate = full["passages"] / full["raw_s"]
    projected_h = NATIONAL_PASSAGES / rate / 3600

    def grab(summary: str, key: str) -> str:
        return next((line for line in summary.splitlines() if line.startswith(key)), "")

    lines = ["## Indexing", "", f"Machine: {machine()}.", "", f"Command: `{command()}`", "",
             "| what | figure |", "|---|---|",
             f"| full build of the seeds, model loaded (best of 2) | {full['passages']} passages in {full['pipeline_s']:.1f} s = {rate:.1f} passages/s |",
             f"| raw `SentenceTransformer.encode` of the same texts, same run (best of 2) | {full['raw_s']:.1f} s = {raw_rate:.1f} passages/s |",
             f"| pipeline throughput against raw encoding | **{rate / raw_rate:.2f}x** |",
             f"| word pieces embedded | {tokens['total']} |",
             f"| of which contextual prefix (title and headings) | {tokens['prefix']} ({tokens['prefix'] / tokens['total']:.1%}) |",
             f"| of which sentence overlap with the previous passage | {tokens['overlap']} ({tokens['overlap'] / tokens['total']:.1%}) |",
             f"| no-change `reviews index` of the seeds (fresh process) | {no_change_seed:.1f} s |",
             f"| first build of {args.reports} reports (fresh process) | {first_build:.0f} s; {grab(first_summary, 'passages')} |",
             f"| no-change `reviews index` of {args.reports} reports | **{no_change_big:.1f} s**; {grab(nc_summary, 'passages')} |",
             f"| one report changed among {args.reports} | {one_change:.1f} s; {grab(one_summary, 'passages')} |",
             f"| projected embedding time for {NATIONAL_PASSAGES:,} passages at the pipeline's rate | {projected_h:.1f} h |",
             "", f"The {args.reports}-report collection is the seeds copied in turn, each copy given a closing line of its "
             "own; identical passages across copies are embedded once, so its first build embeds far fewer passages than a "
             "real collection of that size would. The re-index times do not depend on that: they hash every file, and "
             "re-embed only what changed.", ""]
    publish("indexing", lines, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
