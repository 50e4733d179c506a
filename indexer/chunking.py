"""Sentences from a corpus-trained punkt model, packed into token-bounded passages.

A passage never crosses a section, prefers to start at a paragraph, carries one sentence of
overlap when it has to cut a paragraph, and fits the embedding model's window together with
its contextual prefix (report title and heading path).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

from indexer.structure import StructuredReport

# Abbreviations that end in a full stop but rarely end a sentence in these reports.
DOMAIN_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "para", "paras", "p", "pp", "no", "nos", "dr", "mr", "mrs", "ms", "prof",
    "st", "vs", "cf", "al", "approx", "fig", "ref", "vol", "ch", "sec", "dept", "govt", "inc", "ltd",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "wk", "wks",
    "yrs", "mths", "hrs", "nb", "op", "cit", "ibid", "viz", "co", "nhs", "uk", "dob",
}

CountTokens = Callable[[list[str]], list[int]]


@dataclass(frozen=True)
class ChunkParams:
    """Chunking settings; a change to any of them forces a full re-embed."""

    target_tokens: int = 160  # aim: short passages rank sharper with MiniLM
    max_seq_tokens: int = 256  # the model's window, including [CLS] and [SEP]
    prefix_max_tokens: int = 40
    overlap_sentences: int = 1

    def as_dict(self) -> dict[str, int]:
        """The settings as a plain dict for the manifest."""
        return {
            "target_tokens": self.target_tokens,
            "max_seq_tokens": self.max_seq_tokens,
            "prefix_max_tokens": self.prefix_max_tokens,
            "overlap_sentences": self.overlap_sentences,
        }


@dataclass
class Sentence:
    """A sentence (or a piece of an over-long one) as offsets into the report text."""

    start: int
    end: int
    paragraph: int  # index into StructuredReport.paragraphs
    tokens: int = 0


@dataclass
class Chunk:
    """A passage before embedding."""

    ordinal: int
    section: int
    kind: str
    start: int
    end: int
    paragraphs: list[str]
    page: int | None
    page_end: int | None
    text: str
    embed_text: str
    sentences: list[tuple[int, int]] = field(default_factory=list)
    # per sentence, the report's paragraph number and the printed page it starts on: a quote
    # from the middle of a passage is cited where it stands, not where the passage starts
    sentence_refs: list[tuple[str | None, int | None]] = field(default_factory=list)


def train_punkt(texts: Iterable[str]) -> PunktParameters:
    """Learn punkt parameters from the corpus itself, plus the domain's abbreviations."""
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    for text in texts:
        trainer.train(text, finalize=False)
    trainer.finalize_training()
    params = trainer.get_params()
    params.abbrev_types.update(DOMAIN_ABBREVIATIONS)
    return params


def sentence_tokenizer(params: PunktParameters) -> PunktSentenceTokenizer:
    """A punkt sentence splitter from trained parameters."""
    return PunktSentenceTokenizer(params)


def sentence_spans(tokenizer: PunktSentenceTokenizer, text: str) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets in text, never splitting after a paragraph number."""
    spans = list(tokenizer.span_tokenize(text))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        # punkt sees "4.4.2" or "Finding 3." at a paragraph start as a sentence of its own
        if merged and re.fullmatch(r"[\s(]*[\dA-Za-z]?[\d.]+[)\s.]*|•", text[merged[-1][0] : merged[-1][1]]):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def split_long(text: str, start: int, budget: int, count: CountTokens) -> list[tuple[int, int]]:
    """Split an over-long sentence at word boundaries into pieces of at most budget tokens."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    sizes = count([text[a:b] for a, b in words])
    pieces: list[tuple[int, int]] = []
    piece_start, used, prev_end = None, 0, 0
    for (a, b), n in zip(words, sizes):
        if piece_start is not None and used + n > budget:
            pieces.append((start + piece_start, start + prev_end))
            piece_start, used = None, 0
        if piece_start is None:
            piece_start = a
        used += n
        prev_end = b
    if piece_start is not None:
        pieces.append((start + piece_start, start + prev_end))
    return pieces


