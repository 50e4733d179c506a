"""The HTTP contract (../shared/API.md) against a real server on loopback, real model and index."""

from __future__ import annotations

import re

import pytest

from tests.conftest import assert_error

PASSAGE_FIELDS = {"id", "report", "text", "section", "section_kind", "paragraph", "page", "score"}
REPORT_FIELDS = {"id", "title", "area", "year", "child", "review_type"}


def test_health(api):
    r = api.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["reports"] == 5
    assert body["passages"] > 500
    assert body["model"] == "all-MiniLM-L6-v2"
    assert body["query_encoder"] == "OnnxQueryEncoder"


def test_reports_list_and_detail(api):
    reports = api.get("/api/reports").json()["reports"]
    assert len(reports) == 5
    assert all(REPORT_FIELDS <= set(r) for r in reports)
    detail = api.get("/api/reports/coventry-matt").json()
    assert REPORT_FIELDS <= set(detail)
    assert detail["child"] == "Matt" and detail["year"] == 2020
    assert any(s["heading"].startswith("6.4 Co") for s in detail["sections"])
    assert "co-sleeping cannot be underestimated" in detail["text"]
    for p in detail["passages"][:20]:
        assert detail["text"][p["start"] : p["end"]]


def test_unknown_report_is_404(api):
    assert_error(api.get("/api/reports/no-such-report"), 404, "unknown_report")
    assert_error(api.get("/api/reports/..%2F..%2Fetc%2Fpasswd"), 404)


