"""The index directory: SQLite is the truth; FAISS and tantivy are views derived from it.

Layout of an index directory::

    index/
      CURRENT              name of the live generation, replaced atomically
      gen-<stamp>/         one complete build
        store.sqlite       reports, sections, passages, sentences, footnotes, vectors, themes
        vectors.faiss      FAISS index over passage vectors (row i = passage id i)
        keyword/           tantivy index of passage text and headings
        manifest.json      schema version, model, chunking, source hashes, counts
      cache/               ONNX export of the query encoder, keyed by model fingerprint

A build writes a new generation and only then points CURRENT at it, so a killed or failed
build leaves the previous generation whole and servable.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 4
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
DB_NAME = "store.sqlite"
FAISS_NAME = "vectors.faiss"
KEYWORD_DIR = "keyword"
LOCK_NAME = "LOCK"
# Exact search is fast enough below this many vectors (a flat scan of 50k x 384 takes about
# 4 ms); past it an inverted-file index scans only the nearest few per cent of clusters. IVF
# beat HNSW(M=32) here on recall at equal speed and built in seconds rather than a minute
# (docs/scaling.md).
APPROX_THRESHOLD = 50_000

SCHEMA = """
CREATE TABLE files (file TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, report_id TEXT NOT NULL);
CREATE TABLE reports (
  id TEXT PRIMARY KEY, title TEXT, area TEXT, year INTEGER, child TEXT, review_type TEXT,
  source TEXT, file TEXT, board TEXT, text TEXT NOT NULL, has_pages INTEGER NOT NULL);
CREATE TABLE sections (
  report_id TEXT NOT NULL, ordinal INTEGER NOT NULL, heading TEXT, path TEXT, kind TEXT,
  level INTEGER, number TEXT, start INTEGER, end INTEGER, PRIMARY KEY (report_id, ordinal));
