"""Load a built index and run retrieval over it: dense, keyword and their fusion.

The engine is read-only once loaded, so waitress threads share it freely; each thread opens
its own SQLite connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import store
from indexer.build import onnx_path
from indexer.embedding import OnnxQueryEncoder, model_fingerprint
from indexer.expansion import spell_dates
from indexer.textutil import BASE_FORMS, WORD, stem
from indexer.themes import CueIndex, Evidence, TaggingParams, Taxonomy, Theme, theme_scores

log = logging.getLogger(__name__)

STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have how i if in into is it its "
    "me my no not of on or our so such than that the their them then there these they this those to was we "
    "were what when where which who whom why will with would you your about after any all also more most "
    "other some very much many should".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+")  # "Sofia's" gives "sofia" and a dropped "s"


class EngineError(Exception):
    """The index cannot be loaded; the message names the file and the fix."""


@dataclass
class Hit:
    """A passage id with its scores from each retriever."""

    pid: int
    score: float
    dense: float | None = None
    keyword: float | None = None
    dense_rank: int | None = None
    keyword_rank: int | None = None


@dataclass
class Filters:
    """Validated search filters; empty fields do not filter."""

    report_ids: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    area: str | None = None
    section_kind: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)

    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.report_ids or self.year_from or self.year_to or self.area or self.section_kind or self.themes)


def query_terms(text: str) -> list[str]:
    """Lower-cased content words of a query, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOPWORDS and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)


