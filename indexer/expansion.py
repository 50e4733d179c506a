"""Acronyms mined from the corpus, dates spelt out and base forms, to widen keyword matching.

Reviews lean on acronyms ("LDUH shared information appropriately") while users ask in plain
words ("what did the hospital do"), give dates as 27-08-2014 while users say "August 2014",
and say "found" or "referral" where users ask "find" or "referred". The keyword index therefore
sees each passage with its acronyms' long forms, its numeric dates' month names and the base
forms of its words in textutil.BASE_FORMS added. Queries get their dates spelt out and the same
base forms added (server/engine.py): widening them with acronyms too was measured to add noise
(docs/design.md).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from indexer.textutil import BASE_FORMS, WORD

_PAREN_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9]{1,7})\)")
# "ACR – Long Form", "ACR - Long Form" or "ACR: Long Form", as glossaries and keys to agencies list them
_GLOSSARY_ENTRY = re.compile(r"\b([A-Z][A-Z0-9&]{1,7})\s*(?:[–—:]|\s-)\s+(?=[A-Z])")
# Bumped when what the keyword index or the stored sentence stems see of a passage changes, so
# that `reviews index` rebuilds the one and recomputes the other.
KEYWORD_VERSION = 4
_SMALL = {"of", "and", "&", "the", "for", "in", "to", "on", "with", "at", "a"}
_WORDS = re.compile(r"[A-Za-z][A-Za-z'’]*|&")
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def _long_form(before: str, letters: str) -> str | None:
    """The words just before "(ACR)" whose initials spell the acronym, or None."""
    words = _WORDS.findall(before.replace("-", " "))
    for k in range(len(letters), min(len(words), len(letters) + 4) + 1):
        span = words[-k:]
        if not span or span[0].lower() in _SMALL:
            continue
        initials = "".join(w[0].upper() for w in span if w.lower() not in _SMALL)
        if initials == letters:
            return " ".join(span)
    return None


def _long_form_after(after: str, letters: str) -> str | None:
    """The words just after "ACR – " whose initials spell the acronym, or None."""
    words = _WORDS.findall(after.replace("-", " "))[: len(letters) + 4]
    initials = ""
    for k, word in enumerate(words):
        if word.lower() not in _SMALL:
            initials += word[0].upper()
        if initials == letters:
            return " ".join(words[: k + 1])
        if not letters.startswith(initials):
            return None
    return None


def mine_acronyms(texts: Iterable[str]) -> dict[str, str]:
    """Acronym -> its most frequent long form, from "Long Form (LF)" in running text and from
    glossary entries such as "LDUH – Luton & Dunstable University Hospital" or "GP: General Practitioner"."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        for m in _PAREN_ACRONYM.finditer(text):
            acronym = m.group(1)
            letters = re.sub(r"[^A-Z]", "", acronym)
            if len(letters) < 2:
                continue
            long = _long_form(text[max(0, m.start() - 160) : m.start()], letters)
            if long:
                seen[acronym][long] += 1
        for m in _GLOSSARY_ENTRY.finditer(text):
            acronym = m.group(1)
            letters = re.sub(r"[^A-Z]", "", acronym)
            long = _long_form_after(text[m.end() : m.end() + 120], letters) if len(letters) >= 2 else None
            if long:
                seen[acronym][long] += 1
    return {acr: forms.most_common(1)[0][0] for acr, forms in seen.items()}


def spell_dates(text: str) -> list[str]:
    """Month-and-year words for numeric day-month-year dates in the text."""
    out = []
    for m in _NUMERIC_DATE.finditer(text):
        day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
        if 1 <= day <= 31 and 1 <= month <= 12:
            year = year if len(year) == 4 else ("20" + year if int(year) < 50 else "19" + year)
            out.append(f"{MONTHS[month - 1]} {year}")
    return out


def keyword_text(text: str, acronyms: dict[str, str]) -> str:
    """Passage text as the keyword index sees it: plus acronym long forms and spelt-out dates."""
    extra: list[str] = []
    for token in set(re.findall(r"\b[A-Z][A-Za-z0-9]{1,7}\b", text)):
        base = token if token in acronyms else re.sub(r"(?:\d+|s)$", "", token)  # GCP2, KPEs
        if base in acronyms:
            extra.append(acronyms[base])
    extra.extend(spell_dates(text))
    # tantivy stems but cannot join "found" to "find" or "referral" to "refer": the base forms
    # go in beside the text
    extra.extend(BASE_FORMS[w] for w in {w.lower() for w in WORD.findall(text)} if w in BASE_FORMS)
    return text if not extra else text + "\n" + " ".join(sorted(set(extra)))
