"""Query words the index has never seen: British spellings and typing slips."""

from __future__ import annotations

import subprocess
import sys

from server.spelling import best_form, british_variants, max_edits, nearest_terms


def test_american_spellings_have_british_variants():
    assert british_variants("behavior") == ["behaviour"]
    assert british_variants("recognized") == ["recognised"]
    assert british_variants("Pediatric") == ["paediatric"]
    assert british_variants("hemorrhage") == ["haemorrhage"]
    assert british_variants("labeled") == ["labelled"]
    assert british_variants("neglect") == []


def test_the_nearest_indexed_stems_within_the_slips_allowed():
    candidates = [("safeguard", 196), ("safe", 40), ("sanction", 2)]
    assert nearest_terms("safegaurd", candidates) == [("safeguard", 196)]  # two letters swapped: one slip
    assert nearest_terms("sanctoin", candidates) == [("sanction", 2)]
    assert nearest_terms("salary", candidates) == []


def test_nearer_stems_come_first_then_the_more_frequent():
    candidates = [("visito", 3), ("visit", 90), ("visitor", 40)]  # each one edit away
    assert nearest_terms("visitr", candidates) == [("visit", 90), ("visitor", 40), ("visito", 3)]
    assert nearest_terms("safegaurd", [("safeguards", 500), ("safeguard", 5)]) == [("safeguard", 5), ("safeguards", 500)]


def test_the_written_form_nearest_to_what_was_typed_wins():
    forms = [("supervision", 60), ("supervisions", 60), ("supervisor", 7)]
    assert best_form("supervison", forms) == "supervision"  # a tie at one edit: the commoner stem
    assert best_form("Vistors", [("visitor", 40), ("visitors", 40)]) == "visitors"
    assert best_form("x", []) is None


def test_longer_words_may_have_two_slips():
    assert max_edits("neglet") == 1
    assert max_edits("assesment") == 2
    assert nearest_terms("asesment", [("assess", 50), ("assessment", 10)]) == [("assessment", 10)]


def test_the_command_line_says_what_it_searched_for(seed_index):
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "search", "diguised complaince", "--k", "2", "--index", str(seed_index)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Searched for disguised (you typed diguised), compliance (you typed complaince).")
    assert "1. [" in out.stdout and "para " in out.stdout
