"""Safeguarding themes: load the taxonomy, match cue phrases, tag passages, profile reports.

A passage's score for a theme adds up four signals:

- how close its embedding is to the theme's prototype (the mean embedding of the theme's
  label and description and of each cue phrase), as a z-score over the whole collection,
  because different themes' cosines sit at different levels and need no labels to level;
- a large bonus when its text holds one of the theme's distinctive cue phrases;
- a smaller one for a related word, and a little more for a second distinct one;
- a bonus when its heading path holds a cue or related word ("Supervision", "Finding 5").

The weights and the threshold are calibrated on the hand-labelled sample by
`python bench/themes.py --calibrate` and kept in themes.toml.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.textutil import WORD, stem

THEMES_PATH = Path(__file__).with_name("themes.toml")
MAX_THEMES = 63  # passages carry their themes as bits of one int64 in the server


class ThemeFileError(Exception):
    """The themes file is missing or malformed; the message names the problem."""


@dataclass(frozen=True)
class Theme:
    """One safeguarding theme of the taxonomy."""

    id: str
    label: str
    description: str
    cues: tuple[str, ...]  # distinctive phrases: one is strong evidence
    related: tuple[str, ...] = ()  # words that only support the other signals


@dataclass(frozen=True)
class TaggingParams:
    """Thresholds for tagging, calibrated on the labelled sample."""

    cue_weight: float = 6.0
    related_weight: float = 2.0
    second_related_weight: float = 1.0
    heading_weight: float = 2.0
    min_score: float = 3.4
    profile_min_passages: int = 2


@dataclass(frozen=True)
class Taxonomy:
    """The themes and the settings that tag them."""

    themes: tuple[Theme, ...]
    params: TaggingParams
    sha256: str

    @property
    def ids(self) -> list[str]:
        """Theme ids in file order."""
        return [t.id for t in self.themes]


@dataclass
class Tag:
    """A theme on a passage: its score and the cue phrases found."""

    theme: str
    score: float
    cues: list[str] = field(default_factory=list)


def load_taxonomy(path: Path = THEMES_PATH) -> Taxonomy:
    """Read and check a themes file."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError as exc:
        raise ThemeFileError(f"themes file {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"themes file {path} is not valid TOML: {exc}") from exc
    themes = []
    for i, t in enumerate(data.get("theme", [])):
        missing = [k for k in ("id", "label", "description", "cues") if not t.get(k)]
        if missing:
            raise ThemeFileError(f"{path}: theme {i + 1} ({t.get('id', '?')}) lacks {', '.join(missing)}")
        for key in ("cues", "related"):
            value = t.get(key, [])
            if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
                raise ThemeFileError(f"{path}: theme {t['id']}: {key} must be a list of phrases")
        themes.append(Theme(
            t["id"], t["label"], " ".join(t["description"].split()),
            tuple(c.lower() for c in t["cues"]), tuple(c.lower() for c in t.get("related", [])),
        ))
    ids = [t.id for t in themes]
    if not themes:
        raise ThemeFileError(f"{path} defines no [[theme]]")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ThemeFileError(f"{path}: theme id used twice: {', '.join(dupes)}")
    if len(themes) > MAX_THEMES:
        raise ThemeFileError(f"{path}: {len(themes)} themes; at most {MAX_THEMES} are supported")
    p = data.get("tagging", {})
    params = TaggingParams(
        float(p.get("cue_weight", TaggingParams.cue_weight)),
        float(p.get("related_weight", TaggingParams.related_weight)),
        float(p.get("second_related_weight", TaggingParams.second_related_weight)),
        float(p.get("heading_weight", TaggingParams.heading_weight)),
        float(p.get("min_score", TaggingParams.min_score)),
        int(p.get("profile_min_passages", TaggingParams.profile_min_passages)),
    )
    return Taxonomy(tuple(themes), params, hashlib.sha256(raw).hexdigest())


def prototype_texts(theme: Theme) -> list[str]:
    """The texts whose mean embedding is a theme's prototype: label and description, and each cue."""
    return [f"{theme.label}. {theme.description}", *theme.cues]


def prototypes(taxonomy: Taxonomy, encode) -> np.ndarray:  # noqa: ANN001 (any texts -> unit vectors function)
    """Unit prototype vectors (themes x dim), embedding every theme's texts in one batch."""
    groups = [prototype_texts(t) for t in taxonomy.themes]
    vectors = encode([text for g in groups for text in g])
    out, i = [], 0
    for g in groups:
        v = vectors[i : i + len(g)].mean(axis=0)
        out.append(v / np.linalg.norm(v))
        i += len(g)
    return np.asarray(out, dtype=np.float32)


# -- cue phrases ---------------------------------------------------------------------------

CueToken = tuple[bool, str]  # (is a prefix, stem or prefix)


def compile_cue(phrase: str) -> tuple[CueToken, ...]:
    """A cue phrase as tokens: a word ending in * is a prefix, any other word is a stem."""
    out: list[CueToken] = []
    for word in phrase.lower().split():
        parts = WORD.findall(word)
        if word.endswith("*") and parts:  # "other local authorit*": only the last word is a prefix
            out.extend((False, stem(w)) for w in parts[:-1])
            out.append((True, parts[-1]))
        else:
            out.extend((False, stem(w)) for w in parts)
    return tuple(out)


@dataclass(frozen=True)
class CueIndex:
    """Every theme's compiled cues, for matching passage after passage."""

    cues: tuple[tuple[str, str, tuple[CueToken, ...]], ...]  # (theme id, phrase, tokens)
    # cues by their first stem, so a text is checked only against cues whose first word it holds
    by_first: dict[str, list[int]] = field(default_factory=dict, compare=False)
    prefixed: list[int] = field(default_factory=list, compare=False)  # cues whose first word is a prefix

    def __post_init__(self) -> None:
        for n, (_, _, tokens) in enumerate(self.cues):
            is_prefix, first = tokens[0]
            if is_prefix:
                self.prefixed.append(n)
            else:
                self.by_first.setdefault(first, []).append(n)

    @classmethod
    def build(cls, taxonomy: Taxonomy, related: bool = False) -> CueIndex:
        """Compile the cues (or, with related=True, the related words) of a taxonomy."""
        phrases = ((t.id, c) for t in taxonomy.themes for c in (t.related if related else t.cues))
        return cls(tuple((theme, c, compile_cue(c)) for theme, c in phrases if compile_cue(c)))

    def find(self, text: str | Words) -> dict[str, list[str]]:
        """Theme id -> the cue phrases that occur in text, in the order of the themes file."""
        w = text if isinstance(text, Words) else Words.of(text)
        candidates = [n for s in w.at if s in self.by_first for n in self.by_first[s]]
        hits = []
        for n in sorted(candidates + self.prefixed):
            _, _, tokens = self.cues[n]
            is_prefix, first = tokens[0]
            starts = w.starting(first) if is_prefix else w.at[first]
            if any(_matches(tokens, w.words, w.stems, i) for i in starts):
                hits.append(n)
        found: dict[str, list[str]] = {}
        for n in hits:
            theme, phrase, _ = self.cues[n]
            found.setdefault(theme, []).append(phrase)
        return found


@dataclass
class Words:
    """A text's words and stems with their positions, made once and matched against many cues."""

    words: list[str]
    stems: list[str]
    at: dict[str, list[int]]  # stem -> positions
    by_word: dict[str, list[int]]
    prefixed: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Words:
        """Tokenise and stem a text."""
        words = [w.lower() for w in WORD.findall(text)]
        stems = [stem(w) for w in words]
        at: dict[str, list[int]] = {}
        by_word: dict[str, list[int]] = {}
        for i, (w, s) in enumerate(zip(words, stems)):
            at.setdefault(s, []).append(i)
            by_word.setdefault(w, []).append(i)
        return cls(words, stems, at, by_word)

    def starting(self, prefix: str) -> list[int]:
        """Positions of words that begin with prefix (a text has far fewer distinct words than positions)."""
        if prefix not in self.prefixed:
            self.prefixed[prefix] = sorted(i for w, pos in self.by_word.items() if w.startswith(prefix) for i in pos)
        return self.prefixed[prefix]


def _matches(tokens: tuple[CueToken, ...], words: list[str], stems: list[str], i: int) -> bool:
    if i + len(tokens) > len(words):
        return False
    return all(words[i + j].startswith(v) if is_prefix else stems[i + j] == v for j, (is_prefix, v) in enumerate(tokens))


# -- tagging -------------------------------------------------------------------------------


def standardise(cosines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-theme mean and standard deviation of cosines over a collection (passages x themes)."""
    if len(cosines) < 2:
        return np.zeros(cosines.shape[1], np.float32), np.ones(cosines.shape[1], np.float32)
    return cosines.mean(axis=0), np.maximum(cosines.std(axis=0), 1e-6)


@dataclass
class Evidence:
    """The text signals of passages, before scoring: which themes' cues and related words occur."""

    cues: list[dict[str, list[str]]]
    related: list[dict[str, list[str]]]
    heading: list[set[str]]

    @classmethod
    def find(cls, taxonomy: Taxonomy, texts: list[str], headings: list[str]) -> Evidence:
        """Look for every theme's cue phrases in texts and headings."""
        cues, related = CueIndex.build(taxonomy), CueIndex.build(taxonomy, related=True)
        words = [Words.of(t) for t in texts]
        heading_words = {h: Words.of(h or "") for h in set(headings)}  # many passages share a heading
        heading_hits = {h: set(cues.find(w)) | set(related.find(w)) for h, w in heading_words.items()}
        return cls([cues.find(w) for w in words], [related.find(w) for w in words], [heading_hits[h] for h in headings])

    def subset(self, rows) -> Evidence:  # noqa: ANN001 (any sequence of row numbers)
        """The evidence of some passages only, in the order given."""
        return Evidence([self.cues[i] for i in rows], [self.related[i] for i in rows], [self.heading[i] for i in rows])


def theme_scores(z: np.ndarray, evidence: Evidence, ids: list[str], params: TaggingParams) -> np.ndarray:
    """Scores (passages x themes): standardised cosine plus the bonuses of the text signals."""
    scores = np.array(z, dtype=np.float32, copy=True)
    col = {t: j for j, t in enumerate(ids)}
    for i in range(len(scores)):
        for theme in evidence.cues[i]:
            scores[i, col[theme]] += params.cue_weight
        for theme, words in evidence.related[i].items():
            scores[i, col[theme]] += params.related_weight + (params.second_related_weight if len(words) > 1 else 0.0)
        for theme in evidence.heading[i]:
            scores[i, col[theme]] += params.heading_weight
    return scores


def tag_passages(
    vectors: np.ndarray,
    texts: list[str],
    headings: list[str],
    taxonomy: Taxonomy,
    protos: np.ndarray,
    params: TaggingParams | None = None,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[list[Tag]], np.ndarray, np.ndarray]:
    """Tags for every passage, and the per-theme cosine mean and spread used to standardise.

    stats gives a mean and spread measured earlier (an incremental build tags only new
    passages, on the scale the rest were tagged on); by default they come from these passages.
    """
    params = params or taxonomy.params
    evidence = Evidence.find(taxonomy, texts, headings)
    cos = vectors @ protos.T if len(vectors) else np.zeros((0, len(taxonomy.themes)), np.float32)
    mean, std = stats if stats is not None else standardise(cos)
    scores = theme_scores((cos - mean) / std, evidence, taxonomy.ids, params)
    tags = [
        [
            Tag(theme, float(scores[i, j]), evidence.cues[i].get(theme, []) + evidence.related[i].get(theme, []))
            for j, theme in enumerate(taxonomy.ids)
            if scores[i, j] >= params.min_score
        ]
        for i in range(len(texts))
    ]
    return tags, mean, std


@dataclass
class ProfileEntry:
    """How strongly one theme runs through one report."""

    theme: str
    passages: int
    share: float
    strength: float
    top: list[int]  # passage ids, strongest first


def report_profile(tagged: list[tuple[int, list[Tag]]], min_passages: int, top: int = 3) -> list[ProfileEntry]:
    """A report's themes from its passages' tags: count, share and mean score, strongest first."""
    per: dict[str, list[tuple[float, int]]] = {}
    for pid, tags in tagged:
        for tag in tags:
            per.setdefault(tag.theme, []).append((tag.score, pid))
    total = max(len(tagged), 1)
    out = []
    for theme, items in per.items():
        if len(items) < min_passages:
            continue
        items.sort(reverse=True)
        out.append(ProfileEntry(theme, len(items), len(items) / total, float(np.mean([s for s, _ in items])), [p for _, p in items[:top]]))
    out.sort(key=lambda e: (-e.passages, -e.strength))
    return out


@dataclass
class TagQuality:
    """Precision and recall of predicted themes against labels, per theme and micro-averaged."""

    per_theme: dict[str, dict[str, float]]
    micro_precision: float
    micro_recall: float
    macro_f1: float


def tag_quality(gold: list[set[str]], predicted: list[set[str]], ids: list[str]) -> TagQuality:
    """Score predicted theme sets against hand labels, passage by passage."""
    per: dict[str, dict[str, float]] = {}
    tp_all = fp_all = fn_all = 0
    f1s = []
    for t in ids:
        tp = sum(1 for g, p in zip(gold, predicted) if t in g and t in p)
        fp = sum(1 for g, p in zip(gold, predicted) if t not in g and t in p)
        fn = sum(1 for g, p in zip(gold, predicted) if t in g and t not in p)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[t] = {"support": tp + fn, "predicted": tp + fp, "precision": precision, "recall": recall, "f1": f1}
        if tp + fn:
            f1s.append(f1)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    return TagQuality(
        per,
        tp_all / (tp_all + fp_all) if tp_all + fp_all else 0.0,
        tp_all / (tp_all + fn_all) if tp_all + fn_all else 0.0,
        float(np.mean(f1s)) if f1s else 0.0,
    )
