"""Bad input, odd query syntax, fuzzing, the API token, index faults and reloading while serving."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, LiveServer, assert_error, copy_corpus, copy_index

# ---- validation, each case ---------------------------------------------------------------


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"),
    ({"query": ""}, "empty_field"),
    ({"query": "   \t\n "}, "empty_field"),
    ({"query": 42}, "invalid_field"),
    ({"query": "x" * 2001}, "too_long"),
    ({"query": "neglect", "k": "ten"}, "invalid_k"),
    ({"query": "neglect", "k": 0}, "invalid_k"),
    ({"query": "neglect", "k": -3}, "invalid_k"),
    ({"query": "neglect", "k": 51}, "invalid_k"),
    ({"query": "neglect", "k": 2.5}, "invalid_k"),
    ({"query": "neglect", "k": True}, "invalid_k"),
    ({"query": "neglect", "mode": "semantic"}, "invalid_mode"),
    ({"query": "neglect", "filters": "findings"}, "invalid_filters"),
    ({"query": "neglect", "filters": {"section_kind": "findings "}}, "invalid_filters"),
    ({"query": "neglect", "filters": {"section_kind": [1, 2]}}, "invalid_filters"),
    ({"query": "neglect", "filters": {"year_from": "last year"}}, "invalid_filters"),
    ({"query": "neglect", "filters": {"year_from": 2020, "year_to": 2010}}, "invalid_filters"),
    ({"query": "neglect", "filters": {"colour": "red"}}, "invalid_filters"),
    ({"query": "neglect", "per_report": 0}, "invalid_per_report"),
    ({"query": "neglect", "context": 9}, "invalid_context"),
])
def test_search_rejects_bad_input(api, body, code):
    assert_error(api.post("/api/search", body), 400, code)


def test_unknown_report_ids(api):
    assert_error(api.post("/api/search", {"query": "neglect", "filters": {"report_ids": ["nope"]}}), 404, "unknown_report")
    assert_error(api.post("/api/similar", {"report_id": "nope"}), 404, "unknown_report")
    assert_error(api.get("/api/reports/nope"), 404, "unknown_report")


def test_ask_and_similar_validate(api):
    assert_error(api.post("/api/ask", {}), 400, "missing_field")
    assert_error(api.post("/api/ask", {"question": "x" * 2001}), 400, "too_long")
    assert_error(api.post("/api/ask", {"question": "neglect", "k": 99}), 400, "invalid_k")
    assert_error(api.post("/api/similar", {}), 400, "missing_field")
    assert_error(api.post("/api/similar", {"text": "   "}), 400, "empty_field")
    assert_error(api.post("/api/similar", {"text": "x " * 10_001}), 400, "too_long")
    assert_error(api.post("/api/similar", {"report_id": 7}), 400, "invalid_field")
    long_case = ("A baby was found dead in a cluttered home; the health visitor had concerns about weight. " * 200)[:19_900]
    assert api.post("/api/similar", {"text": long_case}).status_code == 200


def test_malformed_json_wrong_type_and_huge_body(api):
    r = requests.post(api.url + "/api/search", data="{not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 400, "invalid_json")
    r = requests.post(api.url + "/api/search", data="[1, 2]", headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 400, "invalid_json")
    r = requests.post(api.url + "/api/search", data="query=neglect", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert_error(r, 415, "unsupported_media_type")
    r = requests.post(api.url + "/api/search", data=b"{" + b" " * (1024 * 1024 + 10) + b"}", headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 413, "payload_too_large")


def test_wrong_method_and_unknown_path(api):
    assert_error(requests.delete(api.url + "/api/search", timeout=30), 405, "method_not_allowed")
    assert_error(requests.get(api.url + "/api/nothing-here", timeout=30), 404, "not_found")


@pytest.mark.parametrize("path", [
    "/api/reports/../../etc/passwd",
    "/api/reports/..%2F..%2Fetc%2Fpasswd",
    "/static/../server/app.py",
    "/static/..%2Fserver%2Fapp.py",
    "/static/%2e%2e/%2e%2e/etc/passwd",
])
def test_path_traversal_is_refused(live_server, path):
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=30)
    conn.request("GET", path)  # raw: no client-side normalisation of the dots
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    assert response.status in (400, 404)
    assert "root:" not in body and "create_app" not in body


# ---- query syntax is never an error --------------------------------------------------------

ODD_QUERIES = [
    '"disguised compliance"', "(neglect", "neglect)", "neglect AND", "OR", "NOT neglect", "NEAR(a b)",
    "neglect*", "*", "title:neglect", "field:value:other", "?", "!!!", "-", "+", "\\", "'", "''", "[]", "{}",
    "~2", "^3", "a:b:c", "😀 neglect 😀", "نمو الطفل", "עברית", "\u202eneglect", "neglect\x00", "\x00",
    "\x07\x1b[31mred", "neglect\u200b", "𝔫𝔢𝔤𝔩𝔢𝔠𝔱", "SELECT * FROM passages;", "<script>alert(1)</script>",
    "%00", "../../etc/passwd", "a" * 2000,
]


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_query_syntax_is_never_a_server_error(api, query):
    for mode in ("hybrid", "keyword", "dense"):
        r = api.post("/api/search", {"query": query, "mode": mode, "k": 3})
        assert r.status_code in (200, 400), (mode, r.status_code, r.text[:200])
        if r.status_code == 200:
            assert isinstance(r.json()["results"], list)
    r = api.post("/api/ask", {"question": query})
    assert r.status_code in (200, 400)
    r = api.get("/api/search", params={"q": query})
    assert r.status_code in (200, 400)


# ---- property-based fuzzing -------------------------------------------------------------------

PASSAGE_SCHEMA = {
    "type": "object",
    "required": ["id", "report", "text", "section", "section_kind", "paragraph", "page", "score"],
    "properties": {
        "id": {"type": "string"}, "text": {"type": "string"}, "section_kind": {"type": "string"},
        "section": {"type": ["string", "null"]}, "paragraph": {"type": ["string", "null"]},
        "page": {"type": ["integer", "null"]}, "score": {"type": ["number", "null"]},
        "report": {"type": "object", "required": ["id", "title", "area", "year", "child", "review_type"]},
    },
}
SCHEMAS = {
    "/api/search": {"type": "object", "required": ["query", "mode", "took_ms", "results"],
                    "properties": {"results": {"type": "array", "items": PASSAGE_SCHEMA}}},
    "/api/ask": {"type": "object", "required": ["question", "answerable", "answer", "citations", "passages", "took_ms"],
                 "properties": {"answerable": {"type": "boolean"}, "answer": {"type": "string"},
                                "passages": {"type": "array", "items": PASSAGE_SCHEMA},
                                "citations": {"type": "array", "items": {"type": "object",
                                              "required": ["n", "quote", "passage_id", "report", "section", "paragraph", "page"]}}}},
    "/api/similar": {"type": "object", "required": ["reports"],
                     "properties": {"reports": {"type": "array", "items": {"type": "object", "required": ["report", "score", "evidence"],
                                                                          "properties": {"evidence": {"type": "array", "items": PASSAGE_SCHEMA}}}}}},
}
ERROR_SCHEMA = {"type": "object", "required": ["error"], "additionalProperties": False,
                "properties": {"error": {"type": "object", "required": ["code", "message"]}}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
filters = st.none() | st.fixed_dictionaries({}, optional={
    "report_ids": st.lists(st.sampled_from(["coventry-matt", "tri-borough-sofia", "nope"]), max_size=2) | json_values,
    "year_from": st.integers(1800, 2200) | json_values,
    "year_to": st.integers(1800, 2200) | json_values,
    "area": st.text(max_size=20) | json_values,
    "section_kind": st.lists(st.sampled_from(["findings", "recommendations", "bogus"]), max_size=2) | json_values,
})
texts = st.text(max_size=120) | st.sampled_from(ODD_QUERIES) | json_values


def check(response, path: str) -> None:
    import jsonschema

    assert response.status_code < 500, response.text[:300]
    body = response.json()
    jsonschema.validate(body, SCHEMAS[path] if response.status_code == 200 else ERROR_SCHEMA)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(query=texts, k=st.none() | st.integers(-5, 60) | json_values, mode=st.none() | st.sampled_from(["hybrid", "dense", "keyword", "x"]),
       f=filters)
def test_fuzz_search(api, query, k, mode, f):
    check(api.post("/api/search", {"query": query, "k": k, "mode": mode, "filters": f}), "/api/search")


@FUZZ
@given(question=texts, k=st.none() | st.integers(-5, 60), f=filters)
def test_fuzz_ask(api, question, k, f):
    check(api.post("/api/ask", {"question": question, "k": k, "filters": f}), "/api/ask")


@FUZZ
@given(text=texts, report_id=st.none() | st.sampled_from(["coventry-matt", "luton-child-e", "nope"]) | json_values, f=filters)
def test_fuzz_similar(api, text, report_id, f):
    body = {"text": text, "filters": f}
    if report_id is not None:
        body["report_id"] = report_id
    check(api.post("/api/similar", body), "/api/similar")


# ---- errors inside the server -----------------------------------------------------------------


def test_internal_error_has_the_error_shape_and_a_request_id(engine, caplog):
    from server.app import create_app

    app = create_app({"ENGINE": engine, "INDEX_DIR": str(engine.index_dir)})

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/api/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "internal_error"
    rid = body["error"]["request_id"]
    assert rid in body["error"]["message"]
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any(rid in record.getMessage() for record in caplog.records)


# ---- the optional API token ---------------------------------------------------------------------


def test_api_token(seed_index):
    server = LiveServer(seed_index, env={"REVIEWS_API_TOKEN": "s3cret"}).wait()
    try:
        assert_error(requests.get(server.url + "/api/health", timeout=30), 401, "unauthorized")
        assert_error(requests.get(server.url + "/api/health", headers={"Authorization": "Bearer wrong"}, timeout=30), 401)
        ok = requests.get(server.url + "/api/health", headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert ok.status_code == 200
        page = requests.get(server.url + "/", timeout=30)
        assert page.status_code == 200 and "token" in page.text.lower()
    finally:
        server.stop()


def test_no_debug_and_loopback_by_default():
    from server.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"
    source = (ROOT / "server" / "cli.py").read_text()
    assert "waitress" in source and "app.run(" not in source and "debug=True" not in source


# ---- index faults ---------------------------------------------------------------------------------


def serve_error(index: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", "serve", "--index", str(index), "--port", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fault", ["missing", "truncated", "corrupt-keyword", "schema", "manifest"])
def test_broken_index_gives_a_clear_start_up_error(seed_index, tmp_path, fault):
    from indexer import store

    index = copy_index(seed_index, tmp_path / "index")
    gen = store.current_generation(index).path
    if fault == "missing":
        (gen / "vectors.faiss").unlink()
        named = "vectors.faiss"
    elif fault == "truncated":
        data = (gen / "vectors.faiss").read_bytes()
        (gen / "vectors.faiss").write_bytes(data[: len(data) // 3])
        named = "vectors.faiss"
    elif fault == "corrupt-keyword":
        for f in (gen / "keyword").iterdir():
            if f.suffix in (".idx", ".term", ".store") or f.name == "meta.json":
                f.write_bytes(b"\x00garbage")
        named = "keyword"
    elif fault == "schema":
        manifest = json.loads((gen / "manifest.json").read_text())
        manifest["schema_version"] = 999
        (gen / "manifest.json").write_text(json.dumps(manifest))
        named = "schema"
    else:
        (gen / "manifest.json").write_text("{ torn")
        named = "manifest.json"
    result = serve_error(index)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert "reviews index" in result.stderr  # the fix
    assert "Traceback" not in result.stderr


def test_server_refuses_an_index_built_with_another_model(seed_index, tmp_path):
    from indexer.embedding import default_model_path

    other = tmp_path / "other-model"
    shutil.copytree(default_model_path(), other)
    (other / "config_sentence_transformers.json").write_text("{}")  # a different model, as far as the index knows
    result = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--index", str(seed_index), "--port", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "REVIEWS_MODEL": str(other)})
    assert result.returncode == 2
    assert "REVIEWS_MODEL" in result.stderr and "reviews index --force" in result.stderr
    assert "Traceback" not in result.stderr


def test_index_built_with_another_model_is_rebuilt(seed_index, tmp_path, embedder):
    from indexer import store
    from indexer.build import build_index

    index = copy_index(seed_index, tmp_path / "index")
    gen = store.current_generation(index).path
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["model"]["fingerprint"] = "another-model"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    summary = build_index(ROOT / "corpus", index, embedder=embedder, progress=False)
    assert summary.full_rebuild_reason and "model" in summary.full_rebuild_reason
    assert summary.passages_embedded > 0


# ---- reindexing while serving ----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_server_keeps_serving_during_a_reindex_and_reloads_on_sighup(seed_index, tmp_path, embedder, workers):
    from indexer.build import build_index

    corpus = copy_corpus(tmp_path / "corpus")
    index = copy_index(seed_index, tmp_path / "index")
    server = LiveServer(index, args=["--workers", str(workers)])
    try:
        server.wait()
        if workers > 1:  # every worker is its own process with its own copy of the index
            deadline = time.time() + 60
            while len(set(re.findall(r"\(worker (\d+)\)", server.output()))) < workers and time.time() < deadline:
                time.sleep(0.3)
            assert len(set(re.findall(r"\(worker (\d+)\)", server.output()))) == workers
        before = requests.get(server.url + "/api/health", timeout=30).json()
        target = corpus / "004_6e03b63cc2b59290.txt"
        target.write_text(target.read_text(encoding="utf-8") + "\n\n9.1 Zanzibarian lighthouse keepers were consulted.\n", encoding="utf-8")
        build_index(corpus, index, embedder=embedder, progress=False)
        # the old generation is still what the server answers from
        assert requests.get(server.url + "/api/health", timeout=30).json()["generation"] == before["generation"]
        hits = requests.post(server.url + "/api/search", json={"query": "zanzibarian lighthouse", "mode": "keyword"}, timeout=30).json()
        assert hits["results"] == []
        os.kill(server.proc.pid, signal.SIGHUP)
        deadline = time.time() + 60
        while time.time() < deadline:
            now = requests.get(server.url + "/api/health", timeout=30).json()
            if now["generation"] != before["generation"]:
                break
            time.sleep(0.3)
        assert now["generation"] != before["generation"]
        hits = requests.post(server.url + "/api/search", json={"query": "zanzibarian lighthouse", "mode": "keyword"}, timeout=30).json()
        assert hits["results"] and "Zanzibarian" in hits["results"][0]["text"]
    finally:
        server.stop()


def test_worker_processes_refuse_a_corrupt_index_with_a_clear_error(seed_index, tmp_path):
    from indexer import store

    index = copy_index(seed_index, tmp_path / "index")
    (store.current_generation(index).path / store.FAISS_NAME).write_bytes(b"not a faiss index")
    server = LiveServer(index, args=["--workers", "2"])
    try:
        assert server.proc.wait(120) != 0
        assert "is corrupt" in server.output() and "reviews index --force" in server.output()
    finally:
        server.stop()