def test_search_post_returns_cited_passages(api):
    r = api.post("/api/search", {"query": "referrals to the MASH graded amber then red", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "hybrid" and isinstance(body["took_ms"], float | int)
    results = body["results"]
    assert 1 <= len(results) <= 5
    for p in results:
        assert PASSAGE_FIELDS <= set(p)
        assert REPORT_FIELDS <= set(p["report"])
    top = results[0]
    assert "graded as amber" in top["text"]
    assert top["report"]["id"] == "coventry-matt" and top["paragraph"] == "6.5.3"
    marked = [top["text"][a:b].lower() for a, b in top["highlights"]]
    assert "mash" in marked and "amber" in marked
    scores = [p["score"] for p in results]
    assert scores == sorted(scores, reverse=True)


def test_an_irregular_past_is_highlighted_for_its_base_form(api):
    body = api.post("/api/search", {"query": "what did the family nurse find", "k": 10, "mode": "keyword"}).json()
    marked = {p["text"][a:b] for p in body["results"] for a, b in p["highlights"]}
    assert "found" in marked and "nurse" in marked


def test_misspelt_and_american_words_are_corrected_and_reported(api):
    body = api.post("/api/search", {"query": "safegaurding supervison for newly qualified health vistors", "k": 5}).json()
    assert body["query"] == "safegaurding supervison for newly qualified health vistors"
    used = {c["typed"]: c["used"] for c in body["corrections"]}
    assert used["safegaurding"] == "safeguarding" and used["vistors"] == "visitors"
    marked = {p["text"][a:b].lower() for p in body["results"] for a, b in p["highlights"]}
    assert "safeguarding" in marked
    body = api.post("/api/search", {"query": "challenging behavior", "k": 3}).json()
    assert body["corrections"] == [{"typed": "behavior", "used": "behaviour"}]
    answer = api.post("/api/ask", {"question": "was the baby's weight monitored by the helth visitor"}).json()
    assert answer["corrections"] == [{"typed": "helth", "used": "health"}]


def test_real_words_the_reports_never_use_are_left_alone(api):
    for query in ("How do I bake banana bread?", "How tall is Mount Everest?", "disguised compliance"):
        assert api.post("/api/search", {"query": query, "k": 3}).json()["corrections"] == [], query
    assert api.post("/api/ask", {"question": "How do I bake banana bread?"}).json()["answerable"] is False


def test_search_get_form_and_modes(api):
    for mode in ("hybrid", "dense", "keyword"):
        r = api.get("/api/search", params={"q": "disguised compliance", "k": 3, "mode": mode})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["mode"] == mode
        assert len(body["results"]) == 3


def test_section_kind_filter(api):
    r = api.post("/api/search", {"query": "supervision of health visitors", "k": 20, "filters": {"section_kind": ["recommendations"]}})
    results = r.json()["results"]
    assert results
    assert {p["section_kind"] for p in results} == {"recommendations"}
    unfiltered = api.post("/api/search", {"query": "supervision of health visitors", "k": 20}).json()["results"]
    assert [p["id"] for p in unfiltered] != [p["id"] for p in results]


def test_report_and_year_filters(api):
    r = api.post("/api/search", {"query": "neglect", "k": 20, "filters": {"report_ids": ["tri-borough-sofia", "coventry-matt"]}})
    assert {p["report"]["id"] for p in r.json()["results"]} <= {"tri-borough-sofia", "coventry-matt"}
    r = api.post("/api/search", {"query": "neglect", "k": 20, "filters": {"year_from": 2016, "year_to": 2020}})
    assert {p["report"]["year"] for p in r.json()["results"]} <= {2016, 2020}
    r = api.post("/api/search", {"query": "neglect", "k": 20, "filters": {"area": "coventry"}})
    assert {p["report"]["id"] for p in r.json()["results"]} == {"coventry-matt"}


def test_a_query_naming_a_case_prefers_that_case(api, engine):
    # "Child E" is a stop word and a single letter to both retrievers; the catalogue's case names
    # tie it to the review and the board's response, whatever the spacing and case
    named = {engine.report_order[i] for i in engine.named_reports("what happened to CHILD  E's family?")}
    assert named == {"luton-child-e", "luton-child-e-response"}
    assert not engine.named_reports("matters of fact")  # "Matt" is a word, not a prefix
    assert not engine.named_reports("child e1")
    # a case code with a digit names its case without "Child"; a bare letter does not
    assert {engine.report_order[i] for i in engine.named_reports("how was B1 injured")} == {"leicester-child-b1"}
    assert not engine.named_reports("e was injured")
    r = api.post("/api/search", {"query": "which agency led the work with Child E's family", "k": 2})
    assert [p["report"]["id"] for p in r.json()["results"]] == ["luton-child-e", "luton-child-e"]


def test_a_case_name_counts_for_its_report_not_for_repeating_the_name(api, engine):
    # BM25 and sentence coverage read the query without the name, so a passage that answers
    # ("In July 2019, the case was discussed") beats ones that only repeat "Matt"
    assert engine.without_case_names("when did Matt's mother first become known?").split() == ["when", "did", "'s", "mother", "first", "become", "known?"]
    assert engine.without_case_names("Child  E") == "Child  E"  # nothing but the name: kept whole
    assert engine.without_case_names("matters of fact") == "matters of fact"
    r = api.post("/api/search", {"query": "when was it decided that Matt's case needed a serious case review", "k": 3})
    top = r.json()["results"][0]
    assert top["report"]["id"] == "coventry-matt"
    assert "In July 2019, the case was discussed" in top["text"]


def test_per_report_cap_and_context(api):
    r = api.post("/api/search", {"query": "health visitor", "k": 10, "per_report": 1})
    ids = [p["report"]["id"] for p in r.json()["results"]]
    assert len(ids) == len(set(ids))
    r = api.post("/api/search", {"query": "co-sleeping cannabis", "k": 2, "context": 1})
    p = r.json()["results"][0]
    around = p["context"]["before"] + p["context"]["after"]
    assert around and all(c["report"]["id"] == p["report"]["id"] for c in around)


def test_ask_gives_verbatim_citations(api):
    r = api.post("/api/ask", {"question": "what is disguised compliance"})
    assert r.status_code == 200
    body = r.json()
    assert body["answerable"] is True
    assert body["citations"]
    passages = {}
    for c in body["citations"]:
        detail = passages.setdefault(c["report"]["id"], api.get(f"/api/reports/{c['report']['id']}").json())
        by_id = {p["id"]: p for p in detail["passages"]}
        assert c["passage_id"] in by_id
        p = by_id[c["passage_id"]]
        passage_text = detail["text"][p["start"] : p["end"]]
        assert re.sub(r"\s+", " ", c["quote"]) in re.sub(r"\s+", " ", passage_text)
        assert 0.0 <= c["confidence"] <= 1.0
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert markers == {c["n"] for c in body["citations"]}
    assert "appearing to co-operate" in body["citations"][0]["quote"]
    assert body["caution"] is None


def test_a_citation_gives_the_paragraph_its_quote_stands_in(api):
    # a passage may run over several numbered paragraphs: a quote from a later one is cited
    # there, not at the paragraph the passage starts with
    questions = ["what went wrong with information sharing between health and social care", "what is disguised compliance",
                 "what lessons about safe sleep", "was the neglect of Child E a one-off or a chronic pattern",
                 "did the health visitor escalate concerns about weight"]
    numbered, later = [], 0
    for question in questions:
        for c in api.post("/api/ask", {"question": question}).json()["citations"]:
            detail = api.get(f"/api/reports/{c['report']['id']}").json()
            passage = next(p for p in detail["passages"] if p["id"] == c["passage_id"])
            later += c["paragraph"] != passage["paragraph"]
            m = re.match(r"(\d+(?:\.\d+)+)\.?\s", c["quote"])  # a quote that opens with its paragraph's number
            if m:
                numbered.append((m.group(1), c["paragraph"]))
    assert later >= 1 and numbered
    assert all(number == paragraph for number, paragraph in numbered), numbered


def test_a_quote_does_not_stop_mid_list(api):
    # "...met the following criteria: (a) abuse or neglect of a child is known or suspected; and"
    # was quoted without (b); a quote now runs on while it ends on a colon, semicolon, comma,
    # "and" or "or", unless its passage ends there
    questions = ["what is a serious case review for", "who was the lead reviewer for Child E",
                 "which agency took the lead on the case", "what happened to Child B1 in August 2014"]
    quotes = 0
    for question in questions:
        for c in api.post("/api/ask", {"question": question}).json()["citations"]:
            quotes += 1
            if re.search(r"(?:[:;,]|\b(?:and|or))\s*$", c["quote"], re.IGNORECASE):
                detail = api.get(f"/api/reports/{c['report']['id']}").json()
                passage = next(p for p in detail["passages"] if p["id"] == c["passage_id"])
                assert detail["text"][c["end"]:passage["end"]].strip() == "", c["quote"]
    assert quotes >= len(questions)
    review = api.post("/api/ask", {"question": "what is a serious case review for"}).json()["citations"]
    criteria = next(c["quote"] for c in review if "following criteria:" in c["quote"])
    assert "(b)" in criteria


def test_complete_runs_a_quote_on_to_the_end_of_its_list():
    from server.answer import Candidate, _complete

    text = "It met these criteria: (a) a child was harmed; and (b) agencies failed. Later work followed."
    ends = [text.index("(a)"), text.index("(b)"), text.index("Later"), len(text)]
    spans = [(0, ends[0] - 1), (ends[0], ends[1] - 1), (ends[1], ends[2] - 1), (ends[2], ends[3])]
    row = {"text": text, "start": 0, "sentences": spans}
    quote = Candidate(pid=1, start=0, end=spans[1][1], text=text[: spans[1][1]], passage_rank=0, sentence=0)
    _complete(row, quote)
    assert quote.text == "It met these criteria: (a) a child was harmed; and (b) agencies failed."
    assert text[quote.start : quote.end] == quote.text
    whole = Candidate(pid=1, start=ends[1], end=spans[3][1], text=text[ends[1]:], passage_rank=0, sentence=2)
    _complete(row, whole)  # ends on a full stop: left as it is
    assert whole.text == text[ends[1]:]


def test_an_answer_of_loosely_related_quotes_says_so(api):
    from server.answer import LOOSE_BELOW

    body = api.post("/api/ask", {"question": "what was learned about fathers"}).json()
    assert body["answerable"] is True and body["citations"]
    assert body["citations"][0]["confidence"] < LOOSE_BELOW
    assert "loosely related" in body["caution"]


def test_answerable_is_judged_on_the_closest_passage_in_the_index(api):
    # not on the passages the scorer ranked first, which for a question naming a case may all
    # be far in meaning: the dense retriever's first passage decides
    question = "what illness did Sofia's mother have"
    body = api.post("/api/ask", {"question": question}).json()
    nearest = api.post("/api/search", {"query": question, "mode": "dense", "k": 1}).json()["results"][0]
    assert body["best_cosine"] == pytest.approx(nearest["score"], abs=1e-4)
    assert body["answerable"] is True


def test_ask_off_topic_is_not_answerable(api):
    body = api.post("/api/ask", {"question": "What is the boiling point of water?"}).json()
    assert body["answerable"] is False
    assert body["citations"] == []
    assert body["passages"]
    assert "do not" in body["answer"].lower()
    assert body["caution"] is None


def test_similar_from_text_and_report(api):
    text = ("A baby of a few months died while sharing a bed with young parents who were care leavers and "
            "suspected of using cannabis; children's social care had closed the case when the family avoided contact.")
    body = api.post("/api/similar", {"text": text, "k": 5}).json()
    assert body["reports"][0]["report"]["id"] == "coventry-matt"
    assert 2 <= len(body["reports"][0]["evidence"]) <= 3
    scores = [r["score"] for r in body["reports"]]
    assert scores == sorted(scores, reverse=True)
    body = api.post("/api/similar", {"report_id": "luton-child-e", "k": 5}).json()
    ids = [r["report"]["id"] for r in body["reports"]]
    assert "luton-child-e" not in ids and len(ids) == 4
    both = api.post("/api/similar", {"report_id": "luton-child-e", "text": text})
    assert both.status_code == 400 and both.json()["error"]["code"] == "ambiguous_request"


def test_similar_reports_are_alike_in_their_case_not_in_their_framing(api):
    # every review opens with the same statutory framing and methodology; the board's response
    # to the Child E review is about the same case, so it must come first, on substance
    body = api.post("/api/similar", {"report_id": "luton-child-e", "k": 5}).json()
    assert body["reports"][0]["report"]["id"] == "luton-child-e-response"
    kinds = {p["section_kind"] for r in body["reports"] for p in r["evidence"]}
    assert kinds and not kinds & {"introduction", "methodology", "glossary", "appendix"}, kinds
    # a section_kind filter that asks for methodology still gets it
    body = api.post("/api/similar", {"report_id": "luton-child-e", "filters": {"section_kind": ["methodology"]}}).json()
    assert body["reports"] and {p["section_kind"] for r in body["reports"] for p in r["evidence"]} == {"methodology"}


# One case description per seed review, written from the case's facts (age, harm, family,
# agencies) in other words than the report's own.
CASE_DESCRIPTIONS = {
    "coventry-matt": "A four-month-old boy died in his parents' bed. Both parents were in their late teens and had grown up in "
    "local authority care; the father smoked cannabis. There was an older toddler brother, the flat was often dirty and short "
    "of food, and the family dodged visits from the family nurse until the child in need plan was closed.",
    "luton-child-e": "A baby born ten weeks early starved to death at around seven months. He lived with his young mother, his "
    "grandmother and two older brothers and sisters in a dirty, smoke-filled house. Health visitors were repeatedly turned away "
    "at the door, his weight was not charted properly after he left the neonatal unit, and a neglect assessment was planned but "
    "never carried out.",
    "leicester-child-b1": "A toddler, one of five children including baby twins, was treated worse than the others: kept in shabby "
    "clothes, made to walk while the others rode in the pushchair, and losing weight for months while the siblings grew. The "
    "mother's husband took drugs and police were called to violent rows. Health visitors raised the alarm but social workers "
    "disagreed and the council delayed going to court.",
    "tri-borough-sofia": "A baby girl whose mother came from another EU country, had no right to welfare benefits and ended up "
    "sleeping rough while pregnant. After the birth they drifted between friends, hostels and several London boroughs, the father "
    "stayed hidden as he was in the country unlawfully, and the health visiting teams lost track of the child when records did "
    "not follow her.",
    "luton-child-e-response": "The local safeguarding board's published reply to a review into a starved baby's death: it explains "
    "why publication waited for the criminal trial of the mother and grandmother, and lists what the community health service, "
    "hospital and children's services changed afterwards, such as training in the Graded Care Profile, audits of supervision and "
    "shared electronic records.",
}


@pytest.mark.parametrize("report_id", sorted(CASE_DESCRIPTIONS))
def test_similar_case_description_ranks_its_report_first(api, report_id):
    body = api.post("/api/similar", {"text": CASE_DESCRIPTIONS[report_id], "k": 5}).json()
    ranked = [r["report"]["id"] for r in body["reports"]]
    assert ranked[0] == report_id, ranked
    assert 2 <= len(body["reports"][0]["evidence"]) <= 3
    assert all(p["report"]["id"] == report_id for p in body["reports"][0]["evidence"])


def test_similar_evidence_is_never_a_bibliography_or_terms_of_reference(api):
    # before, the Sofia review's bibliography ("Analysing child deaths and serious injury...")
    # was shown as evidence for a bed-sharing death
    body = api.post("/api/similar", {"text": CASE_DESCRIPTIONS["coventry-matt"], "k": 5}).json()
    kinds = {p["section_kind"] for r in body["reports"] for p in r["evidence"]}
    assert kinds and not kinds & {"methodology", "glossary", "appendix"}, kinds
    assert "introduction" in kinds  # the passage that states the case ("The subject of this review is Matt...") stays
    asked = api.post("/api/similar", {"text": CASE_DESCRIPTIONS["coventry-matt"], "k": 5, "filters": {"section_kind": ["appendix"]}}).json()
    assert {p["section_kind"] for r in asked["reports"] for p in r["evidence"]} == {"appendix"}


def test_security_headers(api):
    r = api.get("/api/health")
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    page = api.get("/")
    assert page.status_code == 200 and page.headers["Content-Security-Policy"] == csp
