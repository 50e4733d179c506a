"""Read a source file and clean it into a list of text blocks with pages and footnotes.

The seed texts were converted from PDF by several tools, so the cleaner has to cope with HTML
fragments, markdown, hard-wrapped lines, running footers with page numbers, footnote blocks
in the middle of a sentence and tables of contents. Everything here is a pure function of the
input text except :func:`read_source`, which touches the file system.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")
MAX_FILE_BYTES = 15 * 1024 * 1024  # a review is at most a few MB of text; larger is junk


class UnreadableFile(Exception):
    """A corpus file that cannot be turned into text; the message says why."""


@dataclass
class Line:
    """One physical line of the source after markup has been stripped."""

    text: str
    page: int | None = None
    heading_level: int = 0  # markdown heading depth, 0 when not a markdown heading
    bold: bool = False  # the whole line was bold: a likely heading
    footnote: str | None = None  # footnote number when the line defines a footnote
    separator: bool = False  # a horizontal rule: in these exports it opens a footnote block
    leading_space: bool = False  # pdftotext starts a new page's text with one space
    bullet: bool = False
    footnote_text: bool = False  # continues the footnote opened above it


@dataclass
class Block:
    """A paragraph, heading or list item of cleaned text."""

    kind: str  # "heading" | "para"
    text: str
    page: int | None = None
    heading_level: int = 0
    bold: bool = False
    # (offset into text, page) wherever the page changes inside the block
    page_marks: list[tuple[int, int | None]] = field(default_factory=list)


@dataclass
class Footnote:
    """A footnote pulled out of the running text."""

    number: str
    text: str
    page: int | None = None


@dataclass
class CleanDocument:
    """A cleaned document: body blocks in reading order, and its footnotes."""

    blocks: list[Block]
    footnotes: list[Footnote]
    has_pages: bool


# ---------------------------------------------------------------------------------------
# Reading files


def read_source(path: Path) -> list[tuple[int | None, str]]:
    """Read a corpus file into (page, text) pieces; raise UnreadableFile with a reason."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFile(f"cannot stat: {exc}") from exc
    if size == 0:
        raise UnreadableFile("file is empty")
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(f"file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MiB limit")
    if suffix == ".pdf":
        return _read_pdf(path)
    if suffix == ".docx":
        return _read_docx(path)
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise UnreadableFile("binary data, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if not text.strip():
        raise UnreadableFile("file holds no text")
    return [(None, text)]


def _read_pdf(path: Path) -> list[tuple[int | None, str]]:
    """Extract each PDF page's text, keeping page numbers (1-based physical pages)."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # corrupt files are reported by us
    try:
        reader = PdfReader(str(path))
        pages = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableFile(f"corrupt PDF ({exc})") from exc
    except Exception as exc:  # pypdf raises many types on broken files; name the file, go on
        raise UnreadableFile(f"corrupt PDF ({type(exc).__name__}: {exc})") from exc
    if not any(text.strip() for _, text in pages):
        raise UnreadableFile("PDF has no extractable text (scanned images need OCR)")
    return pages


def _read_docx(path: Path) -> list[tuple[int | None, str]]:
    """Extract a .docx file's paragraphs as text (no pages: Word does not store them)."""
    try:
        import docx  # python-docx, optional
    except ImportError as exc:
        raise UnreadableFile("reading .docx needs the optional package python-docx") from exc
    try:
        document = docx.Document(str(path))
    except Exception as exc:
        raise UnreadableFile(f"corrupt .docx ({type(exc).__name__})") from exc
    lines = []
    for para in document.paragraphs:
        style = (para.style.name or "").lower() if para.style is not None else ""
        text = para.text.strip()
        if style.startswith("heading") and text:
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            text = "#" * level + " " + text
        lines.append(text)
        lines.append("")
    return [(None, "\n".join(lines))]


# ---------------------------------------------------------------------------------------
# Markup


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\ufeff]")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_MD_LINK = re.compile(r"!?\[((?:[^\]\\]|\\.)*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_SUP_DEF = re.compile(r"^[ \t]*<sup>[ \t]*(\d{1,3})[ \t]*</sup>[ \t]*", re.MULTILINE)
_SUP_NUM = re.compile(r"\s?<sup>\s*[\d,\s\-–]+\s*</sup>")
_SUP_TEXT = re.compile(r"\s?<sup>\s*([^<]*?)\s*</sup>")
_BLOCK_TAGS = re.compile(r"</?(?:ul|ol|p|div|tr|table|thead|tbody|h\d)\b[^>]*>|<br\s*/?>", re.IGNORECASE)
_LI = re.compile(r"<li\b[^>]*>", re.IGNORECASE)
_CELL = re.compile(r"</?t[dh]\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_SUPERSCRIPT_DIGITS = re.compile(r"(?<=[A-Za-z\).,])[¹²³⁰⁴⁵⁶⁷⁸⁹]+")
_FN_MARK = "\x01FN"
_UNICODE_FN_DEF = re.compile(r"^[ \t]*([¹²³⁰⁴⁵⁶⁷⁸⁹]+)[ \t]+(?=\S)", re.MULTILINE)
_SUPERSCRIPT_MAP = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_BOLD_LINE = re.compile(r"^(?:\*\*|__|<b>|<strong>)(.+?)(?:\*\*|__|</b>|</strong>)[\s:]*$", re.IGNORECASE)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_EMPH = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_STRAY_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])|(?<=[^\s*])\*(?![\w*])|^\s*\*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•▪◦●■]|o(?=\s)|\uf0b7|\uf0a7)\s+")
_LONE_BULLET = re.compile(r"^\s*(?:[-*+•▪◦●■o]|\uf0b7|\uf0a7)\s*$")
_PARA_NUMBER_START = re.compile(r"^\(?\d+(?:\.\d+)+\.?\)?\s")


