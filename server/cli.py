"""The `reviews` command: index, serve, search, ask and similar."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _corpus_default() -> Path:
    return Path(os.environ.get("REVIEWS_CORPUS", "corpus"))


def _index_default() -> Path:
    return Path(os.environ.get("REVIEWS_INDEX", "index"))


def cmd_index(args: argparse.Namespace) -> int:
    """Build or update the index."""
    from indexer.build import BuildError, build_index
    from indexer.chunking import ChunkParams
    from indexer.metadata import CatalogError

    try:
        summary = build_index(
            Path(args.corpus), Path(args.index), model_path=args.model,
            params=ChunkParams(target_tokens=args.chunk_tokens), progress=not args.quiet, force=args.force,
        )
    except (BuildError, CatalogError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    return 0


def _engine(index: str):  # noqa: ANN202
    from server.engine import Engine, EngineError

    try:
        return Engine(Path(index))
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def _unknown_report(eng, report_id: str) -> bool:  # noqa: ANN001
    """Whether report_id is not in the index; if so, says so on stderr with the known ids."""
    if report_id in eng.reports:
        return False
    print(f"error: no report with id {report_id!r}; known: {', '.join(eng.reports)}", file=sys.stderr)
    return True


def _add_filter_options(p: argparse.ArgumentParser, report: bool = True) -> None:
    """The API's filters as options; a repeated option keeps passages with any of its values."""
    if report:
        p.add_argument("--report", dest="report_ids", action="append", default=[], metavar="ID",
                       help="only passages of this report (repeatable)")
    p.add_argument("--kind", action="append", default=[], metavar="KIND",
                   help="only sections of this kind, such as findings or recommendations (repeatable)")
    p.add_argument("--year-from", type=int, metavar="YEAR", help="only reports published in or after this year")
    p.add_argument("--year-to", type=int, metavar="YEAR", help="only reports published in or before this year")
    p.add_argument("--area", help="only reports from this area (the catalogue's name, any case)")
    p.add_argument("--theme", action="append", default=[], metavar="ID", help="only passages with this theme (repeatable)")


