"""The index of the real seed corpus, built with the real model: structure, passages, pages,
incremental updates, atomic builds and bad input."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer import store
from indexer.build import BuildError, build_index
from tests.conftest import CORPUS, ROOT, copy_corpus, copy_index


def passages(index_dir: Path) -> list[sqlite3.Row]:
    gen = store.current_generation(index_dir)
    conn = store.connect(gen.db_path, readonly=True)
    return conn.execute("SELECT * FROM passages ORDER BY id").fetchall()


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_seed_report_is_indexed(seed_index):
    manifest = store.current_generation(seed_index).manifest
    assert sorted(manifest["reports"].values()) == [
        "coventry-matt", "leicester-child-b1", "luton-child-e", "luton-child-e-response", "tri-borough-sofia",
    ]
    counts = {}
    for p in passages(seed_index):
        counts[p["report_id"]] = counts.get(p["report_id"], 0) + 1
    assert all(n >= 10 for n in counts.values()), counts
    assert manifest["model"]["name"] == "all-MiniLM-L6-v2"
    assert manifest["model"]["dim"] == 384
    assert manifest["chunking"]["max_seq_tokens"] == 256
    assert all(len(v["sha256"]) == 64 for v in manifest["files"].values())


def test_no_passage_holds_markup(seed_index):
    bad = re.compile(r"<sup>|</?b>|<li|<ul|\*\*|&amp;|&nbsp;|^#|\n#|\\\(")
    offenders = [p["text"][:80] for p in passages(seed_index) if bad.search(p["text"])]
    assert offenders == []


def test_coventry_sentence_broken_by_footnotes_is_whole(seed_index):
    sentence = "The impact of the use of cannabis and the risks of co-sleeping cannot be underestimated"
    hits = [p for p in passages(seed_index) if sentence in norm(p["text"])]
    assert hits, "the sentence split by footnotes 10-11 was not rejoined"
    assert hits[0]["report_id"] == "coventry-matt"
    assert hits[0]["paragraph"] == "6.4.2" or "6.4.2" in json.loads(hits[0]["paragraphs"])


def test_caseload_paragraph_number_and_section(seed_index):
    hits = [p for p in passages(seed_index) if "carried five child protection cases as a newly qualified practitioner" in norm(p["text"])]
    assert hits
    p = hits[0]
    assert p["report_id"] == "luton-child-e"
    assert p["paragraph"] == "11.20"
    assert "caseload management" in p["heading_path"].lower()


def test_sofia_finding_4_is_findings(seed_index):
    rows = [p for p in passages(seed_index) if p["report_id"] == "tri-borough-sofia" and "Finding 4" in p["heading_path"]]
    assert rows
    assert {p["kind"] for p in rows} == {"findings"}
    statement = [p for p in passages(seed_index) if p["text"].startswith("Finding 4:")]
    assert statement and statement[0]["kind"] == "findings" and statement[0]["paragraph"] == "Finding 4"


def test_recommendations_are_detected(seed_index):
    kinds = {(p["report_id"], p["kind"]) for p in passages(seed_index)}
    for rid in ("luton-child-e", "coventry-matt", "leicester-child-b1"):
        assert (rid, "recommendations") in kinds
    assert ("coventry-matt", "lessons") in kinds


def test_paragraph_numbers_in_every_style(seed_index):
    paras = {n for p in passages(seed_index) for n in json.loads(p["paragraphs"])}
    for number in ("1.2", "1.2.1", "3.16", "4.4.2", "6.4.2", "11.20", "15.15", "Finding 3"):
        assert number in paras, number


def test_table_of_contents_is_not_body_text(seed_index):
    texts = [norm(p["text"]) for p in passages(seed_index)]
    assert not any("Why this case was chosen to be reviewed 3" in t for t in texts)
    assert not any(re.search(r"Summary of emerging themes\s+26", t) for t in texts)


def test_passages_fit_the_model_window(seed_index, embedder):
    for p in passages(seed_index):
        n = embedder.count_with_specials(p["embed_text"])
        assert n <= embedder.max_seq_length, (n, p["embed_text"][:80])
        assert p["tokens"] == n


def test_passages_point_into_the_cleaned_text(seed_index):
    gen = store.current_generation(seed_index)
    conn = store.connect(gen.db_path, readonly=True)
    texts = dict(conn.execute("SELECT id, text FROM reports").fetchall())
    for p in passages(seed_index):
        assert texts[p["report_id"]][p["start"] : p["end"]] == p["text"]
        for a, b in json.loads(p["sentences"]):
            assert p["start"] <= a < b <= p["end"]


def test_each_sentence_knows_its_paragraph(seed_index):
    later = 0
    for p in passages(seed_index):
        spans, refs = json.loads(p["sentences"]), json.loads(p["sentence_refs"])
        assert len(refs) == len(spans)
        # the passage's paragraph list is its sentences' paragraphs, in order, once each
        assert list(dict.fromkeys(r[0] for r in refs if r[0])) == json.loads(p["paragraphs"])
        for (a, b), (number, _) in zip(spans, refs):
            m = re.match(r"(\d+(?:\.\d+)+)\.?\s", p["text"][a - p["start"] : b - p["start"]])
            if m and m.group(1) in json.loads(p["paragraphs"]):  # a sentence that opens its paragraph
                assert number == m.group(1)
                later += number != p["paragraph"]
    assert later > 0


def test_passages_never_cross_a_section(seed_index):
    gen = store.current_generation(seed_index)
    conn = store.connect(gen.db_path, readonly=True)
    for p in passages(seed_index):
        s = conn.execute("SELECT start, end FROM sections WHERE report_id=? AND ordinal=?", (p["report_id"], p["section"])).fetchone()
        assert s["start"] <= p["start"] and p["end"] <= s["end"]


def test_footnotes_are_kept(seed_index):
    gen = store.current_generation(seed_index)
    conn = store.connect(gen.db_path, readonly=True)
    rows = conn.execute("SELECT report_id, number, text FROM footnotes").fetchall()
    by = {(r["report_id"], r["number"]): r["text"] for r in rows}
    assert "Lullaby Trust" in by[("coventry-matt", "14")]
    assert "Deficiency in the amount of oxygen" in by[("leicester-child-b1", "1")]


def test_catalogue_metadata(seed_index):
    gen = store.current_generation(seed_index)
    conn = store.connect(gen.db_path, readonly=True)
    r = dict(conn.execute("SELECT * FROM reports WHERE id='luton-child-e'").fetchone())
    assert (r["area"], r["year"], r["child"], r["review_type"]) == ("Luton LSCB", 2015, "Child E", "serious case review")


def test_second_run_embeds_nothing(seed_index, embedder, tmp_path):
    index = copy_index(seed_index, tmp_path / "index")
    summary = build_index(CORPUS, index, embedder=embedder, progress=False)
    assert summary.passages_embedded == 0
    assert summary.up_to_date
    assert len(summary.unchanged) == 5


def test_changing_one_report_reembeds_only_it(seed_index, embedder, tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = copy_index(seed_index, tmp_path / "index")
    target = corpus / "004_6e03b63cc2b59290.txt"
    target.write_text(target.read_text(encoding="utf-8") + "\n\n9.1 A paragraph added by a later revision of this review.\n", encoding="utf-8")
    before = [p for p in passages(index) if p["report_id"] == "coventry-matt"]
    summary = build_index(corpus, index, embedder=embedder, progress=False)
    assert summary.updated == ["coventry-matt"]
    assert sorted(summary.unchanged) == ["leicester-child-b1", "luton-child-e", "luton-child-e-response", "tri-borough-sofia"]
    assert 1 <= summary.passages_embedded <= len(before) + 1
    assert any("added by a later revision" in p["text"] for p in passages(index))


def test_deleted_report_is_removed(seed_index, embedder, tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = copy_index(seed_index, tmp_path / "index")
    (corpus / "001_5ba706926f6960b4.txt").unlink()
    summary = build_index(corpus, index, embedder=embedder, progress=False)
    assert summary.removed == ["luton-child-e-response"]
    assert summary.passages_embedded == 0
    assert {p["report_id"] for p in passages(index)} == {"coventry-matt", "leicester-child-b1", "luton-child-e", "tri-borough-sofia"}


def keyword_hits(index_dir: Path, query: str) -> tuple[int, list[int]]:
    """Live documents in the keyword index, and the passage ids a query finds."""
    import tantivy

    ix = tantivy.Index.open(str(store.current_generation(index_dir).path / store.KEYWORD_DIR))
    ix.reload()
    searcher = ix.searcher()
    hits = searcher.search(ix.parse_query(query, ["body"]), limit=10_000).hits
    return searcher.num_docs, [searcher.doc(address)["pid"][0] for _, address in hits]


def test_an_incremental_build_updates_the_keyword_index_in_place(seed_index, embedder, tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = copy_index(seed_index, tmp_path / "index")
    before = {(p["report_id"], p["ordinal"]): p["id"] for p in passages(index)}
    # a small report changes: a large one would take the deletions past a tenth of the index,
    # which rebuilds the keyword index in full
    target = corpus / "001_5ba706926f6960b4.txt"
    target.write_text(target.read_text(encoding="utf-8") + "\n\n9.1 A later note on zebrafish husbandry.\n", encoding="utf-8")
    old_ids = {i for (rid, _), i in before.items() if rid == "luton-child-e-response"}
    build_index(corpus, index, embedder=embedder, progress=False)
    after = passages(index)
    manifest = store.current_generation(index).manifest
    assert manifest["keyword"]["deleted"] > 0  # updated, not rebuilt
    # passages of unchanged reports keep their ids, which the keyword index stores
    assert all(before[(p["report_id"], p["ordinal"])] == p["id"] for p in after if p["report_id"] == "tri-borough-sofia")
    live, found = keyword_hits(index, "zebrafish")
    assert live == len(after)  # the changed report's old passages are gone
    texts = {p["id"]: p for p in after}
    assert found and all("zebrafish" in texts[pid]["text"] for pid in found)
    _, board = keyword_hits(index, "board")
    assert set(board) <= set(texts)
    # its new passages are found by their words, whether or not they reuse old ids
    assert any(texts[pid]["report_id"] == "luton-child-e-response" for pid in board)
    assert manifest["keyword"]["deleted"] == len(old_ids)
    # the generation it copied from was held only while copying, and is gone once superseded
    assert [g.name for g in index.glob("gen-*")] == [store.current_generation(index).path.name]


def test_changed_chunking_forces_full_rebuild(seed_index, tmp_path):
    from indexer.build import _compatibility
    from indexer.chunking import ChunkParams

    gen = store.current_generation(seed_index)
    assert _compatibility(gen, gen.manifest["model"]["fingerprint"], ChunkParams()) is None
    assert "chunking" in _compatibility(gen, gen.manifest["model"]["fingerprint"], ChunkParams(target_tokens=100))
    assert "model" in _compatibility(gen, "another-model", ChunkParams())


def test_bad_files_are_named_and_skipped(seed_index, embedder, tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = copy_index(seed_index, tmp_path / "index")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "junk.txt").write_bytes(bytes(range(256)) * 40)
    (corpus / "latin1.txt").write_bytes("Caf\xe9 review \xa3 text".encode("latin-1") + b"\xff\xfe")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF garbage")
    (corpus / "nosentences.txt").write_text("----\n\n12\n\n***\n", encoding="utf-8")
    (corpus / "huge.txt").write_bytes(b"word " * (4 * 1024 * 1024))  # 20 MB
    summary = build_index(corpus, index, embedder=embedder, progress=False)
    skipped = dict(summary.skipped)
    assert set(skipped) == {"empty.txt", "junk.txt", "latin1.txt", "broken.pdf", "nosentences.txt", "huge.txt"}
    assert "empty" in skipped["empty.txt"]
    assert "UTF-8" in skipped["latin1.txt"]
    assert "PDF" in skipped["broken.pdf"]
    assert len(summary.unchanged) == 5
    assert any("6 skipped" in line for line in summary.lines())


def test_corpus_with_nothing_readable_is_a_clear_error(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_bytes(b"")
    with pytest.raises(BuildError, match="no readable review"):
        build_index(corpus, tmp_path / "index", embedder=embedder, progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "index", "--corpus", str(corpus), "--index", str(tmp_path / "i2")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "no readable review" in result.stderr and "empty.txt" in result.stderr
    assert "Traceback" not in result.stderr


def _make_pdf(path: Path, pages: list[list[str]]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for number, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, f"{number}. Section {number}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for para in paragraphs:
            pdf.multi_cell(0, 6, para.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        pdf.set_y(-15)
        pdf.cell(0, 10, str(number), align="C")  # a printed page number, not body text
    pdf.output(str(path))


def test_pdf_pages_are_kept(tmp_path, embedder):
    text = (CORPUS / "004_6e03b63cc2b59290.txt").read_text(encoding="utf-8")
    paras = [re.sub(r"<[^>]+>|\*", "", p).strip() for p in re.findall(r"^5\.\d+ .+$", text, re.MULTILINE)][:9]
    paras = [p.replace("\u2019", "'").replace("\u2013", "-") for p in paras]
    pages = [paras[0:3], paras[3:6], paras[6:9]]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _make_pdf(corpus / "matt.pdf", pages)
    index = tmp_path / "index"
    build_index(corpus, index, embedder=embedder, progress=False)
    rows = passages(index)
    for page_no, page_paras in enumerate(pages, start=1):
        for para in page_paras:
            first = " ".join(para.split()[:12])
            hits = [p for p in rows if first in norm(p["text"])]
            assert hits, first
            assert hits[0]["page"] == page_no, (first, hits[0]["page"])
            spans, refs = json.loads(hits[0]["sentences"]), json.loads(hits[0]["sentence_refs"])
            opening = [r for (a, _), r in zip(spans, refs) if norm(hits[0]["text"][a - hits[0]["start"]:]).startswith(first)]
            assert opening and opening[0][1] == page_no  # the page of the sentence itself
    assert not any(re.search(r"(^|\s)[123]\s*$", p["text"]) for p in rows), "page numbers leaked into text"


def test_killed_build_leaves_previous_index_servable(seed_index, tmp_path):
    from server.engine import Engine

    corpus = copy_corpus(tmp_path / "corpus")
    index = copy_index(seed_index, tmp_path / "index")
    before = store.current_generation(index).path.name
    big = corpus / "000_582df56244404c79.txt"
    big.write_text(big.read_text(encoding="utf-8").replace("Child E", "Child E1"), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "index", "--corpus", str(corpus), "--index", str(index)],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    seen = ""
    deadline = time.time() + 240
    while "embedding:" not in seen and time.time() < deadline:
        seen += proc.stderr.read(1) or ""
        if proc.poll() is not None:
            break
    assert "embedding:" in seen, seen[-500:]
    time.sleep(1.0)
    assert proc.poll() is None, "the build finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)

    assert store.current_generation(index).path.name == before
    engine = Engine(index)
    assert engine.dense(engine.encode("co-sleeping and cannabis"), 3)
    assert not any("Child E1" in p["text"] for p in passages(index))
    engine.close()

    summary = build_index(corpus, index, progress=False)
    assert summary.updated == ["luton-child-e"]
    assert store.current_generation(index).path.name != before
    assert any("Child E1" in p["text"] for p in passages(index))
    leftovers = [p.name for p in index.iterdir() if p.name.startswith("gen-")]
    assert leftovers == [store.current_generation(index).path.name]


# ---- acronyms and dates for the keyword index --------------------------------------------------


def test_acronyms_are_mined_from_running_text_and_glossaries():
    from indexer.expansion import mine_acronyms

    found = mine_acronyms([
        "a referral to the Multi Agency Safeguarding Hub (MASH) was made",
        "Key to agencies: LDUH – Luton & Dunstable University Hospital CCS – Cambridgeshire Community Services",
        "GP: General Practitioner\nHV - Health Visitor",
        "4. Family – Professional interaction",  # a heading with a dash, not a glossary entry
        "ICPC – the meeting was held late",  # initials that do not spell the acronym
    ])
    assert found == {
        "MASH": "Multi Agency Safeguarding Hub",
        "LDUH": "Luton & Dunstable University Hospital",
        "CCS": "Cambridgeshire Community Services",
        "GP": "General Practitioner",
        "HV": "Health Visitor",
    }


def test_numeric_dates_are_spelt_out():
    from indexer.expansion import spell_dates

    assert spell_dates("seen on 27-08-2014 and 3/1/19") == ["August 2014", "January 2019"]
    assert spell_dates("ratio 40-50-60 and 31/13/2014") == []


def test_irregular_pasts_and_derived_nouns_carry_their_base_forms():
    from indexer.expansion import keyword_text
    from indexer.textutil import sentence_stems

    text = "The nurse found the home cluttered. No agency took the lead. The referral came late."
    assert sentence_stems(text, [(0, 35), (36, 60), (61, len(text))]).split("\n") == [
        "clutter find found home nurs the", "agenc lead no take the took", "came come late refer referr the",
    ]
    assert keyword_text(text, {}).endswith("\ncome find refer take")
    assert keyword_text("Nothing irregular here.", {}) == "Nothing irregular here."


def test_a_passage_that_says_only_the_past_is_found_by_the_base_form(seed_index):
    from server.engine import Engine

    engine = Engine(seed_index)
    try:
        hits = engine.keyword("nurse find", 100)
        rows = engine.fetch([pid for pid, _ in hits])
        only_past = [r for r in rows.values() if re.search(r"\bfound\b", r["text"]) and not re.search(r"\bfinds?\b", r["text"], re.I)]
        assert only_past, "passages that say only 'found' should match 'find'"
    finally:
        engine.close()


def test_a_passage_that_only_says_the_acronym_is_found_by_its_long_form(seed_index):
    from server.engine import Engine

    engine = Engine(seed_index)
    try:
        hits = engine.keyword("Cambridgeshire Community Services", 50)
        rows = engine.fetch([pid for pid, _ in hits])
        only_acronym = [r for r in rows.values() if "CCS" in r["text"] and "Cambridgeshire" not in r["text"]]
        assert only_acronym, "passages that say only 'CCS' should match the long form"
    finally:
        engine.close()


def test_a_new_keyword_version_rebuilds_the_keyword_index_without_embedding(seed_index, embedder, tmp_path):
    index = copy_index(seed_index, tmp_path / "index")
    gen = store.current_generation(index).path
    manifest = json.loads((gen / store.MANIFEST).read_text())
    manifest["keyword"]["version"] -= 1  # as if built by an older indexer
    (gen / store.MANIFEST).write_text(json.dumps(manifest))
    with sqlite3.connect(gen / store.DB_NAME) as conn:  # and its stems analysed another way
        expected = dict(conn.execute("SELECT ordinal || report_id, stems FROM passages"))
        conn.execute("UPDATE passages SET stems = 'stale'")
    summary = build_index(CORPUS, index, embedder=embedder, progress=False)
    assert not summary.up_to_date and summary.passages_embedded == 0
    new = store.current_generation(index).path
    assert new != gen
    with sqlite3.connect(new / store.DB_NAME) as conn:
        assert dict(conn.execute("SELECT ordinal || report_id, stems FROM passages")) == expected


def test_an_ivf_index_keeps_its_clusters_while_the_collection_size_fits(tmp_path, monkeypatch):
    import faiss
    import numpy as np

    monkeypatch.setattr(store, "APPROX_THRESHOLD", 1000)
    rng = np.random.default_rng(1)

    def unit(n: int) -> np.ndarray:
        v = rng.normal(size=(n, 16)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def centroids(path: Path) -> np.ndarray:
        index = faiss.read_index(str(path))  # kept in a name: the IVF view does not own it
        ivf = faiss.extract_index_ivf(index)
        return faiss.downcast_index(ivf.quantizer).reconstruct_n(0, ivf.nlist).copy()

    first = unit(20_000)
    info = store.build_faiss(first, tmp_path / "a.faiss")
    assert info["type"].startswith("IVF")
    # one report more: the same clusters, every vector in the index, and search still exact-ish
    second = np.vstack([first, unit(300)])
    store.build_faiss(second, tmp_path / "b.faiss", previous=tmp_path / "a.faiss")
    assert np.array_equal(centroids(tmp_path / "a.faiss"), centroids(tmp_path / "b.faiss"))
    index = faiss.read_index(str(tmp_path / "b.faiss"))
    assert index.ntotal == len(second)
    faiss.extract_index_ivf(index).nprobe = faiss.extract_index_ivf(index).nlist
    _, rows = index.search(second[-5:], 1)
    assert rows[:, 0].tolist() == list(range(len(second) - 5, len(second)))
    # four times the size calls for twice the clusters: trained afresh
    store.build_faiss(unit(80_000), tmp_path / "c.faiss", previous=tmp_path / "b.faiss")
    assert len(centroids(tmp_path / "c.faiss")) != len(centroids(tmp_path / "b.faiss"))