def strip_markup(text: str) -> str:
    """Turn HTML fragments and markdown links into plain text, keeping line structure."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _CONTROL.sub("", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _SUP_DEF.sub(lambda m: f"{_FN_MARK}{m.group(1)}\x01 ", text)
    text = _UNICODE_FN_DEF.sub(lambda m: f"{_FN_MARK}{m.group(1).translate(_SUPERSCRIPT_MAP)}\x01 ", text)
    text = _SUP_NUM.sub("", text)
    text = _SUP_TEXT.sub(lambda m: m.group(1) if m.group(1).isalpha() else "", text)
    text = _LI.sub("\n• ", text)
    text = re.sub(r"</li>", "\n", text, flags=re.IGNORECASE)
    text = _BLOCK_TAGS.sub("\n", text)
    text = _CELL.sub("\t", text)
    text = _SUPERSCRIPT_DIGITS.sub("", text)
    return text


def _clean_inline(text: str) -> str:
    """Remove inline tags, markdown emphasis and escapes from one line; unescape entities."""
    text = _TAG.sub("", text)
    text = _EMPH.sub(r"\2", text)
    text = _STRAY_STAR.sub("", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    text = html.unescape(text)
    text = _CONTROL.sub("", text)
    return text


def to_lines(text: str, page: int | None = None) -> list[Line]:
    """Split one page of source text into marked-up-free Lines with their flags."""
    lines: list[Line] = []
    text = "\n".join(drop_toc(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")))
    for raw in strip_markup(text).split("\n"):
        leading_space = raw.startswith(" ") and not raw.startswith("  ") and bool(raw.strip())
        stripped = raw.strip()
        line = Line("", page=page, leading_space=leading_space)
        if stripped.startswith(_FN_MARK):
            number, _, rest = stripped[len(_FN_MARK):].partition("\x01")
            line.footnote = number
            stripped = rest.strip()
        if re.fullmatch(r"(?:-{3,}|\*{3,}|_{3,})", stripped):
            line.separator = True
            lines.append(line)
            continue
        heading = _MD_HEADING.match(stripped)
        if heading:
            line.heading_level = len(heading.group(1))
            stripped = heading.group(2)
        if _BOLD_LINE.match(stripped) and len(stripped) < 200:
            line.bold = True
        if _LONE_BULLET.match(stripped) and stripped not in ("-", "*") or stripped in ("•", "o", "\uf0b7"):
            line.bullet = True
            line.text = ""
            lines.append(line)
            continue
        bullet = _BULLET.match(stripped)
        if bullet and not line.heading_level:
            rest = stripped[bullet.end():]
            if _PARA_NUMBER_START.match(rest + " ") or re.match(r"^\d+\.\d+", rest):
                stripped = rest  # "- 1.2.1 text": a numbered paragraph set as a list item
            else:
                line.bullet = True
                stripped = rest
        line.text = re.sub(r"[ \t]*\t[ \t]*", "\t", _clean_inline(stripped)).strip(" ")
        line.text = re.sub(r" {2,}", " ", line.text)
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------
# Pages, running footers and tables of contents

_LONE_NUMBER = re.compile(r"^\(?(?:page\s+)?(\d{1,3})\)?(?:\s+of\s+\d+)?$", re.IGNORECASE)
_TOC_HEADER = re.compile(r"^(?:contents|index|table of contents|page|page no\.?|title\tpage)$", re.IGNORECASE)
_TOC_LINE = re.compile(r"(?:\t|\.{3,}|…+)\s*\d{1,3}(?:[ \t]+\d{1,3})*\s*$")


def _norm_key(text: str) -> str:
    """Compare lines for running headers: case-folded, page numbers masked.

    A line that starts with a section number ("4.4.1 Finding 1") keeps its digits, so
    repeated sub-headings are never mistaken for a running footer.
    """
    text = text.lower().strip()
    if re.match(r"^\d+(?:\.\d+)*\.?\s", text):
        return text
    return re.sub(r"\d+", "#", text)


def find_running_lines(pages_lines: list[list[Line]], single_text: bool) -> set[str]:
    """Find running headers/footers: the same line repeated on many pages."""
    counts: Counter[str] = Counter()
    if single_text:
        for line in pages_lines[0]:
            if 12 <= len(line.text) <= 120 and not line.heading_level:
                counts[_norm_key(line.text)] += 1
        return {k for k, n in counts.items() if n >= 4 and not _LONE_NUMBER.match(k)}
    for lines in pages_lines:
        for key in {_norm_key(line.text) for line in lines if 4 <= len(line.text) <= 120}:
            counts[key] += 1
    threshold = max(3, len(pages_lines) // 2)
    return {k for k, n in counts.items() if n >= threshold}


def assign_text_pages(lines: list[Line], running: set[str]) -> bool:
    """Give each line of a single text the page number printed beside a running footer.

    A footer line and a lone number next to it close page N; the lines after it are on N+1.
    Returns True when page numbers were found.
    """
    marks: list[tuple[int, int]] = []  # (line index of footer, page number it closes)
    for i, line in enumerate(lines):
        if _norm_key(line.text) not in running:
            continue
        for j in (i + 1, i + 2, i - 1, i - 2):
            if 0 <= j < len(lines) and (m := _LONE_NUMBER.match(lines[j].text)):
                marks.append((i, int(m.group(1))))
                lines[j].text = ""  # the printed page number is not body text
                break
    numbers = [n for _, n in marks]
    increasing = all(b > a for a, b in zip(numbers, numbers[1:]))
    span = numbers[-1] - numbers[0] + 1 if numbers else 0
    if len(marks) < 2 or not increasing or len(marks) < 0.6 * span:
        return False  # too few printed numbers to trust: pages stay unknown
    start = 0
    for index, number in marks:
        for line in lines[start : index + 1]:
            line.page = number
        start = index + 1
    for line in lines[start:]:
        line.page = marks[-1][1] + 1
    return True


def drop_toc(raw_lines: list[str]) -> list[str]:
    """Remove tables of contents: a contents header and the page-numbered lines after it.

    Works on raw source lines, before list markup is split, so that a contents entry
    and its page numbers are still on one line.
    """
    plain = [html.unescape(_TAG.sub("", _EMPH.sub(r"\\2", line))).replace("*", "").strip(" ") for line in raw_lines]
    keep = [True] * len(raw_lines)
    i = 0
    while i < len(plain):
        header = re.sub(r"\s+", " ", plain[i].lstrip("#").strip()).lower()
        if header in ("contents", "contents page", "index", "table of contents", "contents page no"):
            j, last_toc, misses = i + 1, None, 0
            while j < len(plain) and j < i + 150:
                t = plain[j].strip(" ")
                if not t:
                    j += 1
                    continue
                if _TOC_LINE.search(t) or _TOC_HEADER.match(t.replace("\t", " ").strip()) or t.endswith("\t"):
                    last_toc, misses = j, 0
                elif misses < 2 and len(t.split()) <= 14 and not t.endswith("."):
                    misses += 1  # an entry without a page number, e.g. "Appendices:"
                else:
                    break
                j += 1
            if last_toc is not None:
                # an unnumbered entry right after the last numbered one belongs to the table too
                end = last_toc
                for k in range(last_toc + 1, min(j, len(plain))):
                    if plain[k] and ("\t" in plain[k] or "<li" in raw_lines[k]):
                        end = k
                for k in range(i, end + 1):
                    keep[k] = False
                i = end + 1
                continue
        i += 1
    return [line for line, k in zip(raw_lines, keep) if k]


# ---------------------------------------------------------------------------------------
# Blocks

_TERMINAL = re.compile(r"""[.!?:;)"”’']\s*$""")
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+\S")


