"""Report metadata: the corpus catalogue, with gaps filled from the text where possible."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

CATALOG_NAME = "catalog.toml"


@dataclass
class ReportMeta:
    """What a user needs to cite a report. Unknown fields are None."""

    id: str
    title: str | None = None
    area: str | None = None
    year: int | None = None
    child: str | None = None
    review_type: str | None = None
    source: str | None = None
    file: str | None = None
    board: str | None = None

    def as_dict(self) -> dict:
        """Plain dict for JSON and SQLite."""
        return asdict(self)


class CatalogError(Exception):
    """The catalogue file cannot be read; the message says where."""


def load_catalog(corpus: Path) -> dict[str, dict]:
    """Catalogue entries keyed by source file name; empty if the corpus has no catalogue."""
    path = corpus / CATALOG_NAME
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from exc
    entries = {}
    for entry in data.get("report", []):
        if "file" not in entry or "id" not in entry:
            raise CatalogError(f"{path}: every [[report]] needs 'id' and 'file'")
        entries[entry["file"]] = entry
    return entries


def slugify(text: str) -> str:
    """A URL-safe id from a file name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "report"


_AREA = re.compile(r"\b((?:[A-Z][\w'&-]+\s){1,4}(?:Local\s)?Safeguarding\s(?:Children\s)?(?:Board|Partnership))")
_CHILD = re.compile(r"\b(Child\s[A-Z]\d{0,2})\b|in respect of:?\s*\n*\s*([A-Z][a-z]+)\b")
_YEAR = re.compile(r"\b(19[89]\d|20[0-4]\d)\b")


def extract_meta(text: str, headings: list[str]) -> dict:
    """Guess title, area, year, child and review type from a report's own words."""
    head = text[:6000]
    lower = text.lower()
    meta: dict = {}
    areas = Counter(m.group(1).strip() for m in _AREA.finditer(text))
    if areas:
        meta["area"] = areas.most_common(1)[0][0]
        meta["board"] = meta["area"]
    children = Counter(m.group(1) or m.group(2) for m in _CHILD.finditer(head))
    if children:
        meta["child"] = children.most_common(1)[0][0]
    years = [int(y) for y in _YEAR.findall(head)]
    if years:
        meta["year"] = max(years)  # a report is published after the events it describes
    if "child safeguarding practice review" in lower:
        meta["review_type"] = "child safeguarding practice review"
    elif "serious case review" in lower:
        meta["review_type"] = "serious case review"
    elif "domestic homicide review" in lower:
        meta["review_type"] = "domestic homicide review"
    for heading in headings[:5]:
        if len(heading) > 8 and not re.match(r"^\d", heading):
            meta["title"] = heading
            break
    return meta


def build_meta(file_name: str, catalog: dict[str, dict], text: str, headings: list[str]) -> ReportMeta:
    """The catalogue's entry for a file, with anything it leaves out taken from the text."""
    entry = dict(catalog.get(file_name, {}))
    extracted = extract_meta(text, headings)
    meta = ReportMeta(id=entry.get("id") or slugify(Path(file_name).stem), file=file_name)
    for key in ("title", "area", "year", "child", "review_type", "source", "board"):
        value = entry.get(key, extracted.get(key))
        setattr(meta, key, value)
    if meta.title is None:
        meta.title = Path(file_name).stem
    return meta
