"""Load test: concurrent clients mixing search, ask and similar against a real server on loopback.

    python bench/load.py [--index index] [--clients 16] [--seconds 60] [--no-write]

Each client loops until the time is up (and never past a hard request cap), so the test stops
by itself. Reports requests, errors, p50/p95/p99 per endpoint and the server's memory after
warm-up and after the run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Server, command, machine, publish, summary  # noqa: E402

MAX_REQUESTS_PER_CLIENT = 100_000
CASES = [
    "A baby of a few months died while sharing a bed with young parents who used cannabis.",
    "Toddler failing to thrive, mother avoided health visitors, home dirty and cluttered.",
    "Homeless mother with no recourse to public funds moved between boroughs with her baby.",
    "Child choked; long history of domestic violence and neglect, legal advice said threshold not met.",
]


def workload() -> list[tuple[str, dict]]:
    """The mix: mostly searches, some questions and case descriptions."""
    questions = []
    for name in ("questions.json", "questions_extra.json"):
        questions += [q["q"] for q in json.loads((ROOT / "bench" / "data" / name).read_text())["questions"]]
    mix = [("/api/search", {"query": q, "k": 10}) for q in questions]
    mix += [("/api/search", {"query": q, "k": 10, "filters": {"section_kind": ["findings", "recommendations"]}}) for q in questions[:10]]
    mix += [("/api/ask", {"question": q}) for q in questions[::3]]
    mix += [("/api/similar", {"text": c, "k": 5}) for c in CASES]
    return mix


def run(url: str, clients: int, seconds: float, seed: int = 7) -> dict:
    """Drive the server; returns per-endpoint timings and error counts."""
    mix = workload()
    deadline = time.time() + seconds
    results: dict[str, list[float]] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed + n)
        session = requests.Session()
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.time() >= deadline:
                return
            path, body = rng.choice(mix)
            t = time.perf_counter()
            try:
                r = session.post(url + path, json=body, timeout=60)
                ok = r.status_code == 200
                detail = f"{path} {r.status_code}"
            except requests.RequestException as exc:
                ok, detail = False, f"{path} {type(exc).__name__}"
            ms = (time.perf_counter() - t) * 1000
            with lock:
                results.setdefault(path, []).append(ms)
                if not ok:
                    errors.append(detail)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    total = sum(len(v) for v in results.values())
    return {"elapsed": elapsed, "requests": total, "errors": errors, "per_path": {p: summary(v) | {"n": len(v)} for p, v in results.items()},
            "all": summary([x for v in results.values() for x in v]), "rps": total / elapsed}


def load_test(index: Path, clients: int, seconds: float) -> dict:
    """Warm up, measure memory, load, measure memory again."""
    with Server(index, threads=8) as server:
        run(server.url, 4, 10)  # warm-up: caches, lazily built state, allocator high-water mark
        rss_warm = server.rss_mb()
        out = run(server.url, clients, seconds)
        time.sleep(1)
        out["rss_warm_mb"] = rss_warm
        out["rss_after_mb"] = server.rss_mb()
        out["peak_rss_mb"] = server.peak_rss_mb()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="index")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    out = load_test(Path(args.index), args.clients, args.seconds)
    lines = ["## Load: concurrent clients on the seed index", "", f"Machine: {machine()}.", "", f"Command: `{command()}`", "",
             f"{args.clients} clients for {out['elapsed']:.0f} s (clients and server share the machine's cores): "
             f"{out['requests']} requests, {len(out['errors'])} errors, {out['rps']:.1f} requests/s.", "",
             "| endpoint | requests | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|"]
    for path, s in sorted(out["per_path"].items()):
        lines.append(f"| `{path}` | {s['n']} | {s['median']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} |")
    growth = (out["rss_after_mb"] - out["rss_warm_mb"]) / out["rss_warm_mb"] * 100
    lines += ["", f"Server RSS after warm-up {out['rss_warm_mb']:.0f} MB, after the run {out['rss_after_mb']:.0f} MB "
              f"({growth:+.1f}%), peak {out['peak_rss_mb']:.0f} MB."]
    publish("load", lines, write=not args.no_write)
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