def _starts_block(line: Line) -> bool:
    """A line that begins a new block whatever came before it."""
    text = line.text
    return bool(
        line.heading_level
        or line.bold
        or line.bullet
        or re.match(r"^\d+(?:\.\d+)+\.?\s+\S|^\d+\.?\s+[A-Z(]", text)
        or re.match(r"^(?:Finding|Recommendation|Appendix)\s+\d+\b", text)
        or re.match(r"^\(?[a-z]{1,3}\)\s|^\(?[ivx]{1,4}\)\s|^[ivx]{1,4}\.\s", text)
        or text.count("\t") >= 1
    )


def _join(prev: str, nxt: str, vocab: set[str]) -> str:
    """Join two wrapped lines, rejoining a word hyphenated across the break."""
    m = re.search(r"([A-Za-z]+)-$", prev)
    if m and nxt[:1].islower():
        first = re.match(r"[a-z]+", nxt)
        whole = (m.group(1) + (first.group(0) if first else "")).lower()
        if whole in vocab:  # "safe-\nguarding" -> "safeguarding", but "pre-\nbirth" stays
            return prev[:-1] + nxt
        return prev + nxt
    if not prev:
        return nxt
    return prev + " " + nxt


def mark_pdf_footnotes(lines: list[Line]) -> None:
    """Mark pdftotext footnote areas: a lone number, its text, then the next page's first line.

    pdftotext starts each page's body with one space, so a footnote area is a lone number
    followed by a few unindented lines that end where an indented line (or a numbered
    paragraph) resumes the body. Anything longer is not a footnote and is left alone.
    """
    i = 0
    while i < len(lines):
        lone = _LONE_NUMBER.match(lines[i].text)
        if not lone:
            i += 1
            continue
        collected, j = [], i + 1
        while j < len(lines) and len(collected) <= 6:
            line = lines[j]
            if line.text and (line.leading_space or re.match(r"^\d+\.\d+\s+[A-Z]", line.text)):
                break
            if line.text and not _LONE_NUMBER.match(line.text):
                collected.append(j)
            elif line.text:
                break  # another footnote number: this one ends here
            j += 1
        ended = j < len(lines) and (lines[j].leading_space or _LONE_NUMBER.match(lines[j].text))
        if collected and len(collected) <= 6 and ended:
            lines[i].footnote, lines[i].text = lone.group(1), ""
            for k in collected:
                lines[k].footnote_text = True
        i = j if collected else i + 1


