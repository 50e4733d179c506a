"""The benchmark's question sets: every gold phrase is in a passage of the seed index, so that a
miss in docs/benchmarks.md is the ranking's doing, not the data's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.quality import DEFAULT_QUESTIONS, relevant


@pytest.fixture(scope="module")
def passage_texts(engine) -> list[str]:
    """The text of every passage in the seed index."""
    return [row["text"] for row in engine.fetch([int(pid) for pid in engine.ids]).values()]


@pytest.mark.parametrize("path", DEFAULT_QUESTIONS, ids=lambda p: p.name)
def test_every_gold_phrase_is_found_in_some_passage(path: Path, passage_texts: list[str]):
    questions = json.loads(path.read_text())["questions"]
    assert questions
    missing = [q["q"] for q in questions if not any(relevant(text, q["gold"]) for text in passage_texts)]
    assert missing == []


def test_the_check_fails_on_a_phrase_broken_by_the_layout(passage_texts: list[str]):
    # this phrase reads whole in the report's table row, but the cleaned text has the next
    # column's words inside it, so it can never match: the check must say so
    assert not any(relevant(text, ["grandmother was not happy with the pregnancy"]) for text in passage_texts)
    assert any(relevant(text, ["Community Midwife books pregnancy at Aunt"]) for text in passage_texts)
