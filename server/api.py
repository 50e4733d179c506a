"""The JSON API: each view parses the request, calls one function and returns JSON."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from server.answer import ask
from server.engine import Engine
from server.errors import ApiError
from server.search import SearchRequest, search
from server.similar import similar_to_report, similar_to_text
from server.validation import (
    MAX_CASE_TEXT_CHARS,
    MAX_QUERY_CHARS,
    clean_text,
    json_body,
    parse_filters,
    parse_fusion,
    parse_k,
    parse_mode,
    parse_small_int,
)

bp = Blueprint("api", __name__, url_prefix="/api")


def engine() -> Engine:
    """The loaded index for this app."""
    return current_app.extensions["reviews"].engine


def _search_request(data: dict) -> SearchRequest:
    eng = engine()
    return SearchRequest(
        query=clean_text(data.get("query", data.get("q")), "query", MAX_QUERY_CHARS),
        k=parse_k(data.get("k")),
        mode=parse_mode(data.get("mode")),
        filters=parse_filters(data.get("filters"), set(eng.reports), set(eng.theme_ids)),
        per_report=parse_small_int(data.get("per_report"), "per_report", 1, 50, None),
        context=parse_small_int(data.get("context"), "context", 0, 3, 0) or 0,
        fusion=parse_fusion(data.get("fusion")),
    )


@bp.post("/search")
def search_post():  # noqa: ANN201
    """Search passages (JSON body)."""
    return jsonify(search(engine(), _search_request(json_body(request))))


@bp.get("/search")
def search_get():  # noqa: ANN201
    """Search passages (query string); filters may be given as JSON in `filters`."""
    args = request.args.to_dict()
    if "filters" in args:
        try:
            args["filters"] = json.loads(args["filters"])
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_filters", "'filters' must be a JSON object") from exc
    return jsonify(search(engine(), _search_request(args)))


@bp.post("/ask")
def ask_post():  # noqa: ANN201
    """A cited, extractive answer to a question."""
    data = json_body(request)
    eng = engine()
    question = clean_text(data.get("question", data.get("query")), "question", MAX_QUERY_CHARS)
    k = parse_k(data.get("k"), default=5)
    filters = parse_filters(data.get("filters"), set(eng.reports), set(eng.theme_ids))
    return jsonify(ask(eng, question, k, filters))


@bp.post("/similar")
def similar_post():  # noqa: ANN201
    """Reports like a case description or like another report."""
    data = json_body(request)
    eng = engine()
    k = parse_k(data.get("k"), default=5)
    filters = parse_filters(data.get("filters"), set(eng.reports), set(eng.theme_ids))
    report_id = data.get("report_id")
    if report_id is not None and data.get("text") is not None:
        raise ApiError(400, "ambiguous_request", "give either 'text' (a case description) or 'report_id', not both")
    if report_id is not None:
        if not isinstance(report_id, str):
            raise ApiError(400, "invalid_field", "'report_id' must be a string")
        if report_id not in eng.reports:
            raise ApiError(404, "unknown_report", f"no report with id {report_id!r}")
        return jsonify(similar_to_report(eng, report_id, k, filters))
    if data.get("text") is None:
        raise ApiError(400, "missing_field", "give 'text' (a case description) or 'report_id'")
    text = clean_text(data.get("text"), "text", MAX_CASE_TEXT_CHARS)
    return jsonify(similar_to_text(eng, text, k, filters))


@bp.get("/reports")
def reports_list():  # noqa: ANN201
    """Every report with its metadata and passage count."""
    eng = engine()
    out = []
    for rid in eng.report_order:
        r = {k: v for k, v in eng.reports[rid].items()}
        r["passages"] = len(eng.report_passages[rid])
        r["themes"] = [e["id"] for e in eng.profiles.get(rid, [])]
        out.append(r)
    return jsonify({"reports": out})


@bp.get("/themes")
def themes_list():  # noqa: ANN201
    """The safeguarding themes, with how many reports and passages carry each."""
    return jsonify({"themes": engine().theme_summary()})


@bp.get("/reports/<path:report_id>")
def report_detail(report_id: str):  # noqa: ANN201
    """One report: metadata, sections, footnotes, passages' places and the cleaned text."""
    eng = engine()
    if report_id not in eng.reports:
        raise ApiError(404, "unknown_report", f"no report with id {report_id!r}")
    return jsonify(eng.report_detail(report_id))


@bp.get("/health")
def health():  # noqa: ANN201
    """Liveness and what is loaded."""
    eng = engine()
    return jsonify({
        "status": "ok",
        "reports": len(eng.reports),
        "passages": eng.n_passages,
        "model": eng.model_name,
        "generation": eng.generation.path.name,
        "faiss": eng.manifest.get("faiss"),
        "query_encoder": type(eng.encoder).__name__,
        "section_kinds": eng.kinds,
    })