def build_blocks(lines: list[Line]) -> tuple[list[Block], list[Footnote]]:
    """Assemble lines into headings and paragraphs, pulling footnotes out of the flow.

    A paragraph only ends at a blank line when it ends like a sentence; otherwise the text
    after a page break or footnote block is the rest of the same sentence.
    """
    vocab = {w.lower() for line in lines for w in re.findall(r"[A-Za-z]{4,}", line.text)}
    blocks: list[Block] = []
    footnotes: list[Footnote] = []
    cur: Block | None = None
    blank = False
    fn_mode = False  # inside a footnote block ("---" or a pdftotext footnote area)
    current_fn: Footnote | None = None
    pending_bullet = False

    def flush() -> None:
        nonlocal cur
        if cur is not None and cur.text.strip():
            cur.text = cur.text.strip()
            blocks.append(cur)
        cur = None

    for index, line in enumerate(lines):
        if line.separator:
            fn_mode, current_fn = True, None
            continue
        if line.footnote is not None:
            current_fn = Footnote(line.footnote, line.text, line.page)
            footnotes.append(current_fn)
            fn_mode, blank = True, False  # a line straight after it continues the footnote
            continue
        if line.footnote_text:
            if footnotes:  # blank lines inside a pdftotext footnote area do not end it
                footnotes[-1].text = (footnotes[-1].text + " " + line.text).strip()
            continue
        if line.bullet and not line.text:
            pending_bullet = True
            continue
        text = line.text
        if not text:
            blank = True
            current_fn = None
            continue
        if _LONE_NUMBER.match(text):
            continue  # a lone page number: not body text
        if fn_mode:
            if current_fn is not None and not blank:
                current_fn.text = (current_fn.text + " " + text).strip()
                continue
            fn_mode, current_fn = False, None
            # body resumes: fall through and treat as continuation if the sentence was open
        if pending_bullet:
            line.bullet, pending_bullet = True, False

        nxt = next((n.text for n in lines[index + 1 : index + 4] if n.text), "")
        is_heading = looks_like_heading(line) and not nxt[:1].islower()
        continuing = (
            cur is not None
            and cur.kind == "para"
            and not is_heading
            and not _starts_block(line)
            and (not blank or not _TERMINAL.search(cur.text) or text[:1].islower())
        )
        if continuing:
            assert cur is not None
            if cur.page_marks and cur.page_marks[-1][1] != line.page or not cur.page_marks and cur.page != line.page:
                cur.page_marks.append((len(cur.text) + 1, line.page))
            cur.text = _join(cur.text, text, vocab)
        else:
            flush()
            if is_heading:
                level = line.heading_level or (text.split()[0].count(".") + 1 if _NUMBERED.match(text) else 0)
                blocks.append(Block("heading", text, line.page, heading_level=level, bold=line.bold))
            else:
                cur = Block("para", ("• " + text) if line.bullet else text, line.page, bold=line.bold)
        blank = False
    flush()
    return blocks, footnotes


