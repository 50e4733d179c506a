"""The `reviews` command's search, ask, similar and themes, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def reviews(index: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `reviews ARGS --index INDEX` in a child process."""
    return subprocess.run([sys.executable, "-m", "server.cli", *args, "--index", str(index)],
                          capture_output=True, text=True, timeout=300)


def test_search_cites_report_section_and_paragraph(seed_index):
    out = reviews(seed_index, "search", "disguised compliance", "--k", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1. [") and "Serious Case Review: Matt" in out.stdout and "para 6.2.4" in out.stdout


def test_search_cites_a_passage_over_several_paragraphs_by_their_range(seed_index):
    query = "managers went back on the decision to issue proceedings"
    results = json.loads(reviews(seed_index, "search", query, "--k", "5", "--json").stdout)["results"]
    out = reviews(seed_index, "search", query, "--k", "5").stdout
    spanning = [r["paragraphs"] for r in results if len(r["paragraphs"]) > 1]
    assert spanning
    for paras in spanning:
        assert f"paras {paras[0]}-{paras[-1]}" in out


def test_ask_quotes_and_cites_and_says_when_the_quotes_are_loose(seed_index):
    out = reviews(seed_index, "ask", "what is disguised compliance")
    assert out.returncode == 0, out.stderr
    assert "appearing to co-operate" in out.stdout and "[1] Serious Case Review: Matt" in out.stdout
    assert "loosely related" not in out.stdout
    out = reviews(seed_index, "ask", "what was learned about fathers", "--json")
    body = json.loads(out.stdout)
    assert body["answerable"] and "loosely related" in body["caution"]
    out = reviews(seed_index, "ask", "what was learned about fathers")
    assert out.stdout.startswith("Note: The quoted sentences are only loosely related") and "\n- " in out.stdout


def test_similar_from_a_report_and_refuses_a_description_with_it(seed_index):
    out = reviews(seed_index, "similar", "--report", "luton-child-e", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reports"][0]["report"]["id"] == "luton-child-e-response"
    out = reviews(seed_index, "similar", "a baby died", "--report", "luton-child-e")
    assert out.returncode == 2 and "not both" in out.stderr


def test_themes_of_one_report(seed_index):
    out = reviews(seed_index, "themes", "coventry-matt")
    assert out.returncode == 0, out.stderr
    assert "Safe sleeping" in out.stdout and "passages" in out.stdout
    out = reviews(seed_index, "themes", "no-such-report")
    assert out.returncode == 2 and "no report with id" in out.stderr


def test_search_ask_and_similar_take_the_api_filters(seed_index):
    found = json.loads(reviews(seed_index, "search", "supervision", "--kind", "recommendations", "--json").stdout)["results"]
    assert found and {r["section_kind"] for r in found} == {"recommendations"}
    found = json.loads(reviews(seed_index, "search", "supervision", "--report", "coventry-matt", "--report", "tri-borough-sofia",
                               "--json").stdout)["results"]
    assert found and {r["report"]["id"] for r in found} <= {"coventry-matt", "tri-borough-sofia"}
    found = json.loads(reviews(seed_index, "search", "supervision", "--year-from", "2016", "--area", "leicester", "--json").stdout)["results"]
    assert found and {r["report"]["id"] for r in found} == {"leicester-child-b1"}
    body = json.loads(reviews(seed_index, "ask", "what should change about supervision", "--kind", "recommendations", "--json").stdout)
    assert body["citations"] and {c["section_kind"] for c in body["citations"]} == {"recommendations"}
    body = json.loads(reviews(seed_index, "similar", "a baby died sharing a bed with young parents", "--year-to", "2015", "--json").stdout)
    assert body["reports"] and all(r["report"]["year"] <= 2015 for r in body["reports"])


def test_a_bad_filter_option_is_named(seed_index):
    out = reviews(seed_index, "search", "supervision", "--kind", "bogus")
    assert out.returncode == 2 and "unknown section kind 'bogus'" in out.stderr and not out.stdout
    out = reviews(seed_index, "search", "supervision", "--theme", "bogus")
    assert out.returncode == 2 and "`reviews themes` lists them" in out.stderr
    out = reviews(seed_index, "ask", "supervision", "--report", "no-such-report")
    assert out.returncode == 2 and "no report with id no-such-report" in out.stderr
    out = reviews(seed_index, "similar", "a baby died", "--year-from", "2020", "--year-to", "2010")
    assert out.returncode == 2 and "--year-from is after --year-to" in out.stderr
