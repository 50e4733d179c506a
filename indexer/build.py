"""Build or update an index directory from a corpus folder, incrementally and atomically."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexer import store
from indexer.chunking import ChunkParams, chunk_report, sentence_tokenizer, train_punkt
from indexer.documents import (
    SUPPORTED_SUFFIXES,
    CleanDocument,
    UnreadableFile,
    clean_document,
    read_source,
)
from indexer.embedding import Embedder, default_model_path, model_fingerprint
from indexer.expansion import KEYWORD_VERSION, keyword_text, mine_acronyms
from indexer.metadata import CATALOG_NAME, build_meta, load_catalog
from indexer.structure import StructuredReport, structure
from indexer.textutil import sentence_stems
from indexer.themes import Taxonomy, load_taxonomy, prototypes, report_profile, tag_passages

log = logging.getLogger(__name__)
PUNKT_NAME = "punkt.pickle"


class BuildError(Exception):
    """The build cannot go ahead; the message says why and what to do."""


@dataclass
class Parsed:
    """One source file turned into a report and its passages, before embedding."""

    file: str
    sha256: str
    size: int
    meta: dict
    report: StructuredReport
    has_pages: bool
    footnotes: list
    chunks: list


@dataclass
class BuildSummary:
    """What a build did, for the command line and the tests."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    passages_total: int = 0
    passages_embedded: int = 0
    passages_reused: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    full_rebuild_reason: str | None = None
    generation: str | None = None
    up_to_date: bool = False

    def lines(self) -> list[str]:
        """A human summary."""
        out = []
        if self.full_rebuild_reason:
            out.append(f"Full rebuild: {self.full_rebuild_reason}")
        for name, why in self.skipped:
            out.append(f"skipped {name}: {why}")
        out.append(
            f"reports: {len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
        )
        rate = self.passages_embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0
        out.append(
            f"passages: {self.passages_total} in index, {self.passages_embedded} embedded "
            f"({rate:.1f}/s), {self.passages_reused} reused"
        )
        out.append("index is up to date; nothing to do" if self.up_to_date else f"live generation: {self.generation}")
        out.append(f"took {self.seconds:.1f} s")
        return out