def looks_like_heading(line: Line) -> bool:
    """Decide whether a line is a heading: markdown, bold, or a short numbered title."""
    text = line.text.strip()
    if not text or len(text) > 200:
        return False
    if line.heading_level:
        return True
    words = text.split()
    if line.bold and len(words) <= 16 and not text.endswith((".", ",", ";")):
        return True
    m = _NUMBERED.match(text)
    if m:
        rest = text[m.end() - 1 :].strip()
        rest_words = rest.split()
        if not rest_words or rest[:1].islower() or rest[:1].isdigit():
            return False
        if rest.endswith((".", ",", ";", ":", "-", "–")) or "\t" in text:
            return False
        if len(m.group(1).split(".")) > 4:
            return False
        return len(rest_words) <= 9 or (rest.endswith("?") and len(rest_words) <= 24)
    if re.match(r"^(?:Appendix|Annex)\s+\w+\b", text, re.IGNORECASE) and len(words) <= 14:
        return not text.endswith((".", ","))
    return bool(re.fullmatch(r"(?:Finding|FINDING)\s+\d+", text))


def clean_document(pages: list[tuple[int | None, str]]) -> CleanDocument:
    """Turn (page, raw text) pieces into cleaned blocks and footnotes."""
    pages_lines = [to_lines(text, page) for page, text in pages]
    single = len(pages_lines) == 1
    running = find_running_lines(pages_lines, single)
    lines = [line for page_lines in pages_lines for line in page_lines]
    has_pages = not single
    if single:
        has_pages = assign_text_pages(lines, running)
    lines = [line for line in lines if _norm_key(line.text) not in running]
    if not single:
        # a PDF page number stands alone on its line: not body text
        lines = [line for line in lines if not _LONE_NUMBER.match(line.text)]
    # pdftotext exports start each new page's text with a single space; where a text shows
    # that habit, a lone number followed by text is a footnote block ending at the next page
    spaced = sum(1 for line in lines if line.leading_space)
    if single and 3 <= spaced < len(lines) * 0.2:
        mark_pdf_footnotes(lines)
    blocks, footnotes = build_blocks(lines)
    if not has_pages:
        for block in blocks:
            block.page = None
            block.page_marks = []
        for fn in footnotes:
            fn.page = None
    return CleanDocument(blocks, [f for f in footnotes if f.text.strip()], has_pages)
