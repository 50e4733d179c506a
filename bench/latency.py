"""Latency, throughput and memory of the real server at two scales: the seeds and 200k passages.

    python bench/latency.py [--index index] [--passages 200000] [--requests 300] [--no-write]

For each scale: search, ask and similar at concurrency 1 and 8 (p50, p95, p99, requests/s,
errors), where search time goes per stage, and the server's peak RSS. At the synthetic scale
also the approximate vector index's recall@10 against exact search. See bench/synthetic.py for how the
200k-passage index is made (and what its vectors are not).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Server, command, machine, publish, summary  # noqa: E402
from bench.synthetic import build_synthetic  # noqa: E402


def queries(seed_index: Path, n: int, seed: int = 5) -> list[str]:
    """Distinct queries: the question files plus word runs drawn from seed passages."""
    from indexer import store

    out = []
    for name in ("questions.json", "questions_extra.json"):
        out += [q["q"] for q in json.loads((ROOT / "bench" / "data" / name).read_text())["questions"]]
    rng = random.Random(seed)
    conn = store.connect(store.current_generation(seed_index).db_path, readonly=True)
    texts = [r[0] for r in conn.execute("SELECT text FROM passages")]
    while len(out) < n:
        words = rng.choice(texts).split()
        if len(words) > 12:
            i = rng.randrange(len(words) - 8)
            out.append(" ".join(words[i : i + rng.randint(3, 8)]))
    return out[:n]


def drive(url: str, path: str, bodies: list[dict], concurrency: int) -> dict:
    """Send every body once with `concurrency` clients; timings, errors, throughput.

    Each client is a thread on one keep-alive http.client connection, with its bodies encoded
    before the clock starts: the client shares the server's two cores, so it must cost little
    (requests cost 2.6 ms of CPU a call, this 1.2 ms).
    """
    host, port = url.removeprefix("http://").split(":")
    times: list[float] = []
    errors: list[str] = []
    stages: list[dict] = []
    lock = threading.Lock()
    todo = [json.dumps(b).encode() for b in bodies]
    headers = {"Content-Type": "application/json"}

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                if not todo:
                    break
                body = todo.pop()
            t = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                raw = response.read()
                error = None if response.status == 200 else f"status {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                raw, error = b"", type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=120)
            ms = (time.perf_counter() - t) * 1000
            data = json.loads(raw) if error is None and concurrency == 1 else None  # stage timings, one client
            with lock:
                times.append(ms)
                if error:
                    errors.append(error)
                if data and "timings" in data:
                    stages.append(data["timings"] | {"took_ms": data["took_ms"]})
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stage_medians = {k: float(np.median([s[k] for s in stages if k in s])) for k in (stages[0] if stages else {})}
    return summary(times) | {"n": len(times), "errors": len(errors), "rps": len(times) / wall, "stages": stage_medians}


def hnsw_recall(index_dir: Path, qs: list[str], k: int = 10) -> tuple[float, str]:
    """recall@k of the served vector index against an exact search of the same vectors."""
    import faiss

    from server.engine import Engine

    engine = Engine(index_dir)
    kind = engine.manifest["faiss"]
    if kind["type"] == "Flat":
        return 1.0, "Flat"
    n = engine.faiss.ntotal
    exact = faiss.IndexFlatIP(engine.faiss.d)
    exact.add(engine.faiss.reconstruct_n(0, n))
    q = np.stack([engine.encode(x) for x in qs]).astype(np.float32)
    _, approx_ids = engine.faiss.search(q, k)
    _, exact_ids = exact.search(q, k)
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx_ids, exact_ids))
    engine.close()
    return hits / (k * len(qs)), f"{kind['type']} (nprobe={kind['nprobe']})"


WORKERS = 2  # one server process per core of this 2-core machine: `reviews serve --workers 2`


def scale_run(index: Path, qs: list[str], n_requests: int) -> dict:
    """All scenarios against one index with WORKERS processes, and search on one process as the baseline."""
    searches = [{"query": q, "k": 10} for q in qs[:n_requests]]
    asks = [{"question": q} for q in qs[: max(40, n_requests // 3)]]
    cases = [{"text": " ".join(qs[i : i + 6]), "k": 5} for i in range(0, max(40, n_requests // 3) * 6, 6)]
    out = {}
    with Server(index, threads=8, workers=WORKERS) as server:
        for _ in range(2 * WORKERS):
            requests.post(server.url + "/api/search", json={"query": "warm up the server"}, timeout=120)
        rss_start = server.rss_mb()
        for conc in (1, 8):
            # a fresh suffix per pass, so the query-vector cache never answers
            tag = f" {conc}"
            out[("search", WORKERS, conc)] = drive(server.url, "/api/search", [b | {"query": b["query"] + tag} for b in searches], conc)
            out[("ask", WORKERS, conc)] = drive(server.url, "/api/ask", [b | {"question": b["question"] + tag} for b in asks], conc)
            out[("similar", WORKERS, conc)] = drive(server.url, "/api/similar", [b | {"text": b["text"] + tag} for b in cases], conc)
        out["rss_start_mb"] = rss_start
        out["peak_rss_mb"] = server.peak_rss_mb()
        out["health"] = requests.get(server.url + "/api/health", timeout=30).json()
    with Server(index, threads=8, workers=1) as server:  # the baseline: one process, threads only
        requests.post(server.url + "/api/search", json={"query": "warm up the server"}, timeout=120)
        for conc in (1, 8):
            tag = f" one {conc}"
            out[("search", 1, conc)] = drive(server.url, "/api/search", [b | {"query": b["query"] + tag} for b in searches], conc)
        out["peak_rss_one_mb"] = server.peak_rss_mb()
    return out


def table(name: str, res: dict) -> list[str]:
    health = res["health"]
    faiss = health["faiss"]
    kind = faiss["type"] + (f" (nprobe={faiss['nprobe']})" if "nprobe" in faiss else "")
    lines = [f"### {name}: {health['reports']} reports, {health['passages']} passages, vector index {kind}", "",
             "| endpoint | processes | clients | requests | errors | p50 ms | p95 ms | p99 ms | requests/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (what, procs, conc), r in ((k, v) for k, v in res.items() if isinstance(k, tuple)):
        lines.append(f"| {what} | {procs} | {conc} | {r['n']} | {r['errors']} | {r['median']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rps']:.1f} |")
    stages = res[("search", WORKERS, 1)]["stages"]
    lines += ["", "Where one search's time goes (server side, medians, one client): " + ", ".join(
        f"{k.replace('_ms', '')} {v:.2f} ms" for k, v in stages.items()) + ".",
        f"Server RSS with {WORKERS} processes after start-up {res['rss_start_mb']:.0f} MB, peak {res['peak_rss_mb']:.0f} MB "
        f"(summed over the processes); one process peaked at {res['peak_rss_one_mb']:.0f} MB.", ""]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="index")
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--synthetic-dir", default=str(ROOT / "bench" / "out" / "synthetic"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seed_index = Path(args.index)
    qs = queries(seed_index, args.requests)

    synth = Path(args.synthetic_dir) / f"{args.passages}"
    from indexer import store
    from indexer.expansion import KEYWORD_VERSION

    current = store.current_generation(synth) if (synth / store.CURRENT).exists() else None
    if (
        current is None
        or current.manifest.get("counts", {}).get("passages") != args.passages
        or current.manifest.get("schema_version") != store.SCHEMA_VERSION
        or current.manifest.get("keyword", {}).get("version") != KEYWORD_VERSION  # words analysed another way
        or current.manifest.get("themes", {}).get("sha256") != store.current_generation(seed_index).manifest.get("themes", {}).get("sha256")
    ):
        shutil.rmtree(synth, ignore_errors=True)
        print(f"building a synthetic index of {args.passages} passages...", file=sys.stderr)
        build_synthetic(seed_index, synth, args.passages)
        if (seed_index / "cache").exists():
            shutil.copytree(seed_index / "cache", synth / "cache", dirs_exist_ok=True)
    built = store.current_generation(synth).manifest["build_seconds"]

    print("seed scale...", file=sys.stderr)
    seed_res = scale_run(seed_index, qs, args.requests)
    print("synthetic scale...", file=sys.stderr)
    synth_res = scale_run(synth, qs, args.requests)
    recall, kind = hnsw_recall(synth, qs[:200])

    lines = ["## Latency, throughput and memory", "", f"Machine: {machine()}.", "", f"Command: `{command()}`", "",
             "The client runs on the same two cores as the server. Every request is a new query (a fresh suffix per pass), so "
             "the query-vector cache never answers. Similar-case descriptions are six queries joined. The server runs as "
             f"`reviews serve --workers {WORKERS}` (gunicorn, one process per core, 8 threads each); the rows with one process are "
             "the default `reviews serve` (waitress, 8 threads), measured in the same run as the baseline.", ""]
    lines += table("Seed corpus", seed_res)
    lines += table(f"Synthetic national scale ({args.passages} passages)", synth_res)
    lines += [f"The synthetic index was built from the seed passages (bench/synthetic.py): sentences recombined within "
              f"section kinds and grouped into replicated reports of 150 passages. **Its vectors are not embeddings of its "
              f"texts**: each is a real seed vector plus Gaussian noise, renormalised; they exercise the vector search's cost, "
              f"not its quality. Building it took {built['total']:.0f} s, of which the {kind} index {built['faiss']:.0f} s "
              f"and the tantivy index {built['keyword']:.0f} s; tagging its passages with themes (as `reviews index` does) "
              f"took {built.get('themes', 0):.0f} s.", "",
              f"{kind} recall@10 against exact inner-product search of the same {args.passages} vectors, over {min(200, len(qs))} "
              f"queries: **{recall:.3f}**.", ""]
    publish("latency", lines, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
