"""Query words the index has never seen: British spellings and typing slips."""

from __future__ import annotations

import subprocess
import sys

from server.spelling import MAX_UNKNOWN_WORDS, best_form, british_variants, correct_query, max_edits, nearest_terms


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


def test_a_query_of_many_unknown_words_is_not_searched_word_by_word(api):
    gibberish = " ".join(f"zqxv{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(200))  # 1,599 characters
    r = api.post("/api/search", {"query": gibberish, "k": 3})
    assert r.status_code == 200 and r.json()["corrections"] == []


def test_at_most_a_few_unknown_words_are_looked_up():
    class Index:  # the engine's lookups, counted
        looked_up: list[str] = []

        def doc_freq(self, term_stem: str) -> int:
            return 0

        def cached_correction(self, word: str, find) -> str:
            self.looked_up.append(word)
            return word.upper()

    index = Index()
    words = [f"unknownword{chr(97 + i)}" for i in range(20)]
    query, corrections = correct_query(index, " ".join(words))
    assert index.looked_up == words[:MAX_UNKNOWN_WORDS]
    assert [c.typed for c in corrections] == words[:MAX_UNKNOWN_WORDS]
    assert query.split()[:MAX_UNKNOWN_WORDS] == [w.upper() for w in words[:MAX_UNKNOWN_WORDS]]