def with_base_forms(terms: list[str]) -> list[str]:
    """Query terms plus the base form of each word in BASE_FORMS ("took" adds "take", "death" adds "die")."""
    return list(dict.fromkeys([*terms, *(BASE_FORMS[t] for t in terms if t in BASE_FORMS)]))


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The cached value or None."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key, value) -> None:
        """Store a value, evicting the oldest past the size."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class Engine:
    """A loaded index generation: vectors, keyword index, metadata, query encoder."""

    def __init__(self, index_dir: Path, query_encoder=None, cpu_threads: int = 2) -> None:
        t0 = time.perf_counter()
        # threads one query may use in the encoder and in FAISS: the cores this process may claim
        self.cpu_threads = max(1, cpu_threads)
        self.index_dir = Path(index_dir)
        try:
            gen = store.current_generation(self.index_dir)
        except store.IndexError_ as exc:
            raise EngineError(str(exc)) from exc
        if gen is None:
            raise EngineError(
                f"no index in {self.index_dir} (no {store.CURRENT} file); build one with: reviews index --index {self.index_dir}"
            )
        self.generation = gen
        self.manifest = gen.manifest
        self._lock_fd: int | None = store.lock_generation(gen.path)
        fix = f"rebuild with: reviews index --force --index {self.index_dir}"
        if self.manifest.get("schema_version") != store.SCHEMA_VERSION:
            raise EngineError(
                f"{gen.path / store.MANIFEST}: index schema {self.manifest.get('schema_version')} is not "
                f"{store.SCHEMA_VERSION}, which this version reads; {fix}"
            )
        for name in (store.DB_NAME, store.FAISS_NAME, "ids.npy", store.KEYWORD_DIR):
            if not (gen.path / name).exists():
                raise EngineError(f"index file {gen.path / name} is missing; {fix}")
        self.db_path = gen.path / store.DB_NAME
        self._local = threading.local()
        try:
            import faiss

            faiss.omp_set_num_threads(self.cpu_threads)
            self.faiss = faiss.read_index(str(gen.path / store.FAISS_NAME))
            self.ids = np.load(gen.path / "ids.npy")
        except Exception as exc:  # faiss raises RuntimeError, numpy ValueError on a torn file
            raise EngineError(f"index file {gen.path / store.FAISS_NAME} or ids.npy is corrupt ({exc}); {fix}") from exc
        if self.faiss.ntotal != len(self.ids):
            raise EngineError(f"{gen.path / store.FAISS_NAME} holds {self.faiss.ntotal} vectors for {len(self.ids)} passages; {fix}")
        nprobe = self.manifest.get("faiss", {}).get("nprobe")
        if nprobe:
            ivf = faiss.extract_index_ivf(self.faiss)
            ivf.nprobe = nprobe
            ivf.make_direct_map()  # so that vectors() can read passages' vectors back
        try:
            import tantivy

            self.keyword_index = tantivy.Index.open(str(gen.path / store.KEYWORD_DIR))
            self.keyword_index.reload()
        except Exception as exc:
            raise EngineError(f"keyword index {gen.path / store.KEYWORD_DIR} is corrupt ({exc}); {fix}") from exc
        try:
            self._load_metadata()
        except Exception as exc:  # sqlite3.DatabaseError on a torn file
            raise EngineError(f"record store {self.db_path} is unreadable ({exc}); {fix}") from exc
        self.model_name = self.manifest["model"]["name"]
        self.encoder = query_encoder or self._load_encoder()
        self.vector_cache = LRU(2048)
        self.df_cache = LRU(50_000)
        self.corrections_cache = LRU(5_000)
        self._vocabulary: frozenset[str] | None = None
        self.load_seconds = time.perf_counter() - t0

    # -- loading ---------------------------------------------------------------------------

    def _load_metadata(self) -> None:
        conn = self.conn()
        self.reports: dict[str, dict] = {}
        for row in conn.execute("SELECT id, title, area, year, child, review_type, source, file, board, has_pages FROM reports ORDER BY year, id"):
            r = dict(row)
            r["has_pages"] = bool(r["has_pages"])
            self.reports[r["id"]] = r
        self.report_order = list(self.reports)
        index_of = {rid: i for i, rid in enumerate(self.report_order)}
        rows = conn.execute("SELECT id, report_id, kind, ordinal FROM passages ORDER BY id").fetchall()
        max_id = max((r[0] for r in rows), default=-1)
        # dense arrays indexed by passage id, for filtering without touching SQLite
        self.p_report = np.full(max_id + 1, -1, dtype=np.int32)
        self.p_kind = np.zeros(max_id + 1, dtype=np.int16)
        self.kinds = sorted({r[2] for r in rows})
        kind_code = {k: i for i, k in enumerate(self.kinds)}
        self.report_passages: dict[str, list[int]] = {rid: [] for rid in self.report_order}
        for pid, rid, kind, _ in rows:
            self.p_report[pid] = index_of[rid]
            self.p_kind[pid] = kind_code[kind]
            self.report_passages[rid].append(pid)
        self.n_passages = len(rows)
        self.report_year = np.array([self.reports[r]["year"] or 0 for r in self.report_order], dtype=np.int32)
        self._load_case_names()
        self._load_themes(conn, max_id)

    def _load_case_names(self) -> None:
        """One pattern over every report's case name ("Child E", "Sofia"), for queries that name a case."""
        by_name: dict[str, list[int]] = {}
        for i, rid in enumerate(self.report_order):
            name = " ".join((self.reports[rid]["child"] or "").split()).lower()
            if len(name) > 1:
                by_name.setdefault(name, []).append(i)
            # "Child B1" is also written "B1": a code with a digit is never an ordinary word
            code = name.removeprefix("child ")
            if code != name and len(code) > 1 and " " not in code and any(c.isdigit() for c in code):
                by_name.setdefault(code, []).append(i)
        self._case_reports = by_name
        # longest first, so "child e1" wins over "child e"; \b keeps "Matt" from matching "matter"
        names = sorted(by_name, key=len, reverse=True)
        alternation = "|".join(r"\s+".join(re.escape(w) for w in n.split()) for n in names)
        self._case_pattern = re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE) if names else None

    def named_reports(self, query: str) -> frozenset[int]:
        """Positions (in report_order) of the reports whose case the query names; empty when it names none."""
        if self._case_pattern is None:
            return frozenset()
        return frozenset(i for m in self._case_pattern.finditer(query) for i in self._case_reports[" ".join(m.group(0).split()).lower()])

    def without_case_names(self, query: str) -> str:
        """The query with the case names it mentions taken out ("what illness did Sofia's mother
        have" reads "what illness did 's mother have"); the query itself when nothing else is left."""
        if self._case_pattern is None:
            return query
        rest = self._case_pattern.sub(" ", query)
        return rest if query_terms(rest) else query

    def _load_themes(self, conn, max_id: int) -> None:  # noqa: ANN001
        """Themes, each passage's themes as bits of one int64, and every report's theme profile."""
        rows = conn.execute("SELECT * FROM themes ORDER BY ordinal").fetchall()
        self.themes: dict[str, dict] = {r["id"]: {"id": r["id"], "label": r["label"], "description": r["description"]} for r in rows}
        self.theme_ids = list(self.themes)
        self.theme_bit = {t: np.int64(1) << np.int64(i) for i, t in enumerate(self.theme_ids)}
        self.taxonomy = Taxonomy(
            tuple(Theme(r["id"], r["label"], r["description"], tuple(json.loads(r["cues"])), tuple(json.loads(r["related"]))) for r in rows),
            TaggingParams(**self.manifest.get("themes", {}).get("params", {})),
            self.manifest.get("themes", {}).get("sha256", ""),
        )
        dim = self.faiss.d
        self.theme_protos = np.stack([np.frombuffer(r["prototype"], dtype=np.float32) for r in rows]) if rows else np.zeros((0, dim), np.float32)
        self.theme_mean = np.array([r["cos_mean"] for r in rows], dtype=np.float32)
        self.theme_std = np.array([r["cos_std"] for r in rows], dtype=np.float32)
        self.p_themes = np.zeros(max_id + 1, dtype=np.int64)
        self.theme_passages = dict.fromkeys(self.theme_ids, 0)
        for pid, theme in conn.execute("SELECT passage_id, theme FROM passage_themes"):
            self.p_themes[pid] |= self.theme_bit[theme]
            self.theme_passages[theme] += 1
        self.profiles: dict[str, list[dict]] = {rid: [] for rid in self.report_order}
        for r in conn.execute("SELECT * FROM report_themes ORDER BY report_id, passages DESC, strength DESC"):
            self.profiles[r["report_id"]].append({
                "id": r["theme"], "label": self.themes[r["theme"]]["label"], "passages": r["passages"],
                "share": r["share"], "strength": r["strength"], "top": json.loads(r["top"]),
            })
        self.theme_reports = dict.fromkeys(self.theme_ids, 0)
        # each report's share of passages per theme, and the largest share any report has
        self.theme_share: dict[str, dict[str, float]] = {rid: {e["id"]: e["share"] for e in es} for rid, es in self.profiles.items()}
        self.theme_top_share = dict.fromkeys(self.theme_ids, 0.0)
        for entries in self.profiles.values():
            for e in entries:
                self.theme_reports[e["id"]] += 1
                self.theme_top_share[e["id"]] = max(self.theme_top_share[e["id"]], e["share"])
        self._cues = (CueIndex.build(self.taxonomy), CueIndex.build(self.taxonomy, related=True))

    def theme_summary(self) -> list[dict]:
        """Every theme with the number of reports whose profile has it and of passages tagged with it."""
        return [{**self.themes[t], "reports": self.theme_reports[t], "passages": self.theme_passages[t]} for t in self.theme_ids]

    def themes_of(self, pid: int) -> list[str]:
        """The theme ids a passage is tagged with, in taxonomy order."""
        bits = int(self.p_themes[pid])
        return [t for i, t in enumerate(self.theme_ids) if bits >> i & 1]

    def tag_text(self, text: str, vectors: np.ndarray) -> list[str]:
        """Themes of a free text (a case description) whose pieces have these vectors, as passages are tagged."""
        if not self.theme_ids or not len(vectors):
            return []
        z = ((vectors @ self.theme_protos.T - self.theme_mean) / self.theme_std).max(axis=0, keepdims=True)
        cues, related = self._cues
        evidence = Evidence([cues.find(text)], [related.find(text)], [set()])
        scores = theme_scores(z, evidence, self.theme_ids, self.taxonomy.params)[0]
        order = np.argsort(-scores)
        return [self.theme_ids[j] for j in order if scores[j] >= self.taxonomy.params.min_score]

    def _load_encoder(self):  # noqa: ANN202
        """The fast ONNX query encoder, exported once per model on first use; else torch."""
        from indexer.embedding import Embedder, TorchQueryEncoder

        model = self.manifest["model"]
        configured = os.environ.get("REVIEWS_MODEL")
        if configured and Path(configured).exists() and model_fingerprint(configured) != model["fingerprint"]:
            raise EngineError(
                f"the index in {self.index_dir} was built with the model {model['name']} ({model['path']}), but "
                f"REVIEWS_MODEL names {configured}; rebuild with: reviews index --force --index {self.index_dir}"
            )
        if not Path(model["path"]).exists():
            raise EngineError(f"the index was built with the model at {model['path']}, which is not installed; "
                              f"install it or rebuild with: reviews index --force --index {self.index_dir}")
        path = onnx_path(self.index_dir, model["fingerprint"])
        if not path.exists():
            # in a child process: torch and its allocations never stay in the server's memory
            log.info("exporting the query encoder to ONNX (once per model): %s", path)
            code = "import sys; from indexer.embedding import Embedder; Embedder(sys.argv[1]).export_onnx(__import__('pathlib').Path(sys.argv[2]))"
            done = subprocess.run([sys.executable, "-c", code, model["path"], str(path)], capture_output=True, text=True)
            if done.returncode != 0:  # an optimisation only: never fail to serve for it
                log.warning("ONNX export failed; queries will use sentence-transformers: %s", done.stderr.strip()[-500:])
        if path.exists():
            try:
                return OnnxQueryEncoder(path, model["path"], threads=self.cpu_threads)
            except Exception as exc:
                log.warning("ONNX query encoder unusable (%s); using sentence-transformers", exc)
        return TorchQueryEncoder(Embedder(model["path"]))

    def close(self) -> None:
        """Let go of the generation (a later build may then delete it)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing to release
            self.close()

    def conn(self):
        """This thread's read-only SQLite connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = store.connect(self.db_path, readonly=True)
            self._local.conn = conn
        return conn

    # -- encoding --------------------------------------------------------------------------

    def encode(self, text: str) -> np.ndarray:
        """The query vector, cached for repeated queries."""
        key = text.strip()
        vec = self.vector_cache.get(key)
        if vec is None:
            vec = self.encoder.encode(key)
            vec.setflags(write=False)
            self.vector_cache.put(key, vec)
        return vec

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for several short texts (answer quotes) in one run."""
        return self.encoder.encode_batch(texts)

    # -- filtering -------------------------------------------------------------------------

    def allowed_mask(self, filters: Filters | None) -> np.ndarray | None:
        """Boolean array over passage ids, or None when nothing is filtered."""
        if filters is None or not filters.active():
            return None
        report_ok = np.ones(len(self.report_order), dtype=bool)
        if filters.report_ids:
            wanted = set(filters.report_ids)
            report_ok &= np.array([rid in wanted for rid in self.report_order])
        if filters.year_from is not None:
            report_ok &= self.report_year >= filters.year_from
        if filters.year_to is not None:
            report_ok &= self.report_year <= filters.year_to
        if filters.area:
            needle = filters.area.lower()
            report_ok &= np.array([needle in (self.reports[r]["area"] or "").lower()
                                   or needle in (self.reports[r]["board"] or "").lower() for r in self.report_order])
        mask = report_ok[np.maximum(self.p_report, 0)] & (self.p_report >= 0)
        if filters.section_kind:
            codes = [self.kinds.index(k) for k in filters.section_kind if k in self.kinds]
            mask &= np.isin(self.p_kind, codes)
        if filters.themes:  # any of the listed themes
            bits = np.int64(0)
            for t in filters.themes:
                bits |= self.theme_bit.get(t, np.int64(0))
            mask &= (self.p_themes & bits) != 0
        return mask

    # -- retrieval -------------------------------------------------------------------------

    def dense(self, vec: np.ndarray, n: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-n passages by cosine similarity, restricted to mask."""
        if self.faiss.ntotal == 0:
            return []
        want = n if mask is None else min(self.faiss.ntotal, max(n * 20, 1000))
        while True:
            scores, rows = self.faiss.search(vec.reshape(1, -1), min(want, self.faiss.ntotal))
            out = []
            for s, r in zip(scores[0], rows[0]):
                if r < 0:
                    continue
                pid = int(self.ids[r])
                if mask is None or mask[pid]:
                    out.append((pid, float(s)))
            if len(out) >= n or want >= self.faiss.ntotal:
                return out[:n]
            want = min(self.faiss.ntotal, want * 4)

    def keyword(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-n passages by BM25 over body and heading; query syntax is never interpreted."""
        # Documents carry their acronyms' long forms; widening the query as well was measured
        # to add noise (docs/design.md), so only numeric dates are spelt out and base forms
        # added here.
        terms = with_base_forms(query_terms(" ".join([query, *spell_dates(query)])))
        if not terms:
            return []
        searcher = self.keyword_index.searcher()
        # only plain words reach the parser, so quotes, AND/OR, field:value and the like are inert
        safe = " ".join(terms)
        try:
            parsed = self.keyword_index.parse_query(safe, ["body"])
        except ValueError:
            return []
        want = n if mask is None else max(n * 20, 1000)
        while True:
            result = searcher.search(parsed, limit=want)
            out = []
            for score, address in result.hits:
                pid = searcher.doc(address)["pid"][0]
                if mask is None or mask[pid]:
                    out.append((pid, float(score)))
            if len(out) >= n or len(result.hits) < want:
                return out[:n]
            want *= 4

    def idf_weights(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf of each query term's stem in the keyword index (cached per stem)."""
        out: dict[str, float] = {}
        for term in terms:
            s = stem(term)
            if s not in out:
                df = self.doc_freq(s)
                out[s] = math.log(1 + (self.n_passages - df + 0.5) / (df + 0.5))
        return out

    def doc_freq(self, term_stem: str) -> int:
        """Passages whose keyword text holds this stem (cached per stem)."""
        df = self.df_cache.get(term_stem)
        if df is None:
            df = self.keyword_index.searcher().doc_freq("body", term_stem)
            self.df_cache.put(term_stem, df)
        return df

    def terms_with_prefix(self, prefix: str) -> list[tuple[str, int]]:
        """Indexed stems that start with prefix, with their passage counts."""
        return self.keyword_index.searcher().terms_with_prefix("body", prefix)

    def surface_words(self, term_stem: str, passages: int = 10) -> set[str]:
        """Words as the reports write them whose stem is term_stem ("safeguard": "safeguarding", ...)."""
        import tantivy

        searcher = self.keyword_index.searcher()
        # a term query, not the parser: the parser would stem the stem again
        query = tantivy.Query.term_query(self.keyword_index.schema, "body", term_stem)
        pids = [searcher.doc(address)["pid"][0] for _, address in searcher.search(query, limit=passages).hits]
        if not pids:  # term counts may still include deleted passages
            return set()
        marks = ",".join("?" * len(pids))
        texts = [r[0] for r in self.conn().execute(f"SELECT text FROM passages WHERE id IN ({marks})", pids)]
        return {w.lower() for text in texts for w in set(WORD.findall(text)) if stem(w) == term_stem}

    def is_known_word(self, word: str) -> bool:
        """Whether the embedding model's vocabulary holds the word whole (a real English word)."""
        if self._vocabulary is None:
            vocabulary = getattr(self.encoder, "vocabulary", None)
            self._vocabulary = vocabulary() if vocabulary else frozenset()
        return word.lower() in self._vocabulary

    def cached_correction(self, word: str, find) -> str | None:  # noqa: ANN001 - a callable
        """The correction for an unknown query word, computed once per word."""
        hit = self.corrections_cache.get(word)
        if hit is None:
            hit = (find(),)  # a tuple, so that "no correction" is cached too
            self.corrections_cache.put(word, hit)
        return hit[0]

    def fetch(self, pids: list[int]) -> dict[int, dict]:
        """Passage rows by id."""
        if not pids:
            return {}
        marks = ",".join("?" * len(pids))
        rows = self.conn().execute(
            f"SELECT id, report_id, ordinal, heading, heading_path, kind, paragraph, paragraphs, page, page_end, start, end,"
            f" text, sentences, sentence_refs, stems FROM passages WHERE id IN ({marks})",
            pids,
        ).fetchall()
        out = {}
        for row in rows:
            d = dict(row)
            d["paragraphs"] = json.loads(d["paragraphs"])
            d["sentences"] = json.loads(d["sentences"])
            d["sentence_refs"] = json.loads(d["sentence_refs"])
            # one " stem stem " string per sentence: a padded substring test is cheaper than building sets
            d["stems"] = [f" {line} " for line in d["stems"].split("\n")]
            out[d["id"]] = d
        return out

    def features(self, pids: list[int]) -> tuple[dict[int, list[str]], np.ndarray]:
        """What the second-stage scorer reads of each passage: its sentences' stems and its vector.

        One narrow query, so that candidates which never reach the page cost neither their
        text nor JSON decoding.
        """
        if not pids:
            return {}, np.zeros((0, self.faiss.d), dtype=np.float32)
        marks = ",".join("?" * len(pids))
        got = {r[0]: r for r in self.conn().execute(f"SELECT id, stems, vector FROM passages WHERE id IN ({marks})", pids)}
        stems = {pid: [f" {line} " for line in got[pid][1].split("\n")] for pid in pids}
        vecs = np.frombuffer(b"".join(got[pid][2] for pid in pids), dtype=np.float32).reshape(len(pids), -1)
        return stems, vecs

    def vectors(self, pids: list[int]) -> np.ndarray:
        """Stored passage vectors, in the order asked, read from the in-memory FAISS index."""
        if not pids:
            return np.zeros((0, self.faiss.d), dtype=np.float32)
        rows = np.searchsorted(self.ids, np.asarray(pids, dtype=np.int64))
        return np.stack([self.faiss.reconstruct(int(r)) for r in rows])

    def neighbours(self, pid: int, before: int = 1, after: int = 1) -> list[dict]:
        """Passages just before and after one passage in its report."""
        row = self.conn().execute("SELECT report_id, ordinal FROM passages WHERE id = ?", (pid,)).fetchone()
        if row is None:
            return []
        rows = self.conn().execute(
            "SELECT id FROM passages WHERE report_id = ? AND ordinal BETWEEN ? AND ? AND id != ? ORDER BY ordinal",
            (row[0], row[1] - before, row[1] + after, pid),
        ).fetchall()
        fetched = self.fetch([r[0] for r in rows])
        return [fetched[r[0]] for r in rows]

    # -- reports ---------------------------------------------------------------------------

    def report_detail(self, report_id: str) -> dict:
        """A report's metadata, sections, footnotes, passages (offsets) and cleaned text."""
        conn = self.conn()
        text = conn.execute("SELECT text FROM reports WHERE id = ?", (report_id,)).fetchone()[0]
        sections = [
            {"ordinal": r["ordinal"], "heading": r["heading"], "path": json.loads(r["path"]), "kind": r["kind"],
             "level": r["level"], "number": r["number"], "start": r["start"], "end": r["end"]}
            for r in conn.execute("SELECT * FROM sections WHERE report_id = ? ORDER BY ordinal", (report_id,))
        ]
        passages = [
            {"id": f"{report_id}:{r['ordinal']}", "pid": r["id"], "section": r["heading"], "section_kind": r["kind"],
             "paragraph": r["paragraph"], "page": r["page"], "start": r["start"], "end": r["end"]}
            for r in conn.execute(
                "SELECT id, ordinal, heading, kind, paragraph, page, start, end FROM passages WHERE report_id = ? ORDER BY ordinal",
                (report_id,),
            )
        ]
        footnotes = [dict(r) for r in conn.execute("SELECT number, text, page FROM footnotes WHERE report_id = ?", (report_id,))]
        for p in passages:
            p["themes"] = self.themes_of(p["pid"])
        meta = {k: v for k, v in self.reports[report_id].items()}
        return {**meta, "themes": self.profile(report_id), "sections": sections, "passages": passages, "footnotes": footnotes, "text": text}

    def profile(self, report_id: str) -> list[dict]:
        """A report's theme profile: each theme with its passage count, share, strength and best passages."""
        entries = self.profiles.get(report_id, [])
        rows = self.fetch([pid for e in entries for pid in e["top"]])
        return [
            {**{k: v for k, v in e.items() if k != "top"},
             "evidence": [{"id": f"{report_id}:{rows[pid]['ordinal']}", "pid": pid, "section": rows[pid]["heading"] or None,
                           "paragraph": rows[pid]["paragraph"], "page": rows[pid]["page"], "text": rows[pid]["text"]}
                          for pid in e["top"] if pid in rows]}
            for e in entries
        ]
