"""The search page in a real headless Chromium against a real server (Debian chromium + chromedriver)."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, LiveServer

pytestmark = pytest.mark.browser

SHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def driver():
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.fail("chromium and chromium-driver are not installed: run scripts/test.sh, which installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, css: str, timeout: float = 30):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def wait_until(driver, predicate, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: predicate(d))


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def search(driver, query: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = wait_for(driver, "#search-q")
    box.clear()
    box.send_keys(query, Keys.ENTER)
    wait_until(driver, lambda d: "passages found" in d.find_element("id", "status").text or "No results" in d.find_element("id", "status").text)


def test_search_shows_highlights_citations_and_filters(driver, live_server):
    driver.get(live_server.url + "/")
    driver.get_log("browser")
    search(driver, "supervision of newly qualified health visitors")
    cards = css(driver, "#search-results .card")
    assert len(cards) >= 5
    assert css(driver, "#search-results mark"), "matched words are not highlighted"
    cite = cards[0].find_element("css selector", ".cite").text
    assert " — " in cite and any(str(y) in cite for y in (2015, 2016, 2020))
    assert "passages found" in driver.find_element("id", "status").text  # the aria-live region
    assert not css(driver, "#search-results .corrections")
    before = [c.get_attribute("data-passage") for c in cards]
    driver.save_screenshot(str(SHOTS / "search.png"))

    css(driver, "#filters summary")[0].click()
    css(driver, "#kind-recommendations")[0].click()
    wait_until(driver, lambda d: "kind=recommendations" in d.current_url and "passages found" in d.find_element("id", "status").text)
    wait_until(driver, lambda d: [c.get_attribute("data-passage") for c in css(d, "#search-results .card")] != before)
    badges = {b.text for b in css(driver, "#search-results .kind-badge")}
    assert badges == {"Recommendations"}
    driver.save_screenshot(str(SHOTS / "search-filtered.png"))
    assert console_errors(driver) == []


def test_a_passage_over_several_paragraphs_is_cited_by_their_range(driver, live_server):
    query = "managers went back on the decision to issue proceedings"
    driver.get(live_server.url + "/")
    search(driver, query)
    results = requests.post(live_server.url + "/api/search", json={"query": query}, timeout=30).json()["results"]
    spanning = [r for r in results if len(r["paragraphs"]) > 1 and r["paragraphs"][-1][0].isdigit()]
    assert spanning, "no result runs over two numbered paragraphs"
    for r in spanning:
        card = css(driver, f'#search-results .card[data-passage="{r["id"]}"]')[0]
        assert f"paras {r['paragraphs'][0]}–{r['paragraphs'][-1]}" in card.find_element("css selector", ".cite").text
    single = [r for r in results if len(r["paragraphs"]) == 1 and r["paragraph"][0].isdigit()]
    assert single  # one paragraph keeps the plain form
    card = css(driver, f'#search-results .card[data-passage="{single[0]["id"]}"]')[0]
    cite = card.find_element("css selector", ".cite").text
    assert f"para {single[0]['paragraph']}" in cite and "paras" not in cite


def test_a_corrected_word_is_shown(driver, live_server):
    driver.get(live_server.url + "/")
    search(driver, "safegaurding supervison")
    note = css(driver, "#search-results .corrections")[0].text
    assert "safeguarding" in note and "you typed safegaurding" in note
    assert css(driver, "#search-results .card")


def test_ask_answer_and_not_found(driver, live_server):
    from selenium.webdriver.common.keys import Keys

    driver.get(live_server.url + "/?tab=ask")
    box = wait_for(driver, "#ask-q")
    box.send_keys("what is disguised compliance", Keys.ENTER)
    answer = wait_for(driver, "#ask-results .answer")
    assert css(driver, "#ask-results .answer .marker")
    assert "co-operate" in answer.text
    citations = css(driver, "#ask-results .citation")
    assert citations and citations[0].find_element("css selector", ".open-link")
    confidence = citations[0].find_element("css selector", ".confidence")
    assert confidence.text.startswith("Confidence ") and "Not a probability" in confidence.get_attribute("title")
    assert not css(driver, "#ask-results .caution")
    driver.save_screenshot(str(SHOTS / "ask.png"))

    box = wait_for(driver, "#ask-q")
    box.clear()
    box.send_keys("what was learned about fathers", Keys.ENTER)
    caution = wait_for(driver, "#ask-results .caution")
    assert "loosely related" in caution.text and css(driver, "#ask-results .answer")
    assert css(driver, "#ask-results article.passage"), "the nearest passages are not shown"
    driver.save_screenshot(str(SHOTS / "ask-caution.png"))

    box = wait_for(driver, "#ask-q")
    box.clear()
    box.send_keys("Who won the 2018 World Cup?", Keys.ENTER)
    wait_for(driver, "#ask-results .not-found")
    assert css(driver, "#ask-results .card"), "nearest passages are not shown"
    driver.save_screenshot(str(SHOTS / "ask-not-found.png"))
    assert console_errors(driver) == []


def test_ask_answers_only_from_the_report_and_section_kinds_chosen(driver, live_server):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    question = "what should change about supervision"
    driver.get(live_server.url + "/?tab=ask")
    wait_for(driver, "#ask-q").send_keys(question, Keys.ENTER)
    wait_for(driver, "#ask-results .answer")
    driver.find_element("css selector", "#ask-filters summary").click()
    Select(driver.find_element("id", "a-report")).select_by_value("luton-child-e")
    wait_until(driver, lambda d: "report=luton-child-e" in d.current_url and css(d, "#ask-results .answer"))
    titles = {t.text for t in css(driver, "#ask-results .citation .report-title")}
    assert titles == {"Serious Case Review: Child E"}, titles
    css(driver, "#ask-kind-recommendations")[0].click()
    wait_until(driver, lambda d: "kind=recommendations" in d.current_url and css(d, "#ask-results .answer"))
    wait_until(driver, lambda d: css(d, "#ask-results .citation .kind-badge"))
    assert {b.text for b in css(driver, "#ask-results .citation .kind-badge")} == {"Recommendations"}
    assert {t.text for t in css(driver, "#ask-results .citation .report-title")} == {"Serious Case Review: Child E"}

    # the choice lives in the address, so a shared link answers the same way
    driver.get(driver.current_url)
    wait_for(driver, "#ask-results .answer")
    assert driver.find_element("id", "ask-filters").get_attribute("open") is not None
    assert driver.find_element("id", "ask-kind-recommendations").is_selected()
    assert Select(driver.find_element("id", "a-report")).first_selected_option.get_attribute("value") == "luton-child-e"
    assert {b.text for b in css(driver, "#ask-results .citation .kind-badge")} == {"Recommendations"}
    assert console_errors(driver) == []


def capture_clipboard(driver) -> None:
    """Keep what the page copies in window.copied: headless Chromium has no clipboard to read back."""
    driver.execute_script(
        "window.copied = null;"
        "Object.defineProperty(navigator, 'clipboard', {configurable: true, value: {"
        "  writeText: (text) => { window.copied = text; return Promise.resolve(); }}});")


def test_copy_answer_gives_the_quotes_and_a_reference_for_each_marker(driver, live_server):
    from selenium.webdriver.common.keys import Keys

    question = "what is a serious case review for"
    citations = requests.post(live_server.url + "/api/ask", json={"question": question}, timeout=30).json()["citations"]
    assert len(citations) >= 2, "the question no longer gets several citations"
    driver.get(live_server.url + "/?tab=ask")
    wait_for(driver, "#ask-q").send_keys(question, Keys.ENTER)
    wait_for(driver, "#ask-results .answer")
    capture_clipboard(driver)
    css(driver, "#ask-results .copy-answer")[0].click()
    copied = wait_until(driver, lambda d: d.execute_script("return window.copied"))
    quotes, refs = copied.split("\n\n")
    assert quotes.split("\n") == [f"“{' '.join(c['quote'].split())}” [{c['n']}]" for c in citations]
    refs = refs.split("\n")
    assert len(refs) == len(citations)
    for c, ref in zip(citations, refs):
        assert ref.startswith(f"[{c['n']}] ") and c["report"]["title"] in ref and str(c["report"]["year"]) in ref
        if c["paragraph"]:
            assert f"para {c['paragraph']}" in ref
    assert f"Answer copied with {len(citations)} citations" in driver.find_element("id", "status").text

    # each citation's own "Copy citation" gives the same reference as the answer's list
    for c, ref in zip(citations, refs):
        css(driver, f"#cite-{c['n']} .copy-citation")[0].click()
        wait_until(driver, lambda d, ref=ref: d.execute_script("return window.copied") == ref.split(" ", 1)[1])
    assert console_errors(driver) == []


def test_similar_cases_puts_the_right_report_first(driver, live_server):
    driver.get(live_server.url + "/?tab=similar")
    box = wait_for(driver, "#similar-q")
    box.send_keys("A seven month old baby died at home. The family home was dirty and cluttered and the baby had not gained "
                  "weight. The mother and grandmother did not engage with health visitors and the Graded Care Profile was never completed.")
    css(driver, "#similar-form button")[0].click()
    first = wait_for(driver, "#similar-results .report-result")
    assert first.get_attribute("data-report") == "luton-child-e"
    assert len(first.find_elements("css selector", ".passage")) >= 2
    driver.save_screenshot(str(SHOTS / "similar.png"))
    assert console_errors(driver) == []


def test_reports_like_the_one_in_the_reader(driver, live_server):
    driver.get(live_server.url + "/?tab=read&report=luton-child-e")
    wait_for(driver, "#reader .similar-link").click()
    first = wait_for(driver, "#similar-results .report-result")
    assert "tab=similar" in driver.current_url and "report=luton-child-e" in driver.current_url
    assert "Child E" in driver.find_element("css selector", "#similar-results .similar-source").text
    ranked = [c.get_attribute("data-report") for c in css(driver, "#similar-results .report-result")]
    assert first.get_attribute("data-report") == "luton-child-e-response" and "luton-child-e" not in ranked
    driver.save_screenshot(str(SHOTS / "similar-report.png"))
    driver.back()  # the reader comes back, as the address says
    wait_for(driver, "#reader .similar-link")
    assert console_errors(driver) == []


def test_theme_chips_facets_and_report_profile(driver, live_server):
    driver.get(live_server.url + "/")
    driver.get_log("browser")
    search(driver, "sleeping arrangements for the baby")
    assert css(driver, "#search-results .passage .chip"), "results carry no theme chips"
    facet = wait_for(driver, '#search-results .facet[data-theme="safe_sleeping"]')
    assert re.search(r"\(\d+\)", facet.text), facet.text
    facet.click()
    wait_until(driver, lambda d: "theme=safe_sleeping" in d.current_url and "passages found" in d.find_element("id", "status").text)
    pressed = wait_for(driver, '#search-results .facet[aria-pressed="true"]')
    assert pressed.get_attribute("data-theme") == "safe_sleeping"
    cards = css(driver, "#search-results .passage")
    assert cards and all(c.find_elements("css selector", '.chip[data-theme="safe_sleeping"]') for c in cards)
    driver.save_screenshot(str(SHOTS / "search-theme.png"))

    driver.get(live_server.url + "/?tab=read&report=tri-borough-sofia")
    wait_for(driver, "#theme-profile summary").click()
    chips = {c.get_attribute("data-theme") for c in css(driver, "#theme-profile .chip")}
    assert {"housing", "immigration_nrpf"} <= chips
    assert console_errors(driver) == []


def test_reader_highlights_the_passage_in_view(driver, live_server):
    driver.get(live_server.url + "/")
    search(driver, "carried five child protection cases as a newly qualified practitioner")
    css(driver, "#search-results .card .open-link")[0].click()
    wait_for(driver, "#reader mark.hit.current")
    in_view = driver.execute_script(
        "const r = document.querySelector('#reader mark.hit.current').getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight;")
    assert in_view
    assert "carried five" in " ".join(m.text for m in css(driver, "#reader mark.hit.current"))
    assert css(driver, "#reader p[id^='para-11.20']"), "paragraphs have no anchors"
    driver.save_screenshot(str(SHOTS / "reader.png"))
    first = driver.find_element("id", "reader-hits").text
    driver.find_element("tag name", "body").send_keys("n")
    wait_until(driver, lambda d: d.find_element("id", "reader-hits").text != first)
    assert console_errors(driver) == []


def test_shared_url_reproduces_the_view_and_back_works(driver, live_server):
    url = live_server.url + "/?tab=search&q=strategy+discussion&kind=findings"
    driver.get(url)
    wait_until(driver, lambda d: "passages found" in d.find_element("id", "status").text)
    shown = [c.get_attribute("data-passage") for c in css(driver, "#search-results .card")]
    api = requests.post(live_server.url + "/api/search", json={"query": "strategy discussion", "k": 20,
                                                                "filters": {"section_kind": ["findings"]}}, timeout=60).json()
    assert shown == [p["id"] for p in api["results"]]
    assert driver.find_element("id", "kind-findings").is_selected()

    search(driver, "cannabis")
    assert "q=cannabis" in driver.current_url
    driver.back()
    wait_until(driver, lambda d: "strategy+discussion" in d.current_url or "strategy%20discussion" in d.current_url)
    wait_until(driver, lambda d: [c.get_attribute("data-passage") for c in css(d, "#search-results .card")] == shown)
    assert console_errors(driver) == []


def test_empty_and_error_states_are_visible(driver, live_server):
    driver.get(live_server.url + "/?tab=search&q=neglect&from=2030")
    empty = wait_for(driver, "#search-results .empty")
    assert "No passages match" in empty.text
    assert "No results" in driver.find_element("id", "status").text
    driver.get(live_server.url + "/?tab=search&q=neglect&report=no-such-report")
    error = wait_for(driver, "#search-results .error-box")
    assert "no-such-report" in error.text
    assert driver.find_element("id", "status").get_attribute("class") == "status error"
    driver.save_screenshot(str(SHOTS / "error.png"))
    driver.get_log("browser")  # the 404 itself is logged by Chromium as a failed resource


def test_keyboard_and_small_screen(driver, live_server):
    driver.set_window_size(375, 812)
    try:
        driver.get(live_server.url + "/?tab=search&q=neglect")
        wait_until(driver, lambda d: "passages found" in d.find_element("id", "status").text)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        driver.save_screenshot(str(SHOTS / "mobile.png"))
        driver.find_element("tag name", "body").click()
        driver.find_element("tag name", "body").send_keys("/")
        assert driver.switch_to.active_element.get_attribute("id") == "search-q"
        for control in css(driver, "input, select, textarea"):
            cid = control.get_attribute("id")
            if control.get_attribute("type") == "hidden" or not cid:
                continue
            assert css(driver, f"label[for='{cid}']"), f"control {cid} has no label"
    finally:
        driver.set_window_size(1280, 900)
    assert console_errors(driver) == []


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, embedder):
    """A server over a corpus whose text and title carry script and event-handler markup."""
    from indexer.build import build_index

    root = tmp_path_factory.mktemp("xss")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "catalog.toml").write_text(
        '[[report]]\nid = "xss-report"\nfile = "xss.txt"\ntitle = "<script>window.__xss = 1</script> Review"\n'
        'area = "<img src=x onerror=window.__xss=2>"\nyear = 2019\nchild = "Child X"\nreview_type = "serious case review"\n',
        encoding="utf-8",
    )
    (corpus / "xss.txt").write_text(
        "# 1. Introduction\n\n1.1 The health visitor wrote &lt;script&gt;window.__xss = 3&lt;/script&gt; in the record of the home visit.\n\n"
        "1.2 A second note said &lt;img src=x onerror=window.__xss=4&gt; about the neglect of the child at home.\n",
        encoding="utf-8",
    )
    build_index(corpus, root / "index", embedder=embedder, progress=False)
    server = LiveServer(root / "index").wait()
    yield server
    server.stop()


def test_markup_in_the_corpus_is_shown_as_text(driver, hostile_server):
    driver.get(hostile_server.url + "/?tab=search&q=health+visitor+record+neglect")
    wait_until(driver, lambda d: "passages found" in d.find_element("id", "status").text)
    text = driver.find_element("id", "search-results").text
    assert "<script>window.__xss = 3</script>" in text
    assert "<script>window.__xss = 1</script> Review" in text
    time.sleep(0.5)
    assert driver.execute_script("return window.__xss === undefined")
    assert not css(driver, "#search-results script, #search-results img")
    css(driver, "#search-results .open-link")[0].click()
    wait_for(driver, "#reader mark.hit")
    assert "<img src=x onerror=window.__xss=4>" in driver.find_element("id", "reader").text
    assert driver.execute_script("return window.__xss === undefined")
    driver.save_screenshot(str(SHOTS / "xss.png"))
    assert console_errors(driver) == []