def _filters(eng, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The options' filters, checked as the API checks them; None after saying what is wrong."""
    from server.errors import ApiError
    from server.validation import parse_filters

    raw = {"report_ids": getattr(args, "report_ids", []), "section_kind": args.kind, "year_from": args.year_from,
           "year_to": args.year_to, "area": args.area, "themes": args.theme}
    try:
        return parse_filters({k: v for k, v in raw.items() if v not in (None, [])}, set(eng.reports), set(eng.theme_ids))
    except ApiError as exc:
        message = exc.message.replace("GET /api/themes lists the theme ids", "`reviews themes` lists them")
        message = message.replace("'filters.year_from'", "--year-from").replace("'filters.year_to'", "--year-to")
        print(f"error: {message}", file=sys.stderr)
        return None


def _cite(p: dict) -> str:
    """Report, section, paragraph and page of a passage or citation; a passage's as the range it covers."""
    r = p["report"]
    bits = [f"{r['title']} ({r['area']}, {r['year']})"]
    if p.get("section"):
        bits.append(f"section: {p['section']}")
    first, last = p.get("paragraph"), (p.get("paragraphs") or [None])[-1]
    if first:
        # a range only between numbers, as the page shows it ("paras 18.5-18.6", never "Finding 3-4.1")
        numbered = last and last != first and first[0].isdigit() and last[0].isdigit()
        bits.append(f"paras {first}-{last}" if numbered else f"para {first}")
    if p.get("page"):
        end = p.get("page_end")
        bits.append(f"pp. {p['page']}-{end}" if end and end != p["page"] else f"p. {p['page']}")
    return " | ".join(bits)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API and the page (waitress, or gunicorn workers); index the corpus first if there is no index."""
    import logging
    import signal
    import threading
    import time

    from indexer.store import current_generation
    from server.app import create_app
    from server.engine import EngineError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it picked is noise here
    if args.workers < 1 or args.threads < 1:
        print("error: --workers and --threads must be at least 1", file=sys.stderr)
        return 2
    index = Path(args.index)
    try:
        missing = current_generation(index) is None
    except Exception:  # a broken pointer: let the engine report it precisely below
        missing = False
    if missing:
        print(f"No index in {index}: building it from {args.corpus} first.", flush=True)
        if cmd_index(argparse.Namespace(corpus=args.corpus, index=args.index, model=None, chunk_tokens=160,
                                        quiet=False, force=False)) != 0:
            return 2
    if args.workers > 1:
        return _serve_workers(index, args)
    t0 = time.perf_counter()
    try:
        app = create_app({"INDEX_DIR": str(index)})
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_loaded_line(app, index, time.perf_counter() - t0), flush=True)

    def _reload() -> None:
        try:
            if app.extensions["reviews"].reload():
                print(f"Reloaded index: {app.extensions['reviews'].engine.generation.path.name}", flush=True)
            else:
                print("Index unchanged; nothing to reload", flush=True)
        except EngineError as exc:
            print(f"reload failed, still serving the previous index: {exc}", file=sys.stderr, flush=True)

    if hasattr(signal, "SIGHUP"):
        # load in a thread: the signal arrives on the thread that runs the server's event loop
        signal.signal(signal.SIGHUP, lambda signum, frame: threading.Thread(target=_reload, daemon=True).start())
    from waitress import serve

    print(f"Serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="reviews")
    return 0


def _loaded_line(app, index: Path, seconds: float) -> str:  # noqa: ANN001
    eng = app.extensions["reviews"].engine
    return (f"Loaded {index} ({eng.generation.path.name}): {len(eng.reports)} reports, {eng.n_passages} passages, "
            f"model {eng.model_name}, query encoder {type(eng.encoder).__name__}, in {seconds:.2f} s")


def _serve_workers(index: Path, args: argparse.Namespace) -> int:
    """Serve with gunicorn: one process per worker, each loading the index, so that queries run
    on every core instead of taking turns on Python's interpreter lock. SIGHUP restarts the
    workers gracefully on the current index."""
    import time

    from gunicorn.app.base import BaseApplication

    from server.app import create_app
    from server.engine import EngineError

    class Workers(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": args.threads,
                               "worker_class": "gthread", "timeout": 120, "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):  # noqa: ANN202 - runs in each worker after the fork
            t0 = time.perf_counter()
            try:
                # each process gets its share of the cores: more threads per query only contend
                app = create_app({"INDEX_DIR": str(index), "CPU_THREADS": max(1, (os.cpu_count() or 2) // args.workers)})
            except EngineError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                raise SystemExit(3) from exc  # gunicorn's "worker failed to boot": the master stops
            print(f"{_loaded_line(app, index, time.perf_counter() - t0)} (worker {os.getpid()})", flush=True)
            return app

    print(f"Serving on http://{args.host}:{args.port}/ with {args.workers} worker processes (Ctrl+C to stop)", flush=True)
    Workers().run()
    return 0


def _print_corrections(corrections: list[dict]) -> None:
    if corrections:
        print("Searched for " + ", ".join(f"{c['used']} (you typed {c['typed']})" for c in corrections) + ".\n")


def cmd_search(args: argparse.Namespace) -> int:
    """Search passages from the command line."""
    from server.search import SearchRequest, search

    eng = _engine(args.index)
    filters = _filters(eng, args)
    if filters is None:
        return 2
    result = search(eng, SearchRequest(args.query, k=args.k, mode=args.mode, filters=filters))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print_corrections(result["corrections"])
    for i, p in enumerate(result["results"], 1):
        print(f"{i}. [{p['score']:.3f}] {_cite(p)}")
        print("   " + p["text"][:400].replace("\n", " ") + ("…" if len(p["text"]) > 400 else ""))
        if p["themes"]:
            print("   themes: " + ", ".join(eng.themes[t]["label"] for t in p["themes"]))
        print()
    return 0


def cmd_themes(args: argparse.Namespace) -> int:
    """List the themes, or one report's theme profile."""
    eng = _engine(args.index)
    if args.report:
        if _unknown_report(eng, args.report):
            return 2
        profile = eng.profile(args.report)
        if args.json:
            print(json.dumps(profile, indent=2))
            return 0
        for e in profile:
            where = ", ".join(f"para {p['paragraph']}" if p["paragraph"] else p["id"] for p in e["evidence"])
            print(f"{e['label']:<48} {e['passages']:>4} passages ({e['share']:.0%})  e.g. {where}")
        return 0
    rows = eng.theme_summary()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:<26} {r['label']:<48} {r['reports']:>3} reports {r['passages']:>5} passages")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer a question with cited sentences."""
    from server.answer import ask

    eng = _engine(args.index)
    filters = _filters(eng, args)
    if filters is None:
        return 2
    result = ask(eng, args.question, k=args.k, filters=filters)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print_corrections(result["corrections"])
    if result["caution"]:
        print(f"Note: {result['caution']}")
        print()
    print(result["answer"])
    print()
    for c in result["citations"]:
        print(f"[{c['n']}] {_cite(c)}  (confidence {c['confidence']:.2f})")
    if not result["answerable"] or result["caution"]:
        for p in result["passages"][:3]:
            print(f"- {_cite(p)}: {p['text'][:200]}…")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    """Rank reports like a case description or a report."""
    from server.similar import similar_to_report, similar_to_text

    if args.report and args.text is not None:
        print("error: give a case description or --report ID, not both", file=sys.stderr)
        return 2
    eng = _engine(args.index)
    filters = _filters(eng, args)
    if filters is None:
        return 2
    if args.report:
        if _unknown_report(eng, args.report):
            return 2
        result = similar_to_report(eng, args.report, args.k, filters)
    else:
        text = args.text if args.text != "-" else sys.stdin.read()
        if not text or not text.strip():
            print("error: give a case description, or --report ID", file=sys.stderr)
            return 2
        result = similar_to_text(eng, text, args.k, filters)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for i, r in enumerate(result["reports"], 1):
        rep = r["report"]
        print(f"{i}. [{r['score']:.3f}] {rep['title']} ({rep['area']}, {rep['year']})")
        if r["shared_themes"]:
            print("   shared themes: " + ", ".join(t["label"] for t in r["shared_themes"]))
        for p in r["evidence"]:
            print(f"   - {_cite(p)}: {p['text'][:160]}…")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="reviews", description="Search and question answering over child safeguarding case reviews.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index from the corpus")
    p.add_argument("--corpus", default=str(_corpus_default()), help="folder of reviews (env REVIEWS_CORPUS, default corpus/)")
    p.add_argument("--index", default=str(_index_default()), help="index directory (env REVIEWS_INDEX, default index/)")
    p.add_argument("--model", default=None, help="sentence-transformers model folder (env REVIEWS_MODEL; default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--chunk-tokens", type=int, default=160, help="target passage size in word pieces (default 160)")
    p.add_argument("--force", action="store_true", help="re-embed everything")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("serve", help="serve the search page and JSON API (indexes first if needed)")
    p.add_argument("--host", default=os.environ.get("REVIEWS_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1; exposing it is your choice)")
    p.add_argument("--port", type=int, default=int(os.environ.get("REVIEWS_PORT", "5000")), help="port (default 5000)")
    p.add_argument("--index", default=str(_index_default()), help="index directory")
    p.add_argument("--corpus", default=str(_corpus_default()), help="corpus to index when there is no index")
    p.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    p.add_argument("--workers", type=int, default=int(os.environ.get("REVIEWS_WORKERS", "1")),
                   help="processes (default 1, served by waitress); above 1, gunicorn runs one process per worker, "
                        "each holding its own copy of the index: one per core is fastest under concurrent load")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("search", help="search passages")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=10, choices=range(1, 51), metavar="K", help="results (1-50)")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "keyword"])
    _add_filter_options(p)
    p.add_argument("--index", default=str(_index_default()))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("themes", help="list the safeguarding themes, or a report's theme profile")
    p.add_argument("report", nargs="?", default=None, help="a report id: show its theme profile")
    p.add_argument("--index", default=str(_index_default()))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_themes)

    p = sub.add_parser("ask", help="answer a question with cited sentences")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5, choices=range(1, 51), metavar="K", help="passages to show (1-50)")
    _add_filter_options(p)
    p.add_argument("--index", default=str(_index_default()))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("similar", help="find reports like a case description (or '-' for stdin)")
    p.add_argument("text", nargs="?", default=None)
    p.add_argument("--report", help="find reports like this report id instead")
    p.add_argument("--k", type=int, default=5, choices=range(1, 51), metavar="K")
    _add_filter_options(p, report=False)  # --report here names the report to compare with
    p.add_argument("--index", default=str(_index_default()))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_similar)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `reviews` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
