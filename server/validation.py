"""Parse and validate request bodies at the boundary, so the logic only sees clean values."""

from __future__ import annotations

import math
import unicodedata

from flask import Request

from indexer.structure import KIND_NAMES
from server.engine import Filters
from server.errors import ApiError
from server.search import FUSIONS, MODES

MAX_K = 50
DEFAULT_K = 10
MAX_QUERY_CHARS = 2_000
MAX_CASE_TEXT_CHARS = 20_000


def json_body(request: Request) -> dict:
    """The request's JSON object; 415 for another content type, 400 for malformed JSON."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return data


def clean_text(value: object, field: str, limit: int, required: bool = True) -> str:
    """A non-empty string with control characters removed, at most limit characters."""
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"'{field}' is required")
        return ""
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"'{field}' must be a string")
    if len(value) > limit:
        raise ApiError(400, "too_long", f"'{field}' is {len(value)} characters; the limit is {limit}")
    # NUL and other control characters carry no meaning in a query; drop them, keep the rest
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in value).strip()
    if required and not text:
        raise ApiError(400, "empty_field", f"'{field}' must not be empty")
    return text


def parse_k(value: object, default: int = DEFAULT_K) -> int:
    """k as an integer in 1..50."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ApiError(400, "invalid_k", "'k' must be an integer")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ApiError(400, "invalid_k", "'k' must be an integer")
    if value < 1:
        raise ApiError(400, "invalid_k", "'k' must be at least 1")
    if value > MAX_K:
        raise ApiError(400, "invalid_k", f"'k' must be at most {MAX_K}")
    return value


def parse_mode(value: object) -> str:
    """One of hybrid, dense, keyword."""
    if value is None or value == "":
        return "hybrid"
    if not isinstance(value, str) or value not in MODES:
        raise ApiError(400, "invalid_mode", f"'mode' must be one of {', '.join(MODES)}")
    return value


def parse_fusion(value: object) -> str:
    """One of the fusion methods."""
    if value is None or value == "":
        return "rerank"
    if not isinstance(value, str) or value not in FUSIONS:
        raise ApiError(400, "invalid_fusion", f"'fusion' must be one of {', '.join(FUSIONS)}")
    return value


def _str_list(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "invalid_filters", f"'filters.{field}' must be a list of strings")
    if len(value) > 200:
        raise ApiError(400, "invalid_filters", f"'filters.{field}' has too many entries")
    return value


def _year(value: object, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 2100:
        raise ApiError(400, "invalid_filters", f"'filters.{field}' must be a year such as 2015")
    return value


def parse_filters(value: object, known_reports: set[str], known_themes: set[str]) -> Filters:
    """Filters from the request; unknown report ids and section kinds are 400s, not silent."""
    if value is None:
        return Filters()
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_filters", "'filters' must be an object")
    allowed = {"report_ids", "year_from", "year_to", "area", "section_kind", "themes"}
    unknown = set(value) - allowed
    if unknown:
        raise ApiError(400, "invalid_filters", f"unknown filter(s): {', '.join(sorted(unknown))}")
    report_ids = _str_list(value.get("report_ids"), "report_ids")
    missing = [r for r in report_ids if r not in known_reports]
    if missing:
        raise ApiError(404, "unknown_report", f"no report with id {', '.join(missing[:5])}")
    kinds = _str_list(value.get("section_kind"), "section_kind")
    bad = [k for k in kinds if k not in KIND_NAMES]
    if bad:
        raise ApiError(400, "invalid_filters", f"unknown section kind {bad[0]!r}; use one of {', '.join(KIND_NAMES)}")
    area = value.get("area")
    if area is not None and not isinstance(area, str):
        raise ApiError(400, "invalid_filters", "'filters.area' must be a string")
    themes = _str_list(value.get("themes"), "themes")
    bad = [t for t in themes if t not in known_themes]
    if bad:
        raise ApiError(400, "invalid_filters", f"unknown theme {bad[0]!r}; GET /api/themes lists the theme ids")
    f = Filters(report_ids, _year(value.get("year_from"), "year_from"), _year(value.get("year_to"), "year_to"),
                area.strip() if area else None, kinds, themes)
    if f.year_from and f.year_to and f.year_from > f.year_to:
        raise ApiError(400, "invalid_filters", "'filters.year_from' is after 'filters.year_to'")
    return f


def parse_small_int(value: object, field: str, low: int, high: int, default: int | None) -> int | None:
    """An optional integer option such as per_report or context."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, f"invalid_{field}", f"'{field}' must be an integer from {low} to {high}")
    return value
