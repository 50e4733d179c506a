"""Headings, sections, paragraph numbers and section kinds of a cleaned document."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from indexer.documents import CleanDocument

# Checked in this order for each heading, innermost heading first: the first kind that
# matches wins, so "Appendix 2: Glossary" is a glossary and "Appendix 1 - Methodology" an
# appendix.
SECTION_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("recommendations", re.compile(r"recommendation|challenges to", re.IGNORECASE)),
    ("findings", re.compile(r"\bfinding|emerging themes", re.IGNORECASE)),
    ("lessons", re.compile(r"\blesson|learning points?\b|what .*learn|learning from|^learning\b", re.IGNORECASE)),
    ("conclusion", re.compile(r"conclu", re.IGNORECASE)),
    ("glossary", re.compile(r"glossary|abbreviation|acronym|terminology", re.IGNORECASE)),
    ("appendix", re.compile(r"appendi|annex|action plan|bibliograph|^references?$|details of author", re.IGNORECASE)),
    ("methodology", re.compile(
        r"methodolog|\bmethod\b|terms of reference|scope|review process|the serious case review process|"
        r"independence|timescale|confidentiality|involvement of|family involvement|limitations|"
        r"reviewing expertise|participation|perspectives of|structure of (the )?report|dissemination",
        re.IGNORECASE)),
    ("introduction", re.compile(r"introduction|reason for|audience|why this case|purpose", re.IGNORECASE)),
    ("background", re.compile(
        r"chronolog|summary of facts|significant events|synopsis|family composition|background|"
        r"summary account|narrative|timeline|family and|summary of (the )?case|time ?frame|"
        r"professional contact|pre-birth|post -?birth|is born|race, language", re.IGNORECASE)),
    ("analysis", re.compile(
        r"analysis|appraisal|assessment|threshold|supervision|training|caseload|practice|"
        r"working|sleeping|neglect|information|organisational|operating context|outcome", re.IGNORECASE)),
]
KIND_NAMES = [name for name, _ in SECTION_KINDS] + ["other"]

_PARA_NUMBER = re.compile(r"^\(?(\d+(?:\.\d+)+)\.?\)?\s")
_FINDING = re.compile(r"^(Finding|Recommendation)\s*(\d+)?\s*[:.\-–]", re.IGNORECASE)
_HEAD_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+")


@dataclass
class Section:
    """A run of text under one heading."""

    ordinal: int
    heading: str
    path: list[str]
    kind: str
    level: int
    number: str | None
    start: int
    end: int = 0


@dataclass
class Paragraph:
    """A paragraph of body text with its place in the report."""

    text: str
    start: int
    end: int
    section: int  # ordinal of its Section
    number: str | None  # the report's own paragraph number, inherited where unnumbered
    kind: str  # section kind, or "findings"/"recommendations" for a "Finding:" paragraph


@dataclass
class StructuredReport:
    """Cleaned report text with its sections and paragraphs, all as character offsets."""

    text: str
    sections: list[Section]
    paragraphs: list[Paragraph]
    page_offsets: list[int] = field(default_factory=list)
    page_numbers: list[int | None] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        """The page on which the character at offset was printed, or None."""
        i = bisect.bisect_right(self.page_offsets, offset) - 1
        return self.page_numbers[i] if i >= 0 else None


def classify_heading(path: list[str]) -> str:
    """Section kind for a heading path, from the innermost heading outwards."""
    for heading in reversed(path):
        text = _HEAD_NUMBER.sub("", heading)
        for kind, pattern in SECTION_KINDS:
            if pattern.search(text):
                return kind
    return "other"


def paragraph_number(text: str) -> str | None:
    """The report's own number at the start of a paragraph: "4.4.2", "Finding 3", or None."""
    m = _PARA_NUMBER.match(text)
    if m:
        return m.group(1)
    m = _FINDING.match(text)
    if m and m.group(2):
        return f"{m.group(1).title()} {m.group(2)}"
    return None


def structure(doc: CleanDocument) -> StructuredReport:
    """Lay the blocks out as one text and derive sections, paragraph numbers and kinds."""
    parts: list[str] = []
    offset = 0
    sections: list[Section] = [Section(0, "", [], "other", 0, None, 0)]
    paragraphs: list[Paragraph] = []
    stack: list[tuple[int, str]] = []  # (level, heading)
    last_numbered_level = 0
    last_number: str | None = None
    page_offsets: list[int] = []
    page_numbers: list[int | None] = []

    def mark_page(at: int, page: int | None) -> None:
        if not page_numbers or page_numbers[-1] != page:
            page_offsets.append(at)
            page_numbers.append(page)

    for block in doc.blocks:
        start = offset
        mark_page(start, block.page)
        for rel, page in block.page_marks:
            mark_page(start + rel, page)
        parts.append(block.text)
        offset += len(block.text)
        end = offset
        parts.append("\n\n")
        offset += 2
        if block.kind == "heading":
            m = _HEAD_NUMBER.match(block.text)
            if m and (block.heading_level != 1 or "." in m.group(1) or m.group(1).isdigit()):
                level = m.group(1).count(".") + 1
                last_numbered_level = level
                number = m.group(1)
            elif block.heading_level == 1 and not stack:
                level, number = 0, None  # a document title
            else:
                level, number = last_numbered_level + 1, None
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, block.text))
            path = [h for _, h in stack]
            sections[-1].end = start
            sections.append(Section(len(sections), block.text, path, classify_heading(path), level, number, start))
            last_number = number if number and "." in number else None
            continue
        section = sections[-1]
        own = paragraph_number(block.text)
        if own:
            last_number = own
        number = own or last_number
        kind = section.kind
        m = _FINDING.match(block.text) or _FINDING.match(_PARA_NUMBER.sub("", block.text))
        if m and kind not in ("appendix", "glossary"):
            kind = "findings" if m.group(1).lower() == "finding" else "recommendations"
        paragraphs.append(Paragraph(block.text, start, end, section.ordinal, number, kind))
    sections[-1].end = offset
    return StructuredReport("".join(parts).rstrip("\n") + "\n", sections, paragraphs, page_offsets, page_numbers)
