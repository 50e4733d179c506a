// Case Review Search: the browser page. No build step, no network beyond this server.
// Corpus text, queries and metadata only ever enter the page as text nodes (textContent or
// DOM construction), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const TABS = ["search", "ask", "similar", "about", "read"];
const KIND_LABELS = {
  findings: "Findings", recommendations: "Recommendations", lessons: "Lessons / learning",
  analysis: "Analysis", background: "Background / chronology", introduction: "Introduction",
  methodology: "Methodology", conclusion: "Conclusion", appendix: "Appendix / action plan",
  glossary: "Glossary", other: "Other",
};
const FACETS_SHOWN = 8;
const state = { reports: [], byId: {}, kinds: [], themes: {}, lastHits: [], hitIndex: 0, token: sessionStorage.getItem("reviews-token") || "" };

// ---- small DOM helpers ------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function setStatus(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

// Text with [start, end] ranges wrapped in <mark>, built from text nodes only.
function highlighted(text, ranges) {
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const [start, end] of (ranges || []).slice().sort((a, b) => a[0] - b[0])) {
    if (start < at) continue;
    frag.append(document.createTextNode(text.slice(at, start)));
    frag.append(el("mark", { text: text.slice(start, end) }));
    at = end;
  }
  frag.append(document.createTextNode(text.slice(at)));
  return frag;
}

// ---- API ----------------------------------------------------------------------------------

class ApiError extends Error {}

async function api(path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, { method: body === undefined ? "GET" : "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError("The server could not be reached. Is it still running?");
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (response.status === 401) {
    $("token-form").hidden = false;
    $("token-input").focus();
    throw new ApiError("This server needs an access token: enter it below.");
  }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `The server answered ${response.status}.`;
    throw new ApiError(message);
  }
  return data;
}

// ---- citations ----------------------------------------------------------------------------

// A passage may run over several numbered paragraphs and pages: it is cited by the range it
// covers ("paras 18.5–18.6", "pp. 4–5"); a quote by the one paragraph and page it stands on.
function paragraphLabel(first, last) {
  if (!first) return null;
  const numbered = /^\d/.test(first);
  if (numbered && last && last !== first && /^\d/.test(last)) return `paras ${first}–${last}`;
  return numbered ? `para ${first}` : first;
}

function pageLabel(first, last) {
  if (!first) return null;
  return last && last !== first ? `pp. ${first}–${last}` : `p. ${first}`;
}

function lastOf(list) { return list && list.length ? list[list.length - 1] : null; }

// "paras 18.5–18.6", "p. 4": whichever of the two the passage or quote has
function placeLabels(where) {
  return [paragraphLabel(where.paragraph, lastOf(where.paragraphs)), pageLabel(where.page, where.page_end)].filter(Boolean);
}

function citationText(report, where) {
  return [`${report.area || "Unknown area"} (${report.year || "n.d."}) ${report.title || report.id}`, ...placeLabels(where)].join(", ");
}

function citationLine(report, section, where, kind) {
  const bits = section ? [section, ...placeLabels(where)] : placeLabels(where);
  return el("p", { className: "cite" },
    el("span", { className: "report-title", text: report.title || report.id }),
    ` — ${report.area || "unknown area"}, ${report.year || "n.d."}`,
    bits.length ? ` · ${bits.join(" · ")}` : "",
    kind ? el("span", { className: "kind-badge", text: KIND_LABELS[kind] || kind }) : null);
}

// The answer as plain text to paste into a report or case note: the quotes with their markers,
// then one reference per marker, cited as "Copy citation" cites them. A quote that runs over a
// paragraph break is folded onto one line, so that each quote and each reference is one line.
function answerText(citations) {
  const quotes = citations.map((c) => `“${c.quote.replace(/\s+/g, " ").trim()}” [${c.n}]`);
  const refs = citations.map((c) => `[${c.n}] ${citationText(c.report, { paragraph: c.paragraph, page: c.page })}`);
  return [...quotes, "", ...refs].join("\n");
}