def sha256_file(path: Path) -> str:
    """Content hash of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_sources(corpus: Path) -> list[Path]:
    """Review files in the corpus folder, in name order."""
    if not corpus.is_dir():
        raise BuildError(f"corpus folder {corpus} does not exist; pass --corpus DIR or set REVIEWS_CORPUS")
    return sorted(
        p for p in corpus.iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
    )


PUNKT_SAMPLE_CHARS = 4_000_000  # punkt's statistics settle long before this; more only costs time


def punkt_sample(texts: list[str], budget: int = PUNKT_SAMPLE_CHARS) -> list[str]:
    """An even spread of whole texts, up to a character budget, to train punkt on."""
    if sum(len(t) for t in texts) <= budget:
        return texts
    step = max(1, len(texts) * sum(len(t) for t in texts) // budget // len(texts))
    sample, used = [], 0
    for text in texts[::step]:
        if used + len(text) > budget:
            break
        sample.append(text)
        used += len(text)
    return sample


def load_file(path: Path) -> tuple[CleanDocument, StructuredReport]:
    """Read, clean and structure one file; UnreadableFile when it holds no body text."""
    doc = clean_document(read_source(path))
    report = structure(doc)
    if not report.paragraphs:
        raise UnreadableFile("no body text found")
    return doc, report


def parse_file(
    path: Path, loaded: tuple[CleanDocument, StructuredReport], sha: str, catalog: dict, punkt, embedder: Embedder, params: ChunkParams
) -> Parsed:
    """Chunk one loaded file and attach its metadata; UnreadableFile when it yields no passage."""
    doc, report = loaded
    headings = [s.heading for s in report.sections if s.heading]
    meta = build_meta(path.name, catalog, report.text, headings).as_dict()
    chunks = chunk_report(report, meta["title"] or path.stem, punkt, embedder.count_tokens, params)
    if not chunks:
        raise UnreadableFile("no sentences found")
    return Parsed(path.name, sha, path.stat().st_size, meta, report, doc.has_pages, doc.footnotes, chunks)


def _compatibility(old: store.Generation | None, fingerprint: str, params: ChunkParams) -> str | None:
    """Why the old generation cannot be updated in place, or None if it can."""
    if old is None:
        return None
    m = old.manifest
    if m.get("schema_version") != store.SCHEMA_VERSION:
        return f"index schema {m.get('schema_version')} differs from {store.SCHEMA_VERSION}"
    if m.get("model", {}).get("fingerprint") != fingerprint:
        return f"embedding model changed ({m.get('model', {}).get('name')} -> new model)"
    if m.get("chunking") != params.as_dict():
        return "chunking settings changed"
    return None


def build_index(
    corpus: Path,
    index_dir: Path,
    embedder: Embedder | None = None,
    params: ChunkParams = ChunkParams(),
    model_path: str | None = None,
    progress: bool = True,
    force: bool = False,
    taxonomy: Taxonomy | None = None,
) -> BuildSummary:
    """Bring index_dir up to date with corpus; only new or changed reports are embedded."""
    t0 = time.perf_counter()
    summary = BuildSummary()
    taxonomy = taxonomy or load_taxonomy()
    sources = list_sources(corpus)
    catalog = load_catalog(corpus)
    catalog_hash = sha256_file(corpus / CATALOG_NAME) if (corpus / CATALOG_NAME).exists() else None
    hashes = {p.name: sha256_file(p) for p in sources}

    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        old = store.current_generation(index_dir)
    except store.IndexError_ as exc:
        log.warning("%s; building afresh", exc)
        old = None
    model_path = embedder.model_path if embedder is not None else (model_path or default_model_path())
    fingerprint = model_fingerprint(model_path)
    reason = "forced" if force and old else _compatibility(old, fingerprint, params)
    if reason:
        summary.full_rebuild_reason = reason
        old = None

    old_files: dict[str, dict] = old.manifest.get("files", {}) if old else {}
    if (
        old is not None
        and old_files == {n: {"sha256": h} for n, h in hashes.items()}
        and old.manifest.get("catalog_sha256") == catalog_hash
        and old.manifest.get("themes", {}).get("sha256") == taxonomy.sha256
        and old.manifest.get("keyword", {}).get("version") == KEYWORD_VERSION
    ):
        summary.up_to_date = True
        summary.unchanged = sorted(old.manifest.get("reports", {}).values())
        summary.passages_total = old.manifest.get("counts", {}).get("passages", 0)
        summary.generation = old.path.name
        summary.seconds = time.perf_counter() - t0
        return summary

    store.cleanup(index_dir, keep=set())  # leftovers of killed builds
    if embedder is None:  # loading the model costs seconds: only when there is work to do
        embedder = Embedder(model_path)
    gen_dir = store.new_generation_dir(index_dir)
    # the generation this build copies from stays whole even if another build publishes
    # meanwhile: builds delete only generations that nobody holds
    held = store.lock_generation(old.path) if old is not None else None
    try:
        _build_generation(
            gen_dir, sources, hashes, catalog, catalog_hash, old, embedder, fingerprint, params, progress, summary, taxonomy
        )
    except BaseException:
        # leave CURRENT untouched; the half-built generation is removed now or at the next run
        import shutil

        shutil.rmtree(gen_dir, ignore_errors=True)
        raise
    finally:
        if held is not None:
            os.close(held)  # before publishing, whose clean-up may now delete it
    store.publish(index_dir, gen_dir)
    summary.generation = gen_dir.name
    summary.seconds = time.perf_counter() - t0
    return summary


def _build_generation(
    gen_dir: Path,
    sources: list[Path],
    hashes: dict[str, str],
    catalog: dict,
    catalog_hash: str | None,
    old: store.Generation | None,
    embedder: Embedder,
    fingerprint: str,
    params: ChunkParams,
    progress: bool,
    summary: BuildSummary,
    taxonomy: Taxonomy,
) -> None:
    old_files = old.manifest.get("files", {}) if old else {}
    old_reports: dict[str, str] = old.manifest.get("reports", {}) if old else {}  # file -> report id
    catalog_changed = old is not None and old.manifest.get("catalog_sha256") != catalog_hash
    old_skipped: dict[str, str] = old.manifest.get("skipped", {}) if old else {}

    def same(p: Path) -> bool:
        return p.name in old_files and old_files[p.name]["sha256"] == hashes[p.name]

    unchanged = [p for p in sources if p.name in old_reports and same(p) and not catalog_changed]
    still_bad = [p for p in sources if p.name in old_skipped and same(p)]
    for p in still_bad:  # an unchanged unreadable file is reported again, not re-read
        summary.skipped.append((p.name, old_skipped[p.name]))
    to_parse = [p for p in sources if p not in unchanged and p not in still_bad]
    summary.removed = sorted(old_reports[name] for name in old_files if name not in hashes and name in old_reports)

    loaded: dict[Path, tuple[CleanDocument, StructuredReport]] = {}
    for p in to_parse:
        try:
            loaded[p] = load_file(p)
        except UnreadableFile as exc:
            summary.skipped.append((p.name, str(exc)))
            print(f"warning: skipped {p.name}: {exc}", file=sys.stderr)

    # Punkt is trained once on the whole corpus and then kept, so that an unchanged report
    # keeps its sentence boundaries across incremental builds.
    if old is not None and (old.path / PUNKT_NAME).exists():
        punkt_params = pickle.loads((old.path / PUNKT_NAME).read_bytes())
    else:
        texts = [report.text for _, report in loaded.values()]
        for p in unchanged:
            with contextlib.suppress(UnreadableFile):
                texts.append(load_file(p)[1].text)
        punkt_params = train_punkt(punkt_sample(texts))
    (gen_dir / PUNKT_NAME).write_bytes(pickle.dumps(punkt_params))
    punkt = sentence_tokenizer(punkt_params)

    parsed: list[Parsed] = []
    for p, item in loaded.items():
        try:
            parsed.append(parse_file(p, item, hashes[p.name], catalog, punkt, embedder, params))
        except UnreadableFile as exc:
            summary.skipped.append((p.name, str(exc)))
            print(f"warning: skipped {p.name}: {exc}", file=sys.stderr)
    ids = [x.meta["id"] for x in parsed] + [old_reports.get(p.name, "") for p in unchanged]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise BuildError(f"report id used twice: {', '.join(sorted(dupes))}; fix {CATALOG_NAME}")
    if not parsed and not unchanged:
        names = ", ".join(f"{n} ({why})" for n, why in summary.skipped) or "none found"
        raise BuildError(f"no readable review in the corpus: {names}")

    conn = store.connect(gen_dir / store.DB_NAME)
    conn.executescript(store.SCHEMA)
    reuse: dict[str, bytes] = {}
    themes_carried = False
    old_acronyms: dict[str, str] | None = None
    old_pids: list[int] = []
    if old is not None:
        conn.execute("ATTACH DATABASE ? AS old", (f"file:{old.db_path}?mode=ro",))
        old_acronyms = dict(conn.execute("SELECT short, long FROM old.acronyms").fetchall())
        old_pids = [r[0] for r in conn.execute("SELECT id FROM old.passages")]
        keep_ids = [old_reports[p.name] for p in unchanged]
        marks = ",".join("?" * len(keep_ids))
        if keep_ids:
            for table, cols in (
                ("reports", "id, title, area, year, child, review_type, source, file, board, text, has_pages"),
                ("sections", "report_id, ordinal, heading, path, kind, level, number, start, end"),
                # passages keep their ids, so that the keyword index can be updated in place
                ("passages", "id, report_id, ordinal, section, heading, heading_path, kind, paragraph, paragraphs, page, "
                 "page_end, start, end, text, embed_text, tokens, sentences, sentence_refs, stems, vector"),
                ("footnotes", "report_id, number, text, page"),
            ):
                key = "id" if table == "reports" else "report_id"
                conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM old.{table} WHERE {key} IN ({marks})", keep_ids)
            if old.manifest.get("keyword", {}).get("version") != KEYWORD_VERSION:
                # the words a passage's sentences match were analysed another way: redo them
                # from the stored text, which needs no re-embedding
                conn.executemany("UPDATE passages SET stems = ? WHERE id = ?", [
                    (sentence_stems(r[1], [tuple(x) for x in json.loads(r[2])], r[3]), r[0])
                    for r in conn.execute("SELECT id, text, sentences, start FROM passages").fetchall()
                ])
        # an unchanged themes file: unchanged reports keep their tags and profiles, and new
        # passages are tagged on the same scale (passage ids are new, so tags follow the ordinal)
        themes_carried = old.manifest.get("themes", {}).get("sha256") == taxonomy.sha256
        if themes_carried:
            conn.execute("INSERT INTO themes SELECT * FROM old.themes")
            if keep_ids:
                new_pid = dict(conn.execute(
                    "SELECT op.id, np.id FROM old.passages op JOIN passages np ON np.report_id = op.report_id"
                    f" AND np.ordinal = op.ordinal WHERE op.report_id IN ({marks})", keep_ids,
                ).fetchall())
                conn.executemany("INSERT INTO passage_themes VALUES (?,?,?,?)", [
                    (new_pid[r[0]], r[1], r[2], r[3]) for r in conn.execute(
                        "SELECT ot.* FROM old.passage_themes ot JOIN old.passages op ON op.id = ot.passage_id"
                        f" WHERE op.report_id IN ({marks})", keep_ids)
                ])
                conn.executemany("INSERT INTO report_themes VALUES (?,?,?,?,?,?)", [
                    (*tuple(r)[:5], json.dumps([new_pid[p] for p in json.loads(r[5])]))
                    for r in conn.execute(f"SELECT * FROM old.report_themes WHERE report_id IN ({marks})", keep_ids)
                ])
        # vectors of changed reports whose passage text did not change are reused as they are
        changed_ids = [old_reports[p.name] for p in to_parse if p.name in old_reports]
        if changed_ids:
            marks = ",".join("?" * len(changed_ids))
            for row in conn.execute(f"SELECT embed_text, vector FROM old.passages WHERE report_id IN ({marks})", changed_ids):
                reuse[row[0]] = row[1]
        for p in unchanged:
            summary.unchanged.append(old_reports[p.name])
        conn.commit()
        conn.execute("DETACH DATABASE old")

    for x in parsed:
        (summary.updated if x.file in old_reports else summary.added).append(x.meta["id"])
    all_chunks = [(x, c) for x in parsed for c in x.chunks]
    to_embed = [c.embed_text for _, c in all_chunks if c.embed_text not in reuse]
    # word pieces the model sees, [CLS] and [SEP] included, counted in one batch
    texts = [c.embed_text for _, c in all_chunks]
    sizes = dict(zip(texts, (n + 2 for n in embedder.count_tokens(texts))))
    for n in sizes.values():
        if n > embedder.max_seq_length:  # never silently truncated: chunking guarantees this
            raise BuildError(f"passage of {n} tokens exceeds the model window ({embedder.max_seq_length})")
    vectors: dict[str, np.ndarray] = {}
    if to_embed:
        unique = list(dict.fromkeys(to_embed))
        t_embed = time.perf_counter()
        from tqdm import tqdm

        with tqdm(total=len(unique), unit="passage", desc="embedding", disable=not progress, file=sys.stderr) as bar:
            matrix = embedder.encode(unique, progress=bar.update, sizes=[sizes[t] for t in unique])
        summary.embed_seconds = time.perf_counter() - t_embed
        vectors = dict(zip(unique, matrix))
        summary.passages_embedded = len(unique)
    summary.passages_reused = len(all_chunks) - len(to_embed)

    for x in parsed:
        m = x.meta
        rid = m["id"]
        conn.execute(
            "INSERT INTO reports VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (rid, m["title"], m["area"], m["year"], m["child"], m["review_type"], m["source"], m["file"], m["board"],
             x.report.text, int(x.has_pages)),
        )
        conn.executemany(
            "INSERT INTO sections VALUES (?,?,?,?,?,?,?,?,?)",
            [(rid, s.ordinal, s.heading, json.dumps(s.path), s.kind, s.level, s.number, s.start, s.end) for s in x.report.sections],
        )
        rows = []
        for c in x.chunks:
            sec = x.report.sections[c.section]
            vec = reuse.get(c.embed_text) or store.vector_to_blob(vectors[c.embed_text])
            rows.append((
                rid, c.ordinal, c.section, sec.heading, " > ".join(sec.path), c.kind,
                c.paragraphs[0] if c.paragraphs else None, json.dumps(c.paragraphs), c.page, c.page_end,
                c.start, c.end, c.text, c.embed_text, sizes[c.embed_text],
                json.dumps(c.sentences), json.dumps(c.sentence_refs), sentence_stems(c.text, c.sentences, c.start), vec,
            ))
        conn.executemany(
            "INSERT INTO passages (report_id, ordinal, section, heading, heading_path, kind, paragraph, paragraphs, page,"
            " page_end, start, end, text, embed_text, tokens, sentences, sentence_refs, stems, vector)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO footnotes VALUES (?,?,?,?)", [(rid, f.number, f.text, f.page) for f in x.footnotes]
        )
    conn.commit()

    acronyms = mine_acronyms(r[0] for r in conn.execute("SELECT text FROM reports ORDER BY id"))  # ties go the same way every build
    conn.executemany("INSERT INTO acronyms VALUES (?, ?)", sorted(acronyms.items()))
    conn.commit()

    # derived views: FAISS rows follow passage ids in order, tantivy stores the id
    pid_rows = conn.execute("SELECT id, vector, text, heading_path, report_id FROM passages ORDER BY id").fetchall()
    pids = np.array([r[0] for r in pid_rows], dtype=np.int64)
    matrix = np.zeros((0, embedder.dim), np.float32)
    if pid_rows:
        matrix = np.frombuffer(b"".join(r[1] for r in pid_rows), dtype=np.float32).reshape(len(pid_rows), -1)
    # themes need only the stored vectors: a changed themes file re-tags every passage without
    # re-embedding; otherwise only the passages of new and changed reports are tagged
    fresh = {x.meta["id"] for x in parsed}  # reports parsed in this build: new and changed
    if themes_carried:
        keep = np.array([r[4] in fresh for r in pid_rows], dtype=bool)
        tag_new_passages(conn, taxonomy, matrix[keep], [r for r, k in zip(pid_rows, keep) if k])
    else:
        write_themes(conn, taxonomy, embedder, matrix, pid_rows)
    np.save(gen_dir / "ids.npy", pids)
    previous_faiss = old.path / store.FAISS_NAME if old is not None else None
    faiss_info = store.build_faiss(np.ascontiguousarray(matrix), gen_dir / store.FAISS_NAME, previous=previous_faiss)
    kept = {r[0] for r in pid_rows if r[4] not in fresh}
    removed = [p for p in old_pids if p not in kept]
    # Deleted documents still count in tantivy's document frequencies until their segment is
    # merged away, so the deletions carried since the last full build are kept under a tenth.
    deleted = (old.manifest.get("keyword", {}).get("deleted", 0) if old is not None else 0) + len(removed)
    if (
        old is not None
        and old_acronyms == acronyms  # else every passage's keyword text may have changed
        and old.manifest.get("keyword", {}).get("version") == KEYWORD_VERSION
        and (old.path / store.KEYWORD_DIR).is_dir()
        and deleted <= len(pid_rows) // 10
    ):
        # the old keyword index, less the passages of changed and removed reports, plus the new
        # ones: rebuilding all of it for one changed report was most of an incremental build
        store.update_keyword(
            old.path / store.KEYWORD_DIR, gen_dir / store.KEYWORD_DIR, removed,
            [(r[0], keyword_text(r[2], acronyms), r[3]) for r in pid_rows if r[4] in fresh],
        )
    else:
        store.build_keyword([(r[0], keyword_text(r[2], acronyms), r[3]) for r in pid_rows], gen_dir / store.KEYWORD_DIR)
        deleted = 0
    n_reports = conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
    report_files = {r[0]: r[1] for r in conn.execute("SELECT file, id FROM reports")}
    conn.close()
    summary.passages_total = len(pid_rows)
    store.write_manifest(gen_dir, {
        "schema_version": store.SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": {"name": embedder.name, "path": embedder.model_path, "dim": embedder.dim,
                  "max_seq_length": embedder.max_seq_length, "fingerprint": fingerprint},
        "chunking": params.as_dict(),
        "faiss": faiss_info,
        "files": {name: {"sha256": hashes[name]} for name in report_files},
        "skipped": {name: why for name, why in summary.skipped},
        "reports": report_files,
        "catalog_sha256": catalog_hash,
        "themes": {"sha256": taxonomy.sha256, "count": len(taxonomy.themes), "params": asdict(taxonomy.params)},
        "keyword": {"version": KEYWORD_VERSION, "acronyms": len(acronyms), "deleted": deleted},
        "counts": {"reports": n_reports, "passages": len(pid_rows)},
    })
    # a skipped file is remembered by hash too, so an unchanged bad file is not retried forever
    if summary.skipped:
        manifest = json.loads((gen_dir / store.MANIFEST).read_text())
        for name, _ in summary.skipped:
            manifest["files"][name] = {"sha256": hashes[name]}
        store.write_manifest(gen_dir, manifest)


def write_themes(conn, taxonomy: Taxonomy, embedder: Embedder, matrix: np.ndarray, rows: list) -> None:  # noqa: ANN001
    """Embed the themes' prototypes, then tag and store (see store_themes)."""
    store_themes(conn, taxonomy, prototypes(taxonomy, embedder.encode), matrix, rows)