CREATE TABLE passages (
  id INTEGER PRIMARY KEY, report_id TEXT NOT NULL, ordinal INTEGER NOT NULL, section INTEGER,
  heading TEXT, heading_path TEXT, kind TEXT, paragraph TEXT, paragraphs TEXT, page INTEGER,
  page_end INTEGER, start INTEGER, end INTEGER, text TEXT NOT NULL, embed_text TEXT NOT NULL,
  tokens INTEGER, sentences TEXT NOT NULL, sentence_refs TEXT NOT NULL, stems TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX passages_report ON passages (report_id, ordinal);
CREATE TABLE footnotes (report_id TEXT NOT NULL, number TEXT, text TEXT, page INTEGER);
CREATE TABLE acronyms (short TEXT PRIMARY KEY, long TEXT NOT NULL);
CREATE TABLE themes (
  id TEXT PRIMARY KEY, ordinal INTEGER NOT NULL, label TEXT NOT NULL, description TEXT NOT NULL,
  cues TEXT NOT NULL, related TEXT NOT NULL, prototype BLOB NOT NULL, cos_mean REAL NOT NULL, cos_std REAL NOT NULL);
CREATE TABLE passage_themes (passage_id INTEGER NOT NULL, theme TEXT NOT NULL, score REAL NOT NULL, cues TEXT NOT NULL);
CREATE INDEX passage_themes_theme ON passage_themes (theme, score);
CREATE TABLE report_themes (
  report_id TEXT NOT NULL, theme TEXT NOT NULL, passages INTEGER NOT NULL, share REAL NOT NULL,
  strength REAL NOT NULL, top TEXT NOT NULL, PRIMARY KEY (report_id, theme));
"""


class IndexError_(Exception):
    """The index directory is missing, incomplete or built differently; the message says how to fix it."""


@dataclass
class Generation:
    """A complete build inside an index directory."""

    path: Path
    manifest: dict

    @property
    def db_path(self) -> Path:
        """The SQLite store of this generation."""
        return self.path / DB_NAME


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open SQLite; read-only connections are per thread in the server."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=True)
    else:
        conn = sqlite3.connect(str(path))
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")  # a half-written generation is discarded anyway
    conn.row_factory = sqlite3.Row
    return conn


def current_generation(index_dir: Path) -> Generation | None:
    """The live generation, or None when the directory holds no finished build."""
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    path = index_dir / name
    manifest_path = path / MANIFEST
    if not name or not manifest_path.exists():
        raise IndexError_(
            f"{pointer} names '{name}', but {manifest_path} is missing; "
            f"rebuild with: reviews index --index {index_dir}"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexError_(f"{manifest_path} is corrupt ({exc}); rebuild with: reviews index --index {index_dir}") from exc
    return Generation(path, manifest)


def new_generation_dir(index_dir: Path) -> Path:
    """A fresh, empty directory for a build; not live until publish()."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path = index_dir / name
    path.mkdir()
    return path


def publish(index_dir: Path, gen_dir: Path) -> None:
    """Make gen_dir live with an atomic rename of the CURRENT pointer, then tidy old builds."""
    tmp = index_dir / f"{CURRENT}.tmp{os.getpid()}"
    tmp.write_text(gen_dir.name + "\n")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    cleanup(index_dir, keep={gen_dir.name})


def lock_generation(gen_dir: Path) -> int:
    """Take a shared lock on a generation while it is served, so no build deletes it."""
    fd = os.open(gen_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _in_use(gen_dir: Path) -> bool:
    """Whether a server holds this generation's lock."""
    lock = gen_dir / LOCK_NAME
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def cleanup(index_dir: Path, keep: set[str]) -> None:
    """Remove builds that are not live: leftovers of killed runs and superseded generations.

    A generation that a server still has loaded (it holds the lock) is kept until the server
    lets go of it; so is one whose building process is still running.
    """
    live = set(keep)
    pointer = index_dir / CURRENT
    if pointer.exists():
        live.add(pointer.read_text().strip())
    for child in index_dir.iterdir():
        if child.name.startswith("gen-") and child.name not in live and child.is_dir():
            pid = child.name.rsplit("-", 1)[-1]
            if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid() and not (child / MANIFEST).exists():
                continue
            if _in_use(child):
                continue
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(f"{CURRENT}.tmp"):
            child.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def vector_to_blob(vec: np.ndarray) -> bytes:
    """float32 bytes of one vector."""
    return np.asarray(vec, dtype=np.float32).tobytes()


def ivf_params(n: int) -> tuple[int, int]:
    """Clusters and clusters searched for n vectors: about 4 * sqrt(n), and 1 in 32 of them."""
    nlist = max(256, int(4 * math.sqrt(n)))
    return nlist, ivf_nprobe(nlist)


def ivf_nprobe(nlist: int) -> int:
    """Clusters searched of nlist: 1 in 32, at least 16."""
    return max(16, nlist // 32)


def _trained_ivf(previous: Path | None, nlist: int, dim: int):  # noqa: ANN202 (a faiss index or None)
    """The previous generation's IVF index, emptied, when its clusters still suit nlist."""
    import faiss

    if previous is None or not previous.exists():
        return None
    try:
        index = faiss.read_index(str(previous))
        ivf = faiss.extract_index_ivf(index)
    except Exception:  # a flat or unreadable index: train afresh
        return None
    # clusters trained on nearly the same collection serve as well as new ones; a collection
    # whose size calls for a tenth more or fewer clusters (about a fifth more or fewer
    # passages) gets its own
    if ivf.d != dim or abs(ivf.nlist - nlist) > nlist // 10:
        return None
    index.reset()
    return index


def build_faiss(vectors: np.ndarray, path: Path, previous: Path | None = None) -> dict:
    """Write a FAISS inner-product index: exact below APPROX_THRESHOLD, IVF above. Returns its settings.

    An IVF index reuses the clusters of the previous generation's index where they still fit,
    so that an incremental build skips the k-means training.
    """
    import faiss

    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 384
    if len(vectors) >= APPROX_THRESHOLD:
        nlist, nprobe = ivf_params(len(vectors))
        index = _trained_ivf(previous, nlist, dim)
        if index is None:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors[np.random.default_rng(0).choice(len(vectors), min(len(vectors), 64 * nlist), replace=False)]
            index.train(sample)
        else:
            nlist = faiss.extract_index_ivf(index).nlist
            nprobe = ivf_nprobe(nlist)
        index.add(vectors)
        index.nprobe = nprobe
        info = {"type": f"IVF{nlist},Flat", "nprobe": nprobe}
    else:
        index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(vectors)
        info = {"type": "Flat"}
    faiss.write_index(index, str(path))
    return info


def keyword_schema():
    """Tantivy schema: passage id, body and heading with English stemming."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", stored=True, indexed=True, fast=True)
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("heading", stored=False, tokenizer_name="en_stem")
    return builder.build()


def build_keyword(rows: list[tuple[int, str, str]], path: Path) -> None:
    """Index (passage id, text, heading path) rows with tantivy (BM25)."""
    import tantivy

    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(keyword_schema(), path=str(path))
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    for pid, text, heading in rows:
        writer.add_document(tantivy.Document(pid=pid, body=text, heading=heading))
    writer.commit()
    writer.wait_merging_threads()


def update_keyword(previous: Path, path: Path, removed: list[int], rows: list[tuple[int, str, str]]) -> None:
    """A copy of the previous keyword index less the removed passage ids, plus (id, text, heading path) rows."""
    import tantivy

    shutil.copytree(previous, path, ignore=shutil.ignore_patterns("*.lock"))
    index = tantivy.Index.open(str(path))
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    delete = getattr(writer, "delete_documents_by_term", None) or writer.delete_documents  # renamed in tantivy 0.25
    for pid in removed:  # deletions apply to documents added before them, so they go first
        delete("pid", pid)
    for pid, text, heading in rows:
        writer.add_document(tantivy.Document(pid=pid, body=text, heading=heading))
    writer.commit()
    writer.wait_merging_threads()


def write_manifest(gen_dir: Path, manifest: dict) -> None:
    """Write manifest.json last of all, so its presence means the build completed."""
    tmp = gen_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, gen_dir / MANIFEST)


def safe_name(text: str) -> str:
    """A name usable as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]
