"""Query words the index has never seen: British spellings and typing slips."""

from __future__ import annotations

from server.spelling import british_variants, max_edits, nearest_term


def test_american_spellings_have_british_variants():
    assert british_variants("behavior") == ["behaviour"]
    assert british_variants("recognized") == ["recognised"]
    assert british_variants("Pediatric") == ["paediatric"]
    assert british_variants("hemorrhage") == ["haemorrhage"]
    assert british_variants("labeled") == ["labelled"]
    assert british_variants("neglect") == []


def test_the_nearest_indexed_stem_within_the_slips_allowed():
    candidates = [("safeguard", 196), ("safe", 40), ("sanction", 2)]
    assert nearest_term("safegaurd", candidates) == "safeguard"  # two letters swapped: one slip
    assert nearest_term("sanctoin", candidates) == "sanction"
    assert nearest_term("salary", candidates) is None


def test_a_tie_goes_to_the_more_frequent_stem():
    assert nearest_term("visitr", [("visito", 3), ("visit", 90)]) == "visit"


def test_longer_words_may_have_two_slips():
    assert max_edits("neglet") == 1
    assert max_edits("assesment") == 2
    assert nearest_term("asesment", [("assess", 50), ("assessment", 10)]) == "assessment"