async function copyText(text, message) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    const area = el("textarea", { className: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  setStatus(message);
}

function readerHref(reportId, start, end) {
  const params = new URLSearchParams({ tab: "read", report: reportId });
  if (start !== undefined && start !== null) { params.set("start", start); params.set("end", end); }
  return `?${params}`;
}

function actions(report, passage) {
  const open = el("a", { href: readerHref(report.id, passage.start, passage.end), className: "open-link", text: "Open in report" });
  open.addEventListener("click", (event) => { event.preventDefault(); navigate(open.getAttribute("href")); });
  const copy = el("button", { type: "button", className: "secondary copy-citation", text: "Copy citation" });
  copy.addEventListener("click", () => {
    const text = citationText(report, passage);
    copyText(text, `Citation copied: ${text}`);
  });
  return el("div", { className: "actions" }, open, copy);
}

function themeLabel(id) { return (state.themes[id] && state.themes[id].label) || id; }

// Theme chips: the safeguarding themes a passage (or report) was tagged with.
function themeChips(ids, label = "Themes") {
  if (!ids || !ids.length) return null;
  const list = el("ul", { className: "chips", "aria-label": label });
  for (const id of ids) list.append(el("li", { className: "chip", dataset: { theme: id }, text: themeLabel(id) }));
  return list;
}

function passageCard(p, extra = {}) {
  return el("article", { className: "card passage", id: extra.id || null, dataset: { passage: p.id } },
    citationLine(p.report, p.section, p, p.section_kind),
    el("p", { className: "text" }, highlighted(p.text, p.highlights)),
    themeChips(p.themes),
    actions(p.report, p));
}

// ---- navigation and URL state --------------------------------------------------------------

function currentParams() { return new URLSearchParams(location.search); }

function navigate(href, replace = false) {
  if (replace) history.replaceState(null, "", href); else history.pushState(null, "", href);
  render();
}

function showTab(tab) {
  for (const name of TABS) {
    $(`panel-${name}`).hidden = name !== tab;
    const link = $(`tab-${name}`);
    if (link) link.setAttribute("aria-selected", String(name === tab));
  }
}

function filtersFromParams(params) {
  const filters = {};
  if (params.get("report")) filters.report_ids = [params.get("report")];
  if (params.get("area")) filters.area = params.get("area");
  if (params.get("from")) filters.year_from = Number(params.get("from"));
  if (params.get("to")) filters.year_to = Number(params.get("to"));
  const kinds = params.getAll("kind");
  if (kinds.length) filters.section_kind = kinds;
  const themes = params.getAll("theme");
  if (themes.length) filters.themes = themes;
  return filters;
}

// The theme facet: each theme among the matching passages with its count; pressing one
// narrows the search to it (several pressed: passages with any of them).
function themeFacets(facets, params) {
  const active = new Set(params.getAll("theme"));
  const counts = new Map((facets || []).map((f) => [f.id, f.count]));
  for (const id of active) if (!counts.has(id)) counts.set(id, 0);
  if (!counts.size) return null;
  const box = el("nav", { className: "facets", "aria-label": "Filter by theme" },
    el("h2", { text: "Themes" }), el("p", { className: "hint", text: "Narrow to one or more themes (passages with any of them)." }));
  const list = el("ul", { className: "facet-list" });
  let shown = 0;
  for (const [id, count] of counts) {
    const on = active.has(id);
    const button = el("button", { type: "button", className: "facet", "aria-pressed": String(on), dataset: { theme: id } },
      themeLabel(id), " ", el("span", { className: "count", text: `(${count})` }));
    button.addEventListener("click", () => {
      const next = new URLSearchParams(currentParams());
      const themes = next.getAll("theme").filter((t) => t !== id);
      next.delete("theme");
      for (const t of (on ? themes : [...themes, id])) next.append("theme", t);
      navigate(`?${next}`);
    });
    // the leading themes and the pressed ones show; the rest wait behind "more"
    list.append(el("li", { className: shown < FACETS_SHOWN || on ? "" : "more", hidden: shown < FACETS_SHOWN || on ? null : "" }, button));
    shown += 1;
  }
  box.append(list);
  const hidden = list.querySelectorAll("li.more");
  if (hidden.length) {
    const more = el("button", { type: "button", className: "secondary more-themes", text: `${hidden.length} more themes` });
    more.addEventListener("click", () => { hidden.forEach((li) => { li.hidden = false; }); more.remove(); });
    box.append(more);
  }
  return box;
}

// The section-kind boxes of the search and ask forms: ticked from the address, read into it.
function tickKinds(listId, params) {
  const kinds = new Set(params.getAll("kind"));
  for (const box of document.querySelectorAll(`#${listId} input`)) box.checked = kinds.has(box.value);
  return kinds.size;
}

function appendKinds(params, listId) {
  for (const box of document.querySelectorAll(`#${listId} input:checked`)) params.append("kind", box.value);
}

function fillSearchForm(params) {
  $("search-q").value = params.get("q") || "";
  $("f-mode").value = params.get("mode") || "hybrid";
  $("f-report").value = params.get("report") || "";
  $("f-area").value = params.get("area") || "";
  $("f-from").value = params.get("from") || "";
  $("f-to").value = params.get("to") || "";
  const kinds = tickKinds("f-kinds", params);
  if (kinds || params.get("report") || params.get("area") || params.get("from") || params.get("to") || (params.get("mode") || "hybrid") !== "hybrid") {
    $("filters").open = true;
  }
}

function fillAskForm(params) {
  $("ask-q").value = params.get("q") || "";
  $("a-report").value = params.get("report") || "";
  if (tickKinds("a-kinds", params) || params.get("report")) $("ask-filters").open = true;
}

async function render() {
  const params = currentParams();
  const tab = TABS.includes(params.get("tab")) ? params.get("tab") : "search";
  showTab(tab);
  if (tab === "search") {
    fillSearchForm(params);
    if (params.get("q")) await runSearch(params); else { clear($("search-results")); setStatus(""); }
  } else if (tab === "ask") {
    fillAskForm(params);
    if (params.get("q")) await runAsk(params); else { clear($("ask-results")); setStatus(""); }
  } else if (tab === "similar") {
    $("similar-q").value = params.get("q") || "";
    if (params.get("report")) await runSimilar({ report_id: params.get("report") });
    else if (params.get("q")) await runSimilar({ text: params.get("q") });
    else { clear($("similar-results")); setStatus(""); }
  } else if (tab === "about") {
    setStatus("");
  } else if (tab === "read") {
    await openReader(params.get("report"), params.get("start"), params.get("end"));
  }
}

function loading(container, message) {
  clear(container);
  container.setAttribute("aria-busy", "true");
  container.append(el("p", { className: "loading", text: message }));
  setStatus(message);
}

function failed(container, err) {
  clear(container);
  container.removeAttribute("aria-busy");
  container.append(el("div", { className: "error-box", role: "alert", text: err.message || String(err) }));
  setStatus(`Error: ${err.message || err}`, true);
}

// "Searched for safeguarding (you typed safegaurding)": the words the server corrected, as text nodes.
function correctionsNote(corrections) {
  if (!corrections || !corrections.length) return null;
  const note = el("p", { className: "corrections", role: "note" }, "Searched for ");
  corrections.forEach((c, i) => {
    if (i) note.append(", ");
    note.append(el("strong", { text: c.used }), ` (you typed ${c.typed})`);
  });
  note.append(".");
  return note;
}

// ---- search ---------------------------------------------------------------------------------

async function runSearch(params) {
  const box = $("search-results");
  loading(box, "Searching…");
  try {
    const data = await api("/api/search", { query: params.get("q"), k: 20, mode: params.get("mode") || "hybrid", filters: filtersFromParams(params) });
    clear(box);
    box.removeAttribute("aria-busy");
    state.lastHits = data.results;
    const note = correctionsNote(data.corrections);
    if (note) box.append(note);
    const facets = themeFacets(data.facets && data.facets.themes, params);
    if (facets) box.append(facets);
    if (!data.results.length) {
      box.append(el("p", { className: "empty", text: "No passages match. Try fewer words, another mode, or fewer filters." }));
      setStatus("No results.");
      return;
    }
    setStatus(`${data.results.length} passages found in ${Math.round(data.took_ms)} ms.`);
    for (const p of data.results) box.append(passageCard(p));
  } catch (err) {
    failed(box, err);
  }
}

// ---- ask --------------------------------------------------------------------------------------

async function runAsk(params) {
  const question = params.get("q");
  const box = $("ask-results");
  loading(box, "Looking for the answer in the reports…");
  try {
    const data = await api("/api/ask", { question, k: 5, filters: filtersFromParams(params) });
    clear(box);
    box.removeAttribute("aria-busy");
    state.lastHits = data.passages;
    const note = correctionsNote(data.corrections);
    if (note) box.append(note);
    if (!data.answerable) {
      box.append(el("div", { className: "not-found", role: "note" },
        el("h2", { text: "Not found in these reports" }),
        el("p", { text: data.answer })));
      box.append(el("h3", { text: "Nearest passages" }));
      for (const p of data.passages) box.append(passageCard(p));
      setStatus("The reports do not answer this question; nearest passages shown.");
      return;
    }
    if (data.caution) box.append(el("p", { className: "caution", role: "note", text: data.caution }));
    const answer = el("div", { className: "answer", "aria-label": "Answer" });
    for (const c of data.citations) {
      const marker = el("a", { className: "marker", href: `#cite-${c.n}`, text: `[${c.n}]`, "aria-label": `Citation ${c.n}` });
      answer.append(el("p", { className: "quote" }, `“${c.quote}” `, marker));
    }
    const cited = `${data.citations.length} citation${data.citations.length === 1 ? "" : "s"}`;
    const copyAnswer = el("button", { type: "button", className: "secondary copy-answer", text: "Copy answer with citations" });
    copyAnswer.addEventListener("click", () => copyText(answerText(data.citations), `Answer copied with ${cited}.`));
    answer.append(el("div", { className: "actions" }, copyAnswer));
    box.append(answer);
    const list = el("ol", { className: "citations plain-list", "aria-label": "Citations" });
    for (const c of data.citations) {
      const item = el("li", { id: `cite-${c.n}`, className: "card citation" },
        citationLine(c.report, c.section, { paragraph: c.paragraph, page: c.page }, c.section_kind),
        el("p", { className: "text", text: `“${c.quote}”` }),
        el("p", { className: "confidence", text: `Confidence ${Math.round(c.confidence * 100)}%`,
          title: "How close in meaning this quote is to the question. Not a probability: read the passage to judge." }),
        actions(c.report, { start: c.start, end: c.end, paragraph: c.paragraph, page: c.page }));
      list.append(item);
    }
    box.append(list);
    if (data.caution) {  // the quotes may not answer: the passages nearest the question may
      box.append(el("h3", { text: "Nearest passages" }));
      for (const p of data.passages.slice(0, 3)) box.append(passageCard(p));
    }
    setStatus(`Answer with ${cited}.`);
  } catch (err) {
    failed(box, err);
  }
}

// ---- similar cases ------------------------------------------------------------------------------

// query: {text} for a case description, or {report_id} for the reports most like a report
async function runSimilar(query) {
  const box = $("similar-results");
  loading(box, "Comparing with every report…");
  try {
    const data = await api("/api/similar", { ...query, k: 5 });
    clear(box);
    box.removeAttribute("aria-busy");
    const source = query.report_id ? state.byId[query.report_id] : null;
    if (query.report_id) {
      box.append(el("p", { className: "similar-source", text: `Reports most like ${source ? source.title : query.report_id}, compared on their findings, analysis and recommendations:` }));
    }
    if (!data.reports.length) {
      box.append(el("p", { className: "empty", text: "No similar reports found." }));
      setStatus("No results.");
      return;
    }
    setStatus(`${data.reports.length} reports ranked by likeness.`);
    data.reports.forEach((r, i) => {
      const open = el("a", { href: readerHref(r.report.id), text: "Open report" });
      open.addEventListener("click", (event) => { event.preventDefault(); navigate(open.getAttribute("href")); });
      const card = el("article", { className: "card report-result", dataset: { report: r.report.id } },
        el("h3", { text: `${i + 1}. ${r.report.title}` }),
        el("p", { className: "cite", text: `${r.report.area || "unknown area"}, ${r.report.year || "n.d."} · ${r.report.review_type || "review"}` }),
        el("p", { className: "score", text: `Likeness ${r.score.toFixed(3)}` }),
        r.shared_themes && r.shared_themes.length ? el("p", { className: "shared-themes", text: "Themes in common:" }) : null,
        themeChips((r.shared_themes || []).map((t) => t.id), "Themes in common"),
        el("div", { className: "actions" }, open),
        el("h4", { text: "Passages that make the match" }));
      for (const p of r.evidence) card.append(passageCard(p));
      box.append(card);
    });
  } catch (err) {
    failed(box, err);
  }
}

// ---- reader ----------------------------------------------------------------------------------

function paragraphAnchor(text) {
  const m = text.match(/^\(?(\d+(?:\.\d+)+)\.?\)?\s/);
  return m ? `para-${m[1]}` : null;
}

async function openReader(reportId, start, end) {
  const reader = $("reader");
  if (!reportId) { failed(reader, new Error("No report chosen.")); return; }
  loading(reader, "Opening the report…");
  try {
    const report = await api(`/api/reports/${encodeURIComponent(reportId)}`);
    clear(reader);
    reader.removeAttribute("aria-busy");
    const ranges = [];
    if (start !== null && start !== undefined && start !== "") ranges.push([Number(start), Number(end)]);
    for (const h of state.lastHits) {
      if (h.report.id === reportId && !ranges.some((r) => r[0] === h.start)) ranges.push([h.start, h.end]);
    }
    reader.append(el("h2", { text: report.title }),
      el("p", { className: "meta", text: `${report.area || "unknown area"} · ${report.year || "n.d."} · ${report.review_type || ""}${report.child ? " · " + report.child : ""}` }));
    const like = el("a", { href: `?${new URLSearchParams({ tab: "similar", report: report.id })}`, className: "similar-link", text: "Find reports like this one" });
    like.addEventListener("click", (event) => { event.preventDefault(); navigate(like.getAttribute("href")); });
    reader.append(themeProfile(report), el("p", { className: "actions" }, like));
    const headingStarts = new Map(report.sections.filter((s) => s.heading).map((s) => [s.start, s]));
    const text = report.text;
    let at = 0;
    const marks = [];
    for (const chunk of text.split("\n\n")) {
      const from = at;
      at += chunk.length + 2;
      if (!chunk.trim()) continue;
      const section = headingStarts.get(from);
      const node = section ? el("h3", { id: `s-${section.ordinal}` }) : el("p", { id: paragraphAnchor(chunk) || `p-${from}` });
      let cursor = 0;
      const pieces = ranges
        .map(([s, e], i) => [Math.max(s, from) - from, Math.min(e, from + chunk.length) - from, i])
        .filter(([s, e]) => e > s)
        .sort((a, b) => a[0] - b[0]);
      for (const [s, e, i] of pieces) {
        if (s < cursor) continue;
        node.append(document.createTextNode(chunk.slice(cursor, s)));
        const mark = el("mark", { className: "hit", dataset: { hit: String(i) }, text: chunk.slice(s, e) });
        marks.push(mark);
        node.append(mark);
        cursor = e;
      }
      node.append(document.createTextNode(chunk.slice(cursor)));
      reader.append(node);
    }
    state.readerHits = ranges.map((_, i) => marks.find((m) => m.dataset.hit === String(i))).filter(Boolean);
    state.hitIndex = 0;
    setStatus(`${report.title}: ${state.readerHits.length} highlighted passage${state.readerHits.length === 1 ? "" : "s"}.`);
    focusHit(0);
  } catch (err) {
    failed(reader, err);
  }
}

// A report's theme profile: its themes, strongest first, each with how many passages carry it.
function themeProfile(report) {
  const box = el("details", { className: "profile", id: "theme-profile" }, el("summary", { text: `Themes in this report (${(report.themes || []).length})` }));
  const list = el("ul", { className: "chips", "aria-label": "Theme profile" });
  for (const t of report.themes || []) {
    const link = el("a", { href: `?${new URLSearchParams({ tab: "search", q: t.label, report: report.id, theme: t.id })}`, text: t.label });
    link.addEventListener("click", (event) => { event.preventDefault(); navigate(link.getAttribute("href")); });
    list.append(el("li", { className: "chip", dataset: { theme: t.id } }, link, el("span", { className: "count", text: ` ${t.passages} passages` })));
  }
  box.append(list);
  return box;
}

function focusHit(index) {
  const hits = state.readerHits || [];
  $("reader-hits").textContent = hits.length ? `Passage ${index + 1} of ${hits.length}` : "";
  if (!hits.length) return;
  state.hitIndex = (index + hits.length) % hits.length;
  document.querySelectorAll("mark.hit.current").forEach((m) => m.classList.remove("current"));
  const target = hits[state.hitIndex];
  document.querySelectorAll(`mark.hit[data-hit="${target.dataset.hit}"]`).forEach((m) => m.classList.add("current"));
  $("reader-hits").textContent = `Passage ${state.hitIndex + 1} of ${hits.length}`;
  target.scrollIntoView({ block: "center" });
}

// ---- set-up -----------------------------------------------------------------------------------

function submitTo(tab, query, extra = {}) {
  const params = new URLSearchParams({ tab, q: query, ...extra });
  navigate(`?${params}`);
}

function searchParamsFromForm() {
  const params = new URLSearchParams({ tab: "search", q: $("search-q").value.trim() });
  const mode = $("f-mode").value;
  if (mode !== "hybrid") params.set("mode", mode);
  for (const [name, id] of [["report", "f-report"], ["area", "f-area"], ["from", "f-from"], ["to", "f-to"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  appendKinds(params, "f-kinds");
  for (const theme of currentParams().getAll("theme")) params.append("theme", theme);  // a new query keeps the theme facet
  return params;
}

function askParamsFromForm() {
  const params = new URLSearchParams({ tab: "ask", q: $("ask-q").value.trim() });
  if ($("a-report").value) params.set("report", $("a-report").value);
  appendKinds(params, "a-kinds");
  return params;
}

async function loadCorpus() {
  try {
    const [reports, health, themes] = await Promise.all([api("/api/reports"), api("/api/health"), api("/api/themes")]);
    for (const t of themes.themes) state.themes[t.id] = t;
    state.reports = reports.reports;
    state.kinds = health.section_kinds || [];
    for (const r of state.reports) {
      state.byId[r.id] = r;
      for (const select of ["f-report", "a-report"]) {
        $(select).append(el("option", { value: r.id, text: `${r.title} (${r.area || "?"}, ${r.year || "n.d."})` }));
      }
    }
    for (const area of [...new Set(state.reports.map((r) => r.area).filter(Boolean))].sort()) {
      $("f-area").append(el("option", { value: area, text: area }));
    }
    for (const [list, prefix] of [["f-kinds", "kind"], ["a-kinds", "ask-kind"]]) {
      for (const kind of state.kinds) {
        const id = `${prefix}-${kind}`;
        $(list).append(el("label", { for: id }, el("input", { type: "checkbox", id, name: "kind", value: kind }), KIND_LABELS[kind] || kind));
      }
    }
    const years = state.reports.map((r) => r.year).filter(Boolean);
    const areas = new Set(state.reports.map((r) => r.area).filter(Boolean));
    $("about-corpus").textContent = `${state.reports.length} published reviews from ${areas.size} areas, ${Math.min(...years)}–${Math.max(...years)}, split into ${health.passages} passages.`;
    clear($("about-reports"));
    for (const r of state.reports) {
      $("about-reports").append(el("li", { text: `${r.title} — ${r.area || "unknown area"}, ${r.year || "n.d."} (${r.review_type || "review"})` }));
    }
  } catch (err) {
    setStatus(`Error: ${err.message}`, true);
  }
}

function init() {
  for (const link of document.querySelectorAll(".tabs a")) {
    link.addEventListener("click", (event) => { event.preventDefault(); navigate(`?tab=${link.dataset.tab}`); });
  }
  $("home-link").addEventListener("click", (event) => { event.preventDefault(); navigate("?tab=search"); });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("search-q").value.trim()) { setStatus("Type something to search for.", true); return; }
    navigate(`?${searchParamsFromForm()}`);
  });
  // delegated: the report, area and section-kind controls are filled in after start-up
  $("filters").addEventListener("change", () => { if ($("search-q").value.trim()) navigate(`?${searchParamsFromForm()}`); });
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("ask-q").value.trim()) { setStatus("Type a question.", true); return; }
    navigate(`?${askParamsFromForm()}`);
  });
  $("ask-filters").addEventListener("change", () => { if ($("ask-q").value.trim()) navigate(`?${askParamsFromForm()}`); });
  $("similar-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("similar-q").value.trim();
    if (!q) { setStatus("Describe the case first.", true); return; }
    submitTo("similar", q);
  });
  $("reader-back").addEventListener("click", () => history.back());
  $("reader-next").addEventListener("click", () => focusHit(state.hitIndex + 1));
  $("reader-prev").addEventListener("click", () => focusHit(state.hitIndex - 1));
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem("reviews-token", state.token);
    $("token-form").hidden = true;
    loadCorpus().then(render);
  });
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      const tab = currentParams().get("tab") || "search";
      const box = { ask: "ask-q", similar: "similar-q" }[tab] || "search-q";
      if (tab === "read" || tab === "about") showTab("search");
      $(box).focus();
    } else if (!typing && !$("panel-read").hidden && (event.key === "n" || event.key === "p")) {
      focusHit(state.hitIndex + (event.key === "n" ? 1 : -1));
    }
  });
  window.addEventListener("popstate", render);
  loadCorpus().then(render);
}

document.addEventListener("DOMContentLoaded", init);