def make_prefix(title: str, path: list[str]) -> str:
    """The context embedded before a passage: report title and heading path."""
    heads = " > ".join(h for h in path if h and h != title)
    return f"{title}. {heads}: " if heads else f"{title}: "


def chunk_report(
    report: StructuredReport,
    title: str,
    tokenizer: PunktSentenceTokenizer,
    count: CountTokens,
    params: ChunkParams = ChunkParams(),
) -> list[Chunk]:
    """Cut a structured report into passages that respect sections and the token window."""
    text = report.text
    sentences: list[Sentence] = []
    for p_index, para in enumerate(report.paragraphs):
        for a, b in sentence_spans(tokenizer, para.text):
            sentences.append(Sentence(para.start + a, para.start + b, p_index))
    sizes = count([text[s.start : s.end] for s in sentences])
    for s, n in zip(sentences, sizes):
        s.tokens = n

    prefixes: dict[int, tuple[str, int]] = {}
    for section in report.sections:
        prefix = make_prefix(title, section.path)
        n = count([prefix])[0]
        if n > params.prefix_max_tokens:  # a very long heading path: keep the innermost part
            words = prefix.split()
            while words and count([" ".join(words)])[0] > params.prefix_max_tokens:
                words = words[1:]
            prefix = "… " + " ".join(words) + " "
            n = count([prefix])[0]
        prefixes[section.ordinal] = (prefix, n)

    chunks: list[Chunk] = []
    # group sentences into runs that share a section and a paragraph kind
    runs: list[list[Sentence]] = []
    for s in sentences:
        para = report.paragraphs[s.paragraph]
        if runs:
            last = report.paragraphs[runs[-1][-1].paragraph]
            if last.section == para.section and last.kind == para.kind:
                runs[-1].append(s)
                continue
        runs.append([s])

    for run in runs:
        first_para = report.paragraphs[run[0].paragraph]
        prefix, prefix_tokens = prefixes[first_para.section]
        hard_max = params.max_seq_tokens - 2 - prefix_tokens - 2  # [CLS], [SEP] and a margin
        target = min(params.target_tokens, hard_max)
        units: list[Sentence] = []
        for s in run:
            if s.tokens > hard_max:
                for a, b in split_long(text[s.start : s.end], s.start, hard_max, count):
                    units.append(Sentence(a, b, s.paragraph, count([text[a:b]])[0]))
            else:
                units.append(s)
        current: list[Sentence] = []
        used = 0
        for unit in units:
            new_paragraph = bool(current) and unit.paragraph != current[-1].paragraph
            if current and (used + unit.tokens > target or (new_paragraph and used >= target // 2)):
                chunks.append(_make_chunk(len(chunks), report, current, prefix, first_para.section))
                carry: list[Sentence] = []
                if not new_paragraph and params.overlap_sentences:
                    carry = current[-params.overlap_sentences :]
                    if sum(c.tokens for c in carry) + unit.tokens > hard_max:
                        carry = []
                current, used = carry, sum(c.tokens for c in carry)
            current.append(unit)
            used += unit.tokens
        if current:
            chunks.append(_make_chunk(len(chunks), report, current, prefix, first_para.section))
    return chunks


def _make_chunk(ordinal: int, report: StructuredReport, units: list[Sentence], prefix: str, section: int) -> Chunk:
    start, end = units[0].start, units[-1].end
    paras = report.paragraphs
    numbers: list[str] = []
    for u in units:
        n = paras[u.paragraph].number
        if n and n not in numbers:
            numbers.append(n)
    body = report.text[start:end]
    return Chunk(
        ordinal=ordinal,
        section=section,
        kind=paras[units[0].paragraph].kind,
        start=start,
        end=end,
        paragraphs=numbers,
        page=report.page_at(start),
        page_end=report.page_at(max(start, end - 1)),
        text=body,
        embed_text=prefix + re.sub(r"\s+", " ", body),
        sentences=[(u.start, u.end) for u in units],
        sentence_refs=[(paras[u.paragraph].number, report.page_at(u.start)) for u in units],
    )