def store_themes(conn, taxonomy: Taxonomy, protos: np.ndarray, matrix: np.ndarray, rows: list) -> None:  # noqa: ANN001
    """Tag every passage (rows of id, vector, text, heading path, report id) and store the themes, tags and profiles."""
    tags, mean, std = tag_passages(matrix, [r[2] for r in rows], [r[3] for r in rows], taxonomy, protos)
    conn.executemany(
        "INSERT INTO themes VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (t.id, i, t.label, t.description, json.dumps(t.cues), json.dumps(t.related), store.vector_to_blob(protos[i]),
             float(mean[i]), float(std[i]))
            for i, t in enumerate(taxonomy.themes)
        ],
    )
    _store_tags(conn, taxonomy, rows, tags)


def tag_new_passages(conn, taxonomy: Taxonomy, matrix: np.ndarray, rows: list) -> None:  # noqa: ANN001
    """Tag the passages of new and changed reports with the prototypes and scale already stored."""
    stored = conn.execute("SELECT prototype, cos_mean, cos_std FROM themes ORDER BY ordinal").fetchall()
    protos = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in stored])
    stats = (np.array([r[1] for r in stored], dtype=np.float32), np.array([r[2] for r in stored], dtype=np.float32))
    tags, _, _ = tag_passages(matrix, [r[2] for r in rows], [r[3] for r in rows], taxonomy, protos, stats=stats)
    _store_tags(conn, taxonomy, rows, tags)


def _store_tags(conn, taxonomy: Taxonomy, rows: list, tags: list) -> None:  # noqa: ANN001
    conn.executemany(
        "INSERT INTO passage_themes VALUES (?,?,?,?)",
        [(r[0], tag.theme, round(tag.score, 4), json.dumps(tag.cues)) for r, ts in zip(rows, tags) for tag in ts],
    )
    by_report: dict[str, list] = {}
    for r, ts in zip(rows, tags):
        by_report.setdefault(r[4], []).append((r[0], ts))
    for rid, tagged in by_report.items():
        conn.executemany(
            "INSERT INTO report_themes VALUES (?,?,?,?,?,?)",
            [(rid, e.theme, e.passages, round(e.share, 4), round(e.strength, 4), json.dumps(e.top))
             for e in report_profile(tagged, taxonomy.params.profile_min_passages)],
        )
    conn.commit()


def onnx_path(index_dir: Path, fingerprint: str) -> Path:
    """Where the query encoder's ONNX export for this model lives (made by the server once)."""
    return index_dir / "cache" / f"query-encoder-{fingerprint}-fused.onnx"
